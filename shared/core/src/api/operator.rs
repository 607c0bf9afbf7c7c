//! What the operator's pages read beyond one tenant: the tenants, each with
//! its endpoints and its last day's deliveries, and the queue's state.

use chrono::TimeDelta;

use super::ApiError;
use super::page::ListResponse;
use super::subscriptions::SubscriptionView;
use crate::auth::Caller;
use crate::context::Context;
use crate::ports::{CountScope, PageRequest, QueueDepth};
use crate::tally::hour_of;
use crate::validation::ValidationError;

/// The longest tenant-name prefix a search takes.
pub const MAX_TENANT_PREFIX: usize = 64;

/// A tenant as the operator's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSummary {
    /// The tenant.
    pub tenant: crate::model::TenantId,
    /// Its endpoints.
    pub endpoints: u64,
    /// Its deliveries of the last 24 hours: succeeded, and given up on
    /// (none when the service counts nothing: `HOOKLINE_CHARTS=0`).
    pub last_day: Option<(u64, u64)>,
}

/// How many of each watch list the Service page shows.
pub const WATCHED_SHOWN: usize = 20;

/// What the Service page shows besides the charts.
#[derive(Debug, Clone, Default)]
pub struct ServiceHealth {
    /// The delivery queue, where it can tell.
    pub queue: Option<QueueDepth>,
    /// How many dead letters there are, where the queue can count them.
    pub dead_letters: Option<u64>,
    /// The endpoints failing now, the longest failing first.
    pub failing: Vec<SubscriptionView>,
    /// The endpoints disabled for their failures, the latest first.
    pub disabled: Vec<SubscriptionView>,
}

impl Context {
    /// The tenants that have had endpoints, by name from after
    /// `page.cursor`, those whose name starts with `prefix` (operator only).
    pub async fn list_tenants(
        &self,
        caller: &Caller,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<ListResponse<TenantSummary>, ApiError> {
        caller.operator()?;
        let prefix = prefix.trim();
        if prefix.len() > MAX_TENANT_PREFIX {
            return Err(ValidationError::too_long("q", MAX_TENANT_PREFIX, "characters").into());
        }
        let listed = self.subscriptions.list_tenants(prefix, page).await?;
        let since = hour_of(self.clock.now()) - TimeDelta::hours(23);
        let days = listed.items.iter().map(|t| async move {
            match self.settings.charts {
                true => self.counts.hourly_counts(&CountScope::Tenant(t.tenant.clone()), since).await.map(
                    |hours| Some(hours.iter().fold((0, 0), |a, h| (a.0 + h.succeeded, a.1 + h.gave_up))),
                ),
                false => Ok(None),
            }
        });
        let days = futures_util::future::try_join_all(days).await?;
        let data = listed
            .items
            .into_iter()
            .zip(days)
            .map(|(t, last_day)| TenantSummary { tenant: t.tenant, endpoints: t.subscriptions, last_day })
            .collect();
        Ok(ListResponse { data, next_cursor: listed.next_cursor })
    }

    /// The delivery queue's depth and the dead letters' count, where the
    /// queue can tell, and the endpoints failing or disabled of every
    /// tenant (operator only). A queue that cannot answer now is shown as
    /// unknown rather than failing the page.
    pub async fn service_health(&self, caller: &Caller) -> Result<ServiceHealth, ApiError> {
        caller.operator()?;
        let (queue, dead, watched) = futures_util::future::join3(
            self.queue.depth(),
            self.dead_letters.count(),
            self.subscriptions.watched(WATCHED_SHOWN),
        )
        .await;
        let watched = watched?;
        let queue = queue.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the delivery queue's depth could not be read");
            None
        });
        let dead_letters = dead.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the dead letters could not be counted");
            None
        });
        Ok(ServiceHealth {
            queue,
            dead_letters,
            failing: watched.failing.iter().map(SubscriptionView::from).collect(),
            disabled: watched.disabled.iter().map(SubscriptionView::from).collect(),
        })
    }
}
