//! Computing signatures: one HMAC-SHA256 over the format's signed content,
//! fed piece by piece so a large body is never copied.

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::format::{Encoding, HeaderText, Part, SignatureFormat, SignedContent};
use super::secret::{KeyEncoding, Secret, SecretError};

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
    let Ok(keyed) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    mac_with(keyed, content, msg)
}

/// The MAC of a message's signed content, from a keyed state.
fn mac_with(mut mac: Hmac<Sha256>, content: &SignedContent, msg: &Message<'_>) -> [u8; 32] {
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
    // One string for every signature: each key's prepared state copied
    // from [`PREPARED`], each MAC encoded straight into the string.
    let separator = format.separator.as_deref().unwrap_or("");
    let mut out =
        String::with_capacity(take.min(secrets.len()) * (format.prefix.len() + separator.len() + 64));
    for (i, secret) in secrets.iter().take(take).enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        // A thread that is exiting has no map left: it prepares the key.
        let keyed = match PREPARED.try_with(|keys| keys.keyed(secret, format.key)) {
            Ok(keyed) => keyed?,
            Err(_) => prepare(secret, format.key)?,
        };
        let mac = mac_with(keyed, &format.signed, msg);
        push_encoded(format, &mac, &mut out);
    }
    Ok(out)
}

/// Keyed HMAC states, prepared once per secret and key encoding: the key
/// decoded and its inner and outer padded blocks hashed — what OpenSSL keeps
/// between messages, and ~100 ns of a 256 B signature. A delivery loads its
/// subscription, secret included, from the store each time, so the states
/// are kept here by the secret's text for the life of the thread (one map
/// per thread: no lock to take): at most [`PREPARED_MAX`] of them, all
/// dropped when that fills (a thread signing for more secrets than that
/// prepares keys as before). The secrets are in this process's memory
/// anyway; nothing here is ever printed.
struct PreparedKeys(std::cell::RefCell<PreparedMaps>);

/// `secret`'s keyed state for `encoding`: the key decoded, its padded
/// blocks hashed.
fn prepare(secret: &Secret, encoding: KeyEncoding) -> Result<Hmac<Sha256>, SecretError> {
    let keyed = secret.with_key(encoding, <Hmac<Sha256> as Mac>::new_from_slice)?;
    // HMAC accepts keys of any length: this cannot fail.
    keyed.map_err(|_| SecretError::NotWhsec)
}

/// One map per key encoding, so a lookup borrows the secret's text.
#[derive(Default)]
struct PreparedMaps {
    whsec: std::collections::HashMap<Box<str>, Hmac<Sha256>, foldhash::quality::RandomState>,
    utf8: std::collections::HashMap<Box<str>, Hmac<Sha256>, foldhash::quality::RandomState>,
}

/// The most keyed states [`PreparedKeys`] holds (~300 B each with the text).
const PREPARED_MAX: usize = 4096;

thread_local! {
    /// Each thread's own: no lock on the signing path, and no contention
    /// between the runtime's workers (each prepares a key once).
    static PREPARED: PreparedKeys = PreparedKeys(std::cell::RefCell::default());
}

impl PreparedKeys {
    /// A copy of `secret`'s keyed state for `encoding`, prepared on first use.
    fn keyed(&self, secret: &Secret, encoding: KeyEncoding) -> Result<Hmac<Sha256>, SecretError> {
        let text = secret.expose();
        let mut maps = self.0.borrow_mut();
        let map = match encoding {
            KeyEncoding::WhsecBase64 => &mut maps.whsec,
            KeyEncoding::Utf8 => &mut maps.utf8,
        };
        if let Some(keyed) = map.get(text) {
            return Ok(keyed.clone());
        }
        let keyed = prepare(secret, encoding)?;
        if map.len() >= PREPARED_MAX {
            map.clear();
        }
        map.insert(text.into(), keyed.clone());
        Ok(keyed)
    }

