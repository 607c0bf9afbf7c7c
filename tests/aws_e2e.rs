//! The AWS path end to end on a local emulator (moto): HTTP requests into
//! the ingest router, the SQS messages it produced handed to the deliver
//! handler as Lambda hands them (an `SqsEvent`, partial batch response,
//! messages deleted unless reported failed), the scheduler run on a clock
//! the test controls, and real receivers that verify every signature.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use hookline::api::{self, ApiKeys};
use hookline::aws::{DynamoStore, SqsQueue, lambda, provision};
use hookline::guard::TargetGuard;
use hookline::handlers::{Context, Settings};
use hookline::policy::RetrySchedule;
use hookline::ports::fakes::ManualClock;
use hookline::ports::{Clock, OsEntropy};
use hookline::sender::HttpSender;
use hookline_tests::moto::{Moto, unique};
use hookline_tests::receiver::{Receiver, Reply, verify_standard};
use serde_json::{Value, json};

const KEY: &str = "aws-e2e-key";

struct World {
    moto: Moto,
    ctx: Context,
    clock: Arc<ManualClock>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    api: String,
    http: reqwest::Client,
    sender: HttpSender,
}

async fn world() -> World {
    world_with(None).await
}

async fn world_with(ops_url: Option<String>) -> World {
    world_configured(ops_url, chrono::Duration::days(5)).await
}

