//! Signing secrets: `whsec_<base64>` as Standard Webhooks has them, or a
//! provider's free-form text secret for formats that sign with raw bytes.
//! A secret never prints itself: `Debug` and `Display` are redacted.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

/// The Standard Webhooks secret prefix.
pub const WHSEC_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret (192 bits, as Svix generates).
pub const GENERATED_SECRET_BYTES: usize = 24;
const MIN_TEXT_SECRET_LEN: usize = 8;
const MAX_SECRET_LEN: usize = 256;

/// How a format turns a secret into HMAC key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyEncoding {
    /// Standard Webhooks: strip `whsec_`, base64-decode the rest.
    WhsecBase64,
    /// The secret's text, as UTF-8 bytes, `whsec_` included (what
    /// Transcodely's published receiver code does).
    Utf8,
}

/// A signing secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// Why a secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The format needs `whsec_<base64>` and the secret is not that.
    #[error("the secret is not a whsec_ secret with a base64 key")]
    NotWhsec,
}

impl Secret {
    /// A new `whsec_` secret from cryptographically random bytes.
    pub fn generate(random: [u8; GENERATED_SECRET_BYTES]) -> Self {
        Self(format!("{WHSEC_PREFIX}{}", B64.encode(random)))
    }

    /// Checks a secret given by a client (when migrating from a provider
    /// whose customers already hold their secret): 8–256 printable ASCII
    /// characters. Whether it suits a format (a `whsec_` key must decode) is
    /// checked against the format, by [`Secret::key`].
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "secret";
        if s.len() < MIN_TEXT_SECRET_LEN || s.len() > MAX_SECRET_LEN {
            return Err(ValidationError::invalid(
                FIELD,
                format!("must be {MIN_TEXT_SECRET_LEN} to {MAX_SECRET_LEN} characters"),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::invalid(FIELD, "must be printable ASCII without spaces"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The HMAC key bytes for a format's key encoding.
    pub fn key(&self, encoding: KeyEncoding) -> Result<Vec<u8>, SecretError> {
        match encoding {
            KeyEncoding::Utf8 => Ok(self.0.as_bytes().to_vec()),
            KeyEncoding::WhsecBase64 => {
                let b64 = self.0.strip_prefix(WHSEC_PREFIX).ok_or(SecretError::NotWhsec)?;
                match B64.decode(b64) {
                    Ok(key) if !key.is_empty() => Ok(key),
                    _ => Err(SecretError::NotWhsec),
                }
            }
        }
    }

    /// Calls `f` with the HMAC key bytes for a format's key encoding,
    /// decoded on the stack (no allocation for keys up to 96 bytes): what
    /// signing a request uses, where [`Secret::key`] would allocate.
    pub fn with_key<R>(&self, encoding: KeyEncoding, f: impl FnOnce(&[u8]) -> R) -> Result<R, SecretError> {
        match encoding {
            KeyEncoding::Utf8 => Ok(f(self.0.as_bytes())),
            KeyEncoding::WhsecBase64 => {
                let b64 = self.0.strip_prefix(WHSEC_PREFIX).ok_or(SecretError::NotWhsec)?;
                let mut buf = [0u8; 96];
                match B64.decode_slice(b64, &mut buf) {
                    Ok(0) => Err(SecretError::NotWhsec),
                    Ok(n) => Ok(f(&buf[..n])),
                    // Longer than the buffer: the general path.
                    Err(base64::DecodeSliceError::OutputSliceTooSmall) => self.key(encoding).map(|k| f(&k)),
                    Err(_) => Err(SecretError::NotWhsec),
                }
            }
        }
    }

    /// The secret's text: only for the one response that hands it out, and
    /// for formats that put it in the body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret kept signing beside its replacement until a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    /// The old secret.
    pub secret: Secret,
    /// When it stops signing.
    pub until: DateTime<Utc>,
}

/// A subscription's or tenant's secrets: the current one, and the ones it
/// replaced that still sign during their grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSet {
    /// The newest secret; always signs.
    pub current: Secret,
    /// Older secrets still in their grace period (expired ones are ignored
    /// and dropped at the next rotation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retiring: Vec<RetiringSecret>,
}

impl SecretSet {
    /// A set holding one secret.
    pub fn new(current: Secret) -> Self {
        Self { current, retiring: Vec::new() }
    }

    /// The secrets that sign at `now`, newest first.
    pub fn signing_at(&self, now: DateTime<Utc>) -> Vec<&Secret> {
        std::iter::once(&self.current)
            .chain(self.retiring.iter().filter(|r| r.until > now).map(|r| &r.secret))
            .collect()
    }

    /// Every secret the set holds, expired or not, newest first.
    pub fn all(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.retiring.iter().map(|r| &r.secret))
    }

    /// `text` with every occurrence of a secret the set holds replaced by
    /// `shown`: what a receiver echoed back, or a rebuilt body, can then be
    /// shown without the secret.
    pub fn hide_in(&self, text: String, shown: &str) -> String {
        self.all().fold(text, |t, s| if t.contains(s.expose()) { t.replace(s.expose(), shown) } else { t })
    }

    /// Makes `next` current; the old current keeps signing until `until`.
    pub fn rotate(&mut self, next: Secret, now: DateTime<Utc>, until: DateTime<Utc>) {
        let old = std::mem::replace(&mut self.current, next);
        self.retiring.retain(|r| r.until > now);
        if until > now {
            self.retiring.insert(0, RetiringSecret { secret: old, until });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn generated_secrets_are_whsec_and_decode_to_their_bytes() {
        let s = Secret::generate([9; GENERATED_SECRET_BYTES]);
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(s.key(KeyEncoding::WhsecBase64).unwrap(), vec![9; GENERATED_SECRET_BYTES]);
        assert_eq!(Secret::parse(s.expose()).unwrap(), s);
    }

    #[test]
    fn secrets_never_print_themselves() {
        let s = Secret::generate([1; GENERATED_SECRET_BYTES]);
        assert!(!format!("{s:?} {s}").contains(&s.expose()[6..]));
    }

    #[test]
    fn utf8_keys_use_the_whole_text() {
        // Transcodely's documented example secret: not base64, but a valid
        // text key for a format that signs with the secret's bytes.
        let s = Secret::parse("whsec_your_signing_secret").unwrap();
        assert_eq!(s.key(KeyEncoding::WhsecBase64), Err(SecretError::NotWhsec));
        assert_eq!(s.key(KeyEncoding::Utf8).unwrap(), b"whsec_your_signing_secret");
        let s = Secret::parse("your_secret_key").unwrap();
        assert_eq!(s.key(KeyEncoding::Utf8).unwrap(), b"your_secret_key");
        assert_eq!(s.key(KeyEncoding::WhsecBase64), Err(SecretError::NotWhsec));
    }

    #[test]
    fn bad_client_secrets_are_refused() {
        for bad in ["short", "has space in it", "tab\tinside", "caf\u{e9}-secret"] {
            assert!(Secret::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rotation_keeps_the_old_secret_signing_for_the_grace_period_only() {
        let now = chrono::Utc::now();
        let a = Secret::generate([1; GENERATED_SECRET_BYTES]);
        let b = Secret::generate([2; GENERATED_SECRET_BYTES]);
        let mut set = SecretSet::new(a.clone());
        set.rotate(b.clone(), now, now + Duration::hours(24));
        assert_eq!(set.signing_at(now), vec![&b, &a]);
        assert_eq!(set.signing_at(now + Duration::hours(25)), vec![&b]);
        // A rotation with no grace drops the old secret at once.
        let c = Secret::generate([3; GENERATED_SECRET_BYTES]);
        set.rotate(c.clone(), now + Duration::hours(25), now + Duration::hours(25));
        assert_eq!(set.signing_at(now + Duration::hours(25)), vec![&c]);
        assert!(set.retiring.is_empty());
    }
}
