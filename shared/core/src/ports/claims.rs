//! One-time claims: a name that can be taken once, until a time (a portal
//! link's nonce, so a link opens one session).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;

/// Names taken once.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Takes `name` if no one has: `true` the first time, `false` on every
    /// later call, however many race, until `until` has passed (after
    /// which the store may forget it; callers only claim names that are
    /// worthless by then).
    async fn claim(&self, name: &str, until: DateTime<Utc>) -> Result<bool, StoreError>;
}
