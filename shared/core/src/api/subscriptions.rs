//! Subscriptions: an endpoint, the event types it wants and how requests to
//! it are made. The request bodies arrive with loose types (strings, raw
//! JSON) so each field is checked here, by name, into the model types; the
//! views never carry a secret unless they hand one out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::ApiError;
use super::page::ListResponse;
use crate::context::{Context, MAX_SUBSCRIPTIONS_PER_TENANT};
use crate::model::{EventTypePattern, Subscription, SubscriptionId, TenantId};
use crate::policy::{AttemptTimeout, RetrySchedule};
use crate::ports::{PageRequest, span};
use crate::signing::{Secret, SecretSet, SignatureFormat};
use crate::target::{CustomHeaders, TargetUrl};
use crate::validation::ValidationError;
use crate::wire::BodyFormat;

/// Longest subscription description.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most event type patterns on one subscription.
pub const MAX_EVENT_TYPES: usize = 64;
/// `POST /v1/subscriptions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    /// Owner.
    pub tenant: String,
    /// Endpoint.
    pub url: String,
    /// Exact types and `prefix.*` patterns; absent or empty: all.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default)]
    pub active: Option<bool>,
    /// `"standard"` or a format object.
    #[serde(default)]
    pub signature: Option<serde_json::Value>,
    /// A body format object; defaults to the standard envelope.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Extra headers.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Per-attempt timeout, 1000–30000 ms.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Delays such as `["5s", "5m"]`; absent: the service's schedule.
    #[serde(default)]
    pub retry_schedule: Option<serde_json::Value>,
    /// A secret to keep (migrating receivers); absent: one is generated.
    #[serde(default)]
    pub secret: Option<String>,
    /// A provider's preset (`transcodely`, `heapstream`, …): its signature,
    /// body, schedule and timeout, each overridable by the fields above.
    #[serde(default)]
    pub preset: Option<String>,
    /// A wait before the first attempt: `30s`, `2m` or seconds, at most 15 min.
    #[serde(default)]
    pub initial_delay: Option<serde_json::Value>,
}

/// Longest wait before a first attempt (what the queue can hold back).
pub const MAX_INITIAL_DELAY_SECS: u32 = 900;

/// Reads an `initial_delay` field.
pub fn parse_initial_delay(raw: &serde_json::Value) -> Result<u32, ValidationError> {
    let bad = || ValidationError::invalid("initial_delay", "must be a delay like 30s or 2m, at most 15m");
    let secs = match raw {
        serde_json::Value::Number(n) => n.as_u64().ok_or_else(bad)?,
        serde_json::Value::String(s) => crate::policy::retry::parse_duration(s).map_err(|_| bad())?.as_secs(),
        _ => return Err(bad()),
    };
    u32::try_from(secs).ok().filter(|s| *s <= MAX_INITIAL_DELAY_SECS).ok_or_else(bad)
}

/// Looks a preset up by name.
pub fn parse_preset(name: &str) -> Result<&'static crate::presets::Preset, ValidationError> {
    crate::presets::get(name).ok_or_else(|| {
        ValidationError::invalid(
            "preset",
            format!("unknown preset {name:?}; known: {}", crate::presets::names()),
        )
    })
}

/// Checks event type patterns.
pub fn parse_event_types(raw: &[String]) -> Result<Vec<EventTypePattern>, ValidationError> {
    if raw.len() > MAX_EVENT_TYPES {
        return Err(ValidationError::too_long("event_types", MAX_EVENT_TYPES, "entries"));
    }
    raw.iter().map(|s| EventTypePattern::parse(s)).collect()
}

