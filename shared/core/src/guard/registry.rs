//! The IANA special-purpose address registries as the guard's table:
//! generated at build time (`build.rs`) from the registries' own CSV files
//! in `iana/` — <https://www.iana.org/assignments/iana-ipv4-special-registry/>
//! and <https://www.iana.org/assignments/iana-ipv6-special-registry/> —
//! so what is refused is what the registries say, not a list typed here.

use std::net::IpAddr;

/// One block of a registry.
#[derive(Debug)]
pub(crate) struct Special {
    /// An IPv6 block (else IPv4).
    pub(crate) v6: bool,
    /// The block's first address, as a number.
    pub(crate) bits: u128,
    /// Its prefix length.
    pub(crate) len: u8,
    /// As the registry writes it (`10.0.0.0/8`).
    pub(crate) block: &'static str,
    /// Its name and where it is defined: `Private-Use (10.0.0.0/8, [RFC1918])`.
    pub(crate) label: &'static str,
    /// The registry's "Globally Reachable" is `True` (not `False`, `N/A`,
    /// or blank for a terminated block).
    pub(crate) reachable: bool,
}

/// A block as the guard names it, with whether it stands for IPv4 hosts.
pub(crate) struct Block {
    /// `Private-Use (10.0.0.0/8, [RFC1918])`.
    pub(crate) label: &'static str,
    /// The registry's "Globally Reachable".
    pub(crate) reachable: bool,
    /// NAT64's well-known prefix (64:ff9b::/96, RFC 6052): each address
    /// reaches the IPv4 address in its last 32 bits.
    pub(crate) embeds_ipv4: bool,
}

/// Every block of both registries.
pub(crate) static SPECIAL: &[Special] = include!(concat!(env!("OUT_DIR"), "/iana_special.rs"));

impl Special {
    /// Whether `ip` is in this block.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let (bits, width) = match ip {
            IpAddr::V4(a) if !self.v6 => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) if self.v6 => (u128::from(a), 128),
            _ => return false,
        };
        let host_bits = width - u32::from(self.len);
        host_bits >= width || (bits >> host_bits) == (self.bits >> host_bits)
    }
}

/// The most specific block of the registries that holds `ip` (a block
/// inside another, such as 192.0.0.9/32 in 192.0.0.0/24, decides for its
/// addresses).
pub(crate) fn lookup(ip: IpAddr) -> Option<Block> {
    let special = SPECIAL.iter().filter(|s| s.contains(ip)).max_by_key(|s| s.len)?;
    Some(Block {
        label: special.label,
        reachable: special.reachable,
        embeds_ipv4: special.v6 && special.block == "64:ff9b::/96",
    })
}
