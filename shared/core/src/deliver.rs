//! One queue message → at most one signed attempt, recorded exactly once.
//!
//! The message names the attempt it is for; a message whose attempt was
//! already recorded (SQS redelivery, a duplicate from the scheduler) or
//! whose delivery is finished sends nothing — but for one case, where the
//! store answers a first attempt without reading what it became
//! ([`crate::ports::DeliveryStore::peek_for_attempt`], DynamoDB): a copy
//! received once, as the first was (SQS's rare duplicate), is sent again,
//! with the same `webhook-id`, and counted once. Endpoint failures are
//! hookline's own retries (queued again with a delay, or left due in the
//! store for the scheduler); only store and queue failures are errors, so
//! the message comes back.
//!
//! No crash between two steps stalls a delivery. A store that also holds the
//! queue (SQLite) records the attempt, queues its follow-up and acknowledges
//! the message in one transaction. Elsewhere (DynamoDB and SQS), a message
//! that comes back after its attempt was recorded — its handling died or
//! failed before the follow-up was queued — queues the follow-up again; a
//! duplicate follow-up is harmless, as any repeated message is.

use std::time::Duration;

use tracing::{Instrument, info, info_span, warn};

use crate::context::{Context, OPS_TENANT};
use crate::model::{
    Attempt, AttemptUpdate, Delivery, DeliverySettings, DeliveryStatus, DeliveryTarget, Event, Health,
    Subscription,
};
use crate::ops::merged;
use crate::pacing::Turn;
use crate::policy::rate::LATE;
use crate::policy::{AttemptOutcome, Decision, FailureKind, GiveUpReason, RetryPolicy, decide};
use crate::ports::{QueueError, QueueMessage, Queued, Received, Recording, Sender, StoreError, span};
use crate::signing::{HeaderLookup, SecretSet};
use crate::target::TargetUrl;
use crate::telemetry;

/// The longest a `Retry-After` on a 429 pauses an endpoint.
pub const MAX_PAUSE: Duration = Duration::from_secs(3600);
use crate::wire::{Content, RequestTarget, build_request};

/// What handling a message came to (all of them are successes for the
/// queue: the message is done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// An attempt was made and recorded.
    Attempted {
        /// What the policy decided.
        decision: Decision,
        /// The store acknowledged the message with the attempt.
        acknowledged: bool,
    },
    /// The message came back after its attempt was recorded: the follow-up
    /// was queued again.
    Requeued,
    /// Nothing to do: the delivery or its event no longer exists, the
    /// attempt was already recorded, or the delivery is finished.
    Skipped(&'static str),
    /// The delivery was canceled: its subscription is gone or inactive.
    Canceled,
    /// The delivery was held back, no attempt spent: its subscription's
    /// rate limit is reached, or it asked for time (429 with `Retry-After`).
    /// Its message was queued again for when its turn comes.
    Held,
    /// An ordered delivery's message stays on the queue, hidden until
    /// `until`, holding back the deliveries of its key behind it: its retry
    /// is due then, or it is held back (not yet due, a rate limit, a
    /// pause). Every other outcome of an ordered message finishes it.
    Waits {
        /// When the message is to be handled again.
        until: chrono::DateTime<chrono::Utc>,
    },
}

impl Handled {
    /// When the message must come back instead of being acknowledged.
    pub fn waits_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Self::Waits { until } => Some(*until),
            _ => None,
        }
    }
}

/// How long an ordered message whose attempt another handling recorded
/// first waits before it reads the delivery again.
const RECHECK: Duration = Duration::from_secs(1);

/// Why a message must come back: the store or the queue failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl DeliverError {
    /// Whether handling the message again later may succeed (otherwise an
    /// operator must act; the message still comes back, and ends in the
    /// dead letters if it keeps failing).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Queue(e) => e.is_retryable(),
        }
    }
}

/// Where and how a delivery's requests go, as its target is configured now.
pub(crate) struct Target {
    pub(crate) subscription: Option<Subscription>,
    pub(crate) url: TargetUrl,
    pub(crate) settings: DeliverySettings,
    pub(crate) secrets: SecretSet,
    pub(crate) retry: RetryPolicy,
}

