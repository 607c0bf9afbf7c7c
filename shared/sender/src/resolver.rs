//! DNS resolution that returns only addresses the guard accepts: the
//! connector can connect to nothing else.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use hookline::guard::{Blocked, TargetGuard};

/// Every address of a name was refused by the guard.
#[derive(Debug, thiserror::Error)]
#[error("target refused: {0}")]
pub struct BlockedTarget(pub Blocked);

/// A name did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("DNS lookup of {0} failed: {1}")]
pub struct DnsFailure(pub String, pub String);

pub(super) struct GuardedResolver {
    guard: Arc<TargetGuard>,
    /// Names answered from this table instead of the system resolver
    /// (tests: DNS rebinding without a DNS server).
    table: Option<Arc<HashMap<String, Vec<IpAddr>>>>,
    /// The egress proxy's host: resolved as it is, unguarded (it is the
    /// operator's own, usually on a private address).
    proxy: Option<String>,
}

impl GuardedResolver {
    pub(super) fn new(
        guard: Arc<TargetGuard>,
        table: Option<Arc<HashMap<String, Vec<IpAddr>>>>,
        proxy: Option<String>,
    ) -> Self {
        Self { guard, table, proxy }
    }
}

/// A target's name resolved and checked, when a proxy will connect to it:
/// refused when none of its addresses is one the guard accepts.
pub(super) async fn check_host(
    guard: &TargetGuard,
    table: Option<&HashMap<String, Vec<IpAddr>>>,
    url: &hookline::target::TargetUrl,
) -> Result<(), Blocked> {
    let Some(url::Host::Domain(name)) = url.url().host() else { return Ok(()) };
    let found = match table.and_then(|t| t.get(name)) {
        Some(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect()),
        None => tokio::net::lookup_host((name, 0)).await.map(|a| a.collect::<Vec<_>>()),
    };
    match found {
        Ok(found) => allowed(guard, found).map(|_| ()),
        // Unresolvable here: the proxy will say so.
        Err(_) => Ok(()),
    }
}

/// Keeps the addresses the guard accepts; refuses when none is left.
pub(super) fn allowed(guard: &TargetGuard, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Blocked> {
    let mut refused = None;
    let mut kept = Vec::with_capacity(found.len());
    for addr in found {
        match guard.check_ip(addr.ip()) {
            Ok(()) => kept.push(addr),
            Err(b) => refused = refused.or(Some(b)),
        }
    }
    match (kept.is_empty(), refused) {
        (true, Some(b)) => Err(b),
        _ => Ok(kept),
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let table = self.table.clone();
        let proxy = self.proxy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            if proxy.as_deref() == Some(host.as_str()) {
                let found = tokio::net::lookup_host((host.as_str(), 0)).await.map(|a| a.collect::<Vec<_>>());
                return match found {
                    Ok(a) => Ok(Box::new(a.into_iter()) as Addrs),
                    Err(e) => Err(Box::new(DnsFailure(host, e.to_string())) as _),
                };
            }
            let looked_up = match table.as_ref().and_then(|t| t.get(&host)) {
                Some(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect()),
                None => {
                    tokio::net::lookup_host((host.as_str(), 0)).await.map(|a| a.collect::<Vec<SocketAddr>>())
                }
            };
            let found = match looked_up {
                Ok(addrs) => addrs,
                Err(e) => return Err(Box::new(DnsFailure(host, e.to_string())) as _),
            };
            if found.is_empty() {
                return Err(Box::new(DnsFailure(host, "no addresses".into())) as _);
            }
            match allowed(&guard, found) {
                Ok(kept) => Ok(Box::new(kept.into_iter()) as Addrs),
                Err(b) => Err(Box::new(BlockedTarget(b)) as _),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| SocketAddr::new(a.parse().unwrap(), 443)).collect()
    }

    #[test]
    fn only_checked_addresses_are_kept_and_none_left_is_a_refusal() {
        let guard = TargetGuard::default();
        let kept = allowed(&guard, addrs(&["10.0.0.1", "93.184.216.34", "169.254.169.254", "2606:4700::1"]))
            .unwrap();
        assert_eq!(kept, addrs(&["93.184.216.34", "2606:4700::1"]));
        assert!(allowed(&guard, addrs(&["127.0.0.1", "::1", "192.168.0.1"])).is_err());
    }
}
