//! The exact request an attempt sent, for "what did you send me?".
//!
//! An attempt stores only its signature header's value (tens of bytes; the
//! request itself would cost a write unit per attempt on DynamoDB). The rest
//! is a pure function of the delivery id, the attempt's time, the event and
//! the target's settings, so it is rebuilt — and the stored signature is then
//! checked against the rebuilt request with every secret the target holds.
//! When it verifies, the request shown is byte for byte the one that was
//! signed; when it does not (the endpoint's settings or secrets changed
//! since, or the attempt predates stored signatures), the page says so.

use serde::Serialize;

use super::ApiError;
use crate::auth::Caller;
use crate::context::Context;
use crate::model::DeliveryId;
use crate::signing::{Secret, verify};
use crate::wire::{Content, RequestTarget, build_request};

/// What a custom header's value is shown as: those values are write-only
/// (they often carry the receiver's own credentials).
pub const HIDDEN_HEADER: &str = "(set on the endpoint; not shown)";

/// What a secret carried in a body is shown as.
pub const HIDDEN_SECRET: &str = "(the signing secret; not shown)";

/// `GET /v1/deliveries/{id}/attempts/{n}/request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentRequest {
    /// Always `POST`.
    pub method: &'static str,
    /// Where it went.
    pub url: String,
    /// Headers in the order sent, as `[name, value]`.
    pub headers: Vec<(String, String)>,
    /// The body (UTF-8; a secret in it is hidden).
    pub body: String,
    /// Whether the signature that was sent verifies over these headers and
    /// this body: `true` means this is exactly the request that was signed.
    pub verified: bool,
}

impl Context {
    /// Attempt `number` of delivery `id` as it was sent (see the module).
    pub async fn sent_request(
        &self,
        caller: &Caller,
        id: &DeliveryId,
        number: u32,
    ) -> Result<SentRequest, ApiError> {
        let d = self.deliveries.get_delivery(id).await?.ok_or(ApiError::NotFound("delivery"))?;
        caller.check(&d.tenant, "delivery")?;
        let attempts = self.deliveries.attempts(id).await?;
        let attempt = attempts.iter().find(|a| a.number == number).ok_or(ApiError::NotFound("attempt"))?;
        let gone = || {
            ApiError::Conflict(
                "the request can no longer be rebuilt: its event expired or its endpoint is gone".into(),
            )
        };
        let event = self.events.get_event(&d.event_id).await?.ok_or_else(gone)?;
        let target = self.target(&d).await?.ok_or_else(gone)?;
        let format = &target.settings.signature;
        let settings = RequestTarget {
            url: &target.url,
            signature: format,
            body: &target.settings.body,
            headers: &target.settings.headers,
            timeout: target.settings.timeout.duration(),
        };
        let content = Content {
            event_type: event.event_type.as_str(),
            created_at: event.created_at,
            payload: &event.payload,
        };
        let secrets = target.secrets.signing_at(attempt.started_at);
        let mut request = build_request(&settings, &secrets, id.as_str(), &content, attempt.started_at)
            .map_err(|e| ApiError::Conflict(format!("nothing was sent: {e}")))?;
        let known: Vec<&Secret> = target.secrets.all().collect();
        let verified = match &attempt.signature {
            Some(sent) => {
                for (name, value) in &mut request.headers {
                    if name.eq_ignore_ascii_case(&format.signature_header) {
                        *value = sent.clone().into();
                    }
                }
                let at = attempt.started_at.timestamp();
                known.iter().any(|s| verify(format, s, &request.headers, &request.body, at, 1).is_ok())
            }
            None => false,
        };
        for (name, value) in &mut request.headers {
            if target.settings.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                *value = HIDDEN_HEADER.into();
            }
        }
        let mut body = String::from_utf8_lossy(&request.body).into_owned();
        if target.settings.body.exposes_secret() {
            body = target.secrets.hide_in(body, HIDDEN_SECRET);
        }
        let headers = request
            .headers
            .into_iter()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Ok(SentRequest { method: "POST", url: attempt.url.clone(), headers, body, verified })
    }
}