impl Context {
    /// Handles one message from the delivery queue.
    pub async fn handle_message(
        &self,
        sender: &dyn Sender,
        received: &Received,
    ) -> Result<Handled, DeliverError> {
        match &received.message {
            QueueMessage::Deliver { delivery_id, attempt } => {
                let span = info_span!("delivery", delivery_id = %delivery_id, attempt = attempt,
                    event_id = tracing::field::Empty, subscription_id = tracing::field::Empty,
                    tenant = tracing::field::Empty);
                self.deliver(sender, received, delivery_id, *attempt).instrument(span).await
            }
            QueueMessage::DeliverInOrder { delivery_id, .. } => {
                let span = info_span!("delivery", delivery_id = %delivery_id, attempt = tracing::field::Empty,
                    event_id = tracing::field::Empty, subscription_id = tracing::field::Empty,
                    tenant = tracing::field::Empty, ordered = true);
                self.deliver_in_order(sender, received, delivery_id).instrument(span).await
            }
        }
    }

    /// An ordered delivery's message: whatever attempt is next, when it is
    /// due — read consistently each time, so a message handed out again
    /// (a crash, a store failure) picks up where the delivery stands.
    async fn deliver_in_order(
        &self,
        sender: &dyn Sender,
        received: &Received,
        id: &crate::model::DeliveryId,
    ) -> Result<Handled, DeliverError> {
        let Some(delivery) = self.deliveries.get_delivery(id).await? else {
            return Ok(Handled::Skipped("no such delivery"));
        };
        if delivery.status != DeliveryStatus::Pending {
            return Ok(Handled::Skipped("the delivery is finished"));
        }
        if let Some(at) = delivery.next_attempt_at.filter(|at| *at > self.clock.now()) {
            return Ok(Handled::Waits { until: at });
        }
        let attempt = delivery.attempts.saturating_add(1);
        tracing::Span::current().record("attempt", attempt);
        self.proceed(sender, received, &delivery, attempt, true).await
    }

    async fn deliver(
        &self,
        sender: &dyn Sender,
        received: &Received,
        id: &crate::model::DeliveryId,
        attempt: u32,
    ) -> Result<Handled, DeliverError> {
        // The cheaper read first, acted on only when it shows what a first
        // handling of this message expects: the delivery pending, this
        // attempt its next. If that is stale, another handling of a copy of
        // this message made the attempt a moment ago — this one may send it
        // again, as with two copies read consistently at once, and the
        // conditional record counts it once; that handling queues the
        // follow-up. Anything else (a delivery written a moment ago, one
        // redelivered since it finished, a message that came back) is read
        // again, consistently, before anything is decided.
        let peeked = match received.receives {
            1 => self.deliveries.peek_for_attempt(id, attempt).await?,
            _ => None,
        };
        let delivery = match peeked {
            Some(d) if d.status == DeliveryStatus::Pending && d.attempts.checked_add(1) == Some(attempt) => d,
            _ => match self.deliveries.get_delivery(id).await? {
                Some(d) => d,
                None => return Ok(Handled::Skipped("no such delivery")),
            },
        };
        if delivery.status != DeliveryStatus::Pending {
            return Ok(Handled::Skipped("the delivery is finished"));
        }
        if delivery.attempts == attempt && received.receives > 1 {
            return self.queue_follow_up_again(&delivery).await;
        }
        if delivery.attempts.checked_add(1) != Some(attempt) {
            return Ok(Handled::Skipped("this attempt was already made"));
        }
        self.proceed(sender, received, &delivery, attempt, false).await
    }

