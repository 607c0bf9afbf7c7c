//! `hookline demo`: a guided tour that needs nothing but the binary. It
//! starts hookline and three receivers on 127.0.0.1, subscribes them
//! through the API, publishes video-platform events, and shows each
//! delivery arriving with its signature verified — one receiver in the
//! Standard Webhooks format, one checking a Transcodely-style signature
//! with Transcodely's documented algorithm, one failing twice before it
//! recovers — then prints a delivery's attempt log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use hookline::auth::ApiKeys;
use hookline::config::Config;
use hookline::signing::{Secret, standard};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

const KEY: &str = "demo-api-key";

/// What a receiver saw.
struct Arrival {
    receiver: &'static str,
    event_type: String,
    delivery_id: String,
    attempt_status: u16,
    verdict: String,
    /// The request as received: the signature headers and the body.
    wire: String,
}

/// How a demo receiver checks requests.
#[derive(Clone, Copy)]
enum Check {
    Standard,
    Transcodely,
}

struct ReceiverState {
    name: &'static str,
    check: Check,
    secret: Mutex<Option<String>>,
    fail_first: Mutex<u32>,
    arrivals: mpsc::UnboundedSender<Arrival>,
}

/// Transcodely's published verification, transcribed: HMAC-SHA256 with the
/// secret's UTF-8 bytes over "{timestamp}.{body}", hex, prefixed sha256=,
/// compared in constant time; timestamps older than 5 minutes refused.
fn transcodely_verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).ok_or(format!("missing {n}"));
    let signature = get("x-transcodely-signature")?;
    let timestamp = get("x-transcodely-timestamp")?;
    let ts: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return Err("stale timestamp".into());
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let same = expected.len() == signature.len()
        && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same { Ok(()) } else { Err("signature mismatch".into()) }
}

async fn receive(State(st): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = st.secret.lock().map(|s| s.clone()).unwrap_or_default().unwrap_or_default();
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (verdict, delivery_id, event_type) = match st.check {
        Check::Standard => {
            let pairs: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let verdict = match Secret::parse(&secret).map_err(|e| e.to_string()).and_then(|s| {
                standard::verify(&s, &pairs, &body, chrono::Utc::now().timestamp()).map_err(|e| e.to_string())
            }) {
                Ok(()) => "signature verified (Standard Webhooks)".to_owned(),
                Err(e) => format!("REJECTED: {e}"),
            };
            let ty = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned));
            (verdict, header("webhook-id"), ty.unwrap_or_default())
        }
        Check::Transcodely => {
            let verdict = match transcodely_verify(&secret, &headers, &body) {
                Ok(()) => "signature verified (Transcodely's algorithm)".to_owned(),
                Err(e) => format!("REJECTED: {e}"),
            };
            let ty = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["event"].as_str().map(str::to_owned));
            (verdict, header("x-transcodely-delivery-id"), ty.unwrap_or_default())
        }
    };
    let status = {
        let mut left = st.fail_first.lock().map(|g| *g).unwrap_or(0);
        if left > 0 {
            left -= 1;
            if let Ok(mut g) = st.fail_first.lock() {
                *g = left;
            }
            503
        } else if verdict.starts_with("REJECTED") {
            401
        } else {
            200
        }
    };
    let mut wire = String::new();
    for (k, v) in headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("webhook-") || k.as_str().starts_with("x-transcodely"))
    {
        wire.push_str(&format!("        {k}: {}\n", v.to_str().unwrap_or("")));
    }
    wire.push_str(&format!("        {}", String::from_utf8_lossy(&body)));
    let _ = st.arrivals.send(Arrival {
        receiver: st.name,
        event_type,
        delivery_id,
        attempt_status: status,
        verdict,
        wire,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

async fn start_receiver(
    name: &'static str,
    check: Check,
    fail_first: u32,
    arrivals: mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<(String, Arc<ReceiverState>)> {
    let st = Arc::new(ReceiverState {
        name,
        check,
        secret: Mutex::new(None),
        fail_first: Mutex::new(fail_first),
        arrivals,
    });
    let app = axum::Router::new().route("/webhooks", post(receive)).with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, st))
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(KEY);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status();
        let value: Value = serde_json::from_str(&resp.text().await?).unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path} answered {status}: {value}");
        }
        Ok(value)
    }
}

/// `dlv_…x7k2q9`: ids created together share their time prefix, so the
/// tail is what tells them apart.
fn short(id: &str) -> String {
    let tail: String = id.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{}…{tail}", id.get(..4).unwrap_or(""))
}

