//! The request body: the Standard Webhooks envelope by default, the payload
//! as published, or a JSON object of named fields (the shapes the seed
//! providers send). The payload's bytes are copied, never re-serialized, so
//! what the platform published is what the receiver gets.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::validation::ValidationError;

/// How a time is written in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// RFC 3339 UTC with seconds, e.g. `2026-02-28T10:35:42Z`.
    #[default]
    Rfc3339,
    /// RFC 3339 UTC with microseconds, e.g. `2026-02-28T10:35:42.000010Z`.
    Rfc3339Micros,
    /// Unix seconds as a JSON number.
    Unix,
    /// ISO 8601 with microseconds and a `+0000` offset, e.g.
    /// `2024-10-10T10:10:10.000010+0000` (HeapStream's example).
    Iso8601MicrosOffset,
}

/// The shape of the body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BodyFormat {
    /// `{"type": …, "timestamp": …, "data": <payload>}`.
    #[default]
    Standard,
    /// The payload exactly as published.
    Raw,
    // (Unit variants: serde ignores unknown fields beside a unit variant's
    // tag; `BodyFormat::from_json` refuses them.)
    /// A JSON object: the event type, the time and (only if asked) the
    /// secret under the given names, and the payload under `data_field`, or,
    /// without one, the payload's own fields merged in (the payload must
    /// then be an object; a field it shares with hookline's is dropped).
    Object {
        /// Name of the event type field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        type_field: Option<String>,
        /// Name of the time field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_field: Option<String>,
        /// How the time is written.
        #[serde(default)]
        timestamp_format: TimestampFormat,
        /// Name of the field holding the payload; none merges it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_field: Option<String>,
        /// Name of a field carrying the signing secret itself. Weaker than
        /// a signature: anyone who sees one request learns the secret.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_field: Option<String>,
    },
}

/// What a body is built from.
#[derive(Debug, Clone, Copy)]
pub struct BodyInput<'a> {
    /// The event type.
    pub event_type: &'a str,
    /// The time to write (the event's creation time).
    pub timestamp: DateTime<Utc>,
    /// The published payload.
    pub payload: &'a RawValue,
    /// The secret, for formats with a `secret_field`.
    pub secret: &'a str,
}

/// Why a body cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Merging needs an object payload.
    #[error(
        "this subscription's body format merges the payload's fields, so the payload must be a JSON object"
    )]
    PayloadNotObject,
}

impl BodyFormat {
    /// Parses a client's body format, refusing unknown fields everywhere
    /// (serde alone would let `{"kind":"raw","extra":1}` through).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, ValidationError> {
        let format: Self = serde_json::from_value(value.clone())
            .map_err(|e| ValidationError::invalid("body", e.to_string()))?;
        if let (Self::Standard | Self::Raw, Some(obj)) = (&format, value.as_object())
            && let Some(extra) = obj.keys().find(|k| *k != "kind")
        {
            return Err(ValidationError::invalid("body", format!("unknown field {extra}")));
        }
        format.validate()
    }

    /// Checks a format given by a client: field names are short, distinct
    /// and non-empty.
    pub fn validate(self) -> Result<Self, ValidationError> {
        if let Self::Object { type_field, timestamp_field, data_field, secret_field, .. } = &self {
            let names: Vec<&String> =
                [type_field, timestamp_field, data_field, secret_field].into_iter().flatten().collect();
            if names.iter().any(|n| n.is_empty() || n.len() > 64) {
                return Err(ValidationError::invalid("body", "field names must be 1 to 64 characters"));
            }
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != names.len() {
                return Err(ValidationError::invalid("body", "field names must be distinct"));
            }
        }
        Ok(self)
    }

    /// Whether requests in this format carry the secret in the body.
    pub fn exposes_secret(&self) -> bool {
        matches!(self, Self::Object { secret_field: Some(_), .. })
    }

    /// Builds the body bytes.
    pub fn render(&self, input: &BodyInput<'_>) -> Result<Vec<u8>, BodyError> {
        let payload = input.payload.get();
        let mut out = String::with_capacity(payload.len() + 128);
        match self {
            Self::Raw => out.push_str(payload),
            Self::Standard => {
                out.push_str("{\"type\":");
                push_json_str(&mut out, input.event_type);
                out.push_str(",\"timestamp\":");
                push_time(&mut out, input.timestamp, TimestampFormat::Rfc3339Micros);
                out.push_str(",\"data\":");
                out.push_str(payload);
                out.push('}');
            }
            Self::Object { type_field, timestamp_field, timestamp_format, data_field, secret_field } => {
                out.push('{');
                let mut first = true;
                let mut field = |out: &mut String, name: &str| {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    push_json_str(out, name);
                    out.push(':');
                };
                if let Some(name) = type_field {
                    field(&mut out, name);
                    push_json_str(&mut out, input.event_type);
                }
                if let Some(name) = timestamp_field {
                    field(&mut out, name);
                    push_time(&mut out, input.timestamp, *timestamp_format);
                }
                if let Some(name) = secret_field {
                    field(&mut out, name);
                    push_json_str(&mut out, input.secret);
                }
                match data_field {
                    Some(name) => {
                        field(&mut out, name);
                        out.push_str(payload);
                    }
                    None => {
                        let ours = [type_field, timestamp_field, secret_field];
                        let entries: OrderedObject<'_> =
                            serde_json::from_str(payload).map_err(|_| BodyError::PayloadNotObject)?;
                        for (key, value) in entries.0 {
                            if ours.iter().any(|f| f.as_deref() == Some(key.as_str())) {
                                continue;
                            }
                            field(&mut out, &key);
                            out.push_str(value.get());
                        }
                    }
                }
                out.push('}');
            }
        }
        Ok(out.into_bytes())
    }
}

