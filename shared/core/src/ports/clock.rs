//! Time, injected.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A std duration as a chrono one, saturating (the largest chrono duration
/// for a span too long to represent): the one conversion the handlers and
/// stores use when they add a delay, lease or grace to a time.
pub fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The time, injected so schedules are tested without sleeping.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
