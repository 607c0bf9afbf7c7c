//! An event: something that happened on the platform, published once and
//! kept byte for byte.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ids::EventId;
use super::names::{EventType, TenantId};
use crate::target::TargetUrl;

/// The longest `ordering_key`, in bytes.
pub const MAX_ORDERING_KEY_LEN: usize = 256;

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
    /// The channels it was published on (subscriptions that name channels
    /// receive only events on one of theirs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// What its deliveries to ordered subscriptions are ordered by: events
    /// of one key reach such a subscription in publish order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// The publisher's idempotency key, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A one-off target for this event alone (a per-job webhook URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<TargetUrl>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// The latest its deliveries can be attempted on their schedules, as far
    /// as is known (a redelivery or a longer schedule moves it): a store whose
    /// retention counts from a record's creation keeps the event that long
    /// plus the retention, so a replay within the retention still has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_by: Option<DateTime<Utc>>,
    /// A digest of what was published (type, payload, one-off URL), kept
    /// with an idempotency key so a key reused for a different request is
    /// told apart from a retry of the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}