    /// Attempt `attempt` of a pending `delivery` (`ordered`: its message
    /// holds its key's place), unless its target is gone or must not be
    /// sent to yet.
    async fn proceed(
        &self,
        sender: &dyn Sender,
        received: &Received,
        delivery: &Delivery,
        attempt: u32,
        ordered: bool,
    ) -> Result<Handled, DeliverError> {
        let id = &delivery.id;
        let span = tracing::Span::current();
        span.record("event_id", tracing::field::display(&delivery.event_id));
        span.record("tenant", tracing::field::display(&delivery.tenant));
        if let Some(sub) = delivery.subscription_id() {
            span.record("subscription_id", tracing::field::display(sub));
        }
        let Some(event) = self.events.get_event(&delivery.event_id).await? else {
            // Retention removed the event: nothing is left to send.
            self.deliveries.cancel_delivery(id, self.clock.now()).await?;
            warn!("canceled: the event has expired");
            return Ok(Handled::Canceled);
        };
        let Some(target) = self.target(delivery).await? else {
            self.deliveries.cancel_delivery(id, self.clock.now()).await?;
            info!("canceled: its subscription is deleted or inactive, or its tenant has no secret");
            return Ok(Handled::Canceled);
        };
        if let Some(sub) = &target.subscription {
            let now = self.clock.now();
            if let Some(until) = sub.paused_until.filter(|t| *t > now) {
                return self.hold(delivery, attempt, until, "paused", ordered).await;
            }
            if let Some(rate) = sub.rate_limit
                && let Some(until) = self.take_turn(sender, sub, rate).await?
            {
                return self.hold(delivery, attempt, until, "rate_limit", ordered).await;
            }
        }
        self.attempt(sender, received, delivery, &event, &target, attempt, ordered).await
    }

