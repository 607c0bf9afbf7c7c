//! `GET /v1/subscriptions/{id}/stats` and `GET /v1/stats`: the hourly
//! attempt counts ([`crate::tally`]) of an endpoint or of the whole service,
//! as the portal's health charts draw them.

use chrono::TimeDelta;
use serde::Serialize;

use super::ApiError;
use super::subscriptions::SubscriptionView;
use crate::auth::Caller;
use crate::context::Context;
use crate::model::SubscriptionId;
use crate::ports::{CountScope, HourCount};
use crate::tally::hour_of;
use crate::validation::ValidationError;

/// `GET /v1/subscriptions/{id}/stats` and `GET /v1/stats`: attempts by
/// hour over the last `days` (1–7), every hour listed (zeros included),
/// oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// The subscription, or none for the whole service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<SubscriptionId>,
    /// One entry per hour.
    pub hours: Vec<HourCount>,
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
            let mut sums = (0, 0, 0);
            while let Some(c) = stored.next_if(|c| c.hour <= hour) {
                if c.hour == hour {
                    sums = c.sums();
                }
            }
            out.push(HourCount::new(hour, sums));
        }
        Ok(Stats { subscription_id: subscription.cloned(), hours: out })
    }
}
