//! Hourly attempt counts: what the portal's health charts draw.
//!
//! Counting each attempt in the store would add a write to every attempt
//! (a write unit each on DynamoDB). Instead a process sums its attempts in a
//! [`Tally`] and adds the sums at once ([`Tally::flush`], which `Context::flush_counts` calls): the
//! embedded server every few seconds, a deliver function at the end of each
//! batch — one write per endpoint and hour per flush, not per attempt. A
//! process killed before it flushes loses those seconds of its chart, never
//! a delivery or an attempt record: the charts are a view, the deliveries
//! are the truth.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::model::{SubscriptionId, TenantId};
use crate::ports::{CountScope, CountStore, Counted, HourCount, StoreError};
/// Sums by scope and hour: (succeeded, failed, gave up).
type Sums = BTreeMap<(CountScope, DateTime<Utc>), (u64, u64, u64)>;

/// Attempt counts not yet written, by scope and hour.
#[derive(Debug, Default)]
pub struct Tally(Mutex<Sums>);

/// The start of `t`'s hour.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

impl Tally {
    fn lock(&self) -> std::sync::MutexGuard<'_, Sums> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one attempt made at `at` for the service, its tenant and,
    /// when given, its endpoint.
    pub fn count(
        &self,
        tenant: &TenantId,
        subscription: Option<&SubscriptionId>,
        at: DateTime<Utc>,
        counted: Counted,
    ) {
        let hour = hour_of(at);
        let mut sums = self.lock();
        let scopes = [CountScope::Service, CountScope::Tenant(tenant.clone())]
            .into_iter()
            .chain(subscription.map(|s| CountScope::Subscription(s.clone())));
        for scope in scopes {
            let sum = sums.entry((scope, hour)).or_default();
            match counted {
                Counted::Succeeded => sum.0 += 1,
                Counted::Retried => sum.1 += 1,
                Counted::GaveUp => {
                    sum.1 += 1;
                    sum.2 += 1;
                }
            }
        }
    }

    /// Takes every sum out.
    fn take(&self) -> Vec<(CountScope, HourCount)> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|((scope, hour), sums)| (scope, HourCount::new(hour, sums)))
            .collect()
    }

    /// Puts sums back (their write failed), added to any counted since.
    fn restore(&self, counts: Vec<(CountScope, HourCount)>) {
        let mut sums = self.lock();
        for (scope, c) in counts {
            let sum = sums.entry((scope, c.hour)).or_default();
            sum.0 += c.succeeded;
            sum.1 += c.failed;
            sum.2 += c.gave_up;
        }
    }
}

impl Tally {
    /// Writes the sums counted since the last flush to `store`; how many it
    /// wrote. On failure they stay counted for the next flush.
    pub async fn flush(&self, store: &dyn CountStore) -> Result<usize, StoreError> {
        let counts = self.take();
        if counts.is_empty() {
            return Ok(0);
        }
        match store.add_counts(&counts).await {
            Ok(()) => Ok(counts.len()),
            Err(e) => {
                self.restore(counts);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn attempts_are_summed_by_scope_and_hour() {
        let tally = Tally::default();
        let sub: SubscriptionId = "sub_01jdx000000000000000000000".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 59, 59).unwrap();
        let acme = TenantId::parse("acme").unwrap();
        tally.count(&acme, Some(&sub), at, Counted::Succeeded);
        tally.count(&acme, Some(&sub), at, Counted::Retried);
        tally.count(&acme, Some(&sub), at, Counted::GaveUp);
        tally.count(&acme, None, at + TimeDelta::seconds(1), Counted::Succeeded);
        let nine = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let ten = nine + TimeDelta::hours(1);
        let counts = tally.take();
        assert_eq!(
            counts,
            vec![
                (CountScope::Service, HourCount::new(nine, (1, 2, 1))),
                (CountScope::Service, HourCount::new(ten, (1, 0, 0))),
                (CountScope::Tenant(acme.clone()), HourCount::new(nine, (1, 2, 1))),
                (CountScope::Tenant(acme.clone()), HourCount::new(ten, (1, 0, 0))),
                (CountScope::Subscription(sub), HourCount::new(nine, (1, 2, 1))),
            ]
        );
        assert!(tally.take().is_empty(), "taken once");
        tally.restore(counts.clone());
        tally.count(&acme, None, at, Counted::Succeeded);
        assert_eq!(tally.take()[0].1.succeeded, 2, "restored sums add to new ones");
    }
}