async fn world_configured(ops_url: Option<String>, disable_after: chrono::Duration) -> World {
    let moto = Moto::start().await;
    let sdk = moto.sdk().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("e2e");
    provision::create_table(&dynamo, &table).await.expect("table");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = provision::create_queues(&sqs, &unique("e2e"), 5).await.expect("queues");
    // Near real time, so receivers' 5-minute freshness check holds.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut settings = Settings::default();
    settings.retry.jitter = 0.0;
    settings.retry.schedule = RetrySchedule::parse_list("1s,1s").expect("schedule");
    settings.guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    settings.ops_url = ops_url.map(|u| hookline::model::TargetUrl::parse(&u).expect("ops url"));
    settings.disable.after = disable_after;
    let ctx = Context::new(
        Arc::new(DynamoStore::new(dynamo, table, Duration::from_secs(86_400))),
        Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
        clock.clone(),
        Arc::new(OsEntropy),
        settings.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let router = api::router(ctx.clone(), ApiKeys::from_keys([KEY]));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let sender = HttpSender::new(settings.guard.clone()).expect("sender");
    World { moto, ctx, clock, sqs, queue_url, api, http: reqwest::Client::new(), sender }
}

impl World {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.api)).bearer_auth(KEY);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.expect("ingest reachable");
        let status = resp.status().as_u16();
        (status, serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null))
    }

    async fn subscribe(&self, body: Value) -> (String, String) {
        let (status, sub) = self.call(reqwest::Method::POST, "/v1/subscriptions", Some(body), None).await;
        assert_eq!(status, 201, "{sub}");
        (sub["id"].as_str().expect("id").to_owned(), sub["secret"].as_str().expect("secret").to_owned())
    }

    async fn publish(&self, body: Value, idem: Option<&str>) -> Value {
        let (status, ev) = self.call(reqwest::Method::POST, "/v1/events", Some(body), idem).await;
        assert_eq!(status, 202, "{ev}");
        ev
    }

    async fn delivery(&self, id: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/v1/deliveries/{id}"), None, None).await.1
    }

    /// Receives what is visible on the queue as one Lambda batch (the JSON
    /// Lambda sends), runs the deliver handler on it, and deletes the
    /// messages it did not report failed — what the event source mapping
    /// does. Returns the batch size and the response.
    async fn lambda_batch(&self) -> (usize, SqsBatchResponse, Vec<Value>) {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let records: Vec<Value> = out
            .messages()
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("an SqsEvent");
        let response = lambda::deliver_batch(&self.ctx, &self.sender, event, 8).await;
        let failed: Vec<&str> =
            response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        for m in out.messages() {
            if !failed.contains(&m.message_id().unwrap_or_default()) {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        (out.messages().len(), response, records)
    }

    /// Runs batches until `done` says so (delayed messages take their delay).
    async fn pump_until(&self, what: &str, mut done: impl AsyncFnMut() -> bool) {
        for _ in 0..40 {
            if done().await {
                return;
            }
            self.lambda_batch().await;
        }
        panic!("gave up waiting for {what}");
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        let mut last = Value::Null;
        self.pump_until(&format!("{id} to be {status}"), async || {
            last = self.delivery(id).await;
            last["status"] == status
        })
        .await;
        last
    }
}

fn now_of(w: &World) -> i64 {
    w.clock.now().timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_fans_out_by_type_and_each_receiver_verifies_its_delivery() {
    let w = world().await;
    let (a, b, c) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let (_, sa) = w.subscribe(json!({"tenant":"acme","url":a.url("/"),"event_types":["video.*"]})).await;
    let (_, sb) =
        w.subscribe(json!({"tenant":"acme","url":b.url("/"),"event_types":["video.encoded"]})).await;
    w.subscribe(json!({"tenant":"acme","url":c.url("/"),"event_types":["import.*"]})).await;
    let ev =
        w.publish(json!({"tenant":"acme","type":"video.encoded","payload":{"video_id":"v1"}}), None).await;
    let ids: Vec<String> = hookline_tests::delivery_ids(&ev);
    assert_eq!(ids.len(), 2);
    for id in &ids {
        w.wait_status(id, "succeeded").await;
    }
    verify_standard(&sa, &a.received()[0], now_of(&w)).expect("a verifies");
    verify_standard(&sb, &b.received()[0], now_of(&w)).expect("b verifies");
    assert!(c.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_through_delayed_messages_then_succeeds() {
    let w = world().await;
    let r = Receiver::start().await;
    r.script([Reply::Status(500)]);
    let (_, secret) = w.subscribe(json!({"tenant":"acme","url":r.url("/")})).await;
    let ev = w.publish(json!({"tenant":"acme","type":"job.completed","payload":{}}), None).await;
    let id = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let d = w.wait_status(&id, "succeeded").await;
    assert_eq!(d["attempt_count"], 2);
    let codes: Vec<Value> =
        d["attempts"].as_array().expect("attempts").iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, vec![json!(500), json!(200)]);
    for req in r.received() {
        verify_standard(&secret, &req, now_of(&w)).expect("every attempt verifies");
        assert_eq!(req.header("webhook-id"), Some(id.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_schedule_fails_the_delivery() {
    let w = world().await;
    let r = Receiver::start().await;
    r.script([Reply::Status(500); 3]);
    w.subscribe(json!({"tenant":"acme","url":r.url("/")})).await;
    let ev = w.publish(json!({"tenant":"acme","type":"job.failed","payload":{}}), None).await;
    let id = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let d = w.wait_status(&id, "failed").await;
    assert_eq!((d["attempt_count"].clone(), d["give_up_reason"].clone()), (json!(3), json!("exhausted")));
    assert_eq!(r.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_sqs_message_counts_no_attempt_and_resurrects_nothing() {
    let w = world().await;
    let r = Receiver::start().await;
    w.subscribe(json!({"tenant":"acme","url":r.url("/")})).await;
    let ev = w.publish(json!({"tenant":"acme","type":"video.created","payload":{}}), None).await;
    let id = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let (n, response, records) = w.lambda_batch().await;
    assert_eq!((n, response.batch_item_failures.len()), (1, 0));
    // SQS delivers the same message again (at-least-once): same body.
    let again: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("event");
    let response = lambda::deliver_batch(&w.ctx, &w.sender, again, 8).await;
    assert!(response.batch_item_failures.is_empty());
    let d = w.delivery(&id).await;
    assert_eq!((d["status"].clone(), d["attempt_count"].clone()), (json!("succeeded"), json!(1)));
    assert_eq!(r.received().len(), 1, "the repeat sent nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_twice_with_one_idempotency_key_creates_one_event() {
    let w = world().await;
    let r = Receiver::start().await;
    w.subscribe(json!({"tenant":"acme","url":r.url("/")})).await;
    let body = json!({"tenant":"acme","type":"import.completed","payload":{"jobId":"abc123"}});
    let first = w.publish(body.clone(), Some("import-abc123")).await;
    let second = w.publish(body, Some("import-abc123")).await;
    assert_eq!(first, second);
    let (_, list) = w.call(reqwest::Method::GET, "/v1/deliveries?tenant=acme", None, None).await;
    assert_eq!(list["data"].as_array().expect("data").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_delays_wait_in_dynamodb_until_the_scheduler_enqueues_them() {
    let w = world().await;
    let r = Receiver::start().await;
    r.script([Reply::Status(503)]);
    let (_, secret) = w.subscribe(json!({"tenant":"acme","url":r.url("/"),"retry_schedule":["2h"]})).await;
    let ev = w.publish(json!({"tenant":"acme","type":"video.updated","payload":{}}), None).await;
    let id = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    w.pump_until("the first attempt", async || w.delivery(&id).await["attempt_count"] == 1).await;
    assert_eq!(w.ctx.enqueue_due(100).await.expect("scheduler"), 0, "not due for two hours");
    w.clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(w.ctx.enqueue_due(100).await.expect("scheduler"), 1);
    assert_eq!(w.ctx.enqueue_due(100).await.expect("scheduler"), 0, "a repeated run enqueues nothing twice");
    let d = w.wait_status(&id, "succeeded").await;
    assert_eq!(d["attempt_count"], 2);
    verify_standard(&secret, &r.received()[1], now_of(&w)).expect("the scheduled attempt verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_becomes_a_batch_item_failure_and_the_message_survives() {
    let w = world().await;
    let r = Receiver::start().await;
    w.subscribe(json!({"tenant":"acme","url":r.url("/")})).await;
    let ev = w.publish(json!({"tenant":"acme","type":"video.created","payload":{}}), None).await;
    let id = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();

    // The same messages handed to a deliver function whose table is gone.
    let broken = Context {
        deliveries: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&w.moto.sdk().await),
            "no-such-table",
            Duration::from_secs(60),
        )),
        ..w.ctx.clone()
    };
    let out =
        w.sqs.receive_message().queue_url(&w.queue_url).wait_time_seconds(1).send().await.expect("receive");
    let m = &out.messages()[0];
    let event: SqsEvent =
        serde_json::from_value(json!({"Records": [{"messageId": m.message_id(), "body": m.body()}]}))
            .expect("event");
    let response = lambda::deliver_batch(&broken, &w.sender, event, 8).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(Some(response.batch_item_failures[0].item_identifier.as_str()), m.message_id());
    // Not deleted: after its visibility timeout the healthy function delivers it.
    w.sqs
        .change_message_visibility()
        .queue_url(&w.queue_url)
        .receipt_handle(m.receipt_handle().unwrap_or_default())
        .visibility_timeout(0)
        .send()
        .await
        .expect("make visible");
    w.wait_status(&id, "succeeded").await;

    // An unreadable message is reported too (so it ends in the DLQ).
    let poison: SqsEvent =
        serde_json::from_value(json!({"Records": [{"messageId": "m-1", "body": "{not json"}]}))
            .expect("event");
    let response = lambda::deliver_batch(&w.ctx, &w.sender, poison, 8).await;
    assert_eq!(response.batch_item_failures[0].item_identifier, "m-1");
}

#[async_trait::async_trait]
impl hookline_tests::scenarios::Hook for World {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        World::call(self, method, path, body, None).await
    }

    /// One Lambda batch (its receive waits up to a second for messages).
    async fn tick(&self) {
        self.lambda_batch().await;
    }
}

mod operations {
    use hookline_tests::receiver::Receiver;
    use hookline_tests::scenarios;

    use super::{world, world_configured, world_with};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_and_redeliver() {
        scenarios::replay_and_redeliver(&world().await, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotation() {
        scenarios::rotation(&world().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settings_end_to_end() {
        scenarios::settings_end_to_end(&world().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endpoint_health() {
        scenarios::endpoint_health(&world().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn disabled_after_failing_for_the_period() {
        // The test's clock stands still; the real one moves: a period of
        // zero disables at the second failure, as 5 days of failures would.
        let w = world_configured(None, chrono::Duration::zero()).await;
        scenarios::disabled_after_failing_for_the_period(&w).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn operational_events() {
        let ops = Receiver::start().await;
        let w = world_with(Some(ops.url("/hookline-ops"))).await;
        scenarios::operational_events(&w, &ops).await;
    }
}
