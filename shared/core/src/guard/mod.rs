//! The target guard: which addresses a webhook may be sent to. Strangers
//! choose webhook URLs, so without it hookline is a way into private
//! networks and cloud metadata services. Checked when a URL is accepted and
//! on the address actually connected at every attempt.

mod registry;

use std::net::{IpAddr, Ipv4Addr};

use url::Host;

use crate::target::TargetUrl;
use crate::validation::ValidationError;

/// Why an address or URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// A loopback address (allowed only with `allow_loopback`).
    #[error("{0} is a loopback address")]
    Loopback(IpAddr),
    /// Not globally reachable: private, link-local, shared, metadata,
    /// multicast, reserved… (the IANA registries' name for its block).
    #[error("{0} is not a public address: {1}")]
    NonPublic(IpAddr, &'static str),
    /// A name that always means this machine.
    #[error("{0} names this machine")]
    LocalName(String),
    /// Plain http while only https is allowed.
    #[error("only https targets are allowed")]
    NotHttps,
    /// A port the operator did not allow.
    #[error("port {0} is not allowed")]
    Port(u16),
}

/// The operator's choices for the guard (default: public targets only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGuard {
    /// Allow loopback targets (`HOOKLINE_ALLOW_PRIVATE_TARGETS=1`: local
    /// mode and tests only). Private networks and metadata stay refused.
    pub allow_loopback: bool,
    /// Refuse plain `http`.
    pub https_only: bool,
    /// Ports allowed besides the scheme's default; `None` allows any.
    pub allowed_ports: Option<Vec<u16>>,
}

/// Why an address is not public, if it is not: the IANA special-purpose
/// registries (`registry`) say which blocks are globally reachable; outside
/// them, IPv4 multicast (224.0.0.0/4, the IANA IPv4 Multicast Address Space
/// registry) and any IPv6 address outside global unicast (2000::/3, the IANA
/// IPv6 Address Space registry: the rest is reserved, unique-local,
/// link-local, site-local or multicast) are refused too. The one reachable
/// block that stands for IPv4 hosts, NAT64's 64:ff9b::/96, is judged by the
/// IPv4 address inside.
fn not_public(ip: IpAddr) -> Option<&'static str> {
    match registry::lookup(ip) {
        Some(block) if !block.reachable => Some(block.label),
        Some(block) if block.embeds_ipv4 => match ip {
            IpAddr::V6(v6) => {
                let [.., a, b, c, d] = v6.octets();
                not_public(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
            }
            IpAddr::V4(_) => None,
        },
        Some(_) => None,
        None => match ip {
            IpAddr::V4(v4) if v4.is_multicast() => Some("Multicast (224.0.0.0/4)"),
            IpAddr::V4(_) => None,
            IpAddr::V6(v6) if v6.segments()[0] & 0xe000 != 0x2000 => {
                Some("not global unicast (outside 2000::/3)")
            }
            IpAddr::V6(_) => None,
        },
    }
}

