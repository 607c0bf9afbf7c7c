//! End-to-end behaviour written once and run in both modes: against the
//! embedded binary (`server/tests/scenarios.rs`) and against the AWS
//! handlers on moto (`tests/aws_e2e.rs`). A [`Hook`] is the service as its
//! API user sees it, plus a way to let queued work happen. Every receiver
//! verifies signatures with its own code.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::receiver::{Receiver, Reply, verify_standard};

/// The service under test.
#[async_trait]
pub trait Hook: Send + Sync {
    /// Calls the API with extra request headers; the status and JSON body.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value);
    /// Lets queued work happen (one Lambda batch; a pause for the binary).
    async fn tick(&self);

    /// Calls the API; the status and JSON body.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, body, &[]).await
    }
}

async fn ok(h: &dyn Hook, method: &str, path: &str, body: Option<Value>, expect: u16) -> Value {
    let (status, v) = h.call(method, path, body).await;
    assert_eq!(status, expect, "{method} {path}: {v}");
    v
}

/// Ticks until the delivery satisfies `done`; returns it.
pub async fn wait_for(h: &dyn Hook, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        if done(&d) {
            return d;
        }
        h.tick().await;
    }
    panic!("delivery {id} never became {what}");
}

/// Ticks until the delivery is in `status`; returns it.
pub async fn wait_status(h: &dyn Hook, id: &str, status: &str) -> Value {
    wait_for(h, id, status, |d| d["status"] == status).await
}

async fn publish(h: &dyn Hook, tenant: &str, ty: &str) -> Vec<String> {
    let ev =
        ok(h, "POST", "/v1/events", Some(json!({"tenant": tenant, "type": ty, "payload": {"n": 1}})), 202)
            .await;
    crate::delivery_ids(&ev)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn subscribe(h: &dyn Hook, body: Value) -> (String, String) {
    let sub = ok(h, "POST", "/v1/subscriptions", Some(body), 201).await;
    (sub["id"].as_str().expect("id").to_owned(), sub["secret"].as_str().expect("secret").to_owned())
}

/// An event goes to every subscription whose patterns want its type, and
/// only to those; each receiver verifies its own signature and reads the
/// payload in the standard envelope; the event lists its deliveries.
pub async fn an_event_fans_out_by_type_with_verified_signatures(h: &dyn Hook) {
    let (a, b, c) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let (_, secret_a) =
        subscribe(h, json!({"tenant":"fan","url":a.url("/hooks"),"event_types":["video.*"]})).await;
    let (_, secret_b) =
        subscribe(h, json!({"tenant":"fan","url":b.url("/in"),"event_types":["video.encoded"]})).await;
    subscribe(h, json!({"tenant":"fan","url":c.url("/x"),"event_types":["import.*"]})).await;
    let payload = json!({"video_id":"v_42","renditions":["1080p"]});
    let ev = ok(
        h,
        "POST",
        "/v1/events",
        Some(json!({"tenant":"fan","type":"video.encoded","payload":payload})),
        202,
    )
    .await;
    let ids = crate::delivery_ids(&ev);
    assert_eq!(ids.len(), 2, "{ev}");
    for id in &ids {
        wait_status(h, id, "succeeded").await;
    }
    for (receiver, secret) in [(&a, &secret_a), (&b, &secret_b)] {
        let got = receiver.received();
        assert_eq!(got.len(), 1);
        verify_standard(secret, &got[0], now()).expect("the signature verifies");
        let body = got[0].json();
        assert_eq!((&body["type"], &body["data"]), (&json!("video.encoded"), &payload));
    }
    assert!(c.received().is_empty(), "the import.* subscription got a video event");
    let event = ok(h, "GET", &format!("/v1/events/{}", ev["id"].as_str().expect("id")), None, 200).await;
    assert_eq!(event["deliveries"].as_array().map(Vec::len), Some(2), "{event}");
}

/// A failing receiver is retried on its schedule under the same delivery id
/// until it answers 2xx, every attempt signed and recorded in order.
pub async fn a_failing_receiver_is_retried_then_succeeds_with_every_attempt_recorded(h: &dyn Hook) {
    let r = Receiver::start().await;
    r.script([Reply::Status(503), Reply::Status(500)]);
    let body = json!({"tenant":"retry","url":r.url("/"),"retry_schedule":["1s","1s","1s"]});
    let (_, secret) = subscribe(h, body).await;
    let id = publish(h, "retry", "job.completed").await.remove(0);
    let d = wait_status(h, &id, "succeeded").await;
    assert_eq!(d["attempt_count"], 3);
    let codes: Vec<Value> =
        d["attempts"].as_array().expect("attempts").iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, vec![json!(503), json!(500), json!(200)]);
    let got = r.received();
    assert_eq!(got.len(), 3);
    for req in &got {
        assert_eq!(req.header("webhook-id"), Some(id.as_str()), "the same id on every retry");
        verify_standard(&secret, req, now()).expect("every attempt is signed");
    }
}

