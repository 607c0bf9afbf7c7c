//! A delivery: one event on its way to one target, and the attempts made.
//! The rules that change a delivery — recording an attempt, canceling,
//! reopening — are methods here, so every store applies the same ones under
//! its own atomicity (a lock, a transaction, a condition).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{DeliveryId, EventId, SubscriptionId};
use super::names::{EventType, TenantId};
use super::status::{DeliveryStatus, Transition};
use crate::policy::{FailureKind, GiveUpReason};
use crate::target::TargetUrl;

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeliveryTarget {
    /// A subscription's endpoint, read at each attempt so settings changed
    /// by PATCH apply to pending deliveries.
    Subscription {
        /// The subscription.
        subscription_id: SubscriptionId,
    },
    /// An event's one-off `webhook_url`, signed with the tenant's secret.
    OneOff {
        /// The URL.
        url: TargetUrl,
    },
}

/// One event on its way to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its id: the `webhook-id` receivers de-duplicate on.
    pub id: DeliveryId,
    /// The event delivered.
    pub event_id: EventId,
    /// The event's tenant.
    pub tenant: TenantId,
    /// The event's type.
    pub event_type: EventType,
    /// Where it goes.
    pub target: DeliveryTarget,
    /// The queue's message group it is delivered in, one delivery at a
    /// time in publish order ([`order_group`]): set when its subscription
    /// was ordered and its event had an `ordering_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<String>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the retry scheduler must enqueue it if nothing else has: the
    /// time of a long-delayed retry, or — for a delivery whose next message
    /// is already on the queue — that time plus a grace period, a safety net
    /// should the message be lost between two writes. `None` once final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// Why it failed, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up_reason: Option<GiveUpReason>,
    /// The last attempt's HTTP status, if it got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Delivery {
    /// A new delivery `id` of `event` to `target`: pending, never
    /// attempted, its first attempt at `first`, made when the event was;
    /// in its key's order if `ordered` (the subscription is) and the event
    /// has a key.
    pub fn pending(
        event: &super::Event,
        id: DeliveryId,
        target: DeliveryTarget,
        first: DateTime<Utc>,
        due_at: Option<DateTime<Utc>>,
        ordered: bool,
    ) -> Self {
        Self {
            id,
            event_id: event.id.clone(),
            tenant: event.tenant.clone(),
            event_type: event.event_type.clone(),
            ordering: match (&target, &event.ordering_key) {
                (DeliveryTarget::Subscription { subscription_id }, Some(key)) if ordered => {
                    Some(order_group(subscription_id, key))
                }
                _ => None,
            },
            target,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(first),
            due_at,
            give_up_reason: None,
            last_status_code: None,
            created_at: event.created_at,
            updated_at: event.created_at,
        }
    }

    /// The subscription this delivery belongs to, if any.
    pub fn subscription_id(&self) -> Option<&SubscriptionId> {
        match &self.target {
            DeliveryTarget::Subscription { subscription_id } => Some(subscription_id),
            DeliveryTarget::OneOff { .. } => None,
        }
    }

    /// Applies attempt `attempt` with its outcome `update` — only if the
    /// delivery is pending with exactly `attempt.number - 1` attempts made;
    /// `false` (nothing changed) for a repeated or late message.
    pub fn record(&mut self, attempt: &Attempt, update: &AttemptUpdate) -> bool {
        let transition = match update.status {
            DeliveryStatus::Pending => Transition::Retry,
            DeliveryStatus::Succeeded => Transition::Succeed,
            DeliveryStatus::Failed => Transition::Fail,
            DeliveryStatus::Canceled => Transition::Cancel,
        };
        if self.attempts.checked_add(1) != Some(attempt.number)
            || self.status.apply(transition) != Ok(update.status)
        {
            return false;
        }
        self.attempts = attempt.number;
        self.status = update.status;
        self.next_attempt_at = update.next_attempt_at;
        self.due_at = update.due_at;
        self.give_up_reason = update.give_up_reason;
        self.last_status_code = attempt.status_code;
        self.updated_at = attempt.started_at;
        true
    }

    /// Cancels the delivery if it is pending; `false` (nothing changed)
    /// otherwise.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> bool {
        match self.status.apply(Transition::Cancel) {
            Ok(status) => {
                self.status = status;
                self.next_attempt_at = None;
                self.due_at = None;
                self.updated_at = now;
                true
            }
            Err(_) => false,
        }
    }

    /// Makes the delivery pending again for a fresh attempt at `at`
    /// (redeliver, replay), whatever its state; `due_at` is the scheduler's
    /// safety net.
    pub fn reopen(&mut self, at: DateTime<Utc>, due_at: DateTime<Utc>) {
        self.status = self.status.apply(Transition::Redeliver).unwrap_or(DeliveryStatus::Pending);
        self.next_attempt_at = Some(at);
        self.due_at = Some(due_at);
        self.give_up_reason = None;
        self.updated_at = at;
    }
}

/// The message group of subscription `sub`'s deliveries of events keyed
/// `key`: the subscription's id and a digest of the key (an SQS FIFO group
/// id is at most 128 characters; a key may be 256 bytes of anything).
pub fn order_group(sub: &SubscriptionId, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    format!("{sub}:{}", hex::encode(&digest[..16]))
}

/// A delivery's state after an attempt (see [`Delivery::record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptUpdate {
    /// The new status (pending to retry, or final).
    pub status: DeliveryStatus,
    /// When the next attempt is expected, if one will happen.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the scheduler must enqueue it if nothing else has (see
    /// [`Delivery::due_at`]).
    pub due_at: Option<DateTime<Utc>>,
    /// Why it failed, if it did.
    pub give_up_reason: Option<GiveUpReason>,
    /// Whether the next attempt's message goes on the queue after this
    /// record (a retry within the queue's longest delay). A message on the
    /// queue is not lost: it comes back until handled, then waits in the
    /// dead letters, which are redriven. So a store that keeps due times
    /// as an index the scheduler sweeps needs an entry only when this is
    /// false: the retry waits in the store.
    pub queued: bool,
}

/// One HTTP attempt of a delivery, kept for the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The URL it went to.
    pub url: String,
    /// The response status, if a response came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// What went wrong without a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureKind>,
    /// A short description of the error, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The first bytes of the response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
    /// The signature header's value as sent (what proves which request was
    /// signed: the rest of the request is rebuilt from the event and the
    /// target's settings, see `Context::sent_request`). None when nothing
    /// was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}
