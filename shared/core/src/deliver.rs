//! One queue message → at most one signed attempt, recorded exactly once.
//!
//! The message names the attempt it is for; a message whose attempt was
//! already recorded (SQS redelivery, a duplicate from the scheduler) or
//! whose delivery is finished changes nothing. Endpoint failures are
//! hookline's own retries (re-enqueued with a delay, or left due in the
//! store for the scheduler); only store and queue failures are errors, so
//! the message comes back.

use std::time::Duration;

use tracing::{Instrument, info, info_span, warn};

use crate::context::{Context, OPS_TENANT};
use crate::model::{
    Attempt, AttemptUpdate, Delivery, DeliveryId, DeliveryStatus, DeliveryTarget, Event, Subscription,
    TenantId,
};
use crate::policy::{AttemptOutcome, Decision, FailureKind, GiveUpReason, RetryPolicy, decide};
use crate::ports::{QueueMessage, Queued, Sender, StoreError, span};
use crate::signing::{SecretSet, SignatureFormat};
use crate::target::{CustomHeaders, TargetUrl};
use crate::wire::{BodyFormat, Content, TargetSettings, build_request};

/// What handling a message came to (all of them are successes for the
/// queue: the message is done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// An attempt was made and recorded.
    Attempted {
        /// What the policy decided.
        decision: Decision,
    },
    /// Nothing to do: the delivery or its event no longer exists, the
    /// attempt was already recorded, or the delivery is finished.
    Skipped(&'static str),
    /// The delivery was canceled: its subscription is gone or inactive.
    Canceled,
}

struct Target {
    subscription: Option<Subscription>,
    url: TargetUrl,
    signature: SignatureFormat,
    body: BodyFormat,
    headers: CustomHeaders,
    timeout: Duration,
    secrets: SecretSet,
    retry: RetryPolicy,
}

impl Context {
    /// Handles one message from the delivery queue.
    pub async fn handle_message(
        &self,
        sender: &dyn Sender,
        message: &QueueMessage,
    ) -> Result<Handled, StoreError> {
        match message {
            QueueMessage::Deliver { delivery_id, attempt } => {
                let span = info_span!("delivery", delivery_id = %delivery_id, attempt = attempt,
                    event_id = tracing::field::Empty, subscription_id = tracing::field::Empty);
                self.deliver(sender, delivery_id, *attempt).instrument(span).await
            }
        }
    }

    async fn deliver(
        &self,
        sender: &dyn Sender,
        id: &DeliveryId,
        attempt: u32,
    ) -> Result<Handled, StoreError> {
        let Some(delivery) = self.deliveries.get_delivery(id).await? else {
            return Ok(Handled::Skipped("no such delivery"));
        };
        if delivery.status != DeliveryStatus::Pending || delivery.attempts.checked_add(1) != Some(attempt) {
            return Ok(Handled::Skipped("attempt already made or delivery finished"));
        }
        let span = tracing::Span::current();
        span.record("event_id", tracing::field::display(&delivery.event_id));
        if let Some(sub) = delivery.subscription_id() {
            span.record("subscription_id", tracing::field::display(sub));
        }
        let Some(event) = self.events.get_event(&delivery.event_id).await? else {
            // Retention removed the event: nothing is left to send.
            self.deliveries.cancel_delivery(id, self.clock.now()).await?;
            warn!("canceled: the event has expired");
            return Ok(Handled::Canceled);
        };
        let Some(target) = self.target(&delivery).await? else {
            self.deliveries.cancel_delivery(id, self.clock.now()).await?;
            info!("canceled: the subscription is deleted or inactive");
            return Ok(Handled::Canceled);
        };
        self.attempt(sender, &delivery, &event, &target, attempt).await
    }

