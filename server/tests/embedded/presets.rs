//! Each seed provider's receiver, fed by hookline's preset for it, over
//! real HTTP. Transcodely's receivers are Transcodely's published code in
//! Python, Go and TypeScript, run as written; the others check what their
//! provider's page tells customers to check. Every receiver must accept
//! hookline's deliveries and reject tampered bodies, wrong secrets and,
//! where the provider has timestamps, stale ones.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookline::signing::{Message, Secret, sign_headers};
use hookline_tests::external::External;
use hookline_tests::process::{Hookline, eventually};
use hookline_tests::providers;
use hookline_tests::receiver::{Received, Receiver};
use hookline_tests::{repo_root, test_python};
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_hookline");
const WAIT: Duration = Duration::from_secs(60);
/// The secret Transcodely's published code has as a constant.
const TRANSCODELY_SECRET: &str = "whsec_your_signing_secret";

async fn hookline(dir: &TempDir) -> Hookline {
    Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), &[]).await
}

async fn subscribe(h: &Hookline, body: Value) -> Value {
    let (status, sub) = h.call("POST", "/v1/subscriptions", Some(body)).await;
    assert_eq!(status, 201, "{sub}");
    sub
}

async fn publish(h: &Hookline, tenant: &str, ty: &str, payload: Value) -> Vec<String> {
    let (status, ev) =
        h.call("POST", "/v1/events", Some(json!({"tenant": tenant, "type": ty, "payload": payload}))).await;
    assert_eq!(status, 202, "{ev}");
    hookline_tests::delivery_ids(&ev)
}

async fn settled(h: &Hookline, id: &str, status: &'static str) -> Value {
    eventually(WAIT, &format!("delivery {id} to be {status}"), || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        (d["status"] == status).then_some(d)
    })
    .await
}

async fn first_attempt_status(h: &Hookline, id: &str) -> Value {
    eventually(WAIT, &format!("a first attempt of {id}"), || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        (d["attempt_count"].as_u64().unwrap_or(0) >= 1).then(|| d["attempts"][0]["status_code"].clone())
    })
    .await
}

/// Sends a request straight to a receiver; returns its status.
async fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let mut req = reqwest::Client::new().post(url).body(body.to_vec());
    for (k, v) in headers {
        if !matches!(k.as_str(), "content-length" | "host" | "connection" | "transfer-encoding") {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    req.send().await.expect("receiver reachable").status().as_u16()
}

fn header_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
        .collect()
}

