//! Checking signatures as a receiver does: required headers present, the
//! timestamp fresh, and one of the signatures equal — compared in constant
//! time — to the one the secret produces. Every rejection says why.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use subtle::ConstantTimeEq;

use super::format::{Encoding, HeaderText, Part, SignatureFormat};
use super::secret::{Secret, SecretError};
use super::sign::{Message, mac};

/// Default tolerance between a signature's timestamp and the receiver's
/// clock, in either direction (the Standard Webhooks libraries use 5 min).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Case-insensitive access to a request's headers.
pub trait HeaderLookup {
    /// The value of the header named `name` (any case), if present.
    fn header(&self, name: &str) -> Option<&str>;
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl HeaderLookup for HashMap<String, String> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl HeaderLookup for BTreeMap<String, String> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the format needs is absent.
    #[error("missing header {0}")]
    MissingHeader(String),
    /// The timestamp header is not unix seconds.
    #[error("the timestamp header is not a unix time in seconds")]
    InvalidTimestamp,
    /// The timestamp is older than the tolerance.
    #[error("the timestamp is too old ({age_secs} s)")]
    TooOld {
        /// How old, in seconds.
        age_secs: i64,
    },
    /// The timestamp is further in the future than the tolerance.
    #[error("the timestamp is in the future ({ahead_secs} s ahead)")]
    TooNew {
        /// How far ahead, in seconds.
        ahead_secs: i64,
    },
    /// The signature header holds nothing in the format's shape.
    #[error("the signature header holds no signature in the expected format")]
    MalformedSignature,
    /// No signature matches.
    #[error("no signature matches")]
    NoMatch,
    /// The secret does not suit the format.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Verifies a request signed in `format` with `secret`, at receiver time
/// `now` (unix seconds), allowing `tolerance_secs` of clock difference.
pub fn verify(
    format: &SignatureFormat,
    secret: &Secret,
    headers: &(impl HeaderLookup + ?Sized),
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let required = |name: &Option<HeaderText>, needed: bool| -> Result<&str, VerifyError> {
        match name {
            Some(n) => headers.header(n).ok_or_else(|| VerifyError::MissingHeader(n.to_string())),
            None if needed => Err(VerifyError::MissingHeader("(not configured)".into())),
            None => Ok(""),
        }
    };
    let parts = format.signed.parts();
    let signs = |p: Part| parts.contains(&p);

    let timestamp = match &format.timestamp_header {
        Some(_) => {
            let raw = required(&format.timestamp_header, true)?;
            let ts = parse_unix(raw).ok_or(VerifyError::InvalidTimestamp)?;
            if now - ts > tolerance_secs {
                return Err(VerifyError::TooOld { age_secs: now - ts });
            }
            if ts - now > tolerance_secs {
                return Err(VerifyError::TooNew { ahead_secs: ts - now });
            }
            ts
        }
        None => 0,
    };
    let id = required(&format.id_header, signs(Part::Id))?;
    let event_type = required(&format.event_type_header, signs(Part::EventType))?;
    let header = headers
        .header(&format.signature_header)
        .ok_or_else(|| VerifyError::MissingHeader(format.signature_header.to_string()))?;

    let key = secret.key(format.key)?;
    let expected = mac(&key, &format.signed, &Message { id, timestamp, event_type, body });

    let candidates: Vec<&str> = match &format.separator {
        Some(sep) => header.split(sep.as_str()).collect(),
        None => vec![header],
    };
    let mut well_formed = false;
    for candidate in candidates {
        let Some(encoded) = candidate.trim().strip_prefix(format.prefix.as_str()) else {
            continue;
        };
        let decoded = match format.encoding {
            Encoding::Base64 => B64.decode(encoded).ok(),
            Encoding::Hex => hex::decode(encoded).ok(),
        };
        let Some(decoded) = decoded else { continue };
        well_formed = true;
        if decoded.len() == expected.len() && bool::from(decoded.ct_eq(&expected)) {
            return Ok(());
        }
    }
    Err(if well_formed { VerifyError::NoMatch } else { VerifyError::MalformedSignature })
}

/// Parses unix seconds: ASCII digits only, with an optional leading `-`.
fn parse_unix(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
