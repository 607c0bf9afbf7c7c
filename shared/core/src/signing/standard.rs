//! Standard Webhooks in two calls, the shape its libraries have:
//! `sign(secret, id, timestamp, body)` and `verify(secret, headers, body, now)`.

use super::format::SignatureFormat;
use super::secret::Secret;
use super::sign::{Message, SigningError, signature_value};
use super::verify::{DEFAULT_TOLERANCE_SECS, HeaderLookup, VerifyError, verify as verify_with};

/// The `webhook-signature` value for one secret: `v1,<base64>`.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SigningError> {
    let msg = Message { id, timestamp, event_type: "", body };
    signature_value(&SignatureFormat::standard(), &[secret], &msg)
}

/// Verifies `webhook-id`, `webhook-timestamp` and `webhook-signature` against
/// `secret` at unix time `now`, with the libraries' 5-minute tolerance.
pub fn verify(
    secret: &Secret,
    headers: &(impl HeaderLookup + ?Sized),
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    verify_with(&SignatureFormat::standard(), secret, headers, body, now, DEFAULT_TOLERANCE_SECS)
}