    /// How many keyed states are held, over both encodings.
    #[cfg(test)]
    fn len(&self) -> usize {
        let maps = self.0.borrow();
        maps.whsec.len() + maps.utf8.len()
    }
}

/// Every header the format sets for a message, as (lowercase name, value):
/// signature, then timestamp, delivery id and event type where configured.
pub fn sign_headers(
    format: &SignatureFormat,
    secrets: &[&Secret],
    msg: &Message<'_>,
) -> Result<Vec<(String, String)>, SigningError> {
    let mut headers = Vec::with_capacity(4);
    sign_headers_into(format, secrets, msg, &mut headers)?;
    Ok(headers.into_iter().map(|(name, value)| (name.into_owned(), value.into_owned())).collect())
}

/// [`sign_headers`], appended to a request's own header list (no list of
/// their own; a preset's header names are borrowed, not copied); on an
/// error nothing is appended.
pub fn sign_headers_into(
    format: &SignatureFormat,
    secrets: &[&Secret],
    msg: &Message<'_>,
    headers: &mut Vec<(HeaderText, HeaderText)>,
) -> Result<(), SigningError> {
    headers.push((format.signature_header.clone(), signature_value(format, secrets, msg)?.into()));
    if let Some(name) = &format.timestamp_header {
        headers.push((name.clone(), itoa::Buffer::new().format(msg.timestamp).to_owned().into()));
    }
    if let Some(name) = &format.id_header {
        headers.push((name.clone(), msg.id.to_owned().into()));
    }
    if let Some(name) = &format.event_type_header {
        headers.push((name.clone(), msg.event_type.to_owned().into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{GENERATED_SECRET_BYTES, SignatureFormat};

    fn msg(body: &[u8]) -> Message<'_> {
        Message { id: "dlv_1", timestamp: 1_700_000_000, event_type: "order.paid", body }
    }

    #[test]
    fn a_prepared_key_signs_exactly_as_the_key_itself_every_time() {
        let format = SignatureFormat::standard();
        let whsec = Secret::generate([3; GENERATED_SECRET_BYTES]);
        let text = Secret::parse("a-customer-chosen-secret").unwrap();
        // One secret's text under both encodings: two different keys.
        for (secret, encoding) in
            [(&whsec, KeyEncoding::WhsecBase64), (&whsec, KeyEncoding::Utf8), (&text, KeyEncoding::Utf8)]
        {
            let key = secret.key(encoding).unwrap();
            let format = SignatureFormat { key: encoding, ..format.clone() };
            let fresh = encode(&format, &mac(&key, &format.signed, &msg(b"{}")));
            // First use prepares the key, the second finds it prepared.
            for _ in 0..2 {
                assert_eq!(signature_value(&format, &[secret], &msg(b"{}")).unwrap(), fresh);
            }
            let other = encode(&format, &mac(&key, &format.signed, &msg(b"{\"a\":1}")));
            assert_eq!(signature_value(&format, &[secret], &msg(b"{\"a\":1}")).unwrap(), other);
        }
    }

    #[test]
    fn a_secret_that_does_not_suit_the_format_is_refused_and_not_kept() {
        let keys = PreparedKeys(std::cell::RefCell::default());
        let not_whsec = Secret::parse("plain-text-secret").unwrap();
        assert_eq!(keys.keyed(&not_whsec, KeyEncoding::WhsecBase64).err(), Some(SecretError::NotWhsec));
        assert_eq!(keys.len(), 0);
    }

    #[test]
    fn prepared_keys_are_bounded() {
        let keys = PreparedKeys(std::cell::RefCell::default());
        for i in 0..PREPARED_MAX + 10 {
            let secret = Secret::parse(&format!("secret-number-{i}")).unwrap();
            keys.keyed(&secret, KeyEncoding::Utf8).unwrap();
            assert!(keys.len() <= PREPARED_MAX);
        }
        assert!(keys.len() >= 10, "emptied when full, then filled again");
    }
}