    /// Waits for this delivery's slot of `sub`'s schedule; `Some(until)`
    /// when there is none before then. A slot woken up to too late (a
    /// busy process) is given up and another taken: a late request could
    /// crowd the next second.
    async fn take_turn(
        &self,
        sender: &dyn Sender,
        sub: &Subscription,
        rate: crate::policy::RateLimit,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, DeliverError> {
        for _ in 0..5 {
            let now = self.clock.now();
            let turn = match self.pacer.turn(&sub.id, rate, now).await {
                // Other processes keep taking the schedule's slots: they
                // are sending at the limit. This delivery waits its turn
                // like any other held back, instead of failing its message
                // (which would come back only after the visibility timeout).
                Err(StoreError::Contended(_)) => return Ok(Some(now + span(rate.spacing()))),
                other => other?,
            };
            match turn {
                Turn::At(at) => {
                    if let Ok(wait) = (at - now).to_std() {
                        sender.wait(wait).await;
                    }
                    if self.clock.now() <= at + span(LATE) {
                        return Ok(None);
                    }
                }
                Turn::NotBefore(until) => return Ok(Some(until)),
            }
        }
        Ok(Some(self.clock.now() + span(rate.spacing())))
    }

    /// Queues the message again for `until` (spread over a second, so the
    /// held-back deliveries of one endpoint do not all come back at once) —
    /// or, `ordered`, keeps it waiting that long: no attempt is made or
    /// spent.
    async fn hold(
        &self,
        d: &Delivery,
        attempt: u32,
        until: chrono::DateTime<chrono::Utc>,
        reason: &'static str,
        ordered: bool,
    ) -> Result<Handled, DeliverError> {
        let now = self.clock.now();
        let spread = Duration::from_secs_f64(self.entropy.unit());
        let wait = (until - now).to_std().unwrap_or(Duration::ZERO) + spread;
        telemetry::held(reason);
        info!(reason, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "held back");
        if ordered {
            return Ok(Handled::Waits { until: now + span(wait) });
        }
        let wait = wait.min(self.queue.max_delay());
        let message = QueueMessage::Deliver { delivery_id: d.id.clone(), attempt };
        self.queue.enqueue(&[Queued { message, delay: wait }]).await?;
        Ok(Handled::Held)
    }

    /// The message came back though its attempt is recorded: whatever
    /// handled it before died or failed before (or after) queueing the
    /// follow-up. Queues it again, due when the schedule says.
    async fn queue_follow_up_again(&self, d: &Delivery) -> Result<Handled, DeliverError> {
        let now = self.clock.now();
        let Some(at) = d.next_attempt_at else { return Ok(Handled::Skipped("no next attempt")) };
        let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
        if wait > self.queue.max_delay() {
            return Ok(Handled::Skipped("the next attempt waits in the store for the scheduler"));
        }
        let message = QueueMessage::next_for(d);
        self.queue.enqueue(&[Queued { message, delay: wait }]).await?;
        info!(wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "follow-up queued again");
        Ok(Handled::Requeued)
    }

    /// The delivery's target as configured now (its subscription's active
    /// settings perhaps a moment old: a cheaper read); `None` when there is
    /// none to send to (its subscription is gone or inactive, its tenant has
    /// no secret).
    pub(crate) async fn target(&self, delivery: &Delivery) -> Result<Option<Target>, StoreError> {
        let policy = |schedule: Option<&crate::policy::RetrySchedule>| match schedule {
            Some(schedule) => RetryPolicy { schedule: schedule.clone(), ..self.settings.retry.clone() },
            None => self.settings.retry.clone(),
        };
        match &delivery.target {
            DeliveryTarget::Subscription { subscription_id } => {
                // The cheaper read when it finds the subscription active: a
                // change it may not show yet (a new URL, a rotated secret, a
                // disable) was made a moment ago, when a delivery already in
                // flight would not have seen it either. Missing or inactive
                // is read again: a subscription created a moment ago, or
                // enabled again, must not lose its delivery to a stale read.
                let sub = match self.subscriptions.peek_subscription(subscription_id).await? {
                    Some(sub) if sub.active => sub,
                    _ => match self.subscriptions.get_subscription(subscription_id).await? {
                        Some(sub) if sub.active => sub,
                        _ => return Ok(None),
                    },
                };
                Ok(Some(Target {
                    url: sub.url.clone(),
                    settings: sub.settings.clone(),
                    secrets: sub.secrets.clone(),
                    retry: policy(sub.schedule_for(&delivery.event_type)),
                    subscription: Some(sub),
                }))
            }
            DeliveryTarget::OneOff { url } if delivery.tenant.as_str() == OPS_TENANT => {
                // hookline's own events: signed with the operator's secret.
                let Some(secret) = &self.settings.ops_secret else { return Ok(None) };
                Ok(Some(Target {
                    subscription: None,
                    url: url.clone(),
                    settings: DeliverySettings::default(),
                    secrets: SecretSet::new(secret.clone()),
                    retry: self.settings.retry.clone(),
                }))
            }
            DeliveryTarget::OneOff { url } => {
                let tenant = self.tenants.get_tenant(&delivery.tenant).await?;
                let Some((secrets, settings)) = tenant.and_then(|t| Some((t.secrets?, t.one_off))) else {
                    return Ok(None);
                };
                Ok(Some(Target {
                    subscription: None,
                    url: url.clone(),
                    retry: policy(settings.retry_schedule.as_ref()),
                    settings,
                    secrets,
                }))
            }
        }
    }

    /// Makes attempt `number` of `delivery` and records it, in three steps:
    /// [`Self::send`] it, [`Self::plan`] what follows, record both at once;
    /// then what the record sets in motion — the follow-up on the queue
    /// (`ordered`: the message itself waits for it), an operational event,
    /// the endpoint's health.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        sender: &dyn Sender,
        received: &Received,
        delivery: &Delivery,
        event: &Event,
        target: &Target,
        number: u32,
        ordered: bool,
    ) -> Result<Handled, DeliverError> {
        let sent = self.send(sender, delivery, event, target, number).await;
        let plan = self.plan(sent.decision, delivery, event, target, number, ordered).await?;
        let recorded = self
            .deliveries
            .record_attempt(&Recording {
                attempt: &sent.record,
                delivery: Some(delivery),
                update: &plan.update,
                follow_up: plan.follow_up.as_ref(),
                // An ordered message is acknowledged, or kept, once the
                // attempt is recorded.
                ack: received.ack.filter(|_| !ordered),
                keep_until: plan.keep_until,
            })
            .await?;
        if !recorded.applied {
            if ordered {
                // Only this message holds the key; read again what the
                // other handling made of the delivery.
                return Ok(Handled::Waits { until: self.clock.now() + span(RECHECK) });
            }
            return Ok(Handled::Skipped("another worker recorded this attempt first"));
        }
        let (decision, record) = (sent.decision, &sent.record);
        // The endpoint's chart counts what the endpoint did: not a request
        // that could not be built.
        let endpoint_did = decision != Decision::GiveUp(GiveUpReason::Unsendable);
        if self.settings.charts {
            let endpoint = target.subscription.as_ref().filter(|_| endpoint_did).map(|s| &s.id);
            let counted = match decision {
                Decision::Succeeded => crate::ports::Counted::Succeeded,
                Decision::GiveUp(_) => crate::ports::Counted::GaveUp,
                Decision::Retry { .. } => crate::ports::Counted::Retried,
            };
            self.tally.count(&delivery.tenant, endpoint, record.started_at, counted);
        }
        log_attempt(record, decision);
        if let Some(next) = plan.follow_up
            && !recorded.follow_up_queued
        {
            // If this fails the message comes back; its attempt is recorded,
            // so handling it again queues the follow-up then.
            self.queue.enqueue(&[next]).await?;
        }
        if let Decision::GiveUp(reason) = decision {
            let ty = if reason == GiveUpReason::Exhausted { "delivery.exhausted" } else { "delivery.failed" };
            let payload = serde_json::json!({
                "delivery_id": delivery.id, "event_id": delivery.event_id, "tenant": delivery.tenant,
                "event_type": delivery.event_type, "subscription_id": delivery.subscription_id(),
                "reason": reason, "attempts": number, "last_status_code": record.status_code,
                "url": record.url,
            });
            // One occurrence per delivery and attempt: a redelivered delivery
            // that fails again is a new occurrence.
            self.emit(&delivery.tenant, ty, &format!("{}:{number}", delivery.id), payload).await;
        }
        // A request that could not be built is the publisher's doing, not
        // the endpoint's: it never counts toward disabling it.
        if let Some(sub) = &target.subscription
            && endpoint_did
        {
            self.update_health(sub, decision, record, self.clock.now(), sent.pause).await?;
        }
        if let (true, Some(until)) = (ordered, plan.update.next_attempt_at) {
            return Ok(Handled::Waits { until });
        }
        Ok(Handled::Attempted { decision, acknowledged: recorded.acknowledged })
    }

