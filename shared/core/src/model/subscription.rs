//! A subscription: an endpoint, which event types it wants, how requests
//! to it are signed and shaped, and its health.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::SubscriptionId;
use super::names::{EventType, EventTypePattern, TenantId};
use super::settings::DeliverySettings;
use crate::signing::SecretSet;
use crate::target::TargetUrl;

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
    /// How requests are made (stored flat beside the other fields).
    #[serde(flatten)]
    pub settings: DeliverySettings,
    /// Signing secrets (current and retiring).
    pub secrets: SecretSet,
    /// Start of the current unbroken run of failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every write; a write is conditioned on the version it read
    /// (0 for records stored before versions existed).
    #[serde(default)]
    pub version: u64,
}

impl Subscription {
    /// Whether an event of this type should go to this subscription now.
    pub fn wants(&self, ty: &EventType) -> bool {
        self.active && super::names::wants(&self.event_types, ty)
    }

    /// Sets the endpoint-health fields after an attempt: the start of the
    /// current run of failures, and — when `disabled_reason` is given — makes
    /// it inactive with that reason. Every store applies health through this
    /// one rule, leaving every other field as a concurrent change left it.
    pub fn set_health(&mut self, failing_since: Option<DateTime<Utc>>, disabled_reason: Option<&str>) {
        self.version += 1;
        self.failing_since = failing_since;
        if let Some(reason) = disabled_reason {
            self.active = false;
            self.disabled_reason = Some(reason.to_owned());
        }
    }
}
