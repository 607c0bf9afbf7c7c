//! What only the `hookline` binary does, end to end: a SIGKILL mid-delivery
//! and a restart, SIGTERM, its command line, the demo, and refusing bad
//! requests with nothing changed. The behaviour both modes share runs from
//! `scenarios.rs`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_tests::process::{Hookline, eventually};
use hookline_tests::receiver::{Receiver, Reply};
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_hookline");
const WAIT: Duration = Duration::from_secs(30);

async fn start(dir: &TempDir, schedule: &str) -> Hookline {
    Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), &[("HOOKLINE_RETRY_SCHEDULE", schedule)])
        .await
}

async fn subscribe(h: &Hookline, body: Value) -> (String, String) {
    let (status, sub) = h.call("POST", "/v1/subscriptions", Some(body)).await;
    assert_eq!(status, 201, "{sub}");
    (sub["id"].as_str().expect("id").to_owned(), sub["secret"].as_str().expect("secret").to_owned())
}

async fn publish(h: &Hookline, body: Value) -> Value {
    let (status, ev) = h.call("POST", "/v1/events", Some(body)).await;
    assert_eq!(status, 202, "{ev}");
    ev
}

async fn delivery_when(h: &Hookline, id: &str, status: &'static str) -> Value {
    eventually(WAIT, &format!("delivery {id} to be {status}"), || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        (d["status"] == status).then_some(d)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pending_or_in_flight_at_a_sigkill_complete_after_restart() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("hookline.db");
    let r = Receiver::start().await;
    // The first requests hang long enough to be in flight at the kill.
    r.script([Reply::Slow(Duration::from_secs(20), 200); 4]);
    let h = Hookline::start(
        Path::new(BIN),
        &db,
        &[("HOOKLINE_RETRY_SCHEDULE", "1s"), ("HOOKLINE_CONCURRENCY", "4")],
    )
    .await;
    subscribe(&h, json!({"tenant":"acme","url":r.url("/")})).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let ev = publish(&h, json!({"tenant":"acme","type":"video.created","payload":{"n":i}})).await;
        ids.push(ev["deliveries"][0]["id"].as_str().expect("id").to_owned());
    }
    r.wait_for(4, WAIT).await; // four attempts are in flight now
    h.kill_hard().await;

    let h = Hookline::start(Path::new(BIN), &db, &[("HOOKLINE_RETRY_SCHEDULE", "1s")]).await;
    for id in &ids {
        delivery_when(&h, id, "succeeded").await;
    }
    let delivered: std::collections::BTreeSet<String> =
        r.received().iter().filter_map(|q| q.header("webhook-id").map(str::to_owned)).collect();
    for id in &ids {
        assert!(delivered.contains(id), "{id} never reached the receiver");
    }
}

fn parse_time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time")).expect("RFC 3339").to_utc()
}

/// Publishes `keys` in order against whichever process `base` names now,
/// each with its idempotency key: a publish the process died during is
/// sent again, with the same key, to the next one. Returns the event ids.
async fn publish_through_kills(base: Arc<Mutex<String>>, keys: Vec<String>) -> Vec<String> {
    let bodies = keys
        .into_iter()
        .map(|key| (key.clone(), json!({"tenant":"acme","type":"video.encoded","payload":{"key":key}})));
    publish_bodies_through_kills(base, bodies.collect()).await
}

