//! Deliveries: reading them and their attempts, and what a support engineer
//! does when "we never got the webhook" — send one again now, or replay a
//! subscription's deliveries since a time, oldest first and paced so the
//! endpoint is not flooded.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::ApiError;
use super::page::{ListResponse, parse_time};
use crate::auth::Caller;
use crate::context::Context;
use crate::model::{
    Attempt, Delivery, DeliveryId, DeliveryStatus, DeliveryTarget, EventId, EventType, Subscription,
    SubscriptionId, TenantId,
};
use crate::policy::GiveUpReason;
use crate::ports::{DeliveryFilter, PageRequest, QueueMessage, Queued, span};
use crate::target::TargetUrl;
use crate::validation::ValidationError;

/// A delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    /// Id.
    pub id: DeliveryId,
    /// Event.
    pub event_id: EventId,
    /// Tenant.
    pub tenant: TenantId,
    /// Event type.
    pub event_type: EventType,
    /// Subscription, if any.
    pub subscription_id: Option<SubscriptionId>,
    /// The one-off URL, for deliveries without a subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<TargetUrl>,
    /// Delivered in its key's order (its subscription is ordered and its
    /// event has an `ordering_key`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempt_count: u32,
    /// When the next attempt is expected.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub give_up_reason: Option<GiveUpReason>,
    /// The last response status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Every attempt, on single-delivery reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<Attempt>>,
}

impl DeliveryView {
    /// The view of a delivery, with its attempts if given.
    pub fn new(d: &Delivery, attempts: Option<Vec<Attempt>>) -> Self {
        let url = match &d.target {
            DeliveryTarget::OneOff { url } => Some(url.clone()),
            DeliveryTarget::Subscription { .. } => None,
        };
        Self {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            tenant: d.tenant.clone(),
            event_type: d.event_type.clone(),
            subscription_id: d.subscription_id().cloned(),
            url,
            ordered: d.ordering.is_some(),
            status: d.status,
            attempt_count: d.attempts,
            next_attempt_at: d.next_attempt_at,
            give_up_reason: d.give_up_reason,
            last_status_code: d.last_status_code,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempts,
        }
    }
}

/// Replayed deliveries sent per second at most.
pub const REPLAY_PER_SECOND: u32 = 10;
/// Most deliveries one replay call re-sends.
pub const MAX_REPLAY: usize = 10_000;

/// `POST /v1/subscriptions/{id}/replay`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Deliveries created at or after this RFC 3339 time.
    pub since: String,
    /// Their status (default `failed`); `pending` ones need no replay.
    #[serde(default)]
    pub status: Option<String>,
}

/// The answer to a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayResponse {
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// How many deliveries will be sent again.
    pub replayed: usize,
    /// When the last of them is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
}

impl Context {
    async fn active_subscription(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
    ) -> Result<Subscription, ApiError> {
        let sub = self.reachable_subscription(caller, id).await?;
        if !sub.active {
            return Err(ApiError::Conflict(format!(
                "subscription {id} is disabled; enable it (PATCH active: true) first"
            )));
        }
        Ok(sub)
    }