/// A receiver that fails every attempt exhausts the schedule: the delivery
/// fails after exactly the schedule's attempts.
pub async fn an_exhausted_schedule_fails_the_delivery(h: &dyn Hook) {
    let r = Receiver::start().await;
    r.script([Reply::Status(500), Reply::Status(502), Reply::Status(500)]);
    subscribe(h, json!({"tenant":"exhaust","url":r.url("/"),"retry_schedule":["1s","1s"]})).await;
    let id = publish(h, "exhaust", "job.failed").await.remove(0);
    let d = wait_status(h, &id, "failed").await;
    assert_eq!((d["attempt_count"].clone(), d["give_up_reason"].clone()), (json!(3), json!("exhausted")));
    assert_eq!(r.received().len(), 3);
}

/// Publishing twice with one `Idempotency-Key` answers the same and creates
/// one event and one delivery.
pub async fn one_idempotency_key_creates_one_event(h: &dyn Hook) {
    let r = Receiver::start().await;
    subscribe(h, json!({"tenant":"idem","url":r.url("/")})).await;
    let body = json!({"tenant":"idem","type":"import.completed","payload":{"jobId":"abc123"}});
    let key = [("idempotency-key", "import-abc123")];
    let (s1, first) = h.send("POST", "/v1/events", Some(body.clone()), &key).await;
    let (s2, second) = h.send("POST", "/v1/events", Some(body), &key).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first, second);
    let all = ok(h, "GET", "/v1/deliveries?tenant=idem", None, 200).await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1), "the repeat created no delivery: {all}");
}

/// Failed deliveries replayed, then one redelivered after success: same
/// delivery ids, every attempt recorded. With `strict_order` the replay must
/// arrive oldest first (the embedded queue); SQS orders replays only second
/// by second (`DelaySeconds` has whole seconds, a standard queue no order
/// within them), so there only the set is checked.
pub async fn replay_and_redeliver(h: &dyn Hook, strict_order: bool) {
    let r = Receiver::start().await;
    r.script([Reply::Status(500), Reply::Status(500)]);
    let sub = ok(
        h,
        "POST",
        "/v1/subscriptions",
        Some(json!({"tenant":"ops1","url":r.url("/"),"retry_schedule":[]})),
        201,
    )
    .await;
    let sub_id = sub["id"].as_str().expect("id").to_owned();
    let first = publish(h, "ops1", "video.encoded").await.remove(0);
    wait_status(h, &first, "failed").await;
    let second = publish(h, "ops1", "video.encoded").await.remove(0);
    wait_status(h, &second, "failed").await;

    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let replay =
        ok(h, "POST", &format!("/v1/subscriptions/{sub_id}/replay"), Some(json!({"since": since})), 202)
            .await;
    assert_eq!(replay["replayed"], 2);
    for id in [&first, &second] {
        let d = wait_status(h, id, "succeeded").await;
        assert_eq!(d["attempt_count"], 2);
    }
    let mut ids: Vec<String> =
        r.received().iter().filter_map(|q| q.header("webhook-id").map(str::to_owned)).collect();
    let mut replayed = ids.split_off(2);
    if !strict_order {
        replayed.sort();
    }
    let mut expected = vec![first.clone(), second.clone()];
    if !strict_order {
        expected.sort();
    }
    assert_eq!(replayed, expected, "replayed (oldest first: {strict_order})");

    ok(h, "POST", &format!("/v1/deliveries/{first}/redeliver"), None, 202).await;
    wait_for(h, &first, "succeeded after a third attempt", |d| {
        d["status"] == "succeeded" && d["attempt_count"] == 3
    })
    .await;
    let got = r.received();
    assert_eq!(got.last().and_then(|q| q.header("webhook-id")), Some(first.as_str()), "the same delivery id");
    let (status, _) = h.call("POST", "/v1/deliveries/dlv_01jdx000000000000000000000/redeliver", None).await;
    assert_eq!(status, 404);
}

