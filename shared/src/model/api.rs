//! The HTTP API's bodies. Requests arrive with loose types (strings, raw
//! JSON) so each field is checked here, by name, into the model types;
//! responses are views that never carry a secret unless they hand one out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::ValidationError;
use super::ids::{DeliveryId, EventId, SubscriptionId};
use super::names::{EventType, EventTypePattern, TenantId};
use super::records::{Attempt, Delivery, DeliveryTarget, Event, Subscription};
use super::status::DeliveryStatus;
use super::target::{CustomHeaders, TargetUrl};
use crate::policy::{AttemptTimeout, GiveUpReason, RetrySchedule};
use crate::signing::{Secret, SecretSet, SignatureFormat};
use crate::wire::BodyFormat;

/// Longest subscription description.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most event type patterns on one subscription.
pub const MAX_EVENT_TYPES: usize = 64;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

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
        serde_json::Value::String(name) => SignatureFormat::preset(name).ok_or_else(|| {
            ValidationError::invalid(
                "signature",
                format!("unknown preset {name:?}; known: {}", crate::presets::names()),
            )
        }),
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

/// `POST /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishEventRequest {
    /// Owner.
    pub tenant: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON.
    pub payload: Box<RawValue>,
    /// De-duplicates publishing (also from the `Idempotency-Key` header).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Also deliver to this URL, signed with the tenant's secret.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// A checked publish request.
#[derive(Debug)]
pub struct ValidEvent {
    /// Owner.
    pub tenant: TenantId,
    /// Type.
    pub event_type: EventType,
    /// Payload.
    pub payload: Box<RawValue>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// One-off target.
    pub webhook_url: Option<TargetUrl>,
}

impl PublishEventRequest {
    /// Checks every field; `header_key` is the `Idempotency-Key` header,
    /// which must agree with the body's key when both are given.
    pub fn validate(self, header_key: Option<&str>) -> Result<ValidEvent, ValidationError> {
        let tenant = TenantId::parse(&self.tenant)?;
        let event_type = EventType::parse(&self.event_type)?;
        let key = match (self.idempotency_key, header_key) {
            (Some(b), Some(h)) if b != h => {
                return Err(ValidationError::invalid(
                    "idempotency_key",
                    "differs from the Idempotency-Key header",
                ));
            }
            (Some(b), _) => Some(b),
            (None, h) => h.map(str::to_owned),
        };
        if let Some(k) = &key
            && (k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_LEN || !k.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ValidationError::invalid(
                "idempotency_key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"),
            ));
        }
        let webhook_url =
            self.webhook_url.as_deref().map(|u| TargetUrl::parse_field("webhook_url", u)).transpose()?;
        Ok(ValidEvent { tenant, event_type, payload: self.payload, idempotency_key: key, webhook_url })
    }
}

/// One delivery an event created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedDelivery {
    /// Delivery id.
    pub id: DeliveryId,
    /// Its subscription; `null` for the one-off `webhook_url`.
    pub subscription_id: Option<SubscriptionId>,
}

/// The answer to `POST /v1/events` (the same for a repeated key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishEventResponse {
    /// Event id.
    pub id: EventId,
    /// Its deliveries.
    pub deliveries: Vec<CreatedDelivery>,
}

impl PublishEventResponse {
    /// The answer for an event and its deliveries.
    pub fn new(id: EventId, deliveries: &[Delivery]) -> Self {
        let deliveries = deliveries
            .iter()
            .map(|d| CreatedDelivery { id: d.id.clone(), subscription_id: d.subscription_id().cloned() })
            .collect();
        Self { id, deliveries }
    }
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    /// Id.
    pub id: DeliveryId,
    /// Event.
    pub event_id: EventId,
    /// Tenant.
    pub tenant: TenantId,
    /// Event type.
    pub event_type: EventType,
    /// Subscription, if any.
    pub subscription_id: Option<SubscriptionId>,
    /// The one-off URL, for deliveries without a subscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<TargetUrl>,
    /// Status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempt_count: u32,
    /// When the next attempt is expected.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub give_up_reason: Option<GiveUpReason>,
    /// The last response status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Every attempt, on single-delivery reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<Attempt>>,
}

impl DeliveryView {
    /// The view of a delivery, with its attempts if given.
    pub fn new(d: &Delivery, attempts: Option<Vec<Attempt>>) -> Self {
        let url = match &d.target {
            DeliveryTarget::OneOff { url } => Some(url.clone()),
            DeliveryTarget::Subscription { .. } => None,
        };
        Self {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            tenant: d.tenant.clone(),
            event_type: d.event_type.clone(),
            subscription_id: d.subscription_id().cloned(),
            url,
            status: d.status,
            attempt_count: d.attempts,
            next_attempt_at: d.next_attempt_at,
            give_up_reason: d.give_up_reason,
            last_status_code: d.last_status_code,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempts,
        }
    }
}

/// An event as the API shows it, with its deliveries.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Id.
    pub id: EventId,
    /// Tenant.
    pub tenant: TenantId,
    /// Type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Payload as published.
    pub payload: Box<RawValue>,
    /// Idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Deliveries.
    pub deliveries: Vec<DeliveryView>,
}

impl EventView {
    /// The view of an event and its deliveries.
    pub fn new(e: &Event, deliveries: &[Delivery]) -> Self {
        Self {
            id: e.id.clone(),
            tenant: e.tenant.clone(),
            event_type: e.event_type.clone(),
            payload: e.payload.clone(),
            idempotency_key: e.idempotency_key.clone(),
            created_at: e.created_at,
            deliveries: deliveries.iter().map(|d| DeliveryView::new(d, None)).collect(),
        }
    }
}

/// A page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct ListResponse<T> {
    /// The items, newest first.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable, snake_case.
    pub code: String,
    /// For a human.
    pub message: String,
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

    #[test]
    fn publish_requests_take_the_idempotency_key_from_body_or_header() {
        let req = |json: &str| serde_json::from_str::<PublishEventRequest>(json).unwrap();
        let body = r#"{"tenant":"a","type":"video.encoded","payload":{"x":1},"idempotency_key":"k1"}"#;
        assert_eq!(req(body).validate(None).unwrap().idempotency_key.as_deref(), Some("k1"));
        assert!(req(body).validate(Some("k2")).is_err());
        let no_key = r#"{"tenant":"a","type":"video.encoded","payload":[1]}"#;
        assert_eq!(req(no_key).validate(Some("h")).unwrap().idempotency_key.as_deref(), Some("h"));
        assert!(req(no_key).validate(Some("")).is_err());
        let bad_url = r#"{"tenant":"a","type":"t","payload":1,"webhook_url":"nope"}"#;
        assert_eq!(req(bad_url).validate(None).unwrap_err().field(), "webhook_url");
    }
}
