//! The traits the handlers are written against. Each has a real adapter
//! (DynamoDB/SQS in `hookline-aws`, SQLite in `hookline-sqlite`) and an
//! in-memory fake in [`fakes`] (feature `fakes`, for tests). Nothing in this
//! crate imports an SDK, a database or an async runtime.

#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
#[cfg(any(test, feature = "fakes"))]
pub mod samples;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    Attempt, AttemptUpdate, Delivery, DeliveryId, DeliveryStatus, Event, EventId, EventType, EventTypeInfo,
    Health, Subscription, SubscriptionId, Tenant, TenantId,
};
use crate::policy::{AttemptOutcome, Grant, RateLimit};
use crate::wire::OutgoingRequest;

/// The cause of an adapter's failure, kept for logs and error chains.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of the store itself (not of the data a client sent). Each says
/// whether trying the same call again can help ([`StoreError::is_retryable`]):
/// the API answers 503 for those and 500 for the rest; the deliver path
/// leaves the message to come back either way, and a message that keeps
/// failing ends in the dead-letter queue for an operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached, timed out or throttled the call.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A conditional write kept losing to concurrent changes of the record.
    #[error("store contended: {0}")]
    Contended(String),
    /// The store refused the call for a reason a retry does not change: a
    /// missing permission or table, a request it considers invalid.
    #[error("store refused the call: {0}")]
    Refused(#[source] Cause),
    /// A stored record could not be read back.
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The caller asked for something no store does (a bug, not an outage).
    #[error("store misused: {0}")]
    Internal(String),
}

impl StoreError {
    /// An unreachable, slow or throttling store (retryable).
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// A refusal a retry does not change.
    pub fn refused(cause: impl Into<Cause>) -> Self {
        Self::Refused(cause.into())
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Contended(_))
    }

    /// The same failure again, for each of several requests that shared
    /// the one call that failed (the cause kept as its text).
    pub fn again(&self) -> Self {
        match self {
            Self::Unavailable(c) => Self::Unavailable(c.to_string().into()),
            Self::Contended(s) => Self::Contended(s.clone()),
            Self::Refused(c) => Self::Refused(c.to_string().into()),
            Self::Corrupt(s) => Self::Corrupt(s.clone()),
            Self::Internal(s) => Self::Internal(s.clone()),
        }
    }
}

/// A failure of the delivery queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached, timed out or throttled the call.
    #[error("queue unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The queue refused the call for a reason a retry does not change (a
    /// missing permission or queue, a message it cannot carry).
    #[error("queue refused the call: {0}")]
    Refused(#[source] Cause),
}

impl QueueError {
    /// An unreachable, slow or throttling queue (retryable).
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// A refusal a retry does not change.
    pub fn refused(cause: impl Into<Cause>) -> Self {
        Self::Refused(cause.into())
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A message the delivery queue gave up on: received too often without
/// being handled (the store or queue kept failing for it, or it could not
/// be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The queue's id for it (what redriving names).
    pub id: String,
    /// The message as it was queued.
    pub body: String,
    /// How many times it was received.
    pub receives: u32,
    /// Why its handling failed, where the queue kept it (the embedded queue
    /// keeps the last error; SQS keeps none: the deliver function's log has
    /// it, under the delivery's id).
    pub reason: Option<String>,
    /// When it was given up on, where the queue knows.
    pub died_at: Option<DateTime<Utc>>,
}

/// The delivery queue's dead letters: the embedded `dead_letters` table or
/// the SQS dead-letter queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Up to `limit` of them, newest first where the queue can tell.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Puts the dead letter `id` back on the queue, to be handled now as if
    /// new; whether there was one.
    async fn redrive(&self, id: &str) -> Result<bool, QueueError>;
}

/// No dead letters to show (a context without access to them).
pub struct NoDeadLetters;

#[async_trait]
impl DeadLetters for NoDeadLetters {
    async fn dead_letters(&self, _limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(Vec::new())
    }

    async fn redrive(&self, _id: &str) -> Result<bool, QueueError> {
        Ok(false)
    }
}

