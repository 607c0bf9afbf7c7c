//! A subscription: an endpoint, which event types it wants, how requests
//! to it are signed and shaped, and its health.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::SubscriptionId;
use super::names::{EventType, EventTypePattern, TenantId};
use crate::policy::{AttemptTimeout, RetrySchedule};
use crate::signing::{SecretSet, SignatureFormat};
use crate::target::{CustomHeaders, TargetUrl};
use crate::wire::BodyFormat;

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

    /// Sets the endpoint-health fields after an attempt: the start of the
    /// current run of failures, and — when `disabled_reason` is given — makes
    /// it inactive with that reason. Every store applies health through this
    /// one rule, leaving every other field as a concurrent change left it.
    pub fn set_health(&mut self, failing_since: Option<DateTime<Utc>>, disabled_reason: Option<&str>) {
        self.failing_since = failing_since;
        if let Some(reason) = disabled_reason {
            self.active = false;
            self.disabled_reason = Some(reason.to_owned());
        }
    }
}