impl TargetGuard {
    /// Checks one address about to be connected to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Blocked> {
        let Some(class) = not_public(ip) else { return Ok(()) };
        // Only the plain spellings count as loopback: 127.0.0.0/8 and ::1.
        let loopback = match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => v6.is_loopback(),
        };
        match (loopback, self.allow_loopback) {
            (true, true) => Ok(()),
            (true, false) => Err(Blocked::Loopback(ip)),
            _ => Err(Blocked::NonPublic(ip, class)),
        }
    }

    /// Checks what can be checked of a URL without DNS: scheme, port, IP
    /// literals and names that always mean this machine.
    pub fn check_url(&self, url: &TargetUrl) -> Result<(), Blocked> {
        let u = url.url();
        if self.https_only && u.scheme() != "https" {
            return Err(Blocked::NotHttps);
        }
        if let (Some(ports), Some(port)) = (&self.allowed_ports, u.port())
            && !ports.contains(&port)
        {
            return Err(Blocked::Port(port));
        }
        match u.host() {
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost"
                    || name.ends_with(".localhost")
                    || (name.starts_with("metadata") && name.ends_with(".internal"));
                let is_localhost = name == "localhost" || name.ends_with(".localhost");
                if local && !(is_localhost && self.allow_loopback) {
                    return Err(Blocked::LocalName(name));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// [`Self::check_url`] as a validation error for the API.
    pub fn accept(&self, field: &'static str, url: &TargetUrl) -> Result<(), ValidationError> {
        self.check_url(url).map_err(|b| ValidationError::invalid(field, format!("target refused: {b}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> TargetGuard {
        TargetGuard::default()
    }

    /// A URL in the parser's form: an odd spelling is refused as given
    /// (`TargetUrl` keeps URLs byte for byte), so the guard judges the
    /// address it stands for.
    fn url(s: &str) -> TargetUrl {
        let canonical = url::Url::parse(s).unwrap();
        TargetUrl::parse(canonical.as_str()).unwrap()
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1", "172.32.0.1"] {
            assert_eq!(guard().check_ip(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn private_loopback_metadata_and_odd_forms_are_blocked() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(guard().check_ip(ip.parse().unwrap()).is_err(), "{ip}");
        }
    }

    /// An address of `block` that no more specific block holds, so the
    /// block's own entry decides it.
    fn representative(block: &registry::Special) -> IpAddr {
        let width = if block.v6 { 128 } else { 32 };
        let host = width - u32::from(block.len);
        let first = block.bits;
        let last = if host == 0 { first } else { first | ((1u128 << host) - 1) };
        let ip = |bits: u128| match block.v6 {
            true => IpAddr::V6(bits.into()),
            false => IpAddr::V4(u32::try_from(bits).expect("an IPv4 block").into()),
        };
        let inner = |bits: u128| registry::SPECIAL.iter().any(|s| s.len > block.len && s.contains(ip(bits)));
        [last, first].into_iter().find(|b| !inner(*b)).map(ip).expect("an address only this block holds")
    }

    #[test]
    fn every_block_of_the_iana_registries_is_judged_as_the_registry_says() {
        assert!(registry::SPECIAL.len() >= 50, "both registries are read: {}", registry::SPECIAL.len());
        for block in registry::SPECIAL {
            let ip = representative(block);
            let judged = guard().check_ip(ip);
            if block.block == "64:ff9b::/96" {
                // Reachable, and stands for the IPv4 address inside.
                assert_eq!(guard().check_ip("64:ff9b::808:808".parse().unwrap()), Ok(()));
                assert!(guard().check_ip("64:ff9b::7f00:1".parse().unwrap()).is_err());
            } else if block.reachable {
                assert_eq!(judged, Ok(()), "{} ({ip}) is globally reachable", block.block);
            } else {
                assert!(
                    matches!(&judged, Err(Blocked::NonPublic(_, label)) if label.contains(block.block))
                        || matches!(judged, Err(Blocked::Loopback(_))),
                    "{} ({ip}): {judged:?}",
                    block.block
                );
            }
        }
    }

    #[test]
    fn the_registries_footnotes_and_shared_cells_are_read() {
        let find = |b: &str| registry::SPECIAL.iter().find(|s| s.block == b).unwrap_or_else(|| panic!("{b}"));
        assert!(!find("192.0.0.0/24").reachable, "a footnote mark on the block");
        assert!(!find("127.0.0.0/8").reachable, "a footnote mark on the value");
        assert!(find("192.0.0.9/32").reachable);
        assert!(
            !find("192.0.0.170/32").reachable && !find("192.0.0.171/32").reachable,
            "two blocks in a cell"
        );
        assert!(!find("2001::/32").reachable, "N/A is not reachable");
        assert!(!find("2001:10::/28").reachable, "a terminated block has no value");
        assert!(find("255.255.255.255/32").label.contains("[RFC8190] [RFC919]"), "a line break in a cell");
    }

    #[test]
    fn ipv4_inside_ipv6_translated_and_local_nat64_forms_are_blocked() {
        for ip in [
            "::ffff:0:7f00:1",
            "::ffff:0:808:808",
            "64:ff9b:1::7f00:1",
            "64:ff9b:1::808:808",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "5f00::1",
            "3fff::1",
            "100:0:0:1::1",
            "fec0::1",
            "::808:808",
        ] {
            assert!(guard().check_ip(ip.parse().unwrap()).is_err(), "{ip}");
        }
        let open = TargetGuard { allow_loopback: true, ..guard() };
        assert!(open.check_ip("::ffff:0:7f00:1".parse().unwrap()).is_err(), "only plain loopback is allowed");
    }

    #[test]
    fn odd_spellings_of_loopback_in_urls_are_blocked() {
        for u in [
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://[::ffff:7f00:1]/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://metadata.google.internal/",
        ] {
            assert!(guard().check_url(&url(u)).is_err(), "{u}");
        }
    }

    #[test]
    fn the_operator_can_allow_loopback_require_https_and_limit_ports() {
        let open = TargetGuard { allow_loopback: true, ..guard() };
        assert_eq!(open.check_url(&url("http://127.0.0.1:9000/")), Ok(()));
        assert_eq!(open.check_url(&url("http://localhost:9000/")), Ok(()));
        assert_eq!(open.check_url(&url("http://[::1]:9000/")), Ok(()));
        // Allowing loopback opens nothing else, nor loopback's odd forms.
        for u in [
            "http://10.0.0.1/",
            "http://169.254.169.254/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://metadata.google.internal/",
        ] {
            assert!(open.check_url(&url(u)).is_err(), "{u}");
        }
        let strict = TargetGuard { https_only: true, allowed_ports: Some(vec![8443]), ..guard() };
        assert_eq!(strict.check_url(&url("http://example.com/")), Err(Blocked::NotHttps));
        assert_eq!(strict.check_url(&url("https://example.com:8080/")), Err(Blocked::Port(8080)));
        assert_eq!(strict.check_url(&url("https://example.com:8443/")), Ok(()));
        assert_eq!(strict.check_url(&url("https://example.com/")), Ok(()));
    }
}
