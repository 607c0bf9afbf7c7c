//! The whole request of one attempt: body, signature headers, custom
//! headers, target and timeout, built from the event and the target's
//! settings at the time of the attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};

use serde_json::value::RawValue;

use super::body::{BodyError, BodyFormat, BodyInput};
use crate::signing::{HeaderText, Message, Secret, SignatureFormat, SigningError, sign_headers_into};
use crate::target::{CustomHeaders, TargetUrl};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("hookline/", env!("CARGO_PKG_VERSION"));

/// How requests to one target are made.
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget<'a> {
    /// Where to.
    pub url: &'a TargetUrl,
    /// Signature format.
    pub signature: &'a SignatureFormat,
    /// Body shape.
    pub body: &'a BodyFormat,
    /// Extra headers.
    pub headers: &'a CustomHeaders,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

/// An attempt's request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// Where to.
    pub url: TargetUrl,
    /// Headers in order: content type, user agent, custom, then signature
    /// (what is fixed at build time borrowed, not copied).
    pub headers: Vec<(HeaderText, HeaderText)>,
    /// The body.
    pub body: Vec<u8>,
    /// The attempt's time limit.
    pub timeout: Duration,
}

/// What an attempt delivers: the event's type, creation time and payload.
#[derive(Debug, Clone, Copy)]
pub struct Content<'a> {
    /// The event type (`video.encoded`).
    pub event_type: &'a str,
    /// When the event was accepted.
    pub created_at: DateTime<Utc>,
    /// The payload as published.
    pub payload: &'a RawValue,
}

/// Why an attempt's request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The body format does not fit the payload.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The secret does not fit the signature format.
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// Builds and signs the request delivering `content` as `delivery_id` at
/// `now` with the given secrets (newest first).
pub fn build_request(
    target: &RequestTarget<'_>,
    secrets: &[&Secret],
    delivery_id: &str,
    content: &Content<'_>,
    now: DateTime<Utc>,
) -> Result<OutgoingRequest, BuildError> {
    let newest = secrets.first().ok_or(SigningError::NoSecret)?;
    let body = target.body.render(&BodyInput {
        event_type: content.event_type,
        timestamp: content.created_at,
        payload: content.payload,
        secret: newest.expose(),
    })?;
    let msg =
        Message { id: delivery_id, timestamp: now.timestamp(), event_type: content.event_type, body: &body };
    let mut headers = Vec::with_capacity(2 + target.headers.iter().count() + 4);
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("user-agent".into(), USER_AGENT.into()));
    headers.extend(target.headers.iter().map(|(k, v)| (k.to_owned().into(), v.to_owned().into())));
    sign_headers_into(target.signature, secrets, &msg, &mut headers)?;
    Ok(OutgoingRequest { url: target.url.clone(), headers, body, timeout: target.timeout })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{GENERATED_SECRET_BYTES, HeaderLookup, standard};

    #[test]
    fn a_standard_request_verifies_with_the_standard_verifier() {
        let now = Utc::now();
        let payload = RawValue::from_string(r#"{"video_id":"v_1"}"#.into()).unwrap();
        let content = Content { event_type: "video.encoded", created_at: now, payload: &payload };
        let secret = Secret::generate([4; GENERATED_SECRET_BYTES]);
        let url = TargetUrl::parse("https://example.com/hook").unwrap();
        let headers = CustomHeaders::new([("X-Team".to_owned(), "video".to_owned())].into()).unwrap();
        let target = RequestTarget {
            url: &url,
            signature: &SignatureFormat::standard(),
            body: &BodyFormat::Standard,
            headers: &headers,
            timeout: Duration::from_secs(15),
        };
        let id = "dlv_01kmx7d8y0h2fb3gq6t9n1c4ze";
        let req = build_request(&target, &[&secret], id, &content, now).unwrap();
        assert_eq!(req.headers.header("webhook-id"), Some(id));
        assert_eq!(req.headers.header("x-team"), Some("video"));
        assert_eq!(req.headers.header("content-type"), Some("application/json"));
        standard::verify(&secret, &req.headers, &req.body, now.timestamp()).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["type"], "video.encoded");
        assert_eq!(body["data"]["video_id"], "v_1");
    }
}