/// After a rotation both secrets sign for the grace period; with no grace,
/// only the new one.
pub async fn rotation(h: &dyn Hook) {
    let r = Receiver::start().await;
    let sub = ok(h, "POST", "/v1/subscriptions", Some(json!({"tenant":"ops2","url":r.url("/")})), 201).await;
    let (id, a) = (sub["id"].as_str().expect("id").to_owned(), sub["secret"].as_str().expect("s").to_owned());
    let b = ok(
        h,
        "POST",
        &format!("/v1/subscriptions/{id}/rotate-secret"),
        Some(json!({"grace_period":"1h"})),
        200,
    )
    .await;
    let b = b["secret"].as_str().expect("s").to_owned();
    let d = publish(h, "ops2", "video.encoded").await.remove(0);
    wait_status(h, &d, "succeeded").await;
    let req = r.received().pop().expect("a request");
    verify_standard(&a, &req, now()).expect("the old secret still verifies");
    verify_standard(&b, &req, now()).expect("the new one too");

    let c = ok(
        h,
        "POST",
        &format!("/v1/subscriptions/{id}/rotate-secret"),
        Some(json!({"grace_period":"0s"})),
        200,
    )
    .await;
    let c = c["secret"].as_str().expect("s").to_owned();
    let d = publish(h, "ops2", "video.encoded").await.remove(0);
    wait_status(h, &d, "succeeded").await;
    let req = r.received().pop().expect("a request");
    verify_standard(&c, &req, now()).expect("the newest verifies");
    assert!(verify_standard(&b, &req, now()).is_err(), "no grace: the replaced secret no longer signs");
    let (status, _) = h
        .call("POST", &format!("/v1/subscriptions/{id}/rotate-secret"), Some(json!({"grace_period":"99d"})))
        .await;
    assert_eq!(status, 422);
    let t1 = ok(h, "GET", "/v1/tenants/ops2/secret", None, 200).await;
    let t2 = ok(h, "POST", "/v1/tenants/ops2/rotate-secret", None, 200).await;
    assert_ne!(t1["secret"], t2["secret"]);
}

/// Custom headers, filters, body format, the active flag and the timeout
/// all reach the wire, and a PATCH applies to what is sent next.
pub async fn settings_end_to_end(h: &dyn Hook) {
    let r = Receiver::start().await;
    let sub = ok(
        h,
        "POST",
        "/v1/subscriptions",
        Some(json!({"tenant":"ops3","url":r.url("/in"),"event_types":["video.*"],"headers":{"X-Env":"prod"},
            "body":{"kind":"raw"},"timeout_ms":1000,"retry_schedule":[]})),
        201,
    )
    .await;
    let id = sub["id"].as_str().expect("id").to_owned();
    assert!(publish(h, "ops3", "import.completed").await.is_empty(), "the filter keeps other types out");
    let d = publish(h, "ops3", "video.encoded").await.remove(0);
    wait_status(h, &d, "succeeded").await;
    let q = r.received().pop().expect("request");
    assert_eq!(q.header("x-env"), Some("prod"));
    assert_eq!(q.json(), json!({"n": 1}), "the raw body is the payload");

    ok(h, "PATCH", &format!("/v1/subscriptions/{id}"), Some(json!({"active": false})), 200).await;
    assert!(publish(h, "ops3", "video.encoded").await.is_empty(), "an inactive subscription gets nothing");
    ok(
        h,
        "PATCH",
        &format!("/v1/subscriptions/{id}"),
        Some(json!({"active": true, "headers": {"X-Env": "staging"}, "body": {"kind":"standard"}})),
        200,
    )
    .await;
    r.script([Reply::Slow(Duration::from_secs(3), 200)]);
    let d = publish(h, "ops3", "video.updated").await.remove(0);
    let failed = wait_status(h, &d, "failed").await;
    assert_eq!(failed["attempts"][0]["error"], "timeout", "{failed}");
    let q = r.received().pop().expect("request");
    assert_eq!(q.header("x-env"), Some("staging"), "the PATCH applied");
    assert_eq!(q.json()["type"], "video.updated");
    let (status, _) =
        h.call("PATCH", &format!("/v1/subscriptions/{id}"), Some(json!({"headers":{"Host":"x"}}))).await;
    assert_eq!(status, 422, "reserved headers are refused");

    // Another provider's format, switched to by PATCH, reaches the wire.
    let patched = ok(
        h,
        "PATCH",
        &format!("/v1/subscriptions/{id}"),
        Some(json!({"preset":"ignite","timeout_ms":5000})),
        200,
    )
    .await;
    assert_eq!(patched["preset"], "ignite");
    let secret = ok(
        h,
        "POST",
        &format!("/v1/subscriptions/{id}/rotate-secret"),
        Some(json!({"grace_period":"0s"})),
        200,
    )
    .await;
    let secret = secret["secret"].as_str().expect("secret").to_owned();
    let video =
        json!({"id":"507f1f77bcf86cd799439011","title":"My Video","updatedAt":"2024-01-15T10:30:00.000Z"});
    let ev = ok(
        h,
        "POST",
        "/v1/events",
        Some(json!({"tenant":"ops3","type":"video.created","payload":video})),
        202,
    )
    .await;
    let d = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    wait_status(h, &d, "succeeded").await;
    let q = r.received().pop().expect("request");
    (crate::providers::ignite(&secret))(&q).expect("an Ignite receiver accepts it");
    assert_eq!(q.header("x-webhook-event"), Some("video.created"));
    assert_eq!(q.json(), video, "Ignite's body is the object itself");
}

