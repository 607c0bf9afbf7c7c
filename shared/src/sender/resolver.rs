//! DNS resolution that returns only addresses the guard accepts: the
//! connector can connect to nothing else.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::guard::{Blocked, TargetGuard};

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
}

impl GuardedResolver {
    pub(super) fn new(guard: Arc<TargetGuard>) -> Self {
        Self { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let looked_up =
                tokio::net::lookup_host((host.as_str(), 0)).await.map(|a| a.collect::<Vec<SocketAddr>>());
            let found = match looked_up {
                Ok(addrs) => addrs,
                Err(e) => return Err(Box::new(DnsFailure(host, e.to_string())) as _),
            };
            if found.is_empty() {
                return Err(Box::new(DnsFailure(host, "no addresses".into())) as _);
            }
            let mut refused = None;
            let mut allowed = Vec::with_capacity(found.len());
            for addr in found {
                match guard.check_ip(addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(b) => refused = refused.or(Some(b)),
                }
            }
            match (allowed.is_empty(), refused) {
                (true, Some(b)) => Err(Box::new(BlockedTarget(b)) as _),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}
