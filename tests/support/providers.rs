//! What each seed provider's page tells its customers to check, as receiver
//! code written here from the page alone (for the providers that publish no
//! code of their own; Transcodely's own code runs from tests/receivers).
//! Each returns a [`Check`] for [`Receiver::start_checking`].

use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::receiver::{Check, Received, verify_standard};

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json(r: &Received) -> Result<serde_json::Value, String> {
    serde_json::from_slice(&r.body).map_err(|e| format!("body is not JSON: {e}"))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Importly: "each webhook includes a signature header you can verify"
/// (secret from the dashboard); payloads carry `jobId`, flat or under
/// `{success, data}`.
pub fn importly(secret: &str) -> Check {
    let secret = secret.to_owned();
    Arc::new(move |r: &Received| {
        let sig = r.header("x-importly-signature").ok_or("no X-Importly-Signature header")?;
        if !same(sig, &hmac_hex(secret.as_bytes(), &r.body)) {
            return Err("signature mismatch".into());
        }
        let body = json(r)?;
        let job = body.get("jobId").or_else(|| body.get("data").and_then(|d| d.get("jobId")));
        job.and_then(|j| j.as_str()).ok_or("no jobId to match with internal tracking")?;
        Ok(())
    })
}

/// Ignite: the event type in X-Webhook-Event, an HMAC-SHA256 signature in
/// X-Webhook-Signature, a delivery id in X-Webhook-Delivery-Id (to skip
/// duplicates), the whole object as body (compare `updatedAt` and `id`).
pub fn ignite(secret: &str) -> Check {
    let secret = secret.to_owned();
    Arc::new(move |r: &Received| {
        r.header("x-webhook-event").filter(|e| !e.is_empty()).ok_or("no X-Webhook-Event header")?;
        r.header("x-webhook-delivery-id")
            .filter(|e| !e.is_empty())
            .ok_or("no X-Webhook-Delivery-Id header")?;
        let sig = r.header("x-webhook-signature").ok_or("no X-Webhook-Signature header")?;
        if !same(sig, &hmac_hex(secret.as_bytes(), &r.body)) {
            return Err("signature mismatch".into());
        }
        let body = json(r)?;
        body.get("id").ok_or("the object has no id")?;
        body.get("updatedAt").ok_or("the object has no updatedAt")?;
        Ok(())
    })
}

/// Targetvideo: "a secret key which is set by yourself and which your
/// script should check before processing" — it arrives in the body.
pub fn targetvideo(secret: &str) -> Check {
    let secret = secret.to_owned();
    Arc::new(move |r: &Received| {
        let body = json(r)?;
        let got = body.get("secret").and_then(|s| s.as_str()).ok_or("no secret in the body")?;
        if !same(got, &secret) {
            return Err("wrong secret".into());
        }
        body.get("event").and_then(|e| e.as_str()).ok_or("no event name")?;
        body.get("timestamp").and_then(|t| t.as_i64()).ok_or("no unix timestamp")?;
        Ok(())
    })
}

/// HeapStream: `{event_type, project_id, timestamp, video}`; duplicates are
/// possible, so a de-duplication key is needed. The page documents no
/// signature; hookline's preset adds Standard Webhooks headers, which this
/// receiver verifies (signature and 5-minute freshness).
pub fn heapstream(secret: &str) -> Check {
    let secret = secret.to_owned();
    Arc::new(move |r: &Received| {
        let body = json(r)?;
        for field in ["event_type", "project_id", "timestamp", "video"] {
            body.get(field).ok_or(format!("no {field}"))?;
        }
        let ts = body["timestamp"].as_str().ok_or("timestamp is not a string")?;
        chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.6f+0000")
            .map_err(|_| format!("timestamp {ts:?} is not like 2024-10-10T10:10:10.000010+0000"))?;
        r.header("webhook-id").ok_or("no de-duplication id")?;
        verify_standard(&secret, r, now())
    })
}
