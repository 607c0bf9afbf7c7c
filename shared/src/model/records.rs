//! The records the flow stores: events, subscriptions, deliveries and their
//! attempts. They are the stores' currency; the API shows them through the
//! response types in `api`, which never carry secrets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ids::{DeliveryId, EventId, SubscriptionId};
use super::names::{EventType, EventTypePattern, TenantId};
use super::status::DeliveryStatus;
use super::target::{CustomHeaders, TargetUrl};
use crate::policy::{AttemptTimeout, FailureKind, GiveUpReason, RetrySchedule};
use crate::signing::{SecretSet, SignatureFormat};
use crate::wire::BodyFormat;

/// Something that happened on the platform, published once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Its id.
    pub id: EventId,
    /// Whose event it is.
    pub tenant: TenantId,
    /// What happened (`video.encoded`).
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The platform's JSON, kept byte for byte.
    pub payload: Box<RawValue>,
    /// The publisher's idempotency key, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A one-off target for this event alone (a per-job webhook URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<TargetUrl>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
}

/// An endpoint, what it wants, and how to deliver to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id.
    pub id: SubscriptionId,
    /// Whose endpoint it is.
    pub tenant: TenantId,
    /// Where requests go.
    pub url: TargetUrl,
    /// Which event types it wants; empty means all.
    #[serde(default)]
    pub event_types: Vec<EventTypePattern>,
    /// Free text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether new events are delivered to it.
    pub active: bool,
    /// Why it was disabled by hookline itself, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// How requests are signed.
    pub signature: SignatureFormat,
    /// How the body is shaped.
    pub body: BodyFormat,
    /// Extra request headers.
    #[serde(default)]
    pub headers: CustomHeaders,
    /// Per-attempt timeout.
    pub timeout: AttemptTimeout,
    /// Its own retry schedule; `None` uses the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<RetrySchedule>,
    /// A wait before the first attempt (Targetvideo's "Timeout"), seconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub initial_delay_secs: u32,
    /// The preset it was created from, if any (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Signing secrets (current and retiring).
    pub secrets: SecretSet,
    /// Start of the current unbroken run of failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Subscription {
    /// The wait before the first attempt of each new delivery.
    pub fn initial_delay(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.initial_delay_secs.into())
    }

    /// Whether an event of this type should go to this subscription now.
    pub fn wants(&self, ty: &EventType) -> bool {
        self.active && super::names::wants(&self.event_types, ty)
    }
}

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
    /// The subscription this delivery belongs to, if any.
    pub fn subscription_id(&self) -> Option<&SubscriptionId> {
        match &self.target {
            DeliveryTarget::Subscription { subscription_id } => Some(subscription_id),
            DeliveryTarget::OneOff { .. } => None,
        }
    }
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
}