/// Checks a description.
pub fn parse_description(raw: Option<String>) -> Result<Option<String>, ValidationError> {
    match raw {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => {
            Err(ValidationError::too_long("description", MAX_DESCRIPTION_LEN, "characters"))
        }
        Some(d) if d.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Reads a `signature` field: a preset name or a format object.
pub fn parse_signature(raw: &serde_json::Value) -> Result<SignatureFormat, ValidationError> {
    match raw {
        serde_json::Value::String(name) => {
            crate::presets::get(name).map(|p| p.signature.clone()).ok_or_else(|| {
                ValidationError::invalid(
                    "signature",
                    format!("unknown preset {name:?}; known: {}", crate::presets::names()),
                )
            })
        }
        serde_json::Value::Object(_) => serde_json::from_value::<SignatureFormat>(raw.clone())
            .map_err(|e| ValidationError::invalid("signature", e.to_string()))?
            .validate(),
        _ => Err(ValidationError::invalid("signature", "must be a preset name or a format object")),
    }
}

/// Reads a `retry_schedule` field.
pub fn parse_retry_schedule(raw: &serde_json::Value) -> Result<RetrySchedule, ValidationError> {
    serde_json::from_value(raw.clone()).map_err(|e| ValidationError::invalid("retry_schedule", e.to_string()))
}

fn check_secret_fits(secret: &Secret, format: &SignatureFormat) -> Result<(), ValidationError> {
    secret.key(format.key).map(|_| ()).map_err(|_| {
        ValidationError::invalid("secret", "this signature format needs a whsec_<base64> secret")
    })
}

impl CreateSubscriptionRequest {
    /// Checks every field and builds the subscription. `generated` is used
    /// unless the request brings its own secret.
    pub fn into_subscription(
        self,
        id: SubscriptionId,
        now: DateTime<Utc>,
        generated: Secret,
    ) -> Result<Subscription, ValidationError> {
        let tenant = TenantId::parse(&self.tenant)?;
        let url = TargetUrl::parse(&self.url)?;
        let event_types = parse_event_types(self.event_types.as_deref().unwrap_or_default())?;
        let description = parse_description(self.description)?;
        let preset = parse_preset(self.preset.as_deref().unwrap_or("standard"))?;
        let signature = match &self.signature {
            Some(raw) => parse_signature(raw)?,
            None => preset.signature.clone(),
        };
        let body = match &self.body {
            Some(raw) => BodyFormat::from_json(raw)?,
            None => preset.body.clone(),
        };
        let headers = CustomHeaders::new(self.headers.unwrap_or_default())?;
        headers.check_not_in(&signature.header_names())?;
        let timeout = match self.timeout_ms {
            Some(ms) => AttemptTimeout::from_millis(ms)?,
            None => preset.timeout(),
        };
        let retry_schedule = match &self.retry_schedule {
            Some(raw) => Some(parse_retry_schedule(raw)?),
            None => preset.retry_schedule.clone(),
        };
        let initial_delay_secs =
            self.initial_delay.as_ref().map(parse_initial_delay).transpose()?.unwrap_or(0);
        let secret = match self.secret {
            Some(s) => Secret::parse(&s)?,
            None => generated,
        };
        check_secret_fits(&secret, &signature)?;
        Ok(Subscription {
            id,
            tenant,
            url,
            event_types,
            description,
            active: self.active.unwrap_or(true),
            disabled_reason: None,
            signature,
            body,
            headers,
            timeout,
            retry_schedule,
            initial_delay_secs,
            preset: self.preset,
            secrets: SecretSet::new(secret),
            failing_since: None,
            created_at: now,
            updated_at: now,
        })
    }
}

/// `PATCH /v1/subscriptions/{id}`: absent fields stay as they are; a
/// `null` description or retry schedule clears it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscriptionRequest {
    /// New endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// New patterns.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// New description (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    pub description: Option<Option<String>>,
    /// Enable or disable.
    #[serde(default)]
    pub active: Option<bool>,
    /// New signature format.
    #[serde(default)]
    pub signature: Option<serde_json::Value>,
    /// New body format.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// New headers (replace the old set).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// New timeout.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// New schedule (`null`: the service's).
    #[serde(default, deserialize_with = "nullable")]
    pub retry_schedule: Option<Option<serde_json::Value>>,
    /// New wait before first attempts (`null`: none).
    #[serde(default, deserialize_with = "nullable")]
    pub initial_delay: Option<Option<serde_json::Value>>,
    /// Switch to a preset: its signature, body, schedule and timeout, each
    /// overridable by the fields above.
    #[serde(default)]
    pub preset: Option<String>,
}

fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl UpdateSubscriptionRequest {
    /// Applies the checked changes to `sub`. Nothing changes unless every
    /// field is valid.
    pub fn apply(self, sub: &Subscription, now: DateTime<Utc>) -> Result<Subscription, ValidationError> {
        let mut next = sub.clone();
        if let Some(name) = &self.preset {
            let p = parse_preset(name)?;
            next.signature = p.signature.clone();
            next.body = p.body.clone();
            next.retry_schedule = p.retry_schedule.clone();
            next.timeout = p.timeout();
            next.preset = Some(name.clone());
            check_secret_fits(&next.secrets.current, &next.signature)?;
        }
        if let Some(delay) = &self.initial_delay {
            next.initial_delay_secs = delay.as_ref().map(parse_initial_delay).transpose()?.unwrap_or(0);
        }
        if let Some(url) = &self.url {
            next.url = TargetUrl::parse(url)?;
        }
        if let Some(types) = &self.event_types {
            next.event_types = parse_event_types(types)?;
        }
        if let Some(description) = self.description {
            next.description = parse_description(description)?;
        }
        if let Some(active) = self.active {
            next.active = active;
            if active {
                next.disabled_reason = None;
                next.failing_since = None;
            }
        }
        if let Some(raw) = &self.signature {
            next.signature = parse_signature(raw)?;
            check_secret_fits(&next.secrets.current, &next.signature)?;
        }
        if let Some(raw) = &self.body {
            next.body = BodyFormat::from_json(raw)?;
        }
        if let Some(headers) = self.headers {
            next.headers = CustomHeaders::new(headers)?;
        }
        next.headers.check_not_in(&next.signature.header_names())?;
        if let Some(ms) = self.timeout_ms {
            next.timeout = AttemptTimeout::from_millis(ms)?;
        }
        if let Some(schedule) = &self.retry_schedule {
            next.retry_schedule = schedule.as_ref().map(parse_retry_schedule).transpose()?;
        }
        next.updated_at = now;
        Ok(next)
    }
}

/// A subscription as the API shows it: everything but its secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionView {
    /// Id.
    pub id: SubscriptionId,
    /// Owner.
    pub tenant: TenantId,
    /// Endpoint.
    pub url: TargetUrl,
    /// Patterns.
    pub event_types: Vec<EventTypePattern>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Active flag.
    pub active: bool,
    /// Why hookline disabled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Signature format.
    pub signature: SignatureFormat,
    /// Body format.
    pub body: BodyFormat,
    /// Extra headers.
    pub headers: CustomHeaders,
    /// Per-attempt timeout.
    pub timeout_ms: u32,
    /// Its own schedule, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<RetrySchedule>,
    /// Wait before first attempts, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay_secs: Option<u32>,
    /// The preset it started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Warnings about weak settings (a secret sent in the body).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> Self {
        let mut warnings = Vec::new();
        if s.body.exposes_secret() {
            warnings.push(
                "this body format sends the secret inside every request: anyone who sees one request can forge others; prefer a signature".to_owned(),
            );
        }
        Self {
            id: s.id.clone(),
            tenant: s.tenant.clone(),
            url: s.url.clone(),
            event_types: s.event_types.clone(),
            description: s.description.clone(),
            active: s.active,
            disabled_reason: s.disabled_reason.clone(),
            signature: s.signature.clone(),
            body: s.body.clone(),
            headers: s.headers.clone(),
            timeout_ms: s.timeout.millis(),
            retry_schedule: s.retry_schedule.clone(),
            initial_delay_secs: (s.initial_delay_secs > 0).then_some(s.initial_delay_secs),
            preset: s.preset.clone(),
            warnings,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// The answer to a creation or rotation: the only time a secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionWithSecret {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Its (new) secret.
    pub secret: String,
}

impl Context {
    /// `POST /v1/subscriptions`.
    pub async fn create_subscription(
        &self,
        req: CreateSubscriptionRequest,
    ) -> Result<SubscriptionWithSecret, ApiError> {
        let now = self.clock.now();
        let id = SubscriptionId::generate(now, self.entropy.id_bytes());
        let sub = req.into_subscription(id, now, self.new_secret())?;
        self.settings.guard.accept("url", &sub.url)?;
        let existing = self.subscriptions.tenant_subscriptions(&sub.tenant).await?.len();
        if existing >= MAX_SUBSCRIPTIONS_PER_TENANT {
            return Err(ApiError::Conflict(format!(
                "tenant {} already has {existing} subscriptions, the most allowed ({}); delete one first",
                sub.tenant, MAX_SUBSCRIPTIONS_PER_TENANT
            )));
        }
        self.subscriptions.insert_subscription(&sub).await?;
        info!(subscription_id = %sub.id, tenant = %sub.tenant, "subscription created");
        Ok(SubscriptionWithSecret {
            subscription: SubscriptionView::from(&sub),
            secret: sub.secrets.current.expose().to_owned(),
        })
    }

    /// `GET /v1/subscriptions/{id}`.
    pub async fn get_subscription(&self, id: &SubscriptionId) -> Result<SubscriptionView, ApiError> {
        let sub = self.subscriptions.get_subscription(id).await?.ok_or(ApiError::NotFound("subscription"))?;
        Ok(SubscriptionView::from(&sub))
    }

    /// `GET /v1/subscriptions?tenant=`.
    pub async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<ListResponse<SubscriptionView>, ApiError> {
        let p = self.subscriptions.list_subscriptions(tenant, page).await?;
        Ok(ListResponse {
            data: p.items.iter().map(SubscriptionView::from).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `PATCH /v1/subscriptions/{id}`. Disabling cancels pending deliveries.
    pub async fn update_subscription(
        &self,
        id: &SubscriptionId,
        req: UpdateSubscriptionRequest,
    ) -> Result<SubscriptionView, ApiError> {
        let sub = self.subscriptions.get_subscription(id).await?.ok_or(ApiError::NotFound("subscription"))?;
        let now = self.clock.now();
        let next = req.apply(&sub, now)?;
        self.settings.guard.accept("url", &next.url)?;
        if !self.subscriptions.update_subscription(&next).await? {
            return Err(ApiError::NotFound("subscription"));
        }
        if sub.active && !next.active {
            let n = self.deliveries.cancel_subscription_deliveries(id, now).await?;
            info!(subscription_id = %id, canceled = n, "subscription disabled");
        }
        Ok(SubscriptionView::from(&next))
    }

    /// `DELETE /v1/subscriptions/{id}`: pending deliveries are canceled.
    pub async fn delete_subscription(&self, id: &SubscriptionId) -> Result<(), ApiError> {
        if !self.subscriptions.delete_subscription(id).await? {
            return Err(ApiError::NotFound("subscription"));
        }
        let n = self.deliveries.cancel_subscription_deliveries(id, self.clock.now()).await?;
        info!(subscription_id = %id, canceled = n, "subscription deleted");
        Ok(())
    }

    /// `POST /v1/subscriptions/{id}/rotate-secret`: the old secret keeps
    /// signing beside the new one for `grace` (default: the service's).
    pub async fn rotate_subscription_secret(
        &self,
        id: &SubscriptionId,
        grace: Option<std::time::Duration>,
    ) -> Result<SubscriptionWithSecret, ApiError> {
        let mut sub =
            self.subscriptions.get_subscription(id).await?.ok_or(ApiError::NotFound("subscription"))?;
        let now = self.clock.now();
        let next = self.new_secret();
        sub.secrets.rotate(next.clone(), now, now + span(grace.unwrap_or(self.settings.rotation_grace)));
        sub.updated_at = now;
        if !self.subscriptions.update_subscription(&sub).await? {
            return Err(ApiError::NotFound("subscription"));
        }
        Ok(SubscriptionWithSecret {
            subscription: SubscriptionView::from(&sub),
            secret: next.expose().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::GENERATED_SECRET_BYTES;

    fn create(json: &str) -> Result<Subscription, ValidationError> {
        let req: CreateSubscriptionRequest = serde_json::from_str(json).unwrap();
        let now = Utc::now();
        req.into_subscription(
            SubscriptionId::generate(now, [0; 10]),
            now,
            Secret::generate([1; GENERATED_SECRET_BYTES]),
        )
    }

    #[test]
    fn a_minimal_subscription_gets_the_defaults() {
        let s = create(r#"{"tenant":"acme","url":"https://example.com/h"}"#).unwrap();
        assert!(s.active);
        assert!(s.event_types.is_empty());
        assert_eq!(s.signature, SignatureFormat::standard());
        assert_eq!(s.body, BodyFormat::Standard);
        assert_eq!(s.timeout, AttemptTimeout::default());
        assert_eq!(s.retry_schedule, None);
    }

    #[test]
    fn each_bad_field_is_named_in_its_error() {
        let cases = [
            (r#"{"tenant":"","url":"https://e.com"}"#, "tenant"),
            (r#"{"tenant":"a","url":"ftp://e.com"}"#, "url"),
            (r#"{"tenant":"a","url":"https://e.com","event_types":["a..b"]}"#, "event_types"),
            (r#"{"tenant":"a","url":"https://e.com","timeout_ms":60000}"#, "timeout_ms"),
            (r#"{"tenant":"a","url":"https://e.com","retry_schedule":["5y"]}"#, "retry_schedule"),
            (r#"{"tenant":"a","url":"https://e.com","signature":"md5"}"#, "signature"),
            (r#"{"tenant":"a","url":"https://e.com","headers":{"Host":"x"}}"#, "headers"),
            (r#"{"tenant":"a","url":"https://e.com","headers":{"webhook-id":"x"}}"#, "headers"),
            (r#"{"tenant":"a","url":"https://e.com","secret":"short"}"#, "secret"),
            (r#"{"tenant":"a","url":"https://e.com","secret":"plain-text-secret"}"#, "secret"),
            (r#"{"tenant":"a","url":"https://e.com","body":{"kind":"nope"}}"#, "body"),
        ];
        for (json, field) in cases {
            assert_eq!(create(json).unwrap_err().field(), field, "{json}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = serde_json::from_str::<CreateSubscriptionRequest>(
            r#"{"tenant":"a","url":"https://e.com","colour":"red"}"#,
        );
        assert!(r.is_err());
    }

    #[test]
    fn patch_changes_only_what_it_names_and_null_clears() {
        let s = create(r#"{"tenant":"a","url":"https://e.com","description":"d","retry_schedule":["1s"]}"#)
            .unwrap();
        let patch: UpdateSubscriptionRequest =
            serde_json::from_str(r#"{"description":null,"timeout_ms":2000}"#).unwrap();
        let next = patch.apply(&s, Utc::now()).unwrap();
        assert_eq!(next.description, None);
        assert_eq!(next.timeout.millis(), 2000);
        assert_eq!(next.retry_schedule, s.retry_schedule);
        assert_eq!(next.url, s.url);
        let patch: UpdateSubscriptionRequest = serde_json::from_str(r#"{"retry_schedule":null}"#).unwrap();
        assert_eq!(patch.apply(&s, Utc::now()).unwrap().retry_schedule, None);
        let bad: UpdateSubscriptionRequest =
            serde_json::from_str(r#"{"url":"nope","active":false}"#).unwrap();
        assert!(bad.apply(&s, Utc::now()).is_err());
    }

    #[test]
    fn views_never_carry_secrets() {
        let s = create(r#"{"tenant":"a","url":"https://e.com"}"#).unwrap();
        let json = serde_json::to_string(&SubscriptionView::from(&s)).unwrap();
        let key_part = &s.secrets.current.expose()["whsec_".len()..];
        assert!(!json.contains(key_part), "{json}");
    }
}