    /// Builds, signs and sends the request, and decides what its outcome
    /// means; nothing is stored yet.
    async fn send(
        &self,
        sender: &dyn Sender,
        delivery: &Delivery,
        event: &Event,
        target: &Target,
        number: u32,
    ) -> Sent {
        let started = self.clock.now();
        let settings = RequestTarget {
            url: &target.url,
            signature: &target.settings.signature,
            body: &target.settings.body,
            headers: &target.settings.headers,
            timeout: target.settings.timeout.duration(),
        };
        let secrets = target.secrets.signing_at(started);
        let content = Content {
            event_type: event.event_type.as_str(),
            created_at: event.created_at,
            payload: &event.payload,
        };
        let unsent = |error: Option<FailureKind>, message: Option<String>| Attempt {
            delivery_id: delivery.id.clone(),
            number,
            started_at: started,
            duration_ms: 0,
            url: target.url.to_string(),
            status_code: None,
            error,
            error_message: message,
            response_excerpt: None,
            signature: None,
        };
        let request = match build_request(&settings, &secrets, delivery.id.as_str(), &content, started) {
            Ok(request) => request,
            // The payload does not fit this target's body format (or the
            // secret its signature): no later attempt can do better, and it
            // is not the endpoint's doing.
            Err(e) => {
                telemetry::unsendable();
                let record = unsent(Some(FailureKind::Payload), Some(format!("nothing was sent: {e}")));
                return Sent { decision: Decision::GiveUp(GiveUpReason::Unsendable), record, pause: None };
            }
        };
        let result = sender.send(&request).await;
        // "Slow down": nothing more goes to this endpoint until then.
        let pause = match result.outcome {
            AttemptOutcome::Response { status: 429, retry_after: Some(d), .. } => Some(d.min(MAX_PAUSE)),
            _ => None,
        };
        let decision = decide(&target.retry, number, &result.outcome, self.entropy.unit());
        telemetry::attempt(&result.outcome, decision, result.duration);
        let (status_code, error) = match result.outcome {
            AttemptOutcome::Response { status, .. } => (Some(status), None),
            AttemptOutcome::Failed(kind) => (None, Some(kind)),
        };
        let record = Attempt {
            duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
            status_code,
            error,
            error_message: result.error_message,
            // A receiver may echo what it got, secret included (a preset
            // that sends it in the body): never kept.
            response_excerpt: result
                .response_excerpt
                .map(|e| target.secrets.hide_in(e, crate::api::sent::HIDDEN_SECRET)),
            signature: request.headers.header(&target.settings.signature.signature_header).map(str::to_owned),
            ..unsent(None, None)
        };
        Sent { decision, record, pause }
    }

