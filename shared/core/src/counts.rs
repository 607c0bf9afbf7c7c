//! Hourly attempt counts: what the portal's health charts draw.
//!
//! Counting each attempt in the store would add a write to every attempt
//! (a write unit each on DynamoDB). Instead a process sums its attempts in a
//! [`Tally`] and adds the sums at once ([`Context::flush_counts`]): the
//! embedded server every few seconds, a deliver function at the end of each
//! batch — one write per endpoint and hour per flush, not per attempt. A
//! process killed before it flushes loses those seconds of its chart, never
//! a delivery or an attempt record: the charts are a view, the deliveries
//! are the truth.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use serde::Serialize;

use crate::api::ApiError;
use crate::api::access::Caller;
use crate::api::subscriptions::SubscriptionView;
use crate::context::Context;
use crate::model::SubscriptionId;
use crate::ports::{CountScope, HourCount, StoreError};
use crate::validation::ValidationError;

/// Sums by scope and hour: (succeeded, failed).
type Sums = BTreeMap<(CountScope, DateTime<Utc>), (u64, u64)>;

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

    /// Counts one attempt made at `at` for the service and, when given,
    /// its endpoint.
    pub fn count(&self, subscription: Option<&SubscriptionId>, at: DateTime<Utc>, succeeded: bool) {
        let hour = hour_of(at);
        let mut sums = self.lock();
        let scopes = std::iter::once(CountScope::Service)
            .chain(subscription.map(|s| CountScope::Subscription(s.clone())));
        for scope in scopes {
            let sum = sums.entry((scope, hour)).or_default();
            if succeeded {
                sum.0 += 1;
            } else {
                sum.1 += 1;
            }
        }
    }

    /// Takes every sum out.
    fn take(&self) -> Vec<(CountScope, HourCount)> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|((scope, hour), (succeeded, failed))| (scope, HourCount { hour, succeeded, failed }))
            .collect()
    }

    /// Puts sums back (their write failed), added to any counted since.
    fn restore(&self, counts: Vec<(CountScope, HourCount)>) {
        let mut sums = self.lock();
        for (scope, c) in counts {
            let sum = sums.entry((scope, c.hour)).or_default();
            sum.0 += c.succeeded;
            sum.1 += c.failed;
        }
    }
}

impl Context {
    /// Writes the attempts counted since the last flush; how many sums it
    /// wrote. On failure they stay counted for the next flush.
    pub async fn flush_counts(&self) -> Result<usize, StoreError> {
        let counts = self.tally.take();
        if counts.is_empty() {
            return Ok(0);
        }
        match self.counts.add_counts(&counts).await {
            Ok(()) => Ok(counts.len()),
            Err(e) => {
                self.tally.restore(counts);
                Err(e)
            }
        }
    }
}

/// `GET /v1/subscriptions/{id}/stats` and `GET /v1/stats`: attempts by
/// hour over the last `days` (1–7), every hour listed (zeros included),
/// oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// The subscription, or none for the whole service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<SubscriptionId>,
    /// One entry per hour.
    pub hours: Vec<HourStats>,
}

/// One hour of [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HourStats {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts that failed.
    pub failed: u64,
}

/// The longest period stats cover.
pub const MAX_STATS_DAYS: u32 = 7;

impl Context {
    /// The attempt counts of a subscription the caller reaches, or (an
    /// operator's) of the whole service, by hour over the last `days`.
    pub async fn stats(
        &self,
        caller: &Caller,
        subscription: Option<&SubscriptionId>,
        days: u32,
    ) -> Result<Stats, ApiError> {
        match subscription {
            Some(id) => {
                self.reachable_subscription(caller, id).await?;
                self.hourly(Some(id), days).await
            }
            None => {
                caller.operator()?;
                self.hourly(None, days).await
            }
        }
    }

    /// The stats of a subscription the caller has just read: its view is
    /// the proof of access, so the subscription is not read again.
    pub async fn subscription_stats(&self, reached: &SubscriptionView, days: u32) -> Result<Stats, ApiError> {
        self.hourly(Some(&reached.id), days).await
    }

    /// Every hour of the last `days` of a subscription's (or the service's)
    /// counts, zeros included.
    async fn hourly(&self, subscription: Option<&SubscriptionId>, days: u32) -> Result<Stats, ApiError> {
        if !self.settings.charts {
            return Err(ApiError::Conflict(
                "attempt counts are off on this service (HOOKLINE_CHARTS=0)".into(),
            ));
        }
        if !(1..=MAX_STATS_DAYS).contains(&days) {
            return Err(ValidationError::invalid("days", format!("1 to {MAX_STATS_DAYS}")).into());
        }
        let scope = subscription.map_or(CountScope::Service, |id| CountScope::Subscription(id.clone()));
        let hours = i64::from(days) * 24;
        let first = hour_of(self.clock.now()) - TimeDelta::hours(hours - 1);
        let stored = self.counts.hourly_counts(&scope, first).await?;
        let mut stored = stored.into_iter().peekable();
        let mut out = Vec::with_capacity(usize::try_from(hours).unwrap_or(0));
        for i in 0..hours {
            let hour = first + TimeDelta::hours(i);
            let (mut succeeded, mut failed) = (0, 0);
            while let Some(c) = stored.next_if(|c| c.hour <= hour) {
                if c.hour == hour {
                    (succeeded, failed) = (c.succeeded, c.failed);
                }
            }
            out.push(HourStats { hour, succeeded, failed });
        }
        Ok(Stats { subscription_id: subscription.cloned(), hours: out })
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
        tally.count(Some(&sub), at, true);
        tally.count(Some(&sub), at, false);
        tally.count(None, at + TimeDelta::seconds(1), true);
        let nine = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let ten = nine + TimeDelta::hours(1);
        let counts = tally.take();
        assert_eq!(
            counts,
            vec![
                (CountScope::Service, HourCount { hour: nine, succeeded: 1, failed: 1 }),
                (CountScope::Service, HourCount { hour: ten, succeeded: 1, failed: 0 }),
                (CountScope::Subscription(sub), HourCount { hour: nine, succeeded: 1, failed: 1 }),
            ]
        );
        assert!(tally.take().is_empty(), "taken once");
        tally.restore(counts.clone());
        tally.count(None, at, true);
        assert_eq!(tally.take()[0].1.succeeded, 2, "restored sums add to new ones");
    }
}
