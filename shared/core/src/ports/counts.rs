//! Hourly attempt counts, as the portal's charts draw them.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;
use crate::model::SubscriptionId;

/// Whose attempts an hourly count is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CountScope {
    /// Every attempt of the service (the operator's view).
    Service,
    /// One tenant's (the operator's list of tenants).
    Tenant(crate::model::TenantId),
    /// One endpoint's (its health chart).
    Subscription(SubscriptionId),
}

/// How many attempts in one hour succeeded and failed, and how many
/// deliveries were given up on. A successful attempt ends its delivery, so
/// `succeeded` is also the deliveries that succeeded that hour; `failed`
/// less `gave_up` is the attempts that failed and were retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HourCount {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    /// Attempts that succeeded (each the end of a delivery).
    pub succeeded: u64,
    /// Attempts that failed (retried or given up).
    pub failed: u64,
    /// Deliveries given up on after a failed attempt (retries exhausted,
    /// or a failure not worth retrying).
    pub gave_up: u64,
}

impl HourCount {
    /// The counts of one hour.
    pub fn new(hour: DateTime<Utc>, (succeeded, failed, gave_up): (u64, u64, u64)) -> Self {
        Self { hour, succeeded, failed, gave_up }
    }

    /// Its three sums.
    pub fn sums(&self) -> (u64, u64, u64) {
        (self.succeeded, self.failed, self.gave_up)
    }
}

/// What one attempt counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// It succeeded: its delivery is done.
    Succeeded,
    /// It failed, and will be tried again.
    Retried,
    /// It failed, and its delivery was given up on.
    GaveUp,
}

/// Attempt counts by hour, kept [`COUNT_RETENTION`]: what the portal's
/// charts draw. Written in sums ([`crate::tally::Tally`]), not per attempt.
#[async_trait]
pub trait CountStore: Send + Sync {
    /// Adds each count to what its scope and hour hold.
    async fn add_counts(&self, counts: &[(CountScope, HourCount)]) -> Result<(), StoreError>;
    /// The hours from `since` on that have counts, oldest first.
    async fn hourly_counts(
        &self,
        scope: &CountScope,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourCount>, StoreError>;
}

/// How long hourly counts are kept: the longest chart (7 days) and a day.
pub const COUNT_RETENTION: Duration = Duration::from_secs(8 * 86_400);