    async fn target(&self, delivery: &Delivery) -> Result<Option<Target>, StoreError> {
        match &delivery.target {
            DeliveryTarget::Subscription { subscription_id } => {
                let Some(sub) = self.subscriptions.get_subscription(subscription_id).await? else {
                    return Ok(None);
                };
                if !sub.active {
                    return Ok(None);
                }
                let retry = match &sub.retry_schedule {
                    Some(schedule) => {
                        RetryPolicy { schedule: schedule.clone(), ..self.settings.retry.clone() }
                    }
                    None => self.settings.retry.clone(),
                };
                Ok(Some(Target {
                    url: sub.url.clone(),
                    signature: sub.signature.clone(),
                    body: sub.body.clone(),
                    headers: sub.headers.clone(),
                    timeout: sub.timeout.duration(),
                    secrets: sub.secrets.clone(),
                    retry,
                    subscription: Some(sub),
                }))
            }
            DeliveryTarget::OneOff { url } => {
                let secrets = match self.tenants.tenant_secrets(&delivery.tenant).await? {
                    Some(s) => s,
                    None => {
                        let fresh =
                            SecretSet::new(crate::signing::Secret::generate(self.entropy.secret_bytes()));
                        self.tenants.init_tenant_secrets(&delivery.tenant, &fresh).await?
                    }
                };
                Ok(Some(Target {
                    subscription: None,
                    url: url.clone(),
                    signature: SignatureFormat::standard(),
                    body: BodyFormat::Standard,
                    headers: Default::default(),
                    timeout: crate::policy::AttemptTimeout::default().duration(),
                    secrets,
                    retry: self.settings.retry.clone(),
                }))
            }
        }
    }

    async fn attempt(
        &self,
        sender: &dyn Sender,
        delivery: &Delivery,
        event: &Event,
        target: &Target,
        number: u32,
    ) -> Result<Handled, StoreError> {
        let started = self.clock.now();
        let settings = TargetSettings {
            url: &target.url,
            signature: &target.signature,
            body: &target.body,
            headers: &target.headers,
            timeout: target.timeout,
        };
        let secrets = target.secrets.signing_at(started);
        let content = Content {
            event_type: event.event_type.as_str(),
            created_at: event.created_at,
            payload: &event.payload,
        };
        let (decision, record) =
            match build_request(&settings, &secrets, delivery.id.as_str(), &content, started) {
                Ok(request) => {
                    let result = sender.send(&request).await;
                    let decision = decide(&target.retry, number, &result.outcome, self.entropy.unit());
                    let (status_code, error) = match result.outcome {
                        AttemptOutcome::Response { status, .. } => (Some(status), None),
                        AttemptOutcome::Failed(kind) => (None, Some(kind)),
                    };
                    let record = Attempt {
                        delivery_id: delivery.id.clone(),
                        number,
                        started_at: started,
                        duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
                        url: target.url.to_string(),
                        status_code,
                        error,
                        error_message: result.error_message,
                        response_excerpt: result.response_excerpt,
                    };
                    (decision, record)
                }
                // The payload does not fit this target's body format or the
                // secret its signature: no later attempt can do better.
                Err(e) => (
                    Decision::GiveUp(GiveUpReason::Unsendable),
                    Attempt {
                        delivery_id: delivery.id.clone(),
                        number,
                        started_at: started,
                        duration_ms: 0,
                        url: target.url.to_string(),
                        status_code: None,
                        error: Some(FailureKind::Other),
                        error_message: Some(format!("the request could not be built: {e}")),
                        response_excerpt: None,
                    },
                ),
            };
        let now = self.clock.now();
        let mut follow_up = None;
        let update = match decision {
            Decision::Succeeded => AttemptUpdate {
                status: DeliveryStatus::Succeeded,
                next_attempt_at: None,
                due_at: None,
                give_up_reason: None,
            },
            Decision::Retry { delay } => {
                let next = now + span(delay);
                let due_at = if delay <= self.queue.max_delay() {
                    follow_up = Some(Queued {
                        message: QueueMessage::Deliver {
                            delivery_id: delivery.id.clone(),
                            attempt: number + 1,
                        },
                        delay,
                    });
                    next + span(self.settings.queue_grace)
                } else {
                    next
                };
                AttemptUpdate {
                    status: DeliveryStatus::Pending,
                    next_attempt_at: Some(next),
                    due_at: Some(due_at),
                    give_up_reason: None,
                }
            }
            Decision::GiveUp(reason) => AttemptUpdate {
                status: DeliveryStatus::Failed,
                next_attempt_at: None,
                due_at: None,
                give_up_reason: Some(reason),
            },
        };
        if !self.deliveries.record_attempt(&record, &update).await? {
            return Ok(Handled::Skipped("another worker recorded this attempt first"));
        }
        info!(status = ?record.status_code, error = ?record.error, decision = ?decision, "attempt recorded");
        if let Some(next) = follow_up
            && let Err(e) = self.queue.enqueue(&[next]).await
        {
            // Retrying this message would not help (its attempt is recorded);
            // the delivery's due time brings the scheduler to it instead.
            warn!(error = %e, "could not queue the next attempt; the scheduler will");
        }
        if let Decision::GiveUp(reason) = decision {
            let ty = if reason == GiveUpReason::Exhausted { "delivery.exhausted" } else { "delivery.failed" };
            let payload = serde_json::json!({
                "delivery_id": delivery.id, "event_id": delivery.event_id, "tenant": delivery.tenant,
                "event_type": delivery.event_type, "subscription_id": delivery.subscription_id(),
                "reason": reason, "attempts": number, "last_status_code": record.status_code,
                "url": record.url,
            });
            self.emit(&delivery.tenant, ty, &delivery.id.to_string(), payload).await;
        }
        if let Some(sub) = &target.subscription {
            self.update_health(sub, decision, now).await?;
        }
        Ok(Handled::Attempted { decision })
    }