/// A subscription whose deliveries keep failing for the disable period is
/// disabled, and its pending delivery canceled (the service runs with a
/// short disable period here).
pub async fn disabled_after_failing_for_the_period(h: &dyn Hook) {
    let r = Receiver::start().await;
    r.script([Reply::Status(503); 20]);
    let body = json!({"tenant":"ops6","url":r.url("/"),"retry_schedule":["1s","1s","1s","1s","1s"]});
    let sub = ok(h, "POST", "/v1/subscriptions", Some(body), 201).await;
    let id = sub["id"].as_str().expect("id").to_owned();
    let d = publish(h, "ops6", "a.b").await.remove(0);
    wait_status(h, &d, "canceled").await;
    let s = ok(h, "GET", &format!("/v1/subscriptions/{id}"), None, 200).await;
    assert_eq!(s["active"], false, "{s}");
    assert!(s["disabled_reason"].as_str().is_some_and(|r| r.contains("disable period")), "{s}");
    let attempts =
        ok(h, "GET", &format!("/v1/deliveries/{d}"), None, 200).await["attempt_count"].as_u64().unwrap_or(0);
    assert!((1..=5).contains(&attempts), "disabled before its schedule ran out ({attempts} attempts of 6)");
}

/// The stop header ends one delivery; 410 disables the subscription and
/// cancels its pending deliveries, which re-enabling does not resurrect
/// unless they are replayed.
pub async fn endpoint_health(h: &dyn Hook) {
    let r = Receiver::start().await;
    r.script([Reply::WithHeader(500, "hookline-stop-retries", "true")]);
    let sub = ok(
        h,
        "POST",
        "/v1/subscriptions",
        Some(json!({"tenant":"ops4","url":r.url("/"),"retry_schedule":["1s","1s"]})),
        201,
    )
    .await;
    let id = sub["id"].as_str().expect("id").to_owned();
    let d = publish(h, "ops4", "a.b").await.remove(0);
    let stopped = wait_status(h, &d, "failed").await;
    assert_eq!(
        (stopped["attempt_count"].clone(), stopped["give_up_reason"].clone()),
        (json!(1), json!("receiver_stopped"))
    );

    r.script([Reply::Status(410)]);
    let gone = publish(h, "ops4", "a.b").await.remove(0);
    wait_status(h, &gone, "failed").await;
    let s = ok(h, "GET", &format!("/v1/subscriptions/{id}"), None, 200).await;
    assert_eq!(s["active"], false);
    assert!(s["disabled_reason"].as_str().is_some_and(|r| r.contains("410")));
    assert!(publish(h, "ops4", "a.b").await.is_empty());

    ok(h, "PATCH", &format!("/v1/subscriptions/{id}"), Some(json!({"active": true})), 200).await;
    let d2 = ok(h, "GET", &format!("/v1/deliveries/{gone}"), None, 200).await;
    assert_eq!(d2["status"], "failed", "re-enabling resurrects nothing");
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let replay = ok(
        h,
        "POST",
        &format!("/v1/subscriptions/{id}/replay"),
        Some(json!({"since": since, "status": "failed"})),
        202,
    )
    .await;
    assert_eq!(replay["replayed"], 2);
    wait_status(h, &gone, "succeeded").await;
}

/// hookline's own events reach the operator's URL, signed with the
/// hookline-ops tenant's secret.
pub async fn operational_events(h: &dyn Hook, ops: &Receiver) {
    let r = Receiver::start().await;
    r.script([Reply::Status(500)]);
    ok(
        h,
        "POST",
        "/v1/subscriptions",
        Some(json!({"tenant":"ops5","url":r.url("/"),"retry_schedule":[]})),
        201,
    )
    .await;
    let d = publish(h, "ops5", "video.encoded").await.remove(0);
    wait_status(h, &d, "failed").await;
    let mut got = Vec::new();
    for _ in 0..100 {
        got = ops.received();
        if !got.is_empty() {
            break;
        }
        h.tick().await;
    }
    let event = got.first().expect("an operational event arrived");
    let body = event.json();
    assert_eq!(body["type"], "delivery.exhausted");
    assert_eq!(body["data"]["delivery_id"], json!(d));
    let secret = ok(h, "GET", "/v1/tenants/hookline-ops/secret", None, 200).await;
    verify_standard(secret["secret"].as_str().expect("secret"), event, now())
        .expect("signed by hookline-ops");
}
