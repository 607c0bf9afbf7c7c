//! Deliveries and their attempts: state, listings and the conditional record of an attempt.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;
use super::page::{Page, PageRequest};
use super::queue::{Ack, Queued};
use crate::model::{
    Attempt, AttemptUpdate, Delivery, DeliveryId, DeliveryStatus, EventId, EventType, SubscriptionId,
    TenantId,
};

/// Which deliveries to list. Every set field must match; at least one of
/// tenant, subscription or event must be set (see [`DeliveryFilter::is_scoped`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Deliveries of this tenant.
    pub tenant: Option<TenantId>,
    /// Deliveries to this subscription.
    pub subscription_id: Option<SubscriptionId>,
    /// Deliveries of this event.
    pub event_id: Option<EventId>,
    /// Deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// Deliveries of events of this type.
    pub event_type: Option<EventType>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
}

impl DeliveryFilter {
    /// Whether the filter names a tenant, subscription or event: what
    /// every store can list by without scanning everything.
    pub fn is_scoped(&self) -> bool {
        self.tenant.is_some() || self.subscription_id.is_some() || self.event_id.is_some()
    }

    /// Whether a delivery passes the filter.
    pub fn matches(&self, d: &Delivery) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == d.tenant)
            && self.subscription_id.as_ref().is_none_or(|s| Some(s) == d.subscription_id())
            && self.event_id.as_ref().is_none_or(|e| *e == d.event_id)
            && self.status.is_none_or(|s| s == d.status)
            && self.event_type.as_ref().is_none_or(|t| *t == d.event_type)
            && self.since.is_none_or(|t| d.created_at >= t)
            && self.until.is_none_or(|t| d.created_at < t)
    }
}

/// Deliveries and their attempts.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// One delivery.
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError>;
    /// One delivery as a cheaper read shows it: possibly a moment behind
    /// the latest write (see [`crate::ports::SubscriptionStore::peek_subscription`]).
    async fn peek_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.get_delivery(id).await
    }
    /// The delivery as a first handling of a message for attempt `attempt`
    /// may read it: as cheaply as the store can. A store may answer a first
    /// attempt from what it stored at publish, without reading what the
    /// delivery became since: a message repeated after that attempt is then
    /// sent again, and [`Self::record_attempt`]'s condition counts it once.
    async fn peek_for_attempt(&self, id: &DeliveryId, attempt: u32) -> Result<Option<Delivery>, StoreError> {
        let _ = attempt;
        self.peek_delivery(id).await
    }
    /// All deliveries of an event.
    async fn event_deliveries(&self, event_id: &EventId) -> Result<Vec<Delivery>, StoreError>;
    /// A page of deliveries passing `filter`, newest first.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError>;
    /// A delivery's attempts, first first.
    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<Attempt>, StoreError>;
    /// Records an attempt and the delivery's new state — only if the
    /// delivery is still pending with exactly `attempt.number - 1` attempts
    /// made ([`Delivery::record`]); otherwise nothing changes (a repeated or
    /// late message). A store that also holds the queue queues the follow-up
    /// and acknowledges the message in the same transaction, and says so.
    async fn record_attempt(&self, recording: &Recording<'_>) -> Result<Recorded, StoreError>;
    /// Takes up to `limit` pending deliveries whose `due_at` has passed and
    /// moves their `due_at` to `now + lease`, so no other caller takes them
    /// until the lease ends. Returns the ones taken.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Makes a delivery pending again (see [`Delivery::reopen`]) unless it changed
    /// meanwhile; returns it as stored, or `None` if it does not exist.
    async fn reopen_delivery(
        &self,
        id: &DeliveryId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError>;
    /// Cancels a pending delivery; `false` if it was not pending.
    async fn cancel_delivery(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Cancels every pending delivery to a subscription; returns how many.
    async fn cancel_subscription_deliveries(
        &self,
        id: &SubscriptionId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

/// An attempt to record, and what the store may do in the same write.
#[derive(Debug, Clone, Copy)]
pub struct Recording<'a> {
    /// The attempt.
    pub attempt: &'a Attempt,
    /// The delivery as the caller read it before the attempt, if it did: a
    /// store may build the record from it rather than read it again (its
    /// write stays conditioned on the state this says: still pending, this
    /// many attempts).
    pub delivery: Option<&'a Delivery>,
    /// The delivery's state after it.
    pub update: &'a AttemptUpdate,
    /// The next attempt's message, if one is due within the queue's delay.
    pub follow_up: Option<&'a Queued>,
    /// The message being handled, if the store can acknowledge it.
    pub ack: Option<Ack>,
    /// The latest the delivery's event can be used, as far as is known (its
    /// `last_attempt_by`): a store that expires records keeps the attempt at
    /// least its retention past it, so no attempt of a pending delivery
    /// expires before the delivery does.
    pub keep_until: Option<DateTime<Utc>>,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The attempt was recorded (`false`: it was already, or the delivery
    /// is finished; nothing changed).
    pub applied: bool,
    /// The follow-up was queued in the same transaction.
    pub follow_up_queued: bool,
    /// The message was acknowledged in the same transaction.
    pub acknowledged: bool,
}
