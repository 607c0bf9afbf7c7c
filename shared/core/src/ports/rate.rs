//! A rate-limited subscription's shared schedule of sending slots.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;
use crate::model::SubscriptionId;
use crate::policy::{Grant, RateLimit};

/// The shared schedules of rate-limited subscriptions (see
/// [`crate::policy::rate`]): every process sending to a subscription takes
/// its slots here, so together they keep its limit.
#[async_trait]
pub trait RateSlots: Send + Sync {
    /// Leases up to `want` slots of `subscription`'s schedule at `rate`, or
    /// says when to come back ([`crate::policy::rate::lease`], applied
    /// atomically to the shared TAT).
    async fn lease(
        &self,
        subscription: &SubscriptionId,
        rate: RateLimit,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError>;
}

/// Schedules kept in this process: right where one process does all the
/// sending (the embedded mode) and in tests.
#[derive(Debug, Default)]
pub struct LocalRateSlots(std::sync::Mutex<std::collections::HashMap<SubscriptionId, DateTime<Utc>>>);

#[async_trait]
impl RateSlots for LocalRateSlots {
    async fn lease(
        &self,
        subscription: &SubscriptionId,
        rate: RateLimit,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        let mut tats = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let grant = crate::policy::rate::lease(tats.get(subscription).copied(), now, rate, want);
        if let Grant::Slots { next, .. } = grant {
            tats.insert(subscription.clone(), next);
        }
        Ok(grant)
    }
}
