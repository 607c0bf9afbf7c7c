//! End-to-end behaviour written once and run in both modes: against the
//! embedded binary (`server/tests/embedded/scenarios.rs`) and against the AWS
//! handlers on moto (`tests/aws/e2e.rs`). A [`ServiceUnderTest`] is the service as its
//! API user sees it, plus a way to let queued work happen. Every receiver
//! verifies signatures with its own code.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::receiver::{Receiver, Reply, verify_standard};

/// The service under test.
#[async_trait]
pub trait ServiceUnderTest: Send + Sync {
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

async fn ok(h: &dyn ServiceUnderTest, method: &str, path: &str, body: Option<Value>, expect: u16) -> Value {
    let (status, v) = h.call(method, path, body).await;
    assert_eq!(status, expect, "{method} {path}: {v}");
    v
}

/// Ticks until the delivery satisfies `done`; returns it.
pub async fn wait_for(
    h: &dyn ServiceUnderTest,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
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
pub async fn wait_status(h: &dyn ServiceUnderTest, id: &str, status: &str) -> Value {
    wait_for(h, id, status, |d| d["status"] == status).await
}

async fn publish(h: &dyn ServiceUnderTest, tenant: &str, ty: &str) -> Vec<String> {
    let ev =
        ok(h, "POST", "/v1/events", Some(json!({"tenant": tenant, "type": ty, "payload": {"n": 1}})), 202)
            .await;
    crate::delivery_ids(&ev)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn subscribe(h: &dyn ServiceUnderTest, body: Value) -> (String, String) {
    let sub = ok(h, "POST", "/v1/subscriptions", Some(body), 201).await;
    (sub["id"].as_str().expect("id").to_owned(), sub["secret"].as_str().expect("secret").to_owned())
}

/// An event goes to every subscription whose patterns want its type, and
/// only to those; each receiver verifies its own signature and reads the
/// payload in the standard envelope; the event lists its deliveries.
pub async fn an_event_fans_out_by_type_with_verified_signatures(h: &dyn ServiceUnderTest) {
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
pub async fn a_failing_receiver_is_retried_then_succeeds_with_every_attempt_recorded(
    h: &dyn ServiceUnderTest,
) {
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
pub async fn an_exhausted_schedule_fails_the_delivery(h: &dyn ServiceUnderTest) {
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
pub async fn one_idempotency_key_creates_one_event(h: &dyn ServiceUnderTest) {
    let r = Receiver::start().await;
    subscribe(h, json!({"tenant":"idem","url":r.url("/")})).await;
    let body = json!({"tenant":"idem","type":"import.completed","payload":{"jobId":"abc123"}});
    let key = [("idempotency-key", "import-abc123")];
    let (s1, first) = h.send("POST", "/v1/events", Some(body.clone()), &key).await;
    let (s2, second) = h.send("POST", "/v1/events", Some(body), &key).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first, second);
    // The same key for a different request is a client's mistake, not a retry.
    let different = json!({"tenant":"idem","type":"import.completed","payload":{"jobId":"other"}});
    let (status, err) = h.send("POST", "/v1/events", Some(different), &key).await;
    assert_eq!((status, err["error"]["code"].clone()), (422, json!("idempotency_key_reused")), "{err}");
    let all = ok(h, "GET", "/v1/deliveries?tenant=idem", None, 200).await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1), "the repeat created no delivery: {all}");
}

/// Failed deliveries replayed, then one redelivered after success: same
/// delivery ids, every attempt recorded. With `strict_order` the replay must
/// arrive oldest first (the embedded queue); SQS orders replays only second
/// by second (`DelaySeconds` has whole seconds, a standard queue no order
/// within them), so there only the set is checked.
pub async fn replay_and_redeliver(h: &dyn ServiceUnderTest, strict_order: bool) {
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
pub async fn rotation(h: &dyn ServiceUnderTest) {
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
    // A tenant's secret exists only once created, and reading it creates
    // nothing.
    let (status, _) = h.call("GET", "/v1/tenants/ops2/secret", None).await;
    assert_eq!(status, 404, "no secret until one is created");
    let (status, _) = h.call("POST", "/v1/tenants/ops2/rotate-secret", None).await;
    assert_eq!(status, 404, "nothing to rotate yet");
    let t1 = ok(h, "POST", "/v1/tenants/ops2/secret", None, 201).await;
    assert_eq!(ok(h, "GET", "/v1/tenants/ops2/secret", None, 200).await["secret"], t1["secret"]);
    let (status, _) = h.call("POST", "/v1/tenants/ops2/secret", None).await;
    assert_eq!(status, 409, "one secret; rotate it to change it");
    let t2 = ok(h, "POST", "/v1/tenants/ops2/rotate-secret", None, 200).await;
    assert_ne!(t1["secret"], t2["secret"]);
    assert_eq!(ok(h, "GET", "/v1/tenants/ops2/secret", None, 200).await["secret"], t2["secret"]);
}

/// Custom headers, filters, body format, the active flag and the timeout
/// all reach the wire, and a PATCH applies to what is sent next.
pub async fn settings_end_to_end(h: &dyn ServiceUnderTest) {
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
pub async fn disabled_after_failing_for_the_period(h: &dyn ServiceUnderTest) {
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
pub async fn endpoint_health(h: &dyn ServiceUnderTest) {
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

/// hookline's own events reach the operator's URL through the signed
/// delivery path, one per occurrence: a subscription created; a delivery
/// exhausted, then redelivered and exhausted again (a second occurrence),
/// its second failure in a row announcing the subscription as failing (the
/// services under test announce after 2); a success ending the run
/// (recovered); an update naming what changed; the deletion. The ops tenant
/// is reserved to hookline.
pub async fn operational_events(h: &dyn ServiceUnderTest, ops: &Receiver, ops_secret: &str) {
    let r = Receiver::start().await;
    r.script([Reply::Status(500), Reply::Status(500)]);
    let (sub, secret) = subscribe(h, json!({"tenant":"ops5","url":r.url("/"),"retry_schedule":[]})).await;
    let created = wait_for_ops(h, ops, &["subscription.created"]).await;
    assert_eq!(created[0].json()["data"]["subscription"]["id"], json!(sub));
    let key = secret.trim_start_matches("whsec_");
    assert!(!String::from_utf8_lossy(&created[0].body).contains(key), "no secret in an operational event");

    let d = publish(h, "ops5", "video.encoded").await.remove(0);
    wait_status(h, &d, "failed").await;
    let got = wait_for_ops(h, ops, &["subscription.created", "delivery.exhausted"]).await;
    let body = got[1].json();
    assert_eq!(body["data"]["delivery_id"], json!(d));
    for event in &got {
        verify_standard(ops_secret, event, now()).expect("signed with the operator's secret");
    }

    // Redelivered, it fails again: a second occurrence, a second event; and
    // its second failure in a row announces the subscription as failing.
    ok(h, "POST", &format!("/v1/deliveries/{d}/redeliver"), None, 202).await;
    wait_for(h, &d, "failed a second time", |v| v["status"] == "failed" && v["attempt_count"] == 2).await;
    let got = wait_for_ops(
        h,
        ops,
        &["subscription.created", "delivery.exhausted", "delivery.exhausted", "subscription.failing"],
    )
    .await;
    let exhausted: Vec<Value> = got
        .iter()
        .filter(|e| e.json()["type"] == "delivery.exhausted")
        .map(|e| e.json()["data"]["attempts"].clone())
        .collect();
    assert_eq!(exhausted, vec![json!(1), json!(2)], "one event per occurrence");
    let failing = got.iter().find(|e| e.json()["type"] == "subscription.failing").expect("failing").json();
    assert_eq!(failing["data"]["subscription_id"], json!(sub));
    assert_eq!(
        (failing["data"]["failed_attempts"].clone(), failing["data"]["last_status_code"].clone()),
        (json!(2), json!(500))
    );
    assert!(failing["data"]["disabled_at_the_latest"].is_string(), "{failing}");
    let ids: std::collections::HashSet<_> = got.iter().filter_map(|e| e.header("webhook-id")).collect();
    assert_eq!(ids.len(), got.len(), "every occurrence its own id");

    // The endpoint answers again: the run of failures is over.
    ok(h, "POST", &format!("/v1/deliveries/{d}/redeliver"), None, 202).await;
    wait_for(h, &d, "succeeded", |v| v["status"] == "succeeded").await;
    let got = wait_for_ops(h, ops, &["subscription.recovered"]).await;
    let recovered =
        got.iter().find(|e| e.json()["type"] == "subscription.recovered").expect("recovered").json();
    assert_eq!(recovered["data"]["failing_since"], failing["data"]["failing_since"], "{recovered}");

    ok(h, "PATCH", &format!("/v1/subscriptions/{sub}"), Some(json!({"description":"renamed"})), 200).await;
    let got = wait_for_ops(h, ops, &["subscription.updated"]).await;
    let updated = got.iter().find(|e| e.json()["type"] == "subscription.updated").expect("updated").json();
    assert_eq!(updated["data"]["changed"], json!(["description"]), "{updated}");
    assert_eq!(updated["data"]["subscription"]["description"], "renamed");
    ok(h, "DELETE", &format!("/v1/subscriptions/{sub}"), None, 204).await;
    let got = wait_for_ops(h, ops, &["subscription.deleted"]).await;
    assert_eq!(
        got.iter().filter(|e| e.json()["type"] == "subscription.failing").count(),
        1,
        "announced once"
    );
    for event in &got {
        verify_standard(ops_secret, event, now()).expect("signed with the operator's secret");
    }

    for (method, path, body) in [
        (
            "POST",
            "/v1/events",
            Some(json!({"tenant":"hookline-ops","type":"delivery.exhausted","payload":{}})),
        ),
        ("POST", "/v1/subscriptions", Some(json!({"tenant":"hookline-ops","url":r.url("/steal")}))),
        ("GET", "/v1/tenants/hookline-ops/secret", None),
        ("POST", "/v1/tenants/hookline-ops/secret", None),
    ] {
        let (status, v) = h.call(method, path, body).await;
        assert_eq!(status, 422, "{method} {path}: the ops tenant is reserved: {v}");
    }
}

/// Ticks until the operator's receiver holds at least the events of these
/// types (each as many times as listed); returns every event received.
async fn wait_for_ops(
    h: &dyn ServiceUnderTest,
    ops: &Receiver,
    types: &[&str],
) -> Vec<crate::receiver::Received> {
    for _ in 0..150 {
        let got = ops.received();
        let seen: Vec<String> =
            got.iter().map(|e| e.json()["type"].as_str().unwrap_or_default().to_owned()).collect();
        if types
            .iter()
            .all(|t| seen.iter().filter(|s| s == t).count() >= types.iter().filter(|x| x == &t).count())
        {
            return got;
        }
        h.tick().await;
    }
    let seen: Vec<Value> = ops.received().iter().map(|e| e.json()["type"].clone()).collect();
    panic!("operational events {types:?} never arrived: {seen:?}");
}

/// The subscription limit both harnesses configure
/// (`HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT`): the limit scenario creates
/// past it.
pub const SUBSCRIPTION_LIMIT: &str = "50";

/// The tenant-scoped keys every service under test accepts beside its
/// operator key (`HOOKLINE_TENANT_API_KEYS`).
pub const TENANT_KEYS: &str = "scopea:key-for-scope-a,scopeb:key-for-scope-b";
/// The secret that signs operational events in the services under test.
pub const OPS_SECRET: &str = "whsec_b3BzLXNlY3JldC1mb3ItdGhlLXRlc3Qtc3VpdGU=";

fn bearer(key: &str) -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {key}"))]
}

async fn as_key(
    h: &dyn ServiceUnderTest,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let auth = bearer(key);
    let headers: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.send(method, path, body, &headers).await
}

/// A tenant's key reaches its tenant's data and nothing of another's: each
/// attempt on another tenant's subscription, event, delivery, secret or
/// lists answers 404, as for an id that does not exist. Custom header values
/// are never shown back.
pub async fn a_tenant_key_reaches_its_own_tenant_alone(h: &dyn ServiceUnderTest) {
    let r = Receiver::start().await;
    let (a, b) = ("key-for-scope-a", "key-for-scope-b");
    // What scope b owns, made by the operator.
    let (sub_b, _) = subscribe(h, json!({"tenant":"scopeb","url":r.url("/b")})).await;
    let ev = ok(
        h,
        "POST",
        "/v1/events",
        Some(json!({"tenant":"scopeb","type":"video.encoded","payload":{}})),
        202,
    )
    .await;
    let ev_b = ev["id"].as_str().expect("id").to_owned();
    let d_b = crate::delivery_ids(&ev)[0].clone();
    ok(h, "POST", "/v1/tenants/scopeb/secret", None, 201).await;
    wait_status(h, &d_b, "succeeded").await;

    let since = "2020-01-01T00:00:00Z";
    for (method, path, body) in [
        ("GET", format!("/v1/subscriptions/{sub_b}"), None),
        ("PATCH", format!("/v1/subscriptions/{sub_b}"), Some(json!({"description":"mine now"}))),
        ("DELETE", format!("/v1/subscriptions/{sub_b}"), None),
        ("POST", format!("/v1/subscriptions/{sub_b}/rotate-secret"), None),
        ("POST", format!("/v1/subscriptions/{sub_b}/replay"), Some(json!({"since": since}))),
        ("GET", "/v1/subscriptions?tenant=scopeb".to_owned(), None),
        ("POST", "/v1/subscriptions".to_owned(), Some(json!({"tenant":"scopeb","url":r.url("/x")}))),
        (
            "POST",
            "/v1/events".to_owned(),
            Some(json!({"tenant":"scopeb","type":"video.encoded","payload":{}})),
        ),
        ("GET", format!("/v1/events/{ev_b}"), None),
        ("GET", format!("/v1/deliveries/{d_b}"), None),
        ("POST", format!("/v1/deliveries/{d_b}/redeliver"), None),
        ("GET", "/v1/deliveries?tenant=scopeb".to_owned(), None),
        ("GET", "/v1/tenants/scopeb/secret".to_owned(), None),
        ("POST", "/v1/tenants/scopeb/rotate-secret".to_owned(), None),
        ("GET", "/v1/tenants/scopeb/one-off".to_owned(), None),
        ("PUT", "/v1/tenants/scopeb/one-off".to_owned(), Some(json!({}))),
    ] {
        let (status, v) = as_key(h, a, method, &path, body).await;
        assert_eq!(status, 404, "scope a's key on {method} {path}: {v}");
        assert_eq!(v["error"]["code"], "not_found", "{method} {path}");
    }
    let (_, by_sub) = as_key(h, a, "GET", &format!("/v1/deliveries?subscription={sub_b}"), None).await;
    assert_eq!(by_sub["data"], json!([]), "another tenant's deliveries are not listed: {by_sub}");
    let still = ok(h, "GET", &format!("/v1/subscriptions/{sub_b}"), None, 200).await;
    assert!(still["description"].is_null(), "nothing of scope b changed: {still}");
    assert_eq!(
        as_key(h, b, "GET", &format!("/v1/deliveries/{d_b}"), None).await.0,
        200,
        "b's own key reaches it"
    );

    // Its own tenant, a key does everything with; lists default to it.
    let (status, mine) = as_key(
        h,
        a,
        "POST",
        "/v1/subscriptions",
        Some(json!({"tenant":"scopea","url":r.url("/a"),"headers":{"Authorization":"Bearer receiver-token-7"}})),
    )
    .await;
    assert_eq!(status, 201, "{mine}");
    let (_, listed) = as_key(h, a, "GET", "/v1/subscriptions", None).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["data"][0]["tenant"], "scopea");
    let shown =
        ok(h, "GET", &format!("/v1/subscriptions/{}", mine["id"].as_str().expect("id")), None, 200).await;
    assert_eq!(shown["headers"], json!({"authorization": "********"}), "header values are write-only");
    assert!(
        !listed.to_string().contains("receiver-token-7") && !mine.to_string().contains("receiver-token-7")
    );
    let (status, _) = as_key(
        h,
        a,
        "POST",
        "/v1/events",
        Some(json!({"tenant":"scopea","type":"video.encoded","payload":{}})),
    )
    .await;
    assert_eq!(status, 202);
    let got = r.received();
    assert!(
        got.iter().all(|q| q.path != "/a" || q.header("authorization") == Some("Bearer receiver-token-7"))
    );
}

/// Concurrent writes keep every change: creates never pass the tenant's
/// configured limit ([`SUBSCRIPTION_LIMIT`]), and a PATCH racing a rotation neither loses the new secret nor
/// its own change.
pub async fn concurrent_writes_keep_every_change(h: &dyn ServiceUnderTest) {
    let r = Receiver::start().await;
    let creates = (0..60).map(|i| {
        h.call(
            "POST",
            "/v1/subscriptions",
            Some(json!({"tenant":"race","url":r.url(&format!("/{i}")),"event_types":["none.*"]})),
        )
    });
    let statuses: Vec<u16> =
        futures_util::future::join_all(creates).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 50, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 10, "{statuses:?}");
    let mut total = 0;
    let mut cursor = String::new();
    loop {
        let page = ok(h, "GET", &format!("/v1/subscriptions?tenant=race&limit=100{cursor}"), None, 200).await;
        total += page["data"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(total, 50, "the tenant holds exactly its limit");

    let (id, _) = subscribe(h, json!({"tenant":"race2","url":r.url("/rot")})).await;
    let path = format!("/v1/subscriptions/{id}");
    let rotate_path = format!("{path}/rotate-secret");
    let edits: Vec<Value> = (0..8).map(|i| json!({"description": format!("edit {i}")})).collect();
    let patches = edits.iter().map(|e| h.call("PATCH", &path, Some(e.clone())));
    let rotate = h.call("POST", &rotate_path, Some(json!({"grace_period":"0s"})));
    let (rotated, patched) = tokio::join!(rotate, futures_util::future::join_all(patches));
    assert_eq!(rotated.0, 200, "{}", rotated.1);
    assert!(patched.iter().all(|(s, _)| *s == 200 || *s == 409), "{patched:?}");
    let after = ok(h, "GET", &format!("/v1/subscriptions/{id}"), None, 200).await;
    assert!(after["description"].as_str().is_some_and(|d| d.starts_with("edit ")), "a PATCH landed: {after}");
    let d = publish(h, "race2", "video.encoded").await.remove(0);
    wait_status(h, &d, "succeeded").await;
    let req = r.received().into_iter().rfind(|q| q.path == "/rot").expect("a request");
    verify_standard(rotated.1["secret"].as_str().expect("secret"), &req, now())
        .expect("the rotated secret signs: no PATCH wrote the old one back");
}

/// A PATCH racing the automatic disable of a subscription (410 Gone) never
/// re-enables it.
pub async fn a_patch_racing_a_disable_never_re_enables(h: &dyn ServiceUnderTest) {
    let r = Receiver::start().await;
    r.script([Reply::Status(410)]);
    let (id, _) = subscribe(h, json!({"tenant":"race3","url":r.url("/"),"retry_schedule":[]})).await;
    let d = publish(h, "race3", "video.encoded").await.remove(0);
    let path = format!("/v1/subscriptions/{id}");
    for n in 0.. {
        assert!(n < 150, "the delivery never finished");
        let patch = h.call("PATCH", &path, Some(json!({"description": format!("edit {n}")})));
        tokio::join!(h.tick(), patch);
        if h.call("GET", &format!("/v1/deliveries/{d}"), None).await.1["status"] == "failed" {
            break;
        }
    }
    for i in 0..3 {
        h.call(
            "PATCH",
            &format!("/v1/subscriptions/{id}"),
            Some(json!({"description": format!("after {i}")})),
        )
        .await;
    }
    let s = ok(h, "GET", &format!("/v1/subscriptions/{id}"), None, 200).await;
    assert_eq!(s["active"], false, "still disabled: {s}");
    assert!(s["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{s}");
}

/// A delivery that cannot be built from the publisher's payload fails at
/// once, says so, and is not held against the endpoint.
pub async fn a_payload_that_cannot_be_sent_is_the_publishers_fault(h: &dyn ServiceUnderTest) {
    let r = Receiver::start().await;
    let merged = json!({"kind":"object","type_field":"event"});
    let (id, _) = subscribe(h, json!({"tenant":"blame","url":r.url("/"),"body":merged})).await;
    let ev = ok(
        h,
        "POST",
        "/v1/events",
        Some(json!({"tenant":"blame","type":"video.encoded","payload":[1,2]})),
        202,
    )
    .await;
    let d = crate::delivery_ids(&ev).remove(0);
    let failed = wait_status(h, &d, "failed").await;
    assert_eq!(failed["give_up_reason"], "unsendable", "{failed}");
    assert_eq!(failed["attempts"][0]["error"], "payload", "{failed}");
    assert!(r.received().is_empty(), "nothing was sent");
    let s = ok(h, "GET", &format!("/v1/subscriptions/{id}"), None, 200).await;
    assert!(s["failing_since"].is_null(), "the endpoint is not failing: {s}");
    assert_eq!(s["active"], true);
}

/// A tenant's per-job `webhook_url` deliveries follow its one-off profile:
/// Transcodely's format to Transcodely's published receiver, Importly's to
/// an Importly receiver, each with the secret the platform imported.
pub async fn per_job_urls_speak_the_tenants_format(
    h: &dyn ServiceUnderTest,
    transcodely: &crate::external::External,
) {
    let (status, err) = h
        .call(
            "POST",
            "/v1/events",
            Some(
                json!({"tenant":"jobs","type":"job.completed","payload":{},"webhook_url":transcodely.url()}),
            ),
        )
        .await;
    assert_eq!(status, 409, "no secret, no one-off delivery: {err}");
    let profile = ok(
        h,
        "PUT",
        "/v1/tenants/jobs/one-off",
        Some(json!({"preset":"transcodely","secret":"whsec_your_signing_secret"})),
        200,
    )
    .await;
    assert_eq!(
        (profile["secret"].as_str(), profile["preset"].as_str()),
        (Some("********"), Some("transcodely"))
    );
    let read = ok(h, "GET", "/v1/tenants/jobs/one-off", None, 200).await;
    assert!(!read.to_string().contains("your_signing_secret"), "the secret is masked: {read}");
    let job = json!({"id":"job_a1b2c3d4e5f6","status":"completed","progress":100});
    let ev = ok(
        h,
        "POST",
        "/v1/events",
        Some(json!({"tenant":"jobs","type":"job.completed","payload":job,"webhook_url":transcodely.url()})),
        202,
    )
    .await;
    let d = crate::delivery_ids(&ev).remove(0);
    wait_status(h, &d, "succeeded").await;
    let seen = transcodely.seen();
    let last = seen.last().expect("Transcodely's receiver got the job");
    assert_eq!(last["ok"], true, "Transcodely's published code accepted it: {last}");
    let body: Value = serde_json::from_str(last["body"].as_str().expect("body")).expect("JSON");
    assert_eq!(
        (body["event"].clone(), body["job"]["id"].clone()),
        (json!("job.completed"), json!("job_a1b2c3d4e5f6"))
    );

    let secret = "importly-dashboard-secret";
    let r = Receiver::start_checking(crate::providers::importly(secret)).await;
    ok(h, "PUT", "/v1/tenants/imports/one-off", Some(json!({"preset":"importly","secret":secret})), 200)
        .await;
    let flat = json!({"jobId":"abc123","status":"completed","creditsUsed":52});
    let ev = ok(
        h,
        "POST",
        "/v1/events",
        Some(json!({"tenant":"imports","type":"import.completed","payload":flat,"webhook_url":r.url("/importly")})),
        202,
    )
    .await;
    wait_status(h, &crate::delivery_ids(&ev)[0], "succeeded").await;
    let q = r.received().pop().expect("the Importly receiver got the import");
    assert_eq!(q.verdict, Some(Ok(())), "it verified Importly's signature");
    assert_eq!(q.json(), flat, "the body is the payload as published");
}

/// `POST /v1/events/batch`: each event published as alone, with its own
/// result in order — one bad event (malformed, invalid, too large, another
/// tenant's under a tenant key, a reused key) fails alone and stores
/// nothing; the good ones are delivered, signed. Idempotency keys hold per
/// event across batches. A batch that is itself wrong is refused whole.
pub async fn a_batch_publishes_each_event_alone(h: &dyn ServiceUnderTest) {
    let r = Receiver::start().await;
    let (_, secret) = subscribe(h, json!({"tenant":"scopea","url":r.url("/batch")})).await;
    let event = |n: u32| json!({"tenant":"scopea","type":"batch.item","payload":{"n":n}});
    let mut keyed = event(2);
    keyed["idempotency_key"] = json!("batch-key-2");
    let too_large = json!({"tenant":"scopea","type":"batch.item","payload":{"blob":"x".repeat(300 * 1024)}});
    // A key used before, by a single publish, for a different request.
    let mut first = event(0);
    first["idempotency_key"] = json!("batch-key-0");
    ok(h, "POST", "/v1/events", Some(first), 202).await;
    let mut reused = event(99);
    reused["idempotency_key"] = json!("batch-key-0");
    let items = json!([
        event(1),
        keyed,
        {"tenant":"scopea","type":"not a type!","payload":{}},
        "not an object",
        too_large,
        {"tenant":"scopeb","type":"batch.item","payload":{}},
        reused,
        event(3),
    ]);
    let key = bearer("key-for-scope-a");
    let headers: Vec<(&str, &str)> = key.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, out) = h.send("POST", "/v1/events/batch", Some(json!({"events": items})), &headers).await;
    assert_eq!(status, 200, "{out}");
    let statuses: Vec<u64> = out["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, vec![202, 202, 422, 422, 413, 404, 422, 202], "{out}");
    assert_eq!((out["accepted"].clone(), out["failed"].clone()), (json!(3), json!(5)));
    assert_eq!(out["results"][6]["error"]["code"], "idempotency_key_reused", "{out}");
    assert_eq!(out["results"][5]["error"]["code"], "not_found", "{out}");
    let mut ids = Vec::new();
    for i in [0, 1, 7] {
        let deliveries = out["results"][i]["event"]["deliveries"].as_array().expect("deliveries");
        assert_eq!(deliveries.len(), 1, "{out}");
        ids.push(deliveries[0]["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        wait_status(h, id, "succeeded").await;
    }
    r.wait_for(4, Duration::from_secs(10)).await;
    let got = r.received();
    assert_eq!(got.len(), 4, "the single publish and the batch's accepted events, no more");
    let mut ns: Vec<i64> = got
        .iter()
        .map(|req| {
            verify_standard(&secret, req, now()).expect("each is signed");
            req.json()["data"]["n"].as_i64().expect("n")
        })
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, vec![0, 1, 2, 3]);

    // The same batch's keyed event again: the first answer, nothing new.
    let mut again = event(2);
    again["idempotency_key"] = json!("batch-key-2");
    let out2 = ok(h, "POST", "/v1/events/batch", Some(json!({"events": [again]})), 200).await;
    assert_eq!(out2["results"][0]["event"], out["results"][1]["event"], "{out2}");

    // Wrong as a whole: nothing of it is stored.
    let hundred_and_one: Vec<Value> = (0..101).map(event).collect();
    for (body, status, code) in [
        (json!({"events": []}), 422, "invalid_field"),
        (json!({"events": hundred_and_one}), 422, "invalid_field"),
        (json!({"events": [event(4)], "extra": true}), 422, "invalid_field"),
        (json!([event(4)]), 422, "invalid_field"),
    ] {
        let (s, v) = h.call("POST", "/v1/events/batch", Some(body)).await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)), "{v}");
    }
    let (s, v) = h
        .send("POST", "/v1/events/batch", Some(json!({"events": [event(4)]})), &[("idempotency-key", "k")])
        .await;
    assert_eq!(s, 422, "a batch has no key of its own: {v}");
    for _ in 0..3 {
        h.tick().await;
    }
    assert_eq!(r.received().len(), 4, "nothing of a repeat or of a refused batch was delivered");
}

/// Routing by channel and payload filter: each subscription receives the
/// events its channels and filter let through, and no delivery is created
/// for the others; a bad filter or channel list is refused with the part
/// at fault, and creates nothing; a filter changed by PATCH routes the next
/// event by the new one.
pub async fn channels_and_filters_route_each_event(h: &dyn ServiceUnderTest) {
    let shipped = Receiver::start().await;
    let eu = Receiver::start().await;
    let all = Receiver::start().await;
    let tenant = "routing";
    let (shipped_id, _) = subscribe(
        h,
        json!({"tenant": tenant, "url": shipped.url("/shipped"), "filter":
            {"payload": {"status": "shipped", "amount": {"$gte": 100},
                         "customer": {"region": {"$in": ["eu", "uk"]}}}}}),
    )
    .await;
    let (_, eu_secret) =
        subscribe(h, json!({"tenant": tenant, "url": eu.url("/eu"), "channels": ["store-eu"]})).await;
    subscribe(h, json!({"tenant": tenant, "url": all.url("/all")})).await;

    let order = |n: u32, status: &str, amount: u32, region: &str, channels: Value| {
        json!({"tenant": tenant, "type": "order.updated", "channels": channels,
               "payload": {"n": n, "status": status, "amount": amount, "customer": {"region": region}}})
    };
    let events = [
        order(1, "shipped", 150, "eu", json!(["store-eu"])), // all three
        order(2, "shipped", 50, "eu", json!(["store-us"])),  // too small: `all` alone
        order(3, "pending", 500, "uk", json!([])),           // not shipped: `all` alone
        order(4, "shipped", 100, "uk", json!(["store-us", "store-eu"])), // all three
    ];
    let mut counts = Vec::new();
    let mut last = Vec::new();
    for ev in events {
        let out = ok(h, "POST", "/v1/events", Some(ev), 202).await;
        counts.push(out["deliveries"].as_array().map_or(0, Vec::len));
        last = crate::delivery_ids(&out);
    }
    assert_eq!(counts, vec![3, 1, 1, 3], "a delivery only where channels and filter let the event through");
    for id in &last {
        wait_status(h, id, "succeeded").await;
    }
    all.wait_for(4, Duration::from_secs(10)).await;
    let ns = |r: &Receiver| {
        let mut ns: Vec<i64> =
            r.received().iter().map(|q| q.json()["data"]["n"].as_i64().unwrap_or(0)).collect();
        ns.sort_unstable();
        ns
    };
    assert_eq!(ns(&shipped), vec![1, 4]);
    assert_eq!(ns(&eu), vec![1, 4]);
    assert_eq!(ns(&all), vec![1, 2, 3, 4]);
    for req in eu.received() {
        verify_standard(&eu_secret, &req, now()).expect("signed");
    }
    let (_, event) = h.call("GET", &format!("/v1/deliveries/{}", last[0]), None).await;
    let (_, ev) =
        h.call("GET", &format!("/v1/events/{}", event["event_id"].as_str().unwrap_or_default()), None).await;
    assert_eq!(ev["channels"], json!(["store-us", "store-eu"]), "{ev}");

    // Bad input: 422 naming the part, nothing created.
    let (_, before) = h.call("GET", &format!("/v1/subscriptions?tenant={tenant}"), None).await;
    let bad = [
        (json!({"filter": {"payload": {"amount": {"$between": [1, 2]}}}}), "filter.payload.amount.$between"),
        (json!({"filter": {"payload": {"amount": {"$gt": [1]}}}}), "filter.payload.amount.$gt"),
        (json!({"filter": {"tenant": "x"}}), "filter.tenant"),
        (json!({"channels": ["ok", "not ok"]}), "channels[1]"),
    ];
    for (extra, field) in bad {
        let mut body = json!({"tenant": tenant, "url": all.url("/bad")});
        body.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
        let (status, err) = h.call("POST", "/v1/subscriptions", Some(body)).await;
        assert_eq!(status, 422, "{err}");
        assert!(err["error"]["message"].as_str().unwrap_or_default().contains(field), "{field}: {err}");
    }
    let eleven: Vec<String> = (0..11).map(|n| format!("c{n}")).collect();
    let (status, err) = h
        .call(
            "POST",
            "/v1/events",
            Some(json!({"tenant": tenant, "type": "order.updated", "payload": {}, "channels": eleven})),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(err["error"]["message"].as_str().unwrap_or_default().contains("channels"), "{err}");
    let (_, after) = h.call("GET", &format!("/v1/subscriptions?tenant={tenant}"), None).await;
    assert_eq!(before["data"].as_array().map(Vec::len), after["data"].as_array().map(Vec::len));

    // The filter shown as written, changed, and the next event routed by it.
    let (_, sub) = h.call("GET", &format!("/v1/subscriptions/{shipped_id}"), None).await;
    assert_eq!(sub["filter"]["payload"]["amount"], json!({"$gte": 100}), "{sub}");
    let patch = json!({"filter": {"payload": {"status": "pending"}}});
    ok(h, "PATCH", &format!("/v1/subscriptions/{shipped_id}"), Some(patch), 200).await;
    let out = ok(h, "POST", "/v1/events", Some(order(5, "pending", 1, "us", json!([]))), 202).await;
    assert_eq!(
        out["deliveries"].as_array().map_or(0, Vec::len),
        2,
        "`shipped` now takes pending orders: {out}"
    );
    for id in crate::delivery_ids(&out) {
        wait_status(h, &id, "succeeded").await;
    }
    assert_eq!(ns(&shipped), vec![1, 4, 5]);
    ok(h, "PATCH", &format!("/v1/subscriptions/{shipped_id}"), Some(json!({"filter": null})), 200).await;
    let (_, sub) = h.call("GET", &format!("/v1/subscriptions/{shipped_id}"), None).await;
    assert!(sub.get("filter").is_none(), "{sub}");
}

/// Per-type retry schedules: the most specific pattern that matches an
/// event's type picks its schedule (the exact type, then the longest
/// prefix), else the subscription's own; an empty schedule is one attempt.
/// A bad pattern or schedule is refused naming it, and creates nothing.
pub async fn a_retry_schedule_can_differ_by_event_type(h: &dyn ServiceUnderTest) {
    let r = Receiver::start().await;
    r.script(std::iter::repeat_n(Reply::Status(500), 12));
    let body = json!({"tenant": "schedules", "url": r.url("/"), "retry_schedule": ["1s", "1s", "1s"],
        "retry_schedules": {"typing.*": [], "invoice.*": ["1s", "1s"], "invoice.paid": ["1s"]}});
    let (sub, _) = subscribe(h, body).await;
    let (_, shown) = h.call("GET", &format!("/v1/subscriptions/{sub}"), None).await;
    assert_eq!(shown["retry_schedules"]["typing.*"], json!([]), "{shown}");
    let mut attempts = Vec::new();
    for ty in ["typing.started", "invoice.paid", "invoice.voided", "order.created"] {
        let id = publish(h, "schedules", ty).await.remove(0);
        let d = wait_status(h, &id, "failed").await;
        assert_eq!(d["give_up_reason"], "exhausted", "{d}");
        attempts.push(d["attempt_count"].as_u64().unwrap_or(0));
    }
    assert_eq!(attempts, vec![1, 2, 3, 4], "none, the exact type, the prefix, the subscription's own");

    for (schedules, field) in [
        (json!({"not a type!": []}), "retry_schedules.not a type!"),
        (json!({"typing.*": ["0s"]}), "retry_schedules.typing.*"),
        (json!({"typing.*": "soon"}), "retry_schedules.typing.*"),
    ] {
        let body = json!({"tenant": "schedules", "url": r.url("/bad"), "retry_schedules": schedules});
        let (status, err) = h.call("POST", "/v1/subscriptions", Some(body)).await;
        assert_eq!(status, 422, "{err}");
        assert!(err["error"]["message"].as_str().unwrap_or_default().contains(field), "{field}: {err}");
    }
    let (_, all) = h.call("GET", "/v1/subscriptions?tenant=schedules", None).await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(1), "nothing created: {all}");
    ok(h, "PATCH", &format!("/v1/subscriptions/{sub}"), Some(json!({"retry_schedules": null})), 200).await;
    let (_, cleared) = h.call("GET", &format!("/v1/subscriptions/{sub}"), None).await;
    assert!(cleared.get("retry_schedules").is_none(), "{cleared}");
}