/// A page of a list, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Which page to read: items older than `cursor` (an id), at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The last id of the previous page.
    pub cursor: Option<String>,
    /// Most items to return.
    pub limit: usize,
}

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

/// What a write conditioned on the version it read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored.
    Done,
    /// The record changed since it was read: nothing stored; read again.
    Stale,
    /// The record does not exist (any more): nothing stored.
    Missing,
}

/// Subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Stores a new subscription (version 1) unless its tenant already has
    /// `max_per_tenant`; `false` when it has, whatever else is being created
    /// at the same time.
    async fn insert_subscription(
        &self,
        sub: &Subscription,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError>;
    /// One subscription.
    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError>;
    /// One subscription as a cheaper read shows it: possibly a moment
    /// behind the latest write (DynamoDB's eventually consistent read, half
    /// the price). For callers that read it again with
    /// [`get_subscription`](Self::get_subscription) whenever a stale answer
    /// could do harm; a store without a cheaper read answers as that does.
    async fn peek_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.get_subscription(id).await
    }
    /// Replaces a subscription with `next` if the stored one is still the
    /// version `next` was made from (`next.version - 1`).
    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError>;
    /// Removes a subscription; `false` if it did not exist.
    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError>;
    /// A page of a tenant's subscriptions, newest first.
    async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;
    /// Sets only the health fields ([`Subscription::set_health`]), on the
    /// record as it is at that moment: a concurrent change is neither lost
    /// nor overwritten. Nothing happens to a subscription that is gone.
    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError>;
    /// Every subscription of a tenant (the candidates of a fan-out).
    async fn tenant_subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError>;
}

/// Tenants' own records: the secret and settings of one-off deliveries.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// The tenant's record, if it has one.
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError>;
    /// Stores `next` if the stored record is still the version `next` was
    /// made from (`next.version - 1`; 0: none stored yet).
    async fn put_tenant(&self, next: &Tenant) -> Result<Written, StoreError>;
}

/// The platform's declared event types.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Declares (or replaces) an event type.
    async fn put_event_type(&self, info: &EventTypeInfo) -> Result<(), StoreError>;
    /// Every declared type, by name.
    async fn event_types(&self) -> Result<Vec<EventTypeInfo>, StoreError>;
    /// Removes a declaration; `false` if there was none.
    async fn delete_event_type(&self, name: &EventType) -> Result<bool, StoreError>;
}

/// Whose attempts an hourly count is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CountScope {
    /// Every attempt of the service (the operator's view).
    Service,
    /// One endpoint's (its health chart).
    Subscription(SubscriptionId),
}

/// How many attempts in one hour succeeded and failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HourCount {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts that failed (retried or given up).
    pub failed: u64,
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

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The event and its deliveries are stored.
    New,
    /// The tenant already published this idempotency key: nothing stored.
    Duplicate {
        /// The earlier event.
        event_id: EventId,
        /// What the earlier event's request was ([`Event::fingerprint`]).
        fingerprint: Option<String>,
    },
    /// The tenant already published this idempotency key (with this same
    /// request), but that publish stopped before storing everything — a
    /// store that writes a keyed publish in several steps finishes it on
    /// the repeat, under the earlier ids. Nothing says the earlier publish
    /// queued its deliveries: the repeat queues every one not yet attempted.
    Resumed {
        /// The earlier event, now stored whole.
        event_id: EventId,
    },
}