    /// Reopens `d` for an attempt `wait` from now and queues it (beyond the
    /// queue's delay the scheduler picks it up at its due time).
    async fn resend(
        &self,
        d: &Delivery,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> Result<Option<Delivery>, ApiError> {
        let at = now + span(wait);
        let queued = wait <= self.queue.max_delay();
        let due = if queued { at + span(self.settings.queue_grace) } else { at };
        // The event outlives the attempt (its retries keep it further).
        let longest_attempt = Duration::from_millis(crate::policy::MAX_TIMEOUT_MS.into());
        let last_use = at + span(self.settings.queue_grace) + span(longest_attempt);
        self.events.keep_event(&d.event_id, last_use).await?;
        let Some(reopened) = self.deliveries.reopen_delivery(&d.id, at, due).await? else { return Ok(None) };
        if queued {
            // An ordered delivery joins the end of its key's queue.
            let message = QueueMessage::next_for(&reopened);
            if let Err(e) = self.queue.enqueue(&[Queued { message, delay: wait }]).await {
                warn!(delivery_id = %d.id, error = %e, "queue unavailable; the scheduler will send it");
            }
        }
        Ok(Some(reopened))
    }

    /// `POST /v1/deliveries/{id}/redeliver`: a fresh attempt now, same
    /// delivery id, whatever the delivery's state.
    pub async fn redeliver(&self, caller: &Caller, id: &DeliveryId) -> Result<DeliveryView, ApiError> {
        let d = self.reachable_delivery(caller, id).await?;
        if let Some(sub) = d.subscription_id() {
            self.active_subscription(caller, sub).await?;
        }
        let reopened =
            self.resend(&d, self.clock.now(), Duration::ZERO).await?.ok_or(ApiError::NotFound("delivery"))?;
        info!(delivery_id = %id, key = %caller.key_id, "redelivery requested");
        Ok(DeliveryView::new(&reopened, None))
    }

    /// `POST /v1/subscriptions/{id}/replay`: every delivery of the
    /// subscription in a status since a time, re-sent in order of creation
    /// at most [`REPLAY_PER_SECOND`] a second.
    pub async fn replay(
        &self,
        caller: &Caller,
        id: &SubscriptionId,
        req: ReplayRequest,
    ) -> Result<ReplayResponse, ApiError> {
        let since = parse_time("since", &req.since)?;
        let status = match req.status.as_deref() {
            None => DeliveryStatus::Failed,
            Some(s) => DeliveryStatus::parse(s)?,
        };
        if status == DeliveryStatus::Pending {
            return Err(
                ValidationError::invalid("status", "pending deliveries are on their way already").into()
            );
        }
        self.active_subscription(caller, id).await?;
        let filter = DeliveryFilter {
            subscription_id: Some(id.clone()),
            status: Some(status),
            since: Some(since),
            ..Default::default()
        };
        let mut found = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.deliveries.list_deliveries(&filter, &PageRequest { cursor, limit: 100 }).await?;
            found.extend(page.items);
            if found.len() > MAX_REPLAY {
                return Err(ApiError::Conflict(format!(
                    "more than {MAX_REPLAY} deliveries match; replay a shorter period"
                )));
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        found.reverse(); // lists are newest first; replays go oldest first
        let now = self.clock.now();
        let mut last = None;
        let mut replayed = 0;
        for (i, d) in found.iter().enumerate() {
            let wait = Duration::from_millis(
                1000 * u64::try_from(i).unwrap_or(u64::MAX) / u64::from(REPLAY_PER_SECOND),
            );
            if let Some(r) = self.resend(d, now, wait).await? {
                last = r.next_attempt_at;
                replayed += 1;
            }
        }
        info!(subscription_id = %id, replayed, key = %caller.key_id, "replay requested");
        Ok(ReplayResponse { subscription_id: id.clone(), replayed, last_attempt_at: last })
    }

    /// A delivery the caller may reach.
    async fn reachable_delivery(&self, caller: &Caller, id: &DeliveryId) -> Result<Delivery, ApiError> {
        let d = self.deliveries.get_delivery(id).await?.ok_or(ApiError::NotFound("delivery"))?;
        caller.check(&d.tenant, "delivery")?;
        Ok(d)
    }

    /// `GET /v1/deliveries/{id}`, with every attempt.
    pub async fn get_delivery(&self, caller: &Caller, id: &DeliveryId) -> Result<DeliveryView, ApiError> {
        let d = self.reachable_delivery(caller, id).await?;
        let attempts = self.deliveries.attempts(id).await?;
        Ok(DeliveryView::new(&d, Some(attempts)))
    }

    /// `GET /v1/deliveries?…`; a tenant key sees its own tenant's alone.
    pub async fn list_deliveries(
        &self,
        caller: &Caller,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<ListResponse<DeliveryView>, ApiError> {
        let mut filter = filter.clone();
        if let Some(own) = caller.tenant() {
            match &filter.tenant {
                Some(t) => caller.check(t, "tenant")?,
                None => filter.tenant = Some(own.clone()),
            }
        }
        let filter = &filter;
        if !filter.is_scoped() {
            return Err(ValidationError::invalid(
                "filter",
                "name a tenant, subscription or event (tenant=, subscription=, event=)",
            )
            .into());
        }
        let p = self.deliveries.list_deliveries(filter, page).await?;
        Ok(ListResponse {
            data: p.items.iter().map(|d| DeliveryView::new(d, None)).collect(),
            next_cursor: p.next_cursor,
        })
    }
}