fn push_json_str(out: &mut String, s: &str) {
    // Serializing a &str to JSON cannot fail.
    if let Ok(quoted) = serde_json::to_string(s) {
        out.push_str(&quoted);
    }
}

fn push_time(out: &mut String, t: DateTime<Utc>, format: TimestampFormat) {
    match format {
        TimestampFormat::Rfc3339 => push_json_str(out, &t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        TimestampFormat::Rfc3339Micros => {
            push_json_str(out, &t.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
        TimestampFormat::Unix => {
            let _ = write!(out, "{}", t.timestamp());
        }
        TimestampFormat::Iso8601MicrosOffset => {
            push_json_str(out, &t.format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string());
        }
    }
}

/// A JSON object's entries in their original order, values left raw.
struct OrderedObject<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for OrderedObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = OrderedObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push((k, v));
                }
                Ok(OrderedObject(entries))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn render(format: &BodyFormat, payload: &str) -> Result<String, BodyError> {
        let payload = RawValue::from_string(payload.to_owned()).unwrap();
        let input = BodyInput {
            event_type: "job.completed",
            timestamp: Utc.with_ymd_and_hms(2026, 2, 28, 10, 35, 42).unwrap(),
            payload: &payload,
            secret: "your_secret_key",
        };
        format.render(&input).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn the_standard_envelope_wraps_the_payload_bytes_unchanged() {
        let body = render(&BodyFormat::Standard, r#"{"b": 1,  "a": [2]}"#).unwrap();
        assert_eq!(
            body,
            r#"{"type":"job.completed","timestamp":"2026-02-28T10:35:42.000000Z","data":{"b": 1,  "a": [2]}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["a"][0], 2);
    }

    #[test]
    fn raw_bodies_are_the_payload_itself() {
        assert_eq!(render(&BodyFormat::Raw, r#"{"jobId":"abc123"}"#).unwrap(), r#"{"jobId":"abc123"}"#);
        assert_eq!(render(&BodyFormat::Raw, "[1,2]").unwrap(), "[1,2]");
    }

    #[test]
    fn object_bodies_nest_the_payload_under_a_field() {
        let f = BodyFormat::Object {
            type_field: Some("event".into()),
            timestamp_field: Some("timestamp".into()),
            timestamp_format: TimestampFormat::Rfc3339,
            data_field: Some("job".into()),
            secret_field: None,
        };
        assert_eq!(
            render(&f, r#"{"id":"job_1"}"#).unwrap(),
            r#"{"event":"job.completed","timestamp":"2026-02-28T10:35:42Z","job":{"id":"job_1"}}"#
        );
    }

    #[test]
    fn object_bodies_merge_payload_fields_in_order_and_ours_win() {
        let f = BodyFormat::Object {
            type_field: Some("event".into()),
            timestamp_field: Some("timestamp".into()),
            timestamp_format: TimestampFormat::Unix,
            data_field: None,
            secret_field: Some("secret".into()),
        };
        let body = render(&f, r#"{"response":{"x":1},"event":"spoofed","api":false}"#).unwrap();
        assert_eq!(
            body,
            r#"{"event":"job.completed","timestamp":1772274942,"secret":"your_secret_key","response":{"x":1},"api":false}"#
        );
        assert!(f.exposes_secret());
        assert_eq!(render(&f, "[1]"), Err(BodyError::PayloadNotObject));
        assert_eq!(
            render(&f, "{}").unwrap(),
            r#"{"event":"job.completed","timestamp":1772274942,"secret":"your_secret_key"}"#
        );
    }

    #[test]
    fn client_formats_are_checked() {
        let parse = |s: &str| BodyFormat::from_json(&serde_json::from_str(s).unwrap());
        assert!(parse(r#"{"kind":"object","type_field":"e","data_field":"e"}"#).is_err());
        assert!(parse(r#"{"kind":"object","type_field":""}"#).is_err());
        assert!(parse(r#"{"kind":"object","type_fields":"e"}"#).is_err());
        assert!(parse(r#"{"kind":"xml"}"#).is_err());
        assert!(parse(r#"{"kind":"raw","extra":1}"#).is_err());
        assert_eq!(parse(r#"{"kind":"raw"}"#), Ok(BodyFormat::Raw));
    }
}
