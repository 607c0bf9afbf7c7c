//! Publishing: an event is stored with one delivery per subscription that
//! wants it (and its one-off `webhook_url`), then queued; an idempotency key
//! makes a repeated publish answer the first one's result.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::{info, warn};

use super::deliveries::DeliveryView;
use super::json::{MAX_JSON_DEPTH, parse_json};
use super::{ApiError, ErrorDetail, reserved};
use crate::auth::Caller;
use crate::context::{Context, OPS_TENANT};
use crate::model::{
    Delivery, DeliveryId, DeliverySettings, DeliveryStatus, DeliveryTarget, Event, EventId, EventType,
    MAX_DELIVERIES_PER_EVENT, MAX_ORDERING_KEY_LEN, Subscription, SubscriptionId, TenantId,
};
use crate::policy::RetryPolicy;
use crate::ports::{Inserted, QueueMessage, Queued, StoreError, span};
use crate::target::TargetUrl;
use crate::validation::ValidationError;

/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// The most an event's payload and its deliveries may weigh together, in
/// bytes: what one DynamoDB item holds (400 KB) less room for the event's
/// other fields (8 KB), each delivery weighing [`DELIVERY_WEIGHT`]. Only an
/// operator who raised the payload limit past 336 KB meets it, with a
/// fan-out of hundreds.
pub const MAX_EVENT_WEIGHT: usize = 400 * 1024 - 8 * 1024;
/// What one delivery adds to its event's item at most (its stub, on
/// DynamoDB: `hookline_aws` checks its longest fits).
pub const DELIVERY_WEIGHT: usize = 64;

/// `POST /v1/events`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishEventRequest {
    /// Owner.
    pub tenant: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON.
    pub payload: Box<RawValue>,
    /// De-duplicates publishing (also from the `Idempotency-Key` header).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Also deliver to this URL, signed with the tenant's secret.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Up to 10 channels the event is published on.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Orders its deliveries to ordered subscriptions after the earlier
    /// events of the same key (1 to 256 bytes).
    #[serde(default)]
    pub ordering_key: Option<String>,
    /// When a repeat of this request is known to carry the same key and
    /// time (an SQS message's id and sent time): its event id is then
    /// derived from them ([`EventId::keyed`]) and a store can make the
    /// publish idempotent by storing the event only if absent. Never read
    /// from a request body.
    #[serde(skip)]
    pub keyed_at: Option<DateTime<Utc>>,
}

/// A checked publish request.
#[derive(Debug)]
pub struct ValidEvent {
    /// Owner.
    pub tenant: TenantId,
    /// Type.
    pub event_type: EventType,
    /// Payload.
    pub payload: Box<RawValue>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// One-off target.
    pub webhook_url: Option<TargetUrl>,
    /// Its channels.
    pub channels: Vec<String>,
    /// Its ordering key.
    pub ordering_key: Option<String>,
    /// See [`PublishEventRequest::keyed_at`] (only with a key).
    pub keyed_at: Option<DateTime<Utc>>,
}

impl PublishEventRequest {
    /// Checks every field; `header_key` is the `Idempotency-Key` header,
    /// which must agree with the body's key when both are given.
    pub fn validate(self, header_key: Option<&str>) -> Result<ValidEvent, ValidationError> {
        let tenant = TenantId::parse(&self.tenant)?;
        let event_type = EventType::parse(&self.event_type)?;
        let key = match (self.idempotency_key, header_key) {
            (Some(b), Some(h)) if b != h => {
                return Err(ValidationError::invalid(
                    "idempotency_key",
                    "differs from the Idempotency-Key header",
                ));
            }
            (Some(b), _) => Some(b),
            (None, h) => h.map(str::to_owned),
        };
        if let Some(k) = &key
            && (k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_LEN || !k.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ValidationError::invalid(
                "idempotency_key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"),
            ));
        }
        let webhook_url =
            self.webhook_url.as_deref().map(|u| TargetUrl::parse_field("webhook_url", u)).transpose()?;
        let keyed_at = self.keyed_at.filter(|_| key.is_some());
        let channels = crate::model::parse_channels(
            "channels",
            self.channels.as_deref().unwrap_or_default(),
            crate::model::MAX_EVENT_CHANNELS,
        )?;
        if let Some(k) = &self.ordering_key
            && (k.is_empty() || k.len() > MAX_ORDERING_KEY_LEN)
        {
            return Err(ValidationError::invalid(
                "ordering_key",
                format!("must be 1 to {MAX_ORDERING_KEY_LEN} bytes (it is {})", k.len()),
            ));
        }
        Ok(ValidEvent {
            tenant,
            event_type,
            payload: self.payload,
            idempotency_key: key,
            webhook_url,
            channels,
            ordering_key: self.ordering_key,
            keyed_at,
        })
    }
}