/// Runs the tour; with `keep`, keeps hookline and the receivers running
/// (the portal link open) until `stop` resolves.
pub async fn run(keep: bool, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("hookline demo — webhook delivery, end to end, on this machine only (127.0.0.1)\n");

    // The demo's database lives in a directory removed when the tour ends.
    let tmp = tempfile::Builder::new().prefix("hookline-demo-").tempdir()?;
    let dir = tmp.path();
    let vars: HashMap<&str, &str> =
        HashMap::from([("HOOKLINE_ALLOW_PRIVATE_TARGETS", "1"), ("HOOKLINE_RETRY_SCHEDULE", "1s,2s,4s")]);
    let config = Config::from_env(|k| vars.get(k).map(|v| v.to_string()))?;
    let running = crate::start(
        config,
        ApiKeys::from_keys([KEY]),
        crate::Listen { api: "127.0.0.1:0".parse()?, metrics: None },
        &dir.join("demo.db"),
    )
    .await?;
    let api = Api { base: format!("http://{}", running.addr), http: reqwest::Client::new() };

    let (tx, mut rx) = mpsc::unbounded_channel();
    let (billing_url, billing) = start_receiver("billing-app", Check::Standard, 0, tx.clone()).await?;
    let (transcode_url, transcode) =
        start_receiver("transcode-app", Check::Transcodely, 0, tx.clone()).await?;
    let (flaky_url, flaky) = start_receiver("flaky-app", Check::Standard, 2, tx).await?;
    println!("[1/5] hookline is up: API on {} (SQLite in {})", api.base, dir.display());
    println!("      three receivers listen on 127.0.0.1:");
    println!(
        "        billing-app    verifies Standard Webhooks signatures (webhook-id/-timestamp/-signature)"
    );
    println!(
        "        transcode-app  verifies X-Transcodely-Signature with Transcodely's published algorithm"
    );
    println!("        flaky-app      answers 503 twice, then recovers\n");

    // The catalog first: the portal offers declared types as toggles, and a
    // test event carries its type's example.
    let declared = [
        (
            "video.encoded",
            "A video finished encoding, with its renditions",
            json!({"video_id":"vid_8812","title":"Launch keynote","renditions":["1080p","720p"],"duration_s":2712}),
        ),
        ("video.deleted", "A video was removed", json!({"video_id":"vid_8812","deleted_by":"usr_7"})),
        (
            "job.completed",
            "A transcoding job finished",
            json!({"id":"job_a1b2c3","status":"completed","progress":100}),
        ),
        (
            "job.failed",
            "A transcoding job failed",
            json!({"id":"job_a1b2c3","status":"failed","error":"unsupported codec"}),
        ),
    ];
    for (name, description, example) in &declared {
        let body = json!({"description": description, "example": example});
        api.call(reqwest::Method::PUT, &format!("/v1/event-types/{name}"), Some(body)).await?;
    }
    println!(
        "      API key: {KEY} (an operator's: every tenant), as `Authorization: Bearer {KEY}`; event types declared: {}\n",
        declared.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
    );

    println!("[2/5] creating subscriptions (POST /v1/subscriptions):");
    let subs = [
        (
            &billing,
            json!({"tenant":"acme-video","url":billing_url,"event_types":["video.*"],"description":"billing"}),
            "video.*        Standard Webhooks",
        ),
        (
            &transcode,
            json!({"tenant":"acme-video","url":transcode_url,"event_types":["job.*"],
                "signature":{"signature_header":"X-Transcodely-Signature","timestamp_header":"X-Transcodely-Timestamp",
                    "id_header":"X-Transcodely-Delivery-ID","signed":"{timestamp}.{body}","encoding":"hex","prefix":"sha256=","key":"utf8"},
                "body":{"kind":"object","type_field":"event","data_field":"job","timestamp_field":"timestamp"}}),
            "job.*          Transcodely format: {event, job, timestamp}",
        ),
        (
            &flaky,
            json!({"tenant":"acme-video","url":flaky_url,"event_types":["video.encoded"],"retry_schedule":["1s","2s","4s"]}),
            "video.encoded  retries after 1s, 2s, 4s",
        ),
    ];
    for (state, body, what) in subs {
        let created = api.call(reqwest::Method::POST, "/v1/subscriptions", Some(body)).await?;
        let secret = created["secret"].as_str().context("no secret in the answer")?.to_owned();
        if let Ok(mut s) = state.secret.lock() {
            *s = Some(secret);
        }
        println!("      {} → {:<14} {what}", created["id"].as_str().unwrap_or("?"), state.name);
    }
    println!(
        "      (each answer carries the subscription's secret, shown only once; the receivers keep it)\n"
    );

    println!("[3/5] publishing events (POST /v1/events):");
    let events = [
        json!({"tenant":"acme-video","type":"video.encoded","payload":{"video_id":"vid_8812","title":"Launch keynote","renditions":["1080p","720p","480p"],"duration_s":2712}}),
        json!({"tenant":"acme-video","type":"job.completed","payload":{"id":"job_a1b2c3","status":"completed","progress":100,"outputs":[{"id":"out_1","output_url":"gs://cdn/vid_8812/1080p.mp4"}]}}),
        json!({"tenant":"acme-video","type":"video.deleted","payload":{"video_id":"vid_0042"}}),
    ];
    let mut expected = 0;
    for e in events {
        let ty = e["type"].as_str().unwrap_or("").to_owned();
        let ev = api.call(reqwest::Method::POST, "/v1/events", Some(e)).await?;
        let n = ev["deliveries"].as_array().map_or(0, Vec::len);
        expected += n;
        println!(
            "      {} {ty:<14} → {n} deliver{}",
            ev["id"].as_str().unwrap_or("?"),
            if n == 1 { "y" } else { "ies" }
        );
    }
    println!();

    println!("[4/5] deliveries arriving (each verified by its receiver):");
    let mut succeeded = 0;
    let mut flaky_delivery = None;
    let mut samples: Vec<(&'static str, String)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while succeeded < expected {
        let a = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .context("deliveries did not all arrive within 40 s")?
            .context("receivers stopped")?;
        let mark = if a.attempt_status == 200 { "✓" } else { "✗" };
        let t = started.elapsed().as_secs_f32();
        println!(
            "      {t:5.1}s {mark} {:<14} {:<14} {}  answered {}  {}",
            a.receiver,
            a.event_type,
            short(&a.delivery_id),
            a.attempt_status,
            a.verdict
        );
        if a.receiver == "flaky-app" {
            flaky_delivery = Some(a.delivery_id.clone());
        }
        if a.attempt_status == 200 {
            succeeded += 1;
            if a.receiver != "flaky-app" && !samples.iter().any(|(r, _)| *r == a.receiver) {
                samples.push((a.receiver, a.wire));
            }
        }
    }
    for (receiver, wire) in samples {
        println!("\n      what {receiver} received (signature headers and body):\n{wire}");
    }
    println!();

    let id = flaky_delivery.context("the flaky receiver was never called")?;
    // The attempt is recorded just after the receiver answers.
    let mut log = Value::Null;
    for _ in 0..50 {
        log = api.call(reqwest::Method::GET, &format!("/v1/deliveries/{id}"), None).await?;
        if log["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("[5/5] the flaky delivery's log (GET /v1/deliveries/{id}):");
    for a in log["attempts"].as_array().into_iter().flatten() {
        println!(
            "      attempt {}  {}  HTTP {}  {} ms",
            a["number"],
            a["started_at"].as_str().unwrap_or("?"),
            a["status_code"],
            a["duration_ms"]
        );
    }
    println!(
        "      status: {} after {} attempts\n",
        log["status"].as_str().unwrap_or("?"),
        log["attempt_count"]
    );

    let link = api.call(reqwest::Method::POST, "/v1/tenants/acme-video/portal-sessions", None).await?;
    let portal = format!("{}{}", api.base, link["url"].as_str().unwrap_or_default());
    let link = api.call(reqwest::Method::POST, "/v1/portal-sessions", None).await?;
    let operator = format!("{}{}", api.base, link["url"].as_str().unwrap_or_default());
    println!(
        "The portal of tenant acme-video (its endpoints and delivery log), one visit within 10 minutes:\n      {portal}\n\
         and the operator's (every tenant, the service, the dead letters):\n      {operator}\n"
    );
    if keep {
        println!("Serving until Ctrl-C.");
        stop.await;
    } else {
        println!("      (it closes with the demo: `hookline demo --keep` keeps serving until Ctrl-C)\n");
    }
    running.shutdown().await;
    drop(tmp);
    println!(
        "Done in {:.1}s. Next: `hookline serve` and the curl session in README.md.",
        started.elapsed().as_secs_f32()
    );
    Ok(())
}