    /// What the delivery becomes after `decision`, and the follow-up to
    /// queue. A retry that would outlive its event keeps the event longer
    /// first, so no crash can leave the attempt recorded and the event
    /// short.
    async fn plan(
        &self,
        decision: Decision,
        delivery: &Delivery,
        event: &Event,
        target: &Target,
        number: u32,
        ordered: bool,
    ) -> Result<Plan, StoreError> {
        let now = self.clock.now();
        let finished = |status, give_up_reason| AttemptUpdate {
            status,
            next_attempt_at: None,
            due_at: None,
            give_up_reason,
            queued: false,
        };
        let (update, follow_up, keep_until) = match decision {
            Decision::Succeeded => (finished(DeliveryStatus::Succeeded, None), None, event.last_attempt_by),
            Decision::GiveUp(reason) => {
                (finished(DeliveryStatus::Failed, Some(reason)), None, event.last_attempt_by)
            }
            Decision::Retry { delay } => {
                let next = now + span(delay);
                // An ordered delivery's message waits for its retry however
                // long that is: it holds its key's place.
                let in_queue = ordered || delay <= self.queue.max_delay();
                telemetry::retry_scheduled(in_queue);
                let follow_up = (in_queue && !ordered).then(|| Queued {
                    message: QueueMessage::Deliver { delivery_id: delivery.id.clone(), attempt: number + 1 },
                    delay,
                });
                // On the queue, the scheduler looks again only once its
                // message is overdue by the grace period.
                let due_at = if in_queue { next + span(self.settings.queue_grace) } else { next };
                // A schedule made longer since the publish (a PATCH) must
                // not outrun its event.
                let last_use =
                    next + span(self.settings.queue_grace) + span(target.settings.timeout.duration());
                let mut keep_until = event.last_attempt_by;
                if event.last_attempt_by.is_none_or(|by| by < last_use) {
                    self.events.keep_event(&event.id, last_use).await?;
                    keep_until = Some(last_use);
                }
                let update = AttemptUpdate {
                    status: DeliveryStatus::Pending,
                    next_attempt_at: Some(next),
                    due_at: Some(due_at),
                    give_up_reason: None,
                    queued: in_queue,
                };
                (update, follow_up, keep_until)
            }
        };
        Ok(Plan { update, follow_up, keep_until })
    }

