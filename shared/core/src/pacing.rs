//! A process's share of its rate-limited subscriptions' slots: leased from
//! the shared schedules ([`RateSlots`]) a few at a time and handed out one
//! per delivery, so the store is written once per lease, not per delivery.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::lock::Mutex;

use crate::model::SubscriptionId;
use crate::policy::rate::{Grant, LATE, RateLimit, slot_times};
use crate::ports::{RateSlots, StoreError, span};

/// When a delivery to a rate-limited subscription may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// At this time (within the horizon): wait for it, then send.
    At(DateTime<Utc>),
    /// Not before this time: hold the delivery back until then.
    NotBefore(DateTime<Utc>),
}

/// Slots leased by this process, per subscription.
pub struct Pacer {
    slots: Arc<dyn RateSlots>,
    // An async lock held across the lease: concurrent deliveries to one
    // subscription share a lease instead of each taking one.
    leased: Mutex<HashMap<SubscriptionId, VecDeque<DateTime<Utc>>>>,
}

impl Pacer {
    /// A pacer over `slots`.
    pub fn new(slots: Arc<dyn RateSlots>) -> Self {
        Self { slots, leased: Mutex::new(HashMap::new()) }
    }

    /// The turn of one delivery to `subscription`, limited to `rate`.
    pub async fn turn(
        &self,
        subscription: &SubscriptionId,
        rate: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Turn, StoreError> {
        let mut leased = self.leased.lock().await;
        if let Some(mine) = leased.get_mut(subscription) {
            // A slot missed by more than LATE is thrown away, never used late.
            while mine.front().is_some_and(|t| *t + span(LATE) < now) {
                mine.pop_front();
            }
            if let Some(t) = mine.pop_front() {
                if mine.is_empty() {
                    leased.remove(subscription);
                }
                return Ok(Turn::At(t));
            }
            leased.remove(subscription);
        }
        match self.slots.lease(subscription, rate, rate.lease_size(), now).await? {
            Grant::Slots { first, count, .. } => {
                let rest: VecDeque<_> = slot_times(first, count, rate).skip(1).collect();
                if !rest.is_empty() {
                    leased.insert(subscription.clone(), rest);
                }
                Ok(Turn::At(first))
            }
            Grant::Wait { until } => Ok(Turn::NotBefore(until)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::LocalRateSlots;
    use chrono::TimeZone;

    #[tokio::test]
    async fn one_lease_serves_several_deliveries_and_a_full_schedule_holds_back() {
        let pacer = Pacer::new(Arc::new(LocalRateSlots::default()));
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let sub = SubscriptionId::generate(t0, [1; 10]);
        let rate = RateLimit::new(2).unwrap(); // slots 510 ms apart
        let ms = chrono::Duration::milliseconds;
        // One lease of the two slots within the horizon: 0 and 510 ms.
        assert_eq!(pacer.turn(&sub, rate, t0).await.unwrap(), Turn::At(t0));
        assert_eq!(pacer.turn(&sub, rate, t0).await.unwrap(), Turn::At(t0 + ms(510)));
        // The next free slot, 1020 ms, is past the horizon.
        assert_eq!(pacer.turn(&sub, rate, t0).await.unwrap(), Turn::NotBefore(t0 + ms(20)));
        // Back then: 1020 ms and 1530 ms are leased, the first used.
        assert_eq!(pacer.turn(&sub, rate, t0 + ms(1000)).await.unwrap(), Turn::At(t0 + ms(1020)));
        // The one at 1530 ms is missed: thrown away, not used late.
        let late = t0 + ms(3000);
        assert_eq!(pacer.turn(&sub, rate, late).await.unwrap(), Turn::At(late));
    }
}