fn pairs(r: &Received) -> Vec<(String, String)> {
    r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn tamper(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    let at = b.iter().position(|c| c.is_ascii_digit()).unwrap_or(1);
    b[at] = if b[at] == b'9' { b'8' } else { b[at] + 1 };
    b
}

/// Headers for `body` signed in `preset`'s format with `secret` at `ts`.
fn signed(preset: &str, secret: &str, id: &str, ty: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    let format = hookline::presets::get(preset).expect("preset").signature.clone();
    let secret = Secret::parse(secret).expect("secret");
    let mut h = sign_headers(&format, &[&secret], &Message { id, timestamp: ts, event_type: ty, body })
        .expect("sign");
    h.push(("content-type".into(), "application/json".into()));
    h
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn job() -> Value {
    json!({"id": "job_a1b2c3d4e5f6", "status": "completed", "progress": 100, "priority": "standard",
        "total_estimated_cost": 0.12, "total_actual_cost": 0.118, "currency": "EUR", "input_url": "",
        "outputs": [{"id": "out_xyz789", "status": "completed", "progress": 100,
            "output_url": "gs://my-cdn-bucket/videos/2026-02-28/job_a1b2c3d4e5f6/1080p.mp4",
            "output_size_bytes": 15728640, "duration_seconds": 120, "actual_cost": 0.118}],
        "metadata": {"user_id": "u_1"}, "created_at": "2026-02-28T10:30:00Z", "completed_at": "2026-02-28T10:35:42Z"})
}

/// Transcodely end to end against one of its published receivers.
async fn transcodely_against(rx: External) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = hookline(&dir).await;
    subscribe(&h, json!({"tenant":"acme","url":rx.url(),"preset":"transcodely","secret":TRANSCODELY_SECRET,"event_types":["job.*"]}))
        .await;
    let ids = publish(&h, "acme", "job.completed", job()).await;
    settled(&h, &ids[0], "succeeded").await;
    let seen = rx.seen();
    assert_eq!(seen[0]["ok"], true, "the published code accepted hookline's request");
    let headers = header_pairs(&seen[0]["headers"]);
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(find("x-transcodely-delivery-id"), Some(ids[0].clone()));
    let body: Value = serde_json::from_str(seen[0]["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(
        (body["event"].clone(), body["job"]["id"].clone()),
        (json!("job.completed"), json!("job_a1b2c3d4e5f6"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().expect("timestamp")).is_ok());

    let raw = seen[0]["body"].as_str().expect("body").as_bytes().to_vec();
    assert_eq!(post(&rx.url(), &headers, &tamper(&raw)).await, 401, "a tampered body");
    let ts = now();
    let wrong = signed("transcodely", "whsec_someone_elses_secret", &ids[0], "job.completed", ts, &raw);
    assert_eq!(post(&rx.url(), &wrong, &raw).await, 401, "a wrong secret");
    let stale = signed("transcodely", TRANSCODELY_SECRET, &ids[0], "job.completed", ts - 600, &raw);
    assert_eq!(post(&rx.url(), &stale, &raw).await, 401, "a stale timestamp");
    let fresh = signed("transcodely", TRANSCODELY_SECRET, &ids[0], "job.completed", ts, &raw);
    assert_eq!(post(&rx.url(), &fresh, &raw).await, 200, "and the same request signed rightly passes");

    // A subscription whose secret the receiver does not know: refused.
    subscribe(
        &h,
        json!({"tenant":"other","url":rx.url(),"preset":"transcodely","secret":"whsec_not_the_receivers"}),
    )
    .await;
    let other = publish(&h, "other", "job.failed", job()).await;
    assert_eq!(first_attempt_status(&h, &other[0]).await, json!(401));

    // A per-job webhook_url, Transcodely's only mechanism: the tenant's
    // one-off profile gives it Transcodely's format and imported secret.
    let (status, _) = h
        .call(
            "PUT",
            "/v1/tenants/jobs/one-off",
            Some(json!({"preset":"transcodely","secret":TRANSCODELY_SECRET})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, ev) = h
        .call(
            "POST",
            "/v1/events",
            Some(json!({"tenant":"jobs","type":"job.completed","payload":job(),"webhook_url":rx.url()})),
        )
        .await;
    assert_eq!(status, 202, "{ev}");
    let per_job = hookline_tests::delivery_ids(&ev);
    settled(&h, &per_job[0], "succeeded").await;
    let last = rx.seen().pop().expect("the per-job request");
    assert_eq!(last["ok"], true, "the published code accepted the per-job delivery");
    let headers = header_pairs(&last["headers"]);
    assert!(headers.iter().any(|(k, v)| k == "x-transcodely-delivery-id" && *v == per_job[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcodely_python_receiver_as_published() {
    let python = test_python().expect("test python");
    let dir = repo_root().join("tests/receivers/transcodely/python");
    transcodely_against(External::start(&python, &["receiver.py", "0"], &dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcodely_go_receiver_as_published() {
    let dir = repo_root().join("tests/receivers/transcodely/go");
    let out = tempfile::tempdir().expect("a temporary directory");
    let bin: PathBuf = out.path().join("transcodely-receiver");
    let built =
        std::process::Command::new("go").arg("build").arg("-o").arg(&bin).arg(".").current_dir(&dir).status();
    assert!(
        built.is_ok_and(|s| s.success()),
        "go build failed: install Go (./scripts/test does) to run Transcodely's Go receiver"
    );
    transcodely_against(External::start(&bin, &["0"], &dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcodely_typescript_receiver_as_published() {
    let dir = repo_root().join("tests/receivers/transcodely/ts");
    assert!(
        dir.join("dist/server.js").exists(),
        "build it first: ./scripts/test runs npm ci and tsc in {}",
        dir.display()
    );
    transcodely_against(External::start(Path::new("node"), &["dist/server.js", "0"], &dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importly_receiver_accepts_both_payload_shapes_and_rejects_forgeries() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = hookline(&dir).await;
    let secret = "importly-dashboard-secret";
    let r = Receiver::start_checking(providers::importly(secret)).await;
    subscribe(
        &h,
        json!({"tenant":"acme","url":r.url("/importly"),"preset":"importly","secret":secret,
        "event_types":["import.*","metadata.completed"]}),
    )
    .await;
    let flat = json!({"jobId":"abc123","status":"completed","mediaUrl":"https://cdn.importly.io/abc123/video.mp4","creditsUsed":52,"message":"Your video is ready!"});
    let wrapped = json!({"success":true,"data":{"jobId":"xyz789","type":"metadata","status":"completed","title":"Sample Video Title","duration":300}});
    let a = publish(&h, "acme", "import.completed", flat.clone()).await;
    let b = publish(&h, "acme", "metadata.completed", wrapped.clone()).await;
    assert!(
        publish(&h, "acme", "basic-metadata.completed", json!({"success":true,"data":{"jobId":"x"}}))
            .await
            .is_empty()
    );
    settled(&h, &a[0], "succeeded").await;
    settled(&h, &b[0], "succeeded").await;
    let got = r.received();
    assert!(got.iter().all(|q| q.verdict == Some(Ok(()))));
    assert!(
        got.iter().any(|q| q.json() == flat) && got.iter().any(|q| q.json() == wrapped),
        "bodies are the payloads as published"
    );

    let q = &got[0];
    assert_eq!(post(&r.url("/importly"), &pairs(q), &tamper(&q.body)).await, 401);
    let forged = signed("importly", "not-the-dashboard-secret", "", "", now(), &q.body);
    assert_eq!(post(&r.url("/importly"), &forged, &q.body).await, 401);
    let d = h.call("GET", "/v1/subscriptions?tenant=acme", None).await.1;
    assert_eq!(d["data"][0]["retry_schedule"], json!(["1m", "1m"]), "3 attempts, 1 minute apart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignite_receiver_gets_the_whole_object_with_its_headers_and_rejects_forgeries() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = hookline(&dir).await;
    let sub = subscribe(&h, json!({"tenant":"ws_1","url":"http://127.0.0.1:9/placeholder","preset":"ignite","event_types":["video.created","video.updated"]})).await;
    let secret = sub["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"), "signing secrets look like Ignite's (whsec_…)");
    let r = Receiver::start_checking(providers::ignite(&secret)).await;
    let id = sub["id"].as_str().expect("id");
    let (status, _) =
        h.call("PATCH", &format!("/v1/subscriptions/{id}"), Some(json!({"url": r.url("/webhook")}))).await;
    assert_eq!(status, 200);
    let video = json!({"id":"507f1f77bcf86cd799439011","title":"My Video","status":"COMPLETE","visibility":"public",
        "duration":120,"createdAt":"2024-01-15T10:30:00.000Z","updatedAt":"2024-01-15T10:30:00.000Z"});
    let ids = publish(&h, "ws_1", "video.created", video.clone()).await;
    assert!(publish(&h, "ws_1", "video.deleted", video.clone()).await.is_empty(), "videoDeleted is off");
    settled(&h, &ids[0], "succeeded").await;
    let q = &r.received()[0];
    assert_eq!(q.verdict, Some(Ok(())));
    assert_eq!(q.json(), video, "the body is the whole object");
    assert_eq!(q.header("x-webhook-event"), Some("video.created"));
    assert_eq!(q.header("x-webhook-delivery-id"), Some(ids[0].as_str()));
    assert_eq!(post(&r.url("/webhook"), &pairs(q), &tamper(&q.body)).await, 401);
    let forged = signed("ignite", "whsec_forged", &ids[0], "video.created", now(), &q.body);
    assert_eq!(post(&r.url("/webhook"), &forged, &q.body).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targetvideo_receiver_checks_its_secret_after_the_configured_wait() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = hookline(&dir).await;
    let secret = "your_secret_key";
    let r = Receiver::start_checking(providers::targetvideo(secret)).await;
    let sub = subscribe(
        &h,
        json!({"tenant":"site_9","url":r.url("/hook.php"),"preset":"targetvideo","secret":secret,
        "initial_delay":"1s","event_types":["sd_encoded","video_encoded"]}),
    )
    .await;
    assert_eq!(sub["warnings"].as_array().map(Vec::len), Some(1), "the weaker preset is flagged");
    let payload = json!({"response":{"Video":{"id":"734392"},"EncodingStatus":{"sd":"1","hd":"1"},"invoked_by":"MediaConvert"},
        "scope":"Controller.Encodings","method":"sd_encoded","data":{"Video":{"id":"734392"}},"api":false});
    let ids = publish(&h, "site_9", "sd_encoded", payload).await;
    assert!(publish(&h, "site_9", "add_playlist", json!({"data":{}})).await.is_empty());
    let d = settled(&h, &ids[0], "succeeded").await;
    let created = chrono::DateTime::parse_from_rfc3339(d["created_at"].as_str().expect("t")).expect("time");
    let started = chrono::DateTime::parse_from_rfc3339(d["attempts"][0]["started_at"].as_str().expect("t"))
        .expect("time");
    assert!(started - created >= chrono::Duration::seconds(1), "the call waited for the configured delay");
    let q = &r.received()[0];
    let body = q.json();
    assert_eq!(
        (body["event"].clone(), body["secret"].clone(), body["method"].clone()),
        (json!("sd_encoded"), json!(secret), json!("sd_encoded"))
    );
    assert!(body["timestamp"].as_i64().is_some_and(|t| (t - now()).abs() < 600), "a unix timestamp");
    let mut wrong = body.clone();
    wrong["secret"] = json!("guessed");
    assert_eq!(post(&r.url("/hook.php"), &pairs(q), wrong.to_string().as_bytes()).await, 401);
    assert_eq!(post(&r.url("/hook.php"), &pairs(q), &q.body).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heapstream_receiver_gets_its_body_shape_and_rejects_forged_or_stale_requests() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = hookline(&dir).await;
    let sub = subscribe(
        &h,
        json!({"tenant":"project-20","url":"http://127.0.0.1:9/placeholder","preset":"heapstream"}),
    )
    .await;
    let secret = sub["secret"].as_str().expect("secret").to_owned();
    assert_eq!(sub["timeout_ms"], 5000);
    let r = Receiver::start_checking(providers::heapstream(&secret)).await;
    let id = sub["id"].as_str().expect("id");
    h.call("PATCH", &format!("/v1/subscriptions/{id}"), Some(json!({"url": r.url("/events")}))).await;
    let video = json!({"asset":{"duration":-1.0,"encoding_tier":"full","errors":[],"id":22,"normalize_audio":false},"id":500,"status":"waiting_for_upload"});
    let ids = publish(&h, "project-20", "video.created", json!({"project_id":20,"video":video})).await;
    settled(&h, &ids[0], "succeeded").await;
    let q = &r.received()[0];
    assert_eq!(q.verdict, Some(Ok(())));
    let body = q.json();
    assert_eq!(
        (body["event_type"].clone(), body["project_id"].clone(), body["video"].clone()),
        (json!("video.created"), json!(20), video)
    );
    assert_eq!(post(&r.url("/events"), &pairs(q), &tamper(&q.body)).await, 401);
    let stale = signed("heapstream", &secret, &ids[0], "video.created", now() - 600, &q.body);
    assert_eq!(post(&r.url("/events"), &stale, &q.body).await, 401);
    let other = Secret::generate([7; 24]);
    let forged = signed("heapstream", other.expose(), &ids[0], "video.created", now(), &q.body);
    assert_eq!(post(&r.url("/events"), &forged, &q.body).await, 401);
}