/// Most events in one `POST /v1/events/batch`.
pub const MAX_BATCH_EVENTS: usize = 100;
/// How late past its first attempt's time an unattempted delivery must be
/// for a repeated publish to take its message as lost and queue it again.
pub const OVERDUE: Duration = Duration::from_secs(10);
/// How many of a batch's events are stored at once.
const STORE_CONCURRENCY: usize = 16;

/// `POST /v1/events/batch`: each item a request as `POST /v1/events` takes
/// it (its idempotency key in its body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishBatchRequest {
    /// 1 to [`MAX_BATCH_EVENTS`] publish requests, each read on its own so
    /// one malformed item fails alone.
    pub events: Vec<Box<RawValue>>,
}

impl PublishBatchRequest {
    /// Whether it holds 1 to [`MAX_BATCH_EVENTS`] events.
    pub fn check_size(&self) -> Result<(), ApiError> {
        let n = self.events.len();
        if n == 0 || n > MAX_BATCH_EVENTS {
            return Err(ValidationError::invalid(
                "events",
                format!("must hold 1 to {MAX_BATCH_EVENTS} events (it holds {n})"),
            )
            .into());
        }
        Ok(())
    }
}

/// One event's result in a batch: the status and the body `POST /v1/events`
/// would have answered for it alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchResult {
    /// 202 when accepted (or an idempotent repeat); else the error's status.
    pub status: u16,
    /// The event and its deliveries, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<PublishEventResponse>,
    /// What went wrong, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// The answer to `POST /v1/events/batch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishBatchResponse {
    /// Events accepted (or repeated idempotently).
    pub accepted: usize,
    /// Events refused or failed: retry those whose status is 503.
    pub failed: usize,
    /// A result per event, in the order sent.
    pub results: Vec<BatchResult>,
}

impl PublishBatchResponse {
    /// The answer for each event's result.
    pub fn new(results: Vec<Result<PublishEventResponse, ApiError>>) -> Self {
        let results: Vec<BatchResult> = results
            .into_iter()
            .map(|r| match r {
                Ok(event) => BatchResult { status: 202, event: Some(event), error: None },
                Err(e) => BatchResult { status: e.status(), event: None, error: Some(e.body().error) },
            })
            .collect();
        let accepted = results.iter().filter(|r| r.event.is_some()).count();
        Self { accepted, failed: results.len() - accepted, results }
    }
}

/// Where a tenant's events go.
struct TenantTargets {
    subscriptions: std::sync::Arc<[Subscription]>,
    /// How a one-off `webhook_url` is delivered, if asked for and possible.
    one_off: Option<DeliverySettings>,
}

/// One delivery an event created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedDelivery {
    /// Delivery id.
    pub id: DeliveryId,
    /// Its subscription; `null` for the one-off `webhook_url`.
    pub subscription_id: Option<SubscriptionId>,
}

/// The answer to `POST /v1/events` (the same for a repeated key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishEventResponse {
    /// Event id.
    pub id: EventId,
    /// Its deliveries.
    pub deliveries: Vec<CreatedDelivery>,
}

impl PublishEventResponse {
    /// The answer for an event and its deliveries.
    pub fn new(id: EventId, deliveries: &[Delivery]) -> Self {
        let deliveries = deliveries
            .iter()
            .map(|d| CreatedDelivery { id: d.id.clone(), subscription_id: d.subscription_id().cloned() })
            .collect();
        Self { id, deliveries }
    }
}