/// Events.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores an event with its deliveries, unless its tenant already used
    /// its idempotency key. A store that holds the delivery queue
    /// ([`EventStore::queues_messages`]) queues `messages` — the ones that
    /// start the deliveries — in the same transaction; others ignore them.
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        messages: &[Queued],
    ) -> Result<Inserted, StoreError>;
    /// Whether this store holds the delivery queue and queues a
    /// publication's messages with it (then a crash cannot store an event
    /// whose deliveries were never queued).
    fn queues_messages(&self) -> bool {
        false
    }
    /// One event.
    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError>;
    /// Moves the event's `last_attempt_by` to `until` if that is later, so
    /// it is kept at least the retention past it (a redelivery, a replay or
    /// a longer schedule needs it longer than its publish foresaw). Nothing
    /// for an event that does not exist.
    async fn keep_event(&self, id: &EventId, until: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Deliveries and their attempts.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// One delivery.
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError>;
    /// One delivery as a cheaper read shows it: possibly a moment behind
    /// the latest write (see [`SubscriptionStore::peek_subscription`]).
    async fn peek_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.get_delivery(id).await
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

/// Every store port in one object, as each adapter provides them.
pub trait Store:
    SubscriptionStore + TenantStore + EventStore + DeliveryStore + CatalogStore + CountStore
{
}

impl<T: SubscriptionStore + TenantStore + EventStore + DeliveryStore + CatalogStore + CountStore> Store
    for T
{
}

/// What travels on the delivery queue: versioned and tagged, so old
/// messages stay readable after a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QueueMessage {
    /// Make attempt number `attempt` of a delivery.
    #[serde(rename = "deliver.v1")]
    Deliver {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The attempt this message is for (1-based).
        attempt: u32,
    },
}

/// How a queue that lives in the store names a message it handed out, so
/// the store can acknowledge it in the transaction that records its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack(pub i64);

/// A message as a consumer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message.
    pub message: QueueMessage,
    /// How many times it has been handed out, this time included: above 1,
    /// an earlier handling died or failed before it was acknowledged.
    pub receives: u32,
    /// Its acknowledgement handle, when the store can acknowledge it.
    pub ack: Option<Ack>,
}

/// A message and how long the queue should hold it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The message.
    pub message: QueueMessage,
    /// Delay before it becomes visible (at most the queue's `max_delay`).
    pub delay: Duration,
}

/// The delivery queue (the sending side; each mode consumes it its own way).
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// The longest delay the queue can hold a message back (15 min on SQS).
    fn max_delay(&self) -> Duration;
    /// Sends messages, in batches as the queue allows.
    async fn enqueue(&self, messages: &[Queued]) -> Result<(), QueueError>;
}

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

/// What came of sending one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The outcome the policy decides on.
    pub outcome: AttemptOutcome,
    /// Time from start to the end of the attempt.
    pub duration: Duration,
    /// The first bytes of the response body.
    pub response_excerpt: Option<String>,
    /// Why it failed, for humans, when no response came.
    pub error_message: Option<String>,
}

/// Sends one attempt's HTTP request. Never follows redirects; enforces the
/// request's timeout; checks the target address before connecting.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Sends the request and reports what happened (never an `Err`: every
    /// failure is an outcome to record).
    async fn send(&self, request: &OutgoingRequest) -> SendResult;
    /// Waits `d` before a request is sent (a rate-limited endpoint's slot).
    async fn wait(&self, d: Duration);
}

/// A std duration as a chrono one, saturating (the largest chrono duration
/// for a span too long to represent): the one conversion the handlers and
/// stores use when they add a delay, lease or grace to a time.
pub fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The time, injected so schedules are tested without sleeping.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Randomness, injected so ids, secrets and jitter are reproducible in
/// tests. The real one must be a cryptographic RNG: it makes secrets.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A uniform sample in `[0, 1)`.
    fn unit(&self) -> f64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        // 53 random bits, the precision of an f64 mantissa.
        (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Ten random bytes, the random part of an id.
    fn id_bytes(&self) -> [u8; 10] {
        let mut b = [0u8; 10];
        self.fill(&mut b);
        b
    }

    /// Random bytes for a new secret.
    fn secret_bytes(&self) -> [u8; crate::signing::GENERATED_SECRET_BYTES] {
        let mut b = [0u8; crate::signing::GENERATED_SECRET_BYTES];
        self.fill(&mut b);
        b
    }
}

/// The operating system's CSPRNG, through rand's thread-local ChaCha
/// generator (reseeded from the OS).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        use rand::RngCore;
        rand::rng().fill_bytes(buf);
    }
}
