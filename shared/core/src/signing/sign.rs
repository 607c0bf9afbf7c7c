//! Computing signatures: one HMAC-SHA256 over the format's signed content,
//! fed piece by piece so a large body is never copied.

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::format::{Encoding, Part, SignatureFormat, SignedContent};
use super::secret::{Secret, SecretError};

/// What a signature covers besides the secret.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The delivery id (`webhook-id`).
    pub id: &'a str,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    /// The event type.
    pub event_type: &'a str,
    /// The exact body bytes sent.
    pub body: &'a [u8],
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The secret does not suit the format's key encoding.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// There is no secret to sign with.
    #[error("no signing secret")]
    NoSecret,
}

/// The raw HMAC-SHA256 of a message's signed content under `key`.
pub fn mac(key: &[u8], content: &SignedContent, msg: &Message<'_>) -> [u8; 32] {
    // HMAC accepts keys of any length; this cannot fail, but stays total.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    let mut digits = itoa::Buffer::new();
    let ts = digits.format(msg.timestamp).as_bytes();
    for part in content.parts() {
        match part {
            Part::Literal(s) => mac.update(s.as_bytes()),
            Part::Id => mac.update(msg.id.as_bytes()),
            Part::Timestamp => mac.update(ts),
            Part::EventType => mac.update(msg.event_type.as_bytes()),
            Part::Body => mac.update(msg.body),
        }
    }
    mac.finalize().into_bytes().into()
}

/// Encodes MAC bytes as the format writes them, prefix included.
pub fn encode(format: &SignatureFormat, mac: &[u8]) -> String {
    let mut out = String::with_capacity(format.prefix.len() + 64);
    push_encoded(format, mac, &mut out);
    out
}

/// Appends MAC bytes to `out` as the format writes them, prefix included.
fn push_encoded(format: &SignatureFormat, mac: &[u8], out: &mut String) {
    out.push_str(&format.prefix);
    match format.encoding {
        Encoding::Base64 => B64.encode_string(mac, out),
        Encoding::Hex => {
            for b in mac {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

/// The signature header's value: one signature per signing secret (newest
/// first) joined by the format's separator, or only the newest secret's
/// when the format has no separator.
pub fn signature_value(
    format: &SignatureFormat,
    secrets: &[&Secret],
    msg: &Message<'_>,
) -> Result<String, SigningError> {
    let take = if format.separator.is_some() { secrets.len() } else { 1 };
    if secrets.is_empty() {
        return Err(SigningError::NoSecret);
    }
    // One string for every signature: the key decoded on the stack, the
    // MAC encoded straight into it.
    let separator = format.separator.as_deref().unwrap_or("");
    let mut out =
        String::with_capacity(take.min(secrets.len()) * (format.prefix.len() + separator.len() + 64));
    for (i, secret) in secrets.iter().take(take).enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        let mac = secret.with_key(format.key, |key| mac(key, &format.signed, msg))?;
        push_encoded(format, &mac, &mut out);
    }
    Ok(out)
}

/// Every header the format sets for a message, as (lowercase name, value):
/// signature, then timestamp, delivery id and event type where configured.
pub fn sign_headers(
    format: &SignatureFormat,
    secrets: &[&Secret],
    msg: &Message<'_>,
) -> Result<Vec<(String, String)>, SigningError> {
    let mut headers = Vec::with_capacity(4);
    headers.push((format.signature_header.clone(), signature_value(format, secrets, msg)?));
    if let Some(name) = &format.timestamp_header {
        headers.push((name.clone(), itoa::Buffer::new().format(msg.timestamp).to_owned()));
    }
    if let Some(name) = &format.id_header {
        headers.push((name.clone(), msg.id.to_owned()));
    }
    if let Some(name) = &format.event_type_header {
        headers.push((name.clone(), msg.event_type.to_owned()));
    }
    Ok(headers)
}
