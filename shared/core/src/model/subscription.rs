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
    /// Whether the events of one `ordering_key` reach it one at a time, in
    /// publish order (a delivery waits until the one before it succeeded
    /// or was given up on).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ordered: bool,
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
    /// Retry schedules for some event types or prefixes, over
    /// `settings.retry_schedule` ([`Self::schedule_for`]).
    #[serde(default, skip_serializing_if = "TypeSchedules::is_empty")]
    pub retry_schedules: TypeSchedules,
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

    /// The schedule an event of type `ty` is retried on: the most specific
    /// of `retry_schedules` that matches it (the exact type, then the
    /// longest prefix, then `*`), else the subscription's own
    /// `retry_schedule`; `None`: the preset's or the service's.
    pub fn schedule_for(&self, ty: &EventType) -> Option<&crate::policy::RetrySchedule> {
        self.retry_schedules.best(ty).or(self.settings.retry_schedule.as_ref())
    }

    /// Whether `event` goes to this subscription: it is active, wants the
    /// type, shares a channel (when it names any) and passes its filter.
    /// `routed` is the event as filters read it, built once per fan-out.
    pub fn receives(&self, event: &super::Event, routed: &super::Routed) -> bool {
        self.wants(&event.event_type)
            && super::on_channels(&self.channels, &event.channels)
            && self.filter.as_ref().is_none_or(|f| f.matches(routed))
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

/// Retry schedules by event type pattern (`{"invoice.*": ["1m", "1h"],
/// "typing.*": []}`): at most [`MAX_TYPE_SCHEDULES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeSchedules(Vec<(super::EventTypePattern, crate::policy::RetrySchedule)>);

/// The most per-type schedules a subscription may hold.
pub const MAX_TYPE_SCHEDULES: usize = 20;

impl TypeSchedules {
    /// Checks each pattern and schedule (`retry_schedules.<pattern>` names
    /// the one at fault).
    pub fn parse(
        raw: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<Self, crate::validation::ValidationError> {
        use crate::validation::ValidationError;
        if raw.len() > MAX_TYPE_SCHEDULES {
            return Err(ValidationError::too_long("retry_schedules", MAX_TYPE_SCHEDULES, "patterns"));
        }
        raw.iter()
            .map(|(pattern, schedule)| {
                let field = || format!("retry_schedules.{pattern}");
                let p = super::EventTypePattern::parse(pattern)
                    .map_err(|e| ValidationError::invalid(field(), e.to_string()))?;
                let s = serde_json::from_value::<crate::policy::RetrySchedule>(schedule.clone())
                    .map_err(|e| ValidationError::invalid(field(), e.to_string()))?;
                Ok((p, s))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each pattern and its schedule, as given.
    pub fn iter(&self) -> impl Iterator<Item = (&super::EventTypePattern, &crate::policy::RetrySchedule)> {
        self.0.iter().map(|(p, s)| (p, s))
    }

    /// The most specific schedule whose pattern matches `ty`.
    pub fn best(&self, ty: &EventType) -> Option<&crate::policy::RetrySchedule> {
        use super::EventTypePattern as P;
        let rank = |p: &P| match p {
            P::Exact(_) => (2, 0),
            P::Prefix(prefix) => (1, prefix.len()),
            P::All => (0, 0),
        };
        self.0.iter().filter(|(p, _)| p.matches(ty)).max_by_key(|(p, _)| rank(p)).map(|(_, s)| s)
    }
}

impl serde::Serialize for TypeSchedules {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (p, schedule) in &self.0 {
            map.serialize_entry(&p.as_string(), schedule)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for TypeSchedules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::collections::BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}
