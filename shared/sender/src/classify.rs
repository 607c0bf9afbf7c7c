//! Turns a failed exchange into the attempt log's error class and a short
//! message for humans.

use std::error::Error as StdError;
use std::io;

use super::resolver::{BlockedTarget, DnsFailure};
use hookline::policy::FailureKind;

/// The class and message of a failed exchange.
pub(super) fn classify(e: &reqwest::Error) -> (FailureKind, String) {
    let mut chain: Vec<&(dyn StdError + 'static)> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(err) = cur {
        chain.push(err);
        cur = err.source();
    }
    let message = chain.last().map(|c| c.to_string()).unwrap_or_else(|| e.to_string());
    if let Some(b) = chain.iter().find_map(|c| c.downcast_ref::<BlockedTarget>()) {
        return (FailureKind::Blocked, format!("not sent: {}", b.0));
    }
    if let Some(d) = chain.iter().find_map(|c| c.downcast_ref::<DnsFailure>()) {
        return (FailureKind::Dns, d.to_string());
    }
    if e.is_timeout() {
        return (FailureKind::Timeout, "no complete response within the timeout".into());
    }
    if let Some(io) = chain.iter().find_map(|c| c.downcast_ref::<io::Error>()) {
        let kind = match io.kind() {
            io::ErrorKind::ConnectionRefused => Some(FailureKind::ConnectionRefused),
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Some(FailureKind::ConnectionReset),
            io::ErrorKind::TimedOut => Some(FailureKind::Timeout),
            _ => None,
        };
        if let Some(kind) = kind {
            return (kind, message);
        }
    }
    let text = chain.iter().map(|c| c.to_string().to_ascii_lowercase()).collect::<Vec<_>>().join(": ");
    if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        return (FailureKind::Tls, message);
    }
    if text.contains("connection closed") || text.contains("incomplete message") || text.contains("reset") {
        return (FailureKind::ConnectionReset, message);
    }
    (FailureKind::Other, message)
}
