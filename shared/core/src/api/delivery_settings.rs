//! The delivery fields a subscription and a tenant's one-off profile share
//! — `preset`, `signature`, `body`, `headers`, `timeout_ms`,
//! `retry_schedule`, `initial_delay` — checked once here for both, and shown
//! the same way (custom header values are write-only).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::DeliverySettings;
use crate::policy::{AttemptTimeout, RetrySchedule};
use crate::signing::{Secret, SignatureFormat};
use crate::target::CustomHeaders;
use crate::validation::ValidationError;
use crate::wire::BodyFormat;

/// Longest wait before a first attempt (what the queue can hold back).
pub const MAX_INITIAL_DELAY_SECS: u32 = 900;

/// What reads show instead of a custom header's value.
pub const MASKED: &str = "********";

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

/// Checks that `secret` can key `format`'s signatures.
pub fn check_secret_fits(secret: &Secret, format: &SignatureFormat) -> Result<(), ValidationError> {
    secret.key(format.key).map(|_| ()).map_err(|_| {
        ValidationError::invalid("secret", "this signature format needs a whsec_<base64> secret")
    })
}

/// The delivery fields of a request, as the client sent them. For the
/// schedule and the initial delay, `Some(None)` is an explicit `null`.
#[derive(Debug, Clone, Default)]
pub struct DeliverySettingsInput {
    /// A provider's preset: its signature, body, schedule and timeout.
    pub preset: Option<String>,
    /// `"standard"`, a preset name, or a format object.
    pub signature: Option<serde_json::Value>,
    /// A body format object.
    pub body: Option<serde_json::Value>,
    /// Extra headers (they replace the whole set).
    pub headers: Option<BTreeMap<String, String>>,
    /// Per-attempt timeout, 1000–30000 ms.
    pub timeout_ms: Option<u64>,
    /// Delays such as `["5s", "5m"]`; `null`: the service's.
    pub retry_schedule: Option<Option<serde_json::Value>>,
    /// A wait before the first attempt; `null`: none.
    pub initial_delay: Option<Option<serde_json::Value>>,
}

impl DeliverySettingsInput {
    /// The settings after this input: a preset first resets the signature,
    /// body, schedule and timeout to its own, then each field given
    /// overrides. Nothing changes unless every field is valid.
    pub fn apply(self, current: &DeliverySettings) -> Result<DeliverySettings, ValidationError> {
        let mut next = current.clone();
        if let Some(name) = &self.preset {
            let p = parse_preset(name)?;
            next.signature = p.signature.clone();
            next.body = p.body.clone();
            next.retry_schedule = p.retry_schedule.clone();
            next.timeout = p.timeout();
            next.preset = Some(name.clone());
        }
        if let Some(raw) = &self.signature {
            next.signature = parse_signature(raw)?;
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
        if let Some(delay) = &self.initial_delay {
            next.initial_delay_secs = delay.as_ref().map(parse_initial_delay).transpose()?.unwrap_or(0);
        }
        Ok(next)
    }
}

/// The delivery fields as reads show them: header values masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliverySettingsView {
    /// Signature format.
    pub signature: SignatureFormat,
    /// Body format.
    pub body: BodyFormat,
    /// Extra headers, each value shown as [`MASKED`] (they often carry
    /// credentials, such as `Authorization`).
    pub headers: BTreeMap<String, String>,
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
}

impl From<&DeliverySettings> for DeliverySettingsView {
    fn from(s: &DeliverySettings) -> Self {
        let mut warnings = Vec::new();
        if s.body.exposes_secret() {
            warnings.push(
                "this body format sends the secret inside every request: anyone who sees one request can forge others; prefer a signature".to_owned(),
            );
        }
        Self {
            signature: s.signature.clone(),
            body: s.body.clone(),
            headers: s.headers.iter().map(|(k, _)| (k.to_owned(), MASKED.to_owned())).collect(),
            timeout_ms: s.timeout.millis(),
            retry_schedule: s.retry_schedule.clone(),
            initial_delay_secs: (s.initial_delay_secs > 0).then_some(s.initial_delay_secs),
            preset: s.preset.clone(),
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_resets_the_format_and_fields_beside_it_override() {
        let input = DeliverySettingsInput {
            preset: Some("transcodely".into()),
            timeout_ms: Some(5000),
            ..Default::default()
        };
        let s = input.apply(&DeliverySettings::default()).unwrap();
        let transcodely = crate::presets::get("transcodely").unwrap();
        assert_eq!((&s.signature, &s.body), (&transcodely.signature, &transcodely.body));
        assert_eq!(s.retry_schedule, transcodely.retry_schedule);
        assert_eq!((s.timeout.millis(), s.preset.as_deref()), (5000, Some("transcodely")));
    }

    #[test]
    fn null_clears_the_schedule_and_the_delay_and_absent_keeps_them() {
        let start = DeliverySettingsInput {
            retry_schedule: Some(Some(serde_json::json!(["1s"]))),
            initial_delay: Some(Some(serde_json::json!("30s"))),
            ..Default::default()
        }
        .apply(&DeliverySettings::default())
        .unwrap();
        assert_eq!(start.initial_delay_secs, 30);
        let kept = DeliverySettingsInput::default().apply(&start).unwrap();
        assert_eq!(kept, start);
        let cleared = DeliverySettingsInput {
            retry_schedule: Some(None),
            initial_delay: Some(None),
            ..Default::default()
        }
        .apply(&start)
        .unwrap();
        assert_eq!((cleared.retry_schedule, cleared.initial_delay_secs), (None, 0));
    }

    #[test]
    fn header_values_are_write_only() {
        let s = DeliverySettingsInput {
            headers: Some([("Authorization".to_owned(), "Bearer sk_live_123".to_owned())].into()),
            ..Default::default()
        }
        .apply(&DeliverySettings::default())
        .unwrap();
        let shown = serde_json::to_string(&DeliverySettingsView::from(&s)).unwrap();
        assert!(!shown.contains("sk_live_123"), "{shown}");
        assert!(shown.contains("authorization"), "the names stay visible: {shown}");
    }
}