    /// The endpoint's health after an attempt: the start of its run of
    /// failures, the run announced once a delivery has failed
    /// `failing_after` attempts in a row (`subscription.failing`), its end
    /// announced when it was (`subscription.recovered`), and the subscription
    /// disabled on a 410 or after failing for the disable period. Written
    /// only when something changed.
    async fn update_health(
        &self,
        sub: &Subscription,
        decision: Decision,
        attempt: &Attempt,
        now: chrono::DateTime<chrono::Utc>,
        pause: Option<Duration>,
    ) -> Result<(), StoreError> {
        let succeeded = decision == Decision::Succeeded;
        let policy = self.settings.disable.after_attempt(sub.failing_since, succeeded, now);
        let reason = match decision {
            Decision::GiveUp(GiveUpReason::Gone) => Some("the endpoint answered 410 Gone"),
            _ if policy.disable => Some("every delivery failed for the whole disable period"),
            _ => None,
        };
        let announce = !succeeded && !sub.failing_announced && attempt.number >= self.settings.failing_after;
        let health = Health {
            failing_since: policy.failing_since,
            failing_announced: !succeeded && (sub.failing_announced || announce),
            disabled_reason: reason,
            // A new pause, or the one still running; one that ran out goes.
            paused_until: pause.map(|d| now + span(d)).or(sub.paused_until.filter(|t| *t > now)),
        };
        if health == sub.health() {
            return Ok(()); // nothing changed: no write
        }
        self.subscriptions.update_health(&sub.id, &health).await?;
        let about = serde_json::json!({"subscription_id": sub.id, "tenant": sub.tenant, "url": sub.url});
        // Each run of failures is one occurrence, named by when it started.
        let run = |since: Option<chrono::DateTime<chrono::Utc>>| {
            format!("{}:{}", sub.id, since.map_or(0, |t| t.timestamp_millis()))
        };
        if announce {
            let payload = merged(
                about.clone(),
                serde_json::json!({
                    "failing_since": health.failing_since, "delivery_id": attempt.delivery_id,
                    "failed_attempts": attempt.number, "last_status_code": attempt.status_code,
                    "error": attempt.error.map(FailureKind::as_str),
                    "disabled_at_the_latest": health.failing_since.map(|t| t + self.settings.disable.after),
                }),
            );
            self.emit(&sub.tenant, "subscription.failing", &run(health.failing_since), payload).await;
        }
        if succeeded && sub.failing_announced {
            let payload = merged(
                about.clone(),
                serde_json::json!({"failing_since": sub.failing_since, "recovered_at": now}),
            );
            self.emit(&sub.tenant, "subscription.recovered", &run(sub.failing_since), payload).await;
        }
        if let Some(reason) = reason {
            telemetry::subscription_disabled(decision == Decision::GiveUp(GiveUpReason::Gone));
            let n = self.deliveries.cancel_subscription_deliveries(&sub.id, now).await?;
            warn!(subscription_id = %sub.id, reason, canceled = n, "subscription disabled");
            let payload = merged(about, serde_json::json!({"reason": reason, "canceled_deliveries": n}));
            // One occurrence per disabling: the version it was disabled from.
            self.emit(&sub.tenant, "subscription.disabled", &format!("{}:{}", sub.id, sub.version), payload)
                .await;
        }
        Ok(())
    }
}

/// An attempt made, not yet recorded.
struct Sent {
    decision: Decision,
    record: Attempt,
    /// How long the endpoint asked to be left alone (429 with `Retry-After`).
    pause: Option<Duration>,
}

/// What recording an attempt changes.
struct Plan {
    update: AttemptUpdate,
    follow_up: Option<Queued>,
    keep_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// One line per attempt, every field typed (ids and the attempt number come
/// from the span): at INFO when it succeeded, at WARN when it did not — so
/// `RUST_LOG=warn` (the template's `LogLevel=warn`) still logs every failed
/// attempt, and leaves successes to the store, the API and the metrics.
fn log_attempt(record: &Attempt, decision: Decision) {
    let (retry_in_ms, give_up_reason) = match decision {
        Decision::Retry { delay } => (Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)), None),
        Decision::GiveUp(reason) => (None, Some(reason.as_str())),
        Decision::Succeeded => (None, None),
    };
    macro_rules! attempt_line {
        ($level:ident) => {
            tracing::$level!(
                status_code = record.status_code,
                error = record.error.map(FailureKind::as_str),
                duration_ms = record.duration_ms,
                outcome = telemetry::outcome_name(decision),
                retry_in_ms,
                give_up_reason,
                "attempt recorded"
            )
        };
    }
    if decision == Decision::Succeeded {
        attempt_line!(info);
    } else {
        attempt_line!(warn);
    }
}