/// An event as the API shows it, with its deliveries.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Id.
    pub id: EventId,
    /// Tenant.
    pub tenant: TenantId,
    /// Type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Payload as published.
    pub payload: Box<RawValue>,
    /// Channels it was published on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Ordering key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// Idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Deliveries.
    pub deliveries: Vec<DeliveryView>,
}

impl EventView {
    /// The view of an event and its deliveries.
    pub fn new(e: &Event, deliveries: &[Delivery]) -> Self {
        Self {
            id: e.id.clone(),
            tenant: e.tenant.clone(),
            event_type: e.event_type.clone(),
            payload: e.payload.clone(),
            channels: e.channels.clone(),
            ordering_key: e.ordering_key.clone(),
            idempotency_key: e.idempotency_key.clone(),
            created_at: e.created_at,
            deliveries: deliveries.iter().map(|d| DeliveryView::new(d, None)).collect(),
        }
    }
}

/// A digest of what a publish asks for — its tenant, type, payload bytes
/// and one-off URL — so a reused idempotency key with a different request is
/// told apart from a retry of the same one.
pub fn fingerprint(ev: &ValidEvent) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        ev.tenant.as_str(),
        ev.event_type.as_str(),
        ev.payload.get(),
        ev.webhook_url.as_ref().map_or("", TargetUrl::as_str),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    // Channels only when there are any: a fingerprint stored before they
    // existed still matches the same request.
    for channel in &ev.channels {
        h.update((channel.len() as u64).to_le_bytes());
        h.update(channel.as_bytes());
    }
    // Likewise the ordering key, marked apart from a channel.
    if let Some(key) = &ev.ordering_key {
        h.update(b"ordering_key");
        h.update((key.len() as u64).to_le_bytes());
        h.update(key.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Context {
    /// `POST /v1/events`: stores the event and one delivery per wanting
    /// subscription (plus the one-off `webhook_url`), then queues them. A
    /// repeated idempotency key answers the first call's result and creates
    /// nothing; the same key with a different request is refused.
    pub async fn publish_event(
        &self,
        caller: &Caller,
        req: PublishEventRequest,
        header_key: Option<&str>,
    ) -> Result<PublishEventResponse, ApiError> {
        let checked = self.check_publish(caller, req, header_key);
        let mut results = self.accept_events(vec![checked]).await;
        results.pop().unwrap_or_else(|| Err(StoreError::Internal("a publish without a result".into()).into()))
    }

    /// `POST /v1/events/batch`: each event published as `POST /v1/events`
    /// would, each with its own result; one bad event fails alone.
    pub async fn publish_batch(
        &self,
        caller: &Caller,
        req: PublishBatchRequest,
    ) -> Result<PublishBatchResponse, ApiError> {
        req.check_size()?;
        let requests = req
            .events
            .iter()
            .map(|raw| parse_json::<PublishEventRequest>(raw.get().as_bytes(), MAX_JSON_DEPTH))
            .collect();
        Ok(PublishBatchResponse::new(self.publish_events(caller, requests).await))
    }

    /// Publishes requests read elsewhere (a batch's items, the messages of
    /// the SQS ingest queue), each checked as `POST /v1/events` checks it;
    /// a result per request, in order.
    pub async fn publish_events(
        &self,
        caller: &Caller,
        requests: Vec<Result<PublishEventRequest, ApiError>>,
    ) -> Vec<Result<PublishEventResponse, ApiError>> {
        let checked = requests.into_iter().map(|r| r.and_then(|req| self.check_publish(caller, req, None)));
        let results = self.accept_events(checked.collect()).await;
        // Each result is answered inside a batch (or a queue's reply), never
        // as an error response that logs itself: logged here, once.
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            e.log_if_ours();
        }
        results
    }

    /// Everything about one publish request that needs no store.
    fn check_publish(
        &self,
        caller: &Caller,
        req: PublishEventRequest,
        header_key: Option<&str>,
    ) -> Result<ValidEvent, ApiError> {
        let ev = req.validate(header_key)?;
        reserved("tenant", &ev.tenant)?;
        caller.check(&ev.tenant, "tenant")?;
        if let Some(url) = &ev.webhook_url {
            self.settings.guard.accept("webhook_url", url)?;
        }
        let limit = self.settings.max_payload_bytes;
        if ev.payload.get().len() > limit {
            return Err(ApiError::TooLarge { what: "payload", limit });
        }
        Ok(ev)
    }

    /// Where a tenant's events go: its subscriptions and, if `one_off`, how
    /// a one-off `webhook_url` is delivered (`None`: it cannot be, for want
    /// of a secret).
    async fn tenant_targets(&self, tenant: &TenantId, one_off: bool) -> Result<TenantTargets, StoreError> {
        let subscriptions =
            self.routes.routes(self.subscriptions.as_ref(), self.clock.as_ref(), tenant).await?;
        let one_off = if !one_off {
            None
        } else if tenant.as_str() == OPS_TENANT {
            // hookline's own events: signed with the operator's secret.
            Some(DeliverySettings::default())
        } else {
            self.tenants.get_tenant(tenant).await?.filter(|t| t.secrets.is_some()).map(|t| t.one_off)
        };
        Ok(TenantTargets { subscriptions, one_off })
    }

    /// The wait before a target's first attempt, and then the longest its
    /// schedule can run.
    fn lifetime(
        &self,
        settings: &DeliverySettings,
        schedule: Option<&crate::policy::RetrySchedule>,
    ) -> (Duration, Duration) {
        let wait = settings.initial_delay().min(self.queue.max_delay());
        let policy = match schedule {
            Some(schedule) => RetryPolicy { schedule: schedule.clone(), ..self.settings.retry.clone() },
            None => self.settings.retry.clone(),
        };
        (wait, policy.longest_span(settings.timeout.duration()))
    }

    /// Stores checked events with their deliveries and queues them: each
    /// tenant's targets read once, the events stored a few at a time, every
    /// message sent in as few queue requests as they fit. A result per
    /// event, in order.
    pub(crate) async fn accept_events(
        &self,
        events: Vec<Result<ValidEvent, ApiError>>,
    ) -> Vec<Result<PublishEventResponse, ApiError>> {
        let now = self.clock.now();
        let mut wanted: HashMap<&TenantId, bool> = HashMap::new();
        for ev in events.iter().flatten() {
            *wanted.entry(&ev.tenant).or_default() |= ev.webhook_url.is_some();
        }
        let mut targets: HashMap<TenantId, Result<TenantTargets, StoreError>> = HashMap::new();
        for (tenant, one_off) in wanted {
            targets.insert(tenant.clone(), self.tenant_targets(tenant, one_off).await);
        }
        let prepared: Vec<Result<(Event, Vec<Delivery>), ApiError>> = events
            .into_iter()
            .map(|ev| {
                let ev = ev?;
                match targets.get(&ev.tenant) {
                    Some(Ok(t)) => self.prepare(ev, t, now),
                    Some(Err(e)) => Err(e.again().into()),
                    None => Err(StoreError::Internal("a tenant's targets were not read".into()).into()),
                }
            })
            .collect();
        // A store that queues in the transaction queues in the order it
        // stores: a batch with ordered deliveries of more than one event is
        // stored one event at a time, in the batch's order.
        let ordered =
            prepared.iter().flatten().filter(|(_, ds)| ds.iter().any(|d| d.ordering.is_some())).count();
        let at_once = match ordered > 1 && self.events.queues_in_publish_order() {
            true => 1,
            false => STORE_CONCURRENCY,
        };
        let stored: Vec<Result<(PublishEventResponse, Vec<Queued>), ApiError>> =
            futures_util::stream::iter(prepared)
                .map(|p| async move {
                    let (event, deliveries) = p?;
                    self.store_event(event, deliveries, now).await
                })
                .buffered(at_once)
                .collect()
                .await;
        let mut messages = Vec::new();
        let results: Vec<_> = stored
            .into_iter()
            .map(|r| {
                r.map(|(response, queued)| {
                    messages.extend(queued);
                    response
                })
            })
            .collect();
        self.queue_first_attempts(&messages).await;
        results
    }

    /// Queues the first attempts of stored deliveries. If the queue is
    /// down they are not lost: they are stored with a due time, and the
    /// retry scheduler enqueues them when the grace period ends (or a repeat
    /// of the publish, with its idempotency key, at once).
    async fn queue_first_attempts(&self, messages: &[Queued]) {
        if !messages.is_empty()
            && let Err(e) = self.queue.enqueue(messages).await
        {
            warn!(error = %e, messages = messages.len(), "queue unavailable; the scheduler will pick these deliveries up");
        }
    }

    /// An event and its deliveries, one per target: every subscription of
    /// the tenant that wants the type, and the one-off `webhook_url`.
    fn prepare(
        &self,
        ev: ValidEvent,
        targets: &TenantTargets,
        now: DateTime<Utc>,
    ) -> Result<(Event, Vec<Delivery>), ApiError> {
        let one_off = match (&ev.webhook_url, &targets.one_off) {
            (None, _) => None,
            (Some(url), Some(settings)) => Some((url.clone(), settings)),
            (Some(_), None) => {
                return Err(ApiError::Conflict(format!(
                    "tenant {0} has no secret to sign a webhook_url delivery: create one (POST /v1/tenants/{0}/secret) or import one (PUT /v1/tenants/{0}/one-off)",
                    ev.tenant
                )));
            }
        };
        let fingerprint = ev.idempotency_key.as_ref().map(|_| fingerprint(&ev));
        let id = match (&ev.idempotency_key, ev.keyed_at) {
            (Some(key), Some(at)) => EventId::keyed(at, ev.tenant.as_str(), key),
            _ => EventId::for_tenant(now, ev.tenant.as_str(), self.entropy.id_bytes()),
        };
        let mut event = Event {
            id,
            tenant: ev.tenant,
            event_type: ev.event_type,
            payload: ev.payload,
            channels: ev.channels,
            ordering_key: ev.ordering_key,
            idempotency_key: ev.idempotency_key,
            webhook_url: ev.webhook_url,
            created_at: now,
            last_attempt_by: None,
            fingerprint,
        };
        // Every target, with the wait before its first attempt and the
        // longest its schedule can then run.
        // The payload parsed once, and only if a subscription filters on it.
        let payload = match targets.subscriptions.iter().any(|s| s.filter.is_some()) {
            true => serde_json::from_str(event.payload.get()).unwrap_or_default(),
            false => serde_json::Value::Null,
        };
        let routed = crate::model::Routed::new(event.event_type.as_str(), &event.channels, payload);
        let mut to: Vec<(DeliveryTarget, Duration, Duration, bool)> = targets
            .subscriptions
            .iter()
            .filter(|s| s.receives(&event, &routed))
            .map(|s| {
                let (wait, longest) = self.lifetime(&s.settings, s.schedule_for(&event.event_type));
                (DeliveryTarget::Subscription { subscription_id: s.id.clone() }, wait, longest, s.ordered)
            })
            .collect();
        if let Some((url, settings)) = one_off {
            let (wait, longest) = self.lifetime(settings, settings.retry_schedule.as_ref());
            to.push((DeliveryTarget::OneOff { url }, wait, longest, false));
        }
        let grace = span(self.settings.queue_grace);
        // A message may be late by the scheduler's grace; past that, the
        // event is kept for a redelivery or replay within the retention.
        event.last_attempt_by =
            to.iter().map(|(_, wait, longest, _)| now + span(*wait) + span(*longest) + grace).max();
        if to.len() > MAX_DELIVERIES_PER_EVENT {
            return Err(StoreError::Internal(format!(
                "an event can have at most {MAX_DELIVERIES_PER_EVENT} deliveries; this one would have {}",
                to.len()
            ))
            .into());
        }
        // An event and its deliveries' stubs are one DynamoDB item: a large
        // payload to a large fan-out is refused (in both modes alike).
        let limit = MAX_EVENT_WEIGHT.saturating_sub(DELIVERY_WEIGHT * to.len());
        if event.payload.get().len() > limit {
            return Err(ApiError::TooLarge { what: "payload (for this many deliveries)", limit });
        }
        let deliveries = to
            .into_iter()
            .enumerate()
            .map(|(n, (target, wait, _, ordered))| {
                let first = now + span(wait);
                // Within MAX_DELIVERIES_PER_EVENT, checked above.
                let id = event
                    .id
                    .delivery(n)
                    .unwrap_or_else(|| DeliveryId::generate(now, self.entropy.id_bytes()));
                // The scheduler's safety net, where the store does not queue
                // a stored delivery's message itself. (`event` was made now.)
                let due_at = (!self.events.queues_messages()).then_some(first + grace);
                Delivery::pending(&event, id, target, first, due_at, ordered)
            })
            .collect();
        Ok((event, sorted(deliveries)))
    }

    /// Stores one event with its deliveries (with their messages, where the
    /// store holds the queue); the answer, and the messages still to send.
    /// A repeated idempotency key answers the first publish.
    async fn store_event(
        &self,
        event: Event,
        deliveries: Vec<Delivery>,
        now: DateTime<Utc>,
    ) -> Result<(PublishEventResponse, Vec<Queued>), ApiError> {
        let messages: Vec<Queued> = deliveries.iter().map(|d| first_message(d, now)).collect();
        let (event_id, resumed) = match self.events.insert_event(&event, &deliveries, &messages).await? {
            Inserted::New => {
                info!(event_id = %event.id, tenant = %event.tenant, event_type = %event.event_type, deliveries = deliveries.len(), "event accepted");
                crate::telemetry::event_accepted(
                    &event.tenant,
                    deliveries.len(),
                    self.settings.metrics_by_tenant,
                );
                let to_send = match (self.events.queues_messages(), self.events.queues_in_publish_order()) {
                    (false, _) => messages,
                    (true, true) => Vec::new(),
                    // Ordered ones are sent now, so they are queued in the
                    // order their publishes were answered.
                    (true, false) => messages.into_iter().filter(|m| m.message.group().is_some()).collect(),
                };
                return Ok((PublishEventResponse::new(event.id, &deliveries), to_send));
            }
            Inserted::Duplicate { event_id, fingerprint } => {
                if fingerprint.is_some() && fingerprint != event.fingerprint {
                    return Err(ApiError::IdempotencyKeyReused);
                }
                (event_id, false)
            }
            Inserted::Resumed { event_id } => (event_id, true),
        };
        let existing = sorted(self.deliveries.event_deliveries(&event_id).await?);
        // The first publish may have died between storing and queueing: its
        // deliveries still unattempted well past their first attempt's time
        // have lost their messages and are queued again (rather than waiting
        // for the scheduler's safety net). One not yet overdue still has its
        // message on the way: a second would only race it to the receiver —
        // unless the store has just finished storing them (resumed): then no
        // message can be on its way.
        let overdue = |d: &Delivery| d.next_attempt_at.is_some_and(|t| t + span(OVERDUE) <= now);
        let lost = if self.events.queues_messages() {
            Vec::new()
        } else {
            existing
                .iter()
                .filter(|d| d.status == DeliveryStatus::Pending && d.attempts == 0 && (resumed || overdue(d)))
                .map(|d| first_message(d, now))
                .collect()
        };
        info!(event_id = %event_id, resumed, "idempotent repeat of a published event");
        Ok((PublishEventResponse::new(event_id, &existing), lost))
    }

    /// A test event of `event_type` to one subscription alone (the
    /// portal's "send a test event"): an ordinary event, signed and
    /// delivered like any other and listed in the delivery log, but with
    /// this subscription its only target. `payload`: the JSON text to send
    /// (none: the type's declared example). Returns its delivery.
    pub async fn send_test_event(
        &self,
        caller: &Caller,
        subscription: &crate::model::SubscriptionId,
        event_type: &str,
        payload: Option<&str>,
    ) -> Result<crate::model::DeliveryId, ApiError> {
        let sub = self.reachable_subscription(caller, subscription).await?;
        let event_type = EventType::parse(event_type)?;
        if !sub.wants(&event_type) {
            return Err(crate::validation::ValidationError::invalid(
                "event_type",
                format!("this endpoint does not receive {event_type} events (or is disabled)"),
            )
            .into());
        }
        let typed = match payload.map(str::trim).filter(|p| !p.is_empty()) {
            Some(text) => Some(test_payload(text, self.settings.max_payload_bytes)?),
            None => None,
        };
        // The declared example of its type, as Svix's portal sends; else a
        // payload that says what it is.
        let example = self
            .catalog
            .event_types()
            .await?
            .into_iter()
            .find(|t| t.name == event_type)
            .and_then(|t| t.example);
        let payload = example.unwrap_or_else(default_test_payload);
        let payload = match typed {
            Some(typed) => typed,
            None => {
                RawValue::from_string(payload.to_string()).map_err(|e| StoreError::Internal(e.to_string()))?
            }
        };
        let ev = ValidEvent {
            tenant: sub.tenant.clone(),
            event_type,
            payload,
            channels: Vec::new(),
            ordering_key: None,
            idempotency_key: None,
            webhook_url: None,
            keyed_at: None,
        };
        let now = self.clock.now();
        // A test goes to its endpoint whatever its channels and filter say.
        let target = Subscription { channels: Vec::new(), filter: None, ..sub };
        let (event, deliveries) =
            self.prepare(ev, &TenantTargets { subscriptions: vec![target].into(), one_off: None }, now)?;
        let (response, messages) = self.store_event(event, deliveries, now).await?;
        self.queue_first_attempts(&messages).await;
        info!(event_id = %response.id, "test event sent");
        response.deliveries.into_iter().next().map(|d| d.id).ok_or(ApiError::NotFound("delivery"))
    }

    /// `GET /v1/events/{id}`.
    pub async fn get_event(&self, caller: &Caller, id: &EventId) -> Result<EventView, ApiError> {
        let event = self.events.get_event(id).await?.ok_or(ApiError::NotFound("event"))?;
        caller.check(&event.tenant, "event")?;
        let deliveries = sorted(self.deliveries.event_deliveries(id).await?);
        Ok(EventView::new(&event, &deliveries))
    }
}

/// The message that starts `d`, held back until its first attempt is due.
fn first_message(d: &Delivery, now: chrono::DateTime<chrono::Utc>) -> Queued {
    Queued {
        message: QueueMessage::next_for(d),
        delay: d.next_attempt_at.and_then(|t| (t - now).to_std().ok()).unwrap_or_default(),
    }
}

/// What a test event carries when its type declares no example.
pub fn default_test_payload() -> serde_json::Value {
    serde_json::json!({"test": true, "message": "A test event sent from the webhooks portal"})
}

/// A test event's payload as typed: JSON, within the service's payload
/// limit.
fn test_payload(text: &str, max: usize) -> Result<Box<RawValue>, ApiError> {
    if text.len() > max {
        return Err(crate::validation::ValidationError::too_long("payload", max, "bytes").into());
    }
    RawValue::from_string(text.to_owned()).map_err(|e| {
        crate::validation::ValidationError::invalid("payload", format!("is not JSON: {e}")).into()
    })
}

fn sorted(mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
    deliveries.sort_by(|a, b| a.id.cmp(&b.id));
    deliveries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_requests_take_the_idempotency_key_from_body_or_header() {
        let req = |json: &str| serde_json::from_str::<PublishEventRequest>(json).unwrap();
        let body = r#"{"tenant":"a","type":"video.encoded","payload":{"x":1},"idempotency_key":"k1"}"#;
        assert_eq!(req(body).validate(None).unwrap().idempotency_key.as_deref(), Some("k1"));
        assert!(req(body).validate(Some("k2")).is_err());
        let no_key = r#"{"tenant":"a","type":"video.encoded","payload":[1]}"#;
        assert_eq!(req(no_key).validate(Some("h")).unwrap().idempotency_key.as_deref(), Some("h"));
        assert!(req(no_key).validate(Some("")).is_err());
        let bad_url = r#"{"tenant":"a","type":"t","payload":1,"webhook_url":"nope"}"#;
        assert_eq!(req(bad_url).validate(None).unwrap_err().field(), "webhook_url");
    }
}
