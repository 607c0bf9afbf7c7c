//! The target guard: which addresses a webhook may be sent to. Strangers
//! choose webhook URLs, so without it hookline is a way into private
//! networks and cloud metadata services. Checked when a URL is accepted and
//! on the address actually connected at every attempt.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Host;

use crate::target::TargetUrl;
use crate::validation::ValidationError;

/// Why an address or URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// A loopback address (allowed only with `allow_loopback`).
    #[error("{0} is a loopback address")]
    Loopback(IpAddr),
    /// Private, link-local, CGNAT, metadata, multicast, reserved…
    #[error("{0} is a {1} address")]
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

/// The class of a non-public IPv4 address, if it is one.
fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [0, ..] => "this-network (0.0.0.0/8)",
        [10, ..] => "private (10.0.0.0/8)",
        [100, b, ..] if (64..128).contains(&b) => "carrier-grade NAT (100.64.0.0/10)",
        [127, ..] => "loopback",
        [169, 254, ..] => "link-local / cloud metadata (169.254.0.0/16)",
        [172, b, ..] if (16..32).contains(&b) => "private (172.16.0.0/12)",
        [192, 0, 0, _] => "IETF protocol assignment (192.0.0.0/24)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 88, 99, _] => "6to4 relay anycast",
        [192, 168, ..] => "private (192.168.0.0/16)",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking (198.18.0.0/15)",
        [a, ..] if a >= 224 => "multicast or reserved (224.0.0.0/3)",
        _ => return None,
    })
}

/// The class of a non-public IPv6 address, if it is one. IPv4-mapped,
/// -compatible, NAT64 and 6to4 forms are judged by the IPv4 inside.
fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (deprecated compatible).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        // Even a public IPv4 inside is refused: no receiver needs this spelling.
        return v4_class(embedded_v4(s[6], s[7])).or(Some("IPv4-in-IPv6 form"));
    }
    // 64:ff9b::/96 NAT64 and 2002::/16 6to4 reach IPv4 hosts.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_class(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return v4_class(embedded_v4(s[1], s[2]));
    }
    Some(match s[0] {
        x if x & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        x if x & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        x if x & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        x if x & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        0x2001 if s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x2001 if s[1] < 0x0200 => "IETF special purpose (2001::/23)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        _ => return None,
    })
}

impl TargetGuard {
    /// Checks one address about to be connected to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Blocked> {
        let class = match ip {
            IpAddr::V4(v4) => v4_class(v4),
            IpAddr::V6(v6) => v6_class(v6),
        };
        let Some(class) = class else { return Ok(()) };
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

    fn url(s: &str) -> TargetUrl {
        TargetUrl::parse(s).unwrap()
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
