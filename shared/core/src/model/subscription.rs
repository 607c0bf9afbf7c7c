//! A subscription: an endpoint, which event types it wants, how requests
//! to it are signed and shaped, and its health.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::delivery_settings::DeliverySettings;
use super::ids::SubscriptionId;
use super::names::{EventType, EventTypePattern, TenantId};
use crate::policy::RateLimit;
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
    /// The channels it listens on; empty: every event, on a channel or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// What the events it receives must hold ([`super::Filter`]); none:
    /// every event its types and channels let through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<super::Filter>,
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
    /// The most deliveries a second it is sent; none: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Nothing is sent to it before this time: it answered 429 with
    /// `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<DateTime<Utc>>,
    /// Start of the current unbroken run of failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// The current run of failures was announced to the operator
    /// (`subscription.failing`), so its end is too (`.recovered`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failing_announced: bool,
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
    /// Whether an event of this type should go to this subscription now
    /// (before its channels and filter: [`Self::receives`]).
    pub fn wants(&self, ty: &EventType) -> bool {
        self.active && super::names::wants(&self.event_types, ty)
    }

    /// Whether `event` goes to this subscription: it is active, wants the
    /// type, shares a channel (when it names any) and passes its filter.
    /// `payload` is the event's payload parsed (a fan-out parses it once
    /// for all, and only when a subscription has a filter).
    pub fn receives(&self, event: &super::Event, payload: &serde_json::Value) -> bool {
        self.wants(&event.event_type)
            && super::on_channels(&self.channels, &event.channels)
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(event.event_type.as_str(), &event.channels, payload))
    }

    /// Sets the endpoint-health fields after an attempt: the start of the
    /// current run of failures, whether it was announced, and — when a
    /// reason to disable is given — makes it inactive with that reason.
    /// Every store applies health through this one rule, leaving every other
    /// field as a concurrent change left it.
    pub fn set_health(&mut self, health: &Health<'_>) {
        self.version += 1;
        self.failing_since = health.failing_since;
        self.failing_announced = health.failing_announced;
        self.paused_until = health.paused_until;
        if let Some(reason) = health.disabled_reason {
            self.active = false;
            self.disabled_reason = Some(reason.to_owned());
        }
    }

    /// Its health as it stands.
    pub fn health(&self) -> Health<'_> {
        Health {
            failing_since: self.failing_since,
            failing_announced: self.failing_announced,
            disabled_reason: None,
            paused_until: self.paused_until,
        }
    }
}

/// An endpoint's health after an attempt (see [`Subscription::set_health`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health<'a> {
    /// Start of the current run of failures; `None` once one succeeds.
    pub failing_since: Option<DateTime<Utc>>,
    /// The run was announced to the operator.
    pub failing_announced: bool,
    /// Disable the subscription, for this reason.
    pub disabled_reason: Option<&'a str>,
    /// Send nothing to it before this time (it asked to be given time).
    pub paused_until: Option<DateTime<Utc>>,
}