/// Publishes each body in order with its idempotency key, as
/// [`publish_through_kills`] does.
async fn publish_bodies_through_kills(base: Arc<Mutex<String>>, bodies: Vec<(String, Value)>) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut events = Vec::new();
    for (key, body) in bodies {
        loop {
            let url = format!("{}/v1/events", base.lock().expect("lock"));
            let sent = client
                .post(url)
                .bearer_auth(hookline_tests::process::API_KEY)
                .header("content-type", "application/json")
                .header("idempotency-key", &key)
                .body(body.to_string())
                .send()
                .await;
            if let Ok(resp) = sent
                && resp.status() == 202
                && let Ok(v) = resp.json::<Value>().await
            {
                events.push(v["id"].as_str().expect("id").to_owned());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_during_publishing_and_retries_leave_no_delivery_waiting_past_its_schedule() {
    // One request in three fails, retries are a second apart, and the process
    // is killed three times while events are published and delivered. Every
    // event is accepted once, and every delivery finishes within seconds of
    // the last start — a follow-up lost to a kill would wait for the
    // scheduler's safety net, 15 minutes.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("hookline.db");
    let env = [("HOOKLINE_RETRY_SCHEDULE", "1s,1s,1s,1s,1s,1s,1s,1s"), ("HOOKLINE_CONCURRENCY", "16")];
    let r = Receiver::start_failing_every(3).await;
    let mut h = Hookline::start(Path::new(BIN), &db, &env).await;
    subscribe(&h, json!({"tenant":"acme","url":r.url("/a")})).await;
    subscribe(&h, json!({"tenant":"acme","url":r.url("/b")})).await;
    let base = Arc::new(Mutex::new(h.base.clone()));
    let keys: Vec<String> = (0..240).map(|i| format!("job-{i}")).collect();
    let publisher = tokio::spawn(publish_through_kills(base.clone(), keys.clone()));
    for pause in [700, 450, 900] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        h.kill_hard().await;
        h = Hookline::start(Path::new(BIN), &db, &env).await;
        *base.lock().expect("lock") = h.base.clone();
    }
    let events = publisher.await.expect("the publisher");
    assert_eq!(events.len(), keys.len());
    let restarted = std::time::Instant::now();

    let mut deliveries = Vec::new();
    for ev in &events {
        let (_, e) = h.call("GET", &format!("/v1/events/{ev}"), None).await;
        let ids: Vec<String> = e["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(ids.len(), 2, "one delivery per subscription: {e}");
        deliveries.extend(ids);
    }
    // Each attempt followed the one before (or the publish) by its 1 s delay
    // plus at most a few seconds of restarting — not the 15-minute net.
    let mut longest = chrono::Duration::zero();
    for id in &deliveries {
        let d = delivery_when(&h, id, "succeeded").await;
        let mut times = vec![parse_time(&d["created_at"])];
        times.extend(d["attempts"].as_array().into_iter().flatten().map(|a| parse_time(&a["started_at"])));
        for pair in times.windows(2) {
            longest = longest.max(pair[1] - pair[0]);
        }
    }
    assert!(longest < chrono::Duration::seconds(10), "an attempt waited {longest} after the one before it");
    eprintln!("the longest wait between two attempts of a delivery: {longest}");
    assert!(
        restarted.elapsed() < WAIT,
        "every delivery finished {:?} after the last start, far inside the 15-minute safety net",
        restarted.elapsed()
    );
    let mut seen: Vec<String> = events.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), keys.len(), "one event per idempotency key, kills or not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_while_keyed_events_are_published_and_retried_keep_every_key_in_order() {
    // An ordered endpoint failing 30 % of requests at random, 240 events
    // over 24 keys published while the process is killed three times:
    // each key's events still arrive in publish order, none missing —
    // a kill mid-attempt only repeats that attempt.
    use hookline_tests::ordering::{SCHEDULE, assert_in_order, spread};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("hookline.db");
    let schedule = SCHEDULE.join(",");
    let env = [("HOOKLINE_RETRY_SCHEDULE", schedule.as_str()), ("HOOKLINE_CONCURRENCY", "16")];
    let r = Receiver::start_failing_randomly(30, 0xc0ffee).await;
    let mut h = Hookline::start(Path::new(BIN), &db, &env).await;
    subscribe(&h, json!({"tenant":"ordering","url":r.url("/"),"ordered":true})).await;
    let (events, keys) = (240, 24);
    let bodies: Vec<(String, Value)> = spread("ordering", events, keys)
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("ev-{i}"), b))
        .collect();
    let base = Arc::new(Mutex::new(h.base.clone()));
    let publisher = tokio::spawn(publish_bodies_through_kills(base.clone(), bodies));
    for pause in [600, 400, 800] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        h.kill_hard().await;
        h = Hookline::start(Path::new(BIN), &db, &env).await;
        *base.lock().expect("lock") = h.base.clone();
    }
    let published = publisher.await.expect("the publisher");
    assert_eq!(published.len(), events);
    for ev in &published {
        let (_, e) = h.call("GET", &format!("/v1/events/{ev}"), None).await;
        let id = e["deliveries"][0]["id"].as_str().expect("a delivery").to_owned();
        delivery_when(&h, &id, "succeeded").await;
    }
    assert_in_order(&r.received(), events, keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_state_survives() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = start(&dir, "1s").await;
    let r = Receiver::start().await;
    let (sub, _) = subscribe(&h, json!({"tenant":"acme","url":r.url("/")})).await;
    let status = h.terminate().await;
    assert!(status.success(), "exit status {status:?}");
    let h = start(&dir, "1s").await;
    let (code, got) = h.call("GET", &format!("/v1/subscriptions/{sub}"), None).await;
    assert_eq!(code, 200, "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_json_errors_and_change_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = start(&dir, "1s").await;
    let url = |p: &str| format!("{}{p}", h.base);
    let c = h.client();

    let resp = c.get(url("/v1/subscriptions?tenant=a")).send().await.expect("send");
    assert_eq!(resp.status(), 401);
    let resp = c.get(url("/v1/subscriptions?tenant=a")).bearer_auth("wrong").send().await.expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.expect("json")["error"]["code"], "unauthorized");

    // (method, path, content type, body, expected status, expected code)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("POST", "/v1/subscriptions", Some("application/json"), "{not json", 400, "malformed_request"),
        ("POST", "/v1/subscriptions", Some("text/plain"), "{}", 415, "unsupported_media_type"),
        (
            "POST",
            "/v1/subscriptions",
            Some("application/json"),
            r#"{"tenant":"a","url":"ftp://x"}"#,
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/subscriptions",
            Some("application/json"),
            r#"{"tenant":"a","url":"http://10.0.0.1/"}"#,
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/subscriptions",
            Some("application/json"),
            r#"{"tenant":"a","url":"https://e.com","x":1}"#,
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/events",
            Some("application/json"),
            r#"{"tenant":"a","type":"bad type","payload":{}}"#,
            422,
            "invalid_field",
        ),
        ("GET", "/v1/deliveries/not-an-id", None, "", 422, "invalid_field"),
        ("GET", "/v1/deliveries/dlv_01jdx000000000000000000000", None, "", 404, "not_found"),
        ("GET", "/v1/deliveries?colour=red", None, "", 422, "invalid_field"),
        ("GET", "/v1/deliveries", None, "", 422, "invalid_field"),
        ("GET", "/v1/subscriptions", None, "", 422, "invalid_field"),
        ("GET", "/v1/nowhere", None, "", 404, "no_such_route"),
        ("PUT", "/v1/events", Some("application/json"), "{}", 405, "method_not_allowed"),
    ];
    for (method, path, ctype, body, status, code) in cases {
        let mut req = c
            .request(reqwest::Method::from_bytes(method.as_bytes()).expect("m"), url(path))
            .bearer_auth(hookline_tests::process::API_KEY);
        if let Some(t) = ctype {
            req = req.header("content-type", t).body(body.to_owned());
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), status, "{method} {path} {body}");
        let err: Value = resp.json().await.expect("a JSON error body");
        assert_eq!(err["error"]["code"], code, "{method} {path} {body}");
        assert!(err["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let big = json!({"tenant":"a","type":"t","payload":{"blob":"x".repeat(300 * 1024)}}).to_string();
    let resp = c
        .post(url("/v1/events"))
        .bearer_auth(hookline_tests::process::API_KEY)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);
    assert!(
        resp.json::<Value>().await.expect("json")["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("262144")
    );

    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=a", None).await;
    assert_eq!(subs["data"], json!([]), "nothing was created");
    let (_, dels) = h.call("GET", "/v1/deliveries?tenant=a", None).await;
    assert_eq!(dels["data"], json!([]));
}

#[test]
fn the_demo_shows_verified_deliveries_and_a_retry_that_succeeds() {
    let out = std::process::Command::new(BIN).arg("demo").output().expect("run hookline demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("REJECTED"), "{text}");
    assert_eq!(text.matches("signature verified (Standard Webhooks)").count(), 5, "{text}");
    assert_eq!(text.matches("signature verified (Transcodely's algorithm)").count(), 1, "{text}");
    assert_eq!(text.matches("answered 503").count(), 2, "{text}");
    assert!(text.contains("status: succeeded after 3 attempts"), "{text}");
}

#[test]
fn bad_command_lines_exit_non_zero_with_a_message() {
    for args in [vec!["serve", "--listen", "nowhere"], vec!["serve", "--bogus"], vec!["launch"], vec![]] {
        let out = std::process::Command::new(BIN).args(&args).output().expect("run hookline");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} printed no message");
    }
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKLINE_RETRY_SCHEDULE", "soon")
        .output()
        .expect("run hookline");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOOKLINE_RETRY_SCHEDULE"));
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKLINE_LOG_FORMAT", "xml")
        .output()
        .expect("run hookline");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOOKLINE_LOG_FORMAT"));
}

/// The log lines that are JSON objects.
fn json_lines(h: &Hookline) -> Vec<Value> {
    h.log().iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(Value::is_object).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_typed_fields_and_every_request_its_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[("HOOKLINE_RETRY_SCHEDULE", "1s"), ("HOOKLINE_LOG_FORMAT", "json")],
    )
    .await;
    let r = Receiver::start().await;
    r.script([Reply::Status(503)]);
    subscribe(&h, json!({"tenant":"acme","url":r.url("/")})).await;

    // The caller's request id is kept; without one, hookline makes one.
    let post = |id: Option<&'static str>| {
        let mut req = h
            .client()
            .post(format!("{}/v1/events", h.base))
            .bearer_auth(hookline_tests::process::API_KEY)
            .header("content-type", "application/json")
            .body(json!({"tenant":"acme","type":"order.paid","payload":{}}).to_string());
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let mine = post(Some("trace-42")).await.expect("publish");
    assert_eq!(mine.headers()["x-request-id"], "trace-42");
    let ev: Value = mine.json().await.expect("json");
    // This event's delivery takes the receiver's one 503 before the next
    // event exists (else the two race for it).
    r.wait_for(1, Duration::from_secs(10)).await;
    let made = post(None).await.expect("publish");
    let made_id = made.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert!(made_id.starts_with("req_"), "{made_id}");
    let refused = h.client().get(format!("{}/v1/deliveries/nope", h.base)).send().await.expect("get");
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("x-request-id"), "errors carry an id too");

    let id = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    delivery_when(&h, &id, "succeeded").await;
    let lines = eventually(WAIT, "both attempts' log lines", || async {
        let attempts: Vec<Value> = json_lines(&h)
            .into_iter()
            .filter(|l| l["message"] == "attempt recorded" && l["span"]["delivery_id"] == id.as_str())
            .collect();
        (attempts.len() == 2).then_some(attempts)
    })
    .await;
    let (first, second) = (&lines[0], &lines[1]);
    assert_eq!(first["status_code"], 503, "{first}");
    assert_eq!(first["outcome"], "retry");
    // A failed attempt is a warning (kept by RUST_LOG=warn), a success not.
    assert_eq!((first["level"].clone(), second["level"].clone()), (json!("WARN"), json!("INFO")));
    assert!(first["retry_in_ms"].is_u64(), "{first}");
    assert!(first["duration_ms"].is_u64(), "{first}");
    assert_eq!((second["status_code"].clone(), second["outcome"].clone()), (json!(200), json!("succeeded")));
    assert_eq!(second["span"]["attempt"], 2, "{second}");
    assert_eq!(
        (second["span"]["tenant"].clone(), second["span"]["event_id"].clone()),
        (json!("acme"), ev["id"].clone())
    );
    assert!(lines.iter().all(|l| l.get("error").is_none()), "no error field when there was none");

    let requests = json_lines(&h);
    let mine = requests
        .iter()
        .find(|l| l["message"] == "request" && l["span"]["request_id"] == "trace-42")
        .expect("the request's line");
    assert_eq!((mine["status"].clone(), mine["span"]["path"].clone()), (json!(202), json!("/v1/events")));
    assert!(mine["duration_ms"].is_u64());
    assert!(requests.iter().any(|l| l["span"]["request_id"] == made_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_listed_as_a_dead_letter_and_redriven_once_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hookline.db");
    let h = Hookline::start(Path::new(BIN), &db, &[("HOOKLINE_TENANT_API_KEYS", "acme:key-for-acme")]).await;
    let r = Receiver::start().await;
    let (_, secret) = subscribe(&h, json!({"tenant":"acme","url":r.url("/dl"),"initial_delay":"2s"})).await;
    let ev = publish(&h, json!({"tenant":"acme","type":"order.paid","payload":{"n":7}})).await;
    let id = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();

    // Before its first attempt, its stored record is damaged: every handling
    // of its message fails, and the queue gives up on it.
    let file = rusqlite::Connection::open(&db).expect("open the database");
    file.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let record: String = file
        .query_row("SELECT record FROM deliveries WHERE id = ?1", [&id], |r| r.get(0))
        .expect("the delivery's record");
    file.execute("UPDATE deliveries SET record = 'damaged' WHERE id = ?1", [&id]).expect("damage it");
    let letter = eventually(Duration::from_secs(60), "the message to die", || async {
        let (status, dead) = h.call("GET", "/v1/dead-letters", None).await;
        assert_eq!(status, 200, "{dead}");
        dead["data"].as_array().and_then(|d| d.first().cloned())
    })
    .await;
    assert_eq!((letter["delivery_id"].as_str(), letter["attempt"].as_u64()), (Some(id.as_str()), Some(1)));
    assert_eq!(letter["receives"], 5);
    let reason = letter["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("unreadable"), "why it died: {letter}");
    assert!(letter["died_at"].is_string());
    assert!(r.received().is_empty());

    // A tenant's key, even this one's, sees none of it.
    let (status, body) =
        h.send("GET", "/v1/dead-letters", None, &[("authorization", "Bearer key-for-acme")]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");

    // The cause fixed, the redrive delivers it.
    file.execute("UPDATE deliveries SET record = ?2 WHERE id = ?1", [&id, &record]).expect("repair it");
    let path = format!("/v1/dead-letters/{}/redrive", letter["id"].as_str().expect("id"));
    let (status, body) = h.call("POST", &path, None).await;
    assert_eq!(status, 202, "{body}");
    let d = delivery_when(&h, &id, "succeeded").await;
    assert_eq!(d["attempt_count"], 1);
    let got = r.received();
    hookline_tests::receiver::verify_standard(&secret, &got[0], chrono::Utc::now().timestamp())
        .expect("the redriven delivery verifies");
    assert_eq!(h.call("POST", &path, None).await.0, 404, "redriven once");
    assert_eq!(h.call("GET", "/v1/dead-letters", None).await.1["data"], json!([]));
}

/// The value of the sample `name{labels}` in a Prometheus text page: the
/// labels must be exactly these, in any order.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            return None;
        }
        let mut found: Vec<(String, String)> = rest
            .trim_end_matches('}')
            .split(',')
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        let mut want: Vec<(String, String)> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        found.sort();
        want.sort();
        (found == want).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_deliveries_on_their_own_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start_with(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[("HOOKLINE_RETRY_SCHEDULE", "1s")],
        &["--metrics", "127.0.0.1:0"],
    )
    .await;
    let metrics = eventually(WAIT, "the metrics address in the log", || async {
        h.log().iter().find_map(|l| l.split("metrics on ").nth(1).map(str::to_owned))
    })
    .await;
    let (ok, flaky, gone) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    flaky.script([Reply::Status(503)]);
    gone.script([Reply::Status(410)]);
    subscribe(&h, json!({"tenant":"acme","url":ok.url("/")})).await;
    subscribe(&h, json!({"tenant":"acme","url":flaky.url("/")})).await;
    subscribe(&h, json!({"tenant":"globex","url":gone.url("/")})).await;
    let mut ids = Vec::new();
    for tenant in ["acme", "acme", "globex"] {
        let ev = publish(&h, json!({"tenant":tenant,"type":"order.paid","payload":{}})).await;
        ids.extend(ev["deliveries"].as_array().expect("deliveries").iter().map(|d| d["id"].to_string()));
    }
    assert_eq!(ids.len(), 5);
    for id in &ids {
        let id = id.trim_matches('"');
        eventually(WAIT, &format!("delivery {id} finished"), || async {
            let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
            (d["status"] != "pending").then_some(())
        })
        .await;
    }

    let page = h.client().get(&metrics).send().await.expect("scrape");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("text");
    let n = |name: &str, labels: &[(&str, &str)]| sample(&page, name, labels);
    assert_eq!(n("hookline_events_accepted_total", &[("tenant", "acme")]), Some(2.0), "{page}");
    assert_eq!(n("hookline_events_accepted_total", &[("tenant", "globex")]), Some(1.0));
    assert_eq!(n("hookline_deliveries_created_total", &[]), Some(5.0));
    // ok: 2 first tries; flaky: one 503 then two 200s; gone: a 410.
    assert_eq!(
        n("hookline_attempts_total", &[("outcome", "succeeded"), ("class", "2xx")]),
        Some(4.0),
        "{page}"
    );
    assert_eq!(n("hookline_attempts_total", &[("outcome", "retry"), ("class", "5xx")]), Some(1.0));
    assert_eq!(n("hookline_attempts_total", &[("outcome", "failed"), ("class", "4xx")]), Some(1.0));
    assert_eq!(n("hookline_attempt_duration_seconds_count", &[("outcome", "succeeded")]), Some(4.0));
    assert_eq!(n("hookline_retries_scheduled_total", &[("via", "queue")]), Some(1.0));
    assert_eq!(n("hookline_subscriptions_disabled_total", &[("reason", "gone")]), Some(1.0));
    let requests = |route, method, status| {
        n("hookline_http_requests_total", &[("route", route), ("method", method), ("status", status)])
    };
    assert_eq!(requests("/v1/events", "POST", "202"), Some(3.0), "{page}");
    assert_eq!(requests("/v1/subscriptions", "POST", "201"), Some(3.0));
    assert!(requests("/v1/deliveries/{id}", "GET", "200").is_some_and(|c| c >= 5.0));
    // The queue is sampled at the scrape: everything was handled.
    assert_eq!(n("hookline_queue_messages", &[("state", "ready")]), Some(0.0));
    assert_eq!(n("hookline_dead_letters", &[]), Some(0.0));

    // Not on the API's address.
    let (status, _) = h.call("GET", "/metrics", None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_at_the_receiver_and_excess_deliveries_wait_without_spending_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = start(&dir, "1s").await;
    let r = Receiver::start_isolated();
    subscribe(&h, json!({"tenant":"acme","url":r.url("/"),"rate_limit":20})).await;
    let mut ids = Vec::new();
    for _ in 0..120 {
        let ev = publish(&h, json!({"tenant":"acme","type":"order.paid","payload":{}})).await;
        ids.push(ev["deliveries"][0]["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        let d = delivery_when(&h, id, "succeeded").await;
        assert_eq!(d["attempt_count"], 1, "held back, never failed: {d}");
    }
    let received = r.received();
    assert_eq!(received.len(), 120, "each delivered once");
    let busiest = hookline_tests::receiver::Received::busiest_second(&received);
    // 20 a second, within 5 %.
    assert!(busiest <= 21, "{busiest} requests within one second");
    assert!(busiest >= 10, "the limit is used, not starved: {busiest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_holds_every_delivery_to_the_endpoint_until_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = start(&dir, "1s").await;
    let r = Receiver::start().await;
    r.script([Reply::WithHeader(429, "retry-after", "3")]);
    subscribe(&h, json!({"tenant":"acme","url":r.url("/")})).await;
    let first = publish(&h, json!({"tenant":"acme","type":"order.paid","payload":{}})).await;
    let first = first["deliveries"][0]["id"].as_str().expect("id").to_owned();
    eventually(WAIT, "the 429", || async { (!r.received().is_empty()).then_some(()) }).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        let ev = publish(&h, json!({"tenant":"acme","type":"order.paid","payload":{}})).await;
        others.push(ev["deliveries"][0]["id"].as_str().expect("id").to_owned());
    }
    for id in &others {
        let d = delivery_when(&h, id, "succeeded").await;
        assert_eq!(d["attempt_count"], 1, "held, not failed: {d}");
    }
    let received = r.received();
    assert_eq!(received.len(), 4, "the 429, then each other delivery once");
    let paused_for = received[1].at - received[0].at;
    assert!(paused_for >= Duration::from_secs(3), "something was sent {paused_for:?} after Retry-After: 3");
    // The delivery that was answered 429 itself waits its backoff (a minute
    // at least, as for any 429).
    let (_, d) = h.call("GET", &format!("/v1/deliveries/{first}"), None).await;
    assert_eq!((d["status"].clone(), d["attempt_count"].clone()), (json!("pending"), json!(1)), "{d}");
}

/// Every portal page reachable from `/portal/` by following links, each
/// asserted to answer 200; the paths reached.
async fn crawl(http: &reqwest::Client, base: &str, cookie: &str) -> Vec<String> {
    let (mut seen, mut next) = (Vec::<String>::new(), vec!["/portal/".to_owned()]);
    while let Some(path) = next.pop() {
        if seen.contains(&path) || seen.len() >= 150 {
            continue;
        }
        let page = http.get(format!("{base}{path}")).header("cookie", cookie).send().await.expect("page");
        assert_eq!(page.status(), 200, "{path}");
        let html = page.text().await.expect("html");
        seen.push(path);
        for link in html.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next()) {
            let link = link.replace("&amp;", "&");
            // Links, not the logo or the script; no link that signs in.
            if link.starts_with("/portal") && !link.starts_with("/portal/login") && !link.contains('#') {
                next.push(link);
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_a_portal_link_that_opens_while_it_keeps_serving() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(BIN)
        .args(["demo", "--keep"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run hookline demo --keep");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Its API key, then the tenant's link and the operator's.
    let (key, link, operator) = tokio::time::timeout(Duration::from_secs(60), async {
        let (mut key, mut links) = (None, Vec::new());
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.trim().strip_prefix("API key: ") {
                key = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(at) = line.find("http://")
                && line.contains("/portal/login?token=")
            {
                links.push(line[at..].trim().to_owned());
                if links.len() == 2 {
                    return (key.expect("the demo prints its API key"), links.remove(0), links.remove(0));
                }
            }
        }
        panic!("the demo ended without its key and two portal links")
    })
    .await
    .expect("the key and the links within a minute");
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let opened = http.get(&link).send().await.expect("open the link");
    assert_eq!(opened.status(), 303);
    let cookie =
        opened.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    let base = link.split("/portal/").next().expect("base");
    let page = http.get(format!("{base}/portal/")).header("cookie", &cookie).send().await.expect("portal");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("acme-video") && html.contains("3 endpoints"), "{html}");
    // The declared types are the endpoint form's toggles.
    assert!(html.contains("video.deleted") && html.contains("job.failed"), "{html}");
    // The printed key reaches the API; the operator's link opens.
    let types = http.get(format!("{base}/v1/event-types")).bearer_auth(&key).send().await.expect("types");
    assert_eq!(types.status(), 200);
    let types: serde_json::Value = types.json().await.expect("JSON");
    assert_eq!(types["data"].as_array().map(Vec::len), Some(4), "{types}");
    assert!(types["data"][0]["example"].is_object(), "each with its example: {types}");
    // Every page a customer's link leads to answers, and so does every
    // page the operator's does: followed link by link from the first.
    let seen = crawl(&http, base, &cookie).await;
    for kind in
        ["/portal/endpoints/", "/portal/deliveries/", "/portal/events/", "/attempts/", "/portal/event-types"]
    {
        assert!(seen.iter().any(|p| p.contains(kind)), "no {kind} page reached: {seen:?}");
    }
    let opened = http.get(&operator).send().await.expect("operator link");
    assert_eq!(opened.status(), 303);
    let cookie =
        opened.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    let seen = crawl(&http, base, &cookie).await;
    for kind in ["/portal/tenants", "/portal/service", "/portal/dead-letters", "/portal/endpoints/"] {
        assert!(seen.iter().any(|p| p.contains(kind)), "no {kind} page reached: {seen:?}");
    }
    let _ =
        std::process::Command::new("kill").args(["-TERM", &child.id().expect("pid").to_string()]).status();
    let status =
        tokio::time::timeout(Duration::from_secs(40), child.wait()).await.expect("stops").expect("status");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_egress_proxy_every_delivery_goes_through_it_signed_as_ever() {
    let proxy = hookline_tests::proxy::Proxy::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[("HOOKLINE_EGRESS_PROXY", &proxy.url)],
    )
    .await;
    let r = Receiver::start().await;
    let (status, sub) =
        h.call("POST", "/v1/subscriptions", Some(json!({"tenant":"acme","url":r.url("/hooks")}))).await;
    assert_eq!(status, 201, "{sub}");
    let secret = sub["secret"].as_str().expect("secret").to_owned();
    let (status, _) = h
        .call("POST", "/v1/events", Some(json!({"tenant":"acme","type":"order.paid","payload":{"n":1}})))
        .await;
    assert_eq!(status, 202);
    let got =
        eventually(Duration::from_secs(30), "the delivery", || async { r.received().first().cloned() }).await;
    hookline_tests::receiver::verify_standard(&secret, &got, chrono::Utc::now().timestamp()).expect("signed");
    let receiver = r.url("/").trim_start_matches("http://").trim_end_matches('/').to_owned();
    assert_eq!(proxy.asked(), [receiver], "by the proxy, and only to the receiver");
    // A bad proxy URL stops the start, naming its variable.
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOOKLINE_EGRESS_PROXY", "socks5://127.0.0.1:1080")
        .output()
        .expect("run hookline");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOOKLINE_EGRESS_PROXY"));
}