    async fn update_health(
        &self,
        sub: &Subscription,
        decision: Decision,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let succeeded = decision == Decision::Succeeded;
        let health = self.settings.disable.after_attempt(sub.failing_since, succeeded, now);
        let reason = match decision {
            Decision::GiveUp(GiveUpReason::Gone) => Some("the endpoint answered 410 Gone"),
            _ if health.disable => Some("every delivery failed for the whole disable period"),
            _ => None,
        };
        if health.failing_since == sub.failing_since && reason.is_none() {
            return Ok(()); // nothing changed: no write
        }
        self.subscriptions.update_health(&sub.id, health.failing_since, reason).await?;
        if let Some(reason) = reason {
            let n = self.deliveries.cancel_subscription_deliveries(&sub.id, now).await?;
            warn!(subscription_id = %sub.id, reason, canceled = n, "subscription disabled");
            let payload = serde_json::json!({
                "subscription_id": sub.id, "tenant": sub.tenant, "url": sub.url, "reason": reason,
                "canceled_deliveries": n,
            });
            self.emit(&sub.tenant, "subscription.disabled", &sub.id.to_string(), payload).await;
        }
        Ok(())
    }

    /// Publishes one of hookline's own events to the operator's URL, through
    /// the ordinary signed delivery path (a one-off delivery of the
    /// [`OPS_TENANT`] tenant). Best effort: a failure to publish is
    /// logged, never a reason to handle the message again. Events about the
    /// ops tenant's own deliveries are not published (no loops).
    async fn emit(&self, about: &TenantId, ty: &str, subject: &str, payload: serde_json::Value) {
        let Some(url) = &self.settings.ops_url else { return };
        if about.as_str() == OPS_TENANT {
            return;
        }
        let Ok(payload) = serde_json::value::to_raw_value(&payload) else { return };
        let req = crate::api::events::PublishEventRequest {
            tenant: OPS_TENANT.to_owned(),
            event_type: ty.to_owned(),
            payload,
            idempotency_key: Some(format!("{ty}:{subject}")),
            webhook_url: Some(url.to_string()),
        };
        if let Err(e) = self.publish_event(req, None).await {
            warn!(error = %e, event_type = ty, "could not publish an operational event");
        }
    }
}
