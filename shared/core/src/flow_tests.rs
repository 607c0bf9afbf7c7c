//! The API, the deliver handler and the scheduler over the in-memory fakes:
//! the flow's rules without I/O.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;

use crate::api::deliveries::ReplayRequest;
use crate::api::events::PublishEventRequest;
use crate::api::subscriptions::{CreateSubscriptionRequest, UpdateSubscriptionRequest};
use crate::auth::Caller;
use crate::context::{Context, OPS_TENANT, ServiceSettings};
use crate::deliver::Handled;
use crate::model::{DeliveryId, DeliveryStatus, SubscriptionId};
use crate::policy::{AttemptOutcome, Decision, FailureKind, GiveUpReason, RetrySchedule};
use crate::ports::fakes::{ManualClock, MemoryQueue, MemoryStore, ScriptedSender, SeededEntropy};
use crate::ports::{Clock, DeliveryQueue, DeliveryStore, QueueMessage, Queued, Received, SubscriptionStore};
use crate::signing::{HeaderLookup, Secret, standard};

struct World {
    ctx: Context,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    clock: Arc<ManualClock>,
    sender: ScriptedSender,
}

fn world() -> World {
    world_with(ServiceSettings::default())
}

fn world_with(mut settings: ServiceSettings) -> World {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    settings.retry.jitter = 0.0;
    let ctx =
        Context::new(store.clone(), queue.clone(), clock.clone(), Arc::new(SeededEntropy::new(1)), settings);
    World { ctx, store, queue, clock, sender: ScriptedSender::new() }
}

/// Every subscription tenant acme has, as the store holds them.
async fn acme_subscriptions(w: &World) -> Vec<crate::model::Subscription> {
    let acme = crate::model::TenantId::parse("acme").unwrap();
    w.store.tenant_routes(&acme, None).await.unwrap().into_subscriptions()
}

/// An operator's key: every tenant.
fn op() -> Caller {
    Caller::internal()
}

/// A message as the queue hands it out the first time.
fn once(message: &QueueMessage) -> Received {
    Received { message: message.clone(), receives: 1, ack: None }
}

fn status(code: u16) -> AttemptOutcome {
    AttemptOutcome::Response { status: code, retry_after: None, stop_retries: false }
}

impl World {
    async fn subscribe(&self, json: &str) -> (SubscriptionId, Secret) {
        let req: CreateSubscriptionRequest = serde_json::from_str(json).unwrap();
        let created = self.ctx.create_subscription(&op(), req).await.unwrap();
        (created.subscription.id, Secret::parse(&created.secret).unwrap())
    }

    async fn publish(&self, json: &str) -> Vec<DeliveryId> {
        let req: PublishEventRequest = serde_json::from_str(json).unwrap();
        self.ctx.publish_event(&op(), req, None).await.unwrap().deliveries.into_iter().map(|d| d.id).collect()
    }

    /// Hands every queued message whose delay has passed to the deliver
    /// handler, as the queue would; returns what each came to.
    async fn run_queue(&self) -> Vec<Handled> {
        let mut out = Vec::new();
        for q in self.queue.drain() {
            out.push(self.ctx.handle_message(&self.sender, &once(&q.message)).await.unwrap());
        }
        out
    }

    async fn delivery(&self, id: &DeliveryId) -> crate::model::Delivery {
        self.store.get_delivery(id).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn an_event_fans_out_to_every_subscription_that_wants_its_type() {
    let w = world();
    let (all, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let (jobs, _) =
        w.subscribe(r#"{"tenant":"acme","url":"https://b.example/h","event_types":["job.*"]}"#).await;
    w.subscribe(r#"{"tenant":"acme","url":"https://c.example/h","event_types":["video.encoded"]}"#).await;
    w.subscribe(r#"{"tenant":"other","url":"https://d.example/h"}"#).await;
    w.subscribe(r#"{"tenant":"acme","url":"https://e.example/h","active":false}"#).await;

    let ids = w.publish(r#"{"tenant":"acme","type":"job.completed","payload":{"id":"job_1"}}"#).await;
    assert_eq!(ids.len(), 2);
    let mut subs: Vec<SubscriptionId> = Vec::new();
    for id in &ids {
        subs.push(w.delivery(id).await.subscription_id().unwrap().clone());
    }
    subs.sort();
    let mut expected = vec![all, jobs];
    expected.sort();
    assert_eq!(subs, expected);
    assert_eq!(w.queue.drain().len(), 2, "one message per delivery");
}

#[tokio::test]
async fn a_tenant_cannot_exceed_its_subscription_limit_and_others_are_unaffected() {
    let w = world_with(ServiceSettings { max_subscriptions_per_tenant: 7, ..ServiceSettings::default() });
    for _ in 0..7 {
        w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    }
    let req: CreateSubscriptionRequest =
        serde_json::from_str(r#"{"tenant":"acme","url":"https://a.example/h"}"#).unwrap();
    let err = w.ctx.create_subscription(&op(), req).await.unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    assert!(err.to_string().contains("already has 7 subscriptions"), "{err}");
    assert_eq!(acme_subscriptions(&w).await.len(), 7);
    w.subscribe(r#"{"tenant":"beta","url":"https://a.example/h"}"#).await;
}

#[tokio::test]
async fn a_payload_too_large_for_its_fan_out_is_refused_and_stores_nothing() {
    // 700 endpoints and the largest payload an operator may allow: the
    // event and its 700 stubs would not fit one DynamoDB item.
    let max = crate::context::MAX_PAYLOAD_LIMIT_BYTES;
    let w = world_with(ServiceSettings { max_payload_bytes: max, ..ServiceSettings::default() });
    for _ in 0..700 {
        w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    }
    let event = |bytes: usize| -> PublishEventRequest {
        let payload = serde_json::json!({ "blob": "x".repeat(bytes) });
        serde_json::from_value(serde_json::json!({"tenant":"acme","type":"t.x","payload":payload})).unwrap()
    };
    let err = w.ctx.publish_event(&op(), event(max - 64), None).await.unwrap_err();
    assert_eq!(err.status(), 413, "{err}");
    let limit = crate::api::events::MAX_EVENT_WEIGHT - 700 * crate::api::events::DELIVERY_WEIGHT;
    assert!(err.to_string().contains(&format!("limit of {limit} bytes")), "{err}");
    assert!(w.queue.drain().is_empty(), "nothing queued");
    let by_tenant = crate::ports::DeliveryFilter {
        tenant: Some(crate::model::TenantId::parse("acme").unwrap()),
        ..Default::default()
    };
    let page = crate::ports::PageRequest { cursor: None, limit: 10 };
    assert!(w.store.list_deliveries(&by_tenant, &page).await.unwrap().items.is_empty(), "nothing stored");
    let fits = w.ctx.publish_event(&op(), event(limit - 64), None).await.unwrap();
    assert_eq!(fits.deliveries.len(), 700);
}

#[tokio::test]
async fn private_and_metadata_targets_are_refused_at_creation() {
    let w = world();
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/",
        "http://127.0.0.1:8080/",
        "http://localhost/",
    ] {
        let req: CreateSubscriptionRequest =
            serde_json::from_str(&format!(r#"{{"tenant":"acme","url":"{url}"}}"#)).unwrap();
        let err = w.ctx.create_subscription(&op(), req).await.unwrap_err();
        assert_eq!(err.status(), 422, "{url}: {err}");
    }
    let ev: PublishEventRequest = serde_json::from_str(
        r#"{"tenant":"acme","type":"t.x","payload":{},"webhook_url":"http://192.168.1.1/"}"#,
    )
    .unwrap();
    assert_eq!(w.ctx.publish_event(&op(), ev, None).await.unwrap_err().status(), 422);
    assert!(acme_subscriptions(&w).await.is_empty());
}

#[tokio::test]
async fn a_delivery_is_signed_so_the_standard_verifier_accepts_it() {
    let w = world();
    let (_, secret) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"video.encoded","payload":{"v":1}}"#).await;
    let handled = w.run_queue().await;
    assert_eq!(handled, vec![Handled::Attempted { decision: Decision::Succeeded, acknowledged: false }]);
    let req = &w.sender.requests()[0];
    assert_eq!(req.headers.header("webhook-id"), Some(ids[0].as_str()));
    standard::verify(&secret, &req.headers, &req.body, w.clock.now().timestamp()).unwrap();
    let d = w.delivery(&ids[0]).await;
    assert_eq!((d.status, d.attempts, d.due_at), (DeliveryStatus::Succeeded, 1, None));
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_answer_and_creates_nothing() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let body = r#"{"tenant":"acme","type":"t.x","payload":{},"idempotency_key":"k-1"}"#;
    let first = w.ctx.publish_event(&op(), serde_json::from_str(body).unwrap(), None).await.unwrap();
    let again = w.ctx.publish_event(&op(), serde_json::from_str(body).unwrap(), None).await.unwrap();
    assert_eq!(first, again);
    // The first publish's message is on its way: the repeat queues no second
    // one to race it.
    let queued = w.queue.drain();
    assert_eq!(queued.len(), 1, "{queued:?}");
    w.ctx.handle_message(&w.sender, &once(&queued[0].message)).await.unwrap();
    assert_eq!(w.sender.requests().len(), 1);
    // The same key for another tenant is another event.
    let other = r#"{"tenant":"beta","type":"t.x","payload":{},"idempotency_key":"k-1"}"#;
    let third = w.ctx.publish_event(&op(), serde_json::from_str(other).unwrap(), None).await.unwrap();
    assert_ne!(third.id, first.id);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_schedule_then_succeeds() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":["5s","1m"]}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.sender.then([status(500), AttemptOutcome::Failed(FailureKind::ConnectionRefused)]);

    assert_eq!(
        w.run_queue().await,
        vec![Handled::Attempted {
            decision: Decision::Retry { delay: Duration::from_secs(5) },
            acknowledged: false
        }]
    );
    let next = w.queue.drain();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].delay, Duration::from_secs(5));
    assert_eq!(next[0].message, QueueMessage::Deliver { delivery_id: ids[0].clone(), attempt: 2 });
    w.ctx.handle_message(&w.sender, &once(&next[0].message)).await.unwrap();
    w.run_queue().await; // attempt 3 succeeds (the script ran out: 200)
    let d = w.delivery(&ids[0]).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Succeeded, 3));
    let attempts = w.store.attempts(&ids[0]).await.unwrap();
    let codes: Vec<_> = attempts.iter().map(|a| (a.number, a.status_code, a.error)).collect();
    assert_eq!(
        codes,
        vec![(1, Some(500), None), (2, None, Some(FailureKind::ConnectionRefused)), (3, Some(200), None)]
    );
}

#[tokio::test]
async fn an_exhausted_schedule_fails_the_delivery() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":["1s"]}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.sender.then([status(503), status(503)]);
    w.run_queue().await;
    let last = w.run_queue().await;
    assert_eq!(
        last,
        vec![Handled::Attempted { decision: Decision::GiveUp(GiveUpReason::Exhausted), acknowledged: false }]
    );
    let d = w.delivery(&ids[0]).await;
    assert_eq!(
        (d.status, d.attempts, d.give_up_reason),
        (DeliveryStatus::Failed, 2, Some(GiveUpReason::Exhausted))
    );
    assert!(w.queue.drain().is_empty());
}

#[tokio::test]
async fn a_redelivered_message_counts_no_second_attempt_and_resurrects_nothing() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    let msg = w.queue.drain().remove(0).message;
    w.ctx.handle_message(&w.sender, &once(&msg)).await.unwrap();
    let again = w.ctx.handle_message(&w.sender, &once(&msg)).await.unwrap();
    assert!(matches!(again, Handled::Skipped(_)));
    assert_eq!(w.sender.requests().len(), 1, "nothing sent twice");
    let d = w.delivery(&ids[0]).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Succeeded, 1));
}

#[tokio::test]
async fn a_store_outage_is_an_error_so_the_message_comes_back() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    let msg = w.queue.drain().remove(0).message;
    w.store.set_unavailable(true);
    assert!(w.ctx.handle_message(&w.sender, &once(&msg)).await.is_err());
    w.store.set_unavailable(false);
    w.ctx.handle_message(&w.sender, &once(&msg)).await.unwrap();
    assert_eq!(w.delivery(&ids[0]).await.status, DeliveryStatus::Succeeded);
}

#[tokio::test]
async fn long_delays_wait_in_the_store_and_the_scheduler_enqueues_them_once() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":["2h"]}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.sender.then([status(500)]);
    w.run_queue().await;
    assert!(w.queue.drain().is_empty(), "2 h is beyond the queue's delay");
    assert_eq!(w.ctx.enqueue_due(1000).await.unwrap(), 0, "not due yet");
    w.clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(w.ctx.enqueue_due(1000).await.unwrap(), 1);
    assert_eq!(w.ctx.enqueue_due(1000).await.unwrap(), 0, "a second run finds it claimed");
    let msgs = w.queue.drain();
    assert_eq!(msgs[0].message, QueueMessage::Deliver { delivery_id: ids[0].clone(), attempt: 2 });
    w.ctx.handle_message(&w.sender, &once(&msgs[0].message)).await.unwrap();
    assert_eq!(w.delivery(&ids[0]).await.status, DeliveryStatus::Succeeded);
}

#[tokio::test]
async fn accepted_events_survive_a_queue_outage_through_the_scheduler() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    w.queue.set_unavailable(true);
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.queue.set_unavailable(false);
    assert!(w.queue.drain().is_empty());
    w.clock.advance(w.ctx.settings.queue_grace);
    assert_eq!(w.ctx.enqueue_due(1000).await.unwrap(), 1);
    w.run_queue().await;
    assert_eq!(w.delivery(&ids[0]).await.status, DeliveryStatus::Succeeded);
}

#[tokio::test]
async fn gone_disables_the_subscription_and_cancels_its_other_deliveries() {
    let w = world();
    let (sub, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let first = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    let second = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.sender.then([status(410)]);
    let msgs = w.queue.drain();
    w.ctx.handle_message(&w.sender, &once(&msgs[0].message)).await.unwrap();
    let s = w.store.get_subscription(&sub).await.unwrap().unwrap();
    assert!(!s.active);
    assert!(s.disabled_reason.unwrap().contains("410"));
    assert_eq!(w.delivery(&first[0]).await.give_up_reason, Some(GiveUpReason::Gone));
    assert_eq!(w.delivery(&second[0]).await.status, DeliveryStatus::Canceled);
    assert_eq!(
        w.ctx.handle_message(&w.sender, &once(&msgs[1].message)).await.unwrap(),
        Handled::Skipped("the delivery is finished")
    );
}

#[tokio::test]
async fn deleting_a_subscription_cancels_its_pending_deliveries() {
    let w = world();
    let (sub, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.ctx.delete_subscription(&op(), &sub).await.unwrap();
    assert_eq!(w.delivery(&ids[0]).await.status, DeliveryStatus::Canceled);
    assert!(matches!(w.run_queue().await[0], Handled::Skipped(_)));
    assert!(w.sender.requests().is_empty());
}

#[tokio::test]
async fn a_patch_applies_to_the_next_attempt_of_a_pending_delivery() {
    let w = world();
    let (sub, _) =
        w.subscribe(r#"{"tenant":"acme","url":"https://old.example/h","retry_schedule":["1s"]}"#).await;
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.sender.then([status(500)]);
    w.run_queue().await;
    let patch: UpdateSubscriptionRequest =
        serde_json::from_str(r#"{"url":"https://new.example/h","headers":{"X-Env":"prod"}}"#).unwrap();
    w.ctx.update_subscription(&op(), &sub, patch).await.unwrap();
    w.run_queue().await;
    let reqs = w.sender.requests();
    assert_eq!(reqs[0].url.as_str(), "https://old.example/h");
    assert_eq!(reqs[1].url.as_str(), "https://new.example/h");
    assert_eq!(reqs[1].headers.header("x-env"), Some("prod"));
}

#[tokio::test]
async fn a_one_off_webhook_url_is_signed_with_the_tenants_secret() {
    let w = world();
    let acme = crate::model::TenantId::parse("acme").unwrap();
    let created = w.ctx.create_tenant_secret(&op(), &acme).await.unwrap();
    let ids = w
        .publish(
            r#"{"tenant":"acme","type":"job.completed","payload":{},"webhook_url":"https://job.example/cb"}"#,
        )
        .await;
    assert_eq!(ids.len(), 1);
    w.run_queue().await;
    let secret = Secret::parse(&created.secret).unwrap();
    let req = &w.sender.requests()[0];
    assert_eq!(req.url.as_str(), "https://job.example/cb");
    standard::verify(&secret, &req.headers, &req.body, w.clock.now().timestamp()).unwrap();
}

#[tokio::test]
async fn an_unbuildable_request_fails_at_once_with_the_reason() {
    let w = world();
    w.subscribe(
        r#"{"tenant":"acme","url":"https://a.example/h","body":{"kind":"object","type_field":"event"}}"#,
    )
    .await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":[1,2]}"#).await;
    w.run_queue().await;
    let d = w.delivery(&ids[0]).await;
    assert_eq!((d.status, d.give_up_reason), (DeliveryStatus::Failed, Some(GiveUpReason::Unsendable)));
    let attempts = w.store.attempts(&ids[0]).await.unwrap();
    assert!(attempts[0].error_message.as_deref().unwrap().contains("JSON object"));
    assert!(w.sender.requests().is_empty());
}

#[tokio::test]
async fn schedules_shorter_than_the_default_come_from_the_subscription() {
    let w = world();
    let schedule = RetrySchedule::parse_list("7s").unwrap();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":["7s"]}"#).await;
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.sender.then([status(500)]);
    assert_eq!(
        w.run_queue().await,
        vec![Handled::Attempted {
            decision: Decision::Retry { delay: schedule.delays()[0] },
            acknowledged: false
        }]
    );
}

#[tokio::test]
async fn a_preset_sets_format_schedule_and_timeout_and_fields_override_it() {
    let w = world();
    let req: CreateSubscriptionRequest = serde_json::from_str(
        r#"{"tenant":"acme","url":"https://a.example/h","preset":"transcodely","timeout_ms":9000}"#,
    )
    .unwrap();
    let created = w.ctx.create_subscription(&op(), req).await.unwrap();
    let sub = w.store.get_subscription(&created.subscription.id).await.unwrap().unwrap();
    let preset = crate::presets::get("transcodely").unwrap();
    assert_eq!(sub.settings.signature, preset.signature);
    assert_eq!(sub.settings.body, preset.body);
    assert_eq!(sub.settings.retry_schedule, preset.retry_schedule);
    assert_eq!(sub.settings.timeout.millis(), 9000, "an explicit field wins over the preset");
    assert_eq!(created.subscription.settings.preset.as_deref(), Some("transcodely"));

    let bad: CreateSubscriptionRequest =
        serde_json::from_str(r#"{"tenant":"acme","url":"https://a.example/h","preset":"nope"}"#).unwrap();
    let err = w.ctx.create_subscription(&op(), bad).await.unwrap_err();
    assert!(err.to_string().contains("heapstream"), "the error lists the presets: {err}");
}

#[tokio::test]
async fn an_event_is_kept_past_the_longest_its_slowest_schedule_can_run() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":["5s"]}"#).await;
    w.subscribe(
        r#"{"tenant":"acme","url":"https://b.example/h","retry_schedule":["48h","48h"],
            "timeout_ms":30000,"initial_delay":"30s"}"#,
    )
    .await;
    let now = w.clock.now();
    let req: PublishEventRequest =
        serde_json::from_str(r#"{"tenant":"acme","type":"a.b","payload":{}}"#).unwrap();
    let id = w.ctx.publish_event(&op(), req, None).await.unwrap().id;
    let event = w.ctx.events.get_event(&id).await.unwrap().unwrap();
    // The slow one: 30 s held back, each 48 h retry doubled at most (a
    // Retry-After), three attempts of 30 s, and the scheduler's grace.
    let expected = now
        + chrono::Duration::seconds(30)
        + chrono::Duration::hours(4 * 48)
        + chrono::Duration::seconds(3 * 30)
        + chrono::Duration::minutes(15);
    assert_eq!(event.last_attempt_by, Some(expected));

    // A redelivery long after keeps it past that attempt.
    let ids: Vec<DeliveryId> =
        w.store.event_deliveries(&id).await.unwrap().into_iter().map(|d| d.id).collect();
    w.clock.advance(Duration::from_secs(10 * 86_400));
    w.ctx.redeliver(&op(), &ids[0]).await.unwrap();
    let kept = w.ctx.events.get_event(&id).await.unwrap().unwrap().last_attempt_by.unwrap();
    assert!(kept > w.clock.now(), "{kept}");
}

#[tokio::test]
async fn an_initial_delay_holds_the_first_attempt_back() {
    let w = world();
    w.subscribe(
        r#"{"tenant":"acme","url":"https://a.example/h","preset":"targetvideo","initial_delay":"30s"}"#,
    )
    .await;
    w.subscribe(r#"{"tenant":"acme","url":"https://b.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"sd_encoded","payload":{"data":{}}}"#).await;
    let mut delays: Vec<Duration> = w.queue.drain().into_iter().map(|q| q.delay).collect();
    delays.sort();
    assert_eq!(delays, vec![Duration::ZERO, Duration::from_secs(30)]);
    assert_eq!(ids.len(), 2);
    for bad in [r#""16m""#, "-1", r#""soon""#, "9999"] {
        let req: CreateSubscriptionRequest = serde_json::from_str(&format!(
            r#"{{"tenant":"acme","url":"https://a.example/h","initial_delay":{bad}}}"#
        ))
        .unwrap();
        assert_eq!(w.ctx.create_subscription(&op(), req).await.unwrap_err().status(), 422, "{bad}");
    }
}

#[tokio::test]
async fn the_targetvideo_preset_warns_that_its_secret_travels_in_the_body() {
    let w = world();
    let req: CreateSubscriptionRequest = serde_json::from_str(
        r#"{"tenant":"acme","url":"https://a.example/h","preset":"targetvideo","secret":"your_secret_key"}"#,
    )
    .unwrap();
    let created = w.ctx.create_subscription(&op(), req).await.unwrap();
    assert_eq!(created.subscription.settings.warnings.len(), 1);
    let other: CreateSubscriptionRequest =
        serde_json::from_str(r#"{"tenant":"acme","url":"https://a.example/h","preset":"transcodely"}"#)
            .unwrap();
    assert!(w.ctx.create_subscription(&op(), other).await.unwrap().subscription.settings.warnings.is_empty());
}

#[tokio::test]
async fn redeliver_sends_a_finished_delivery_again_under_the_same_id() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.run_queue().await;
    assert_eq!(w.delivery(&ids[0]).await.status, DeliveryStatus::Succeeded);
    let view = w.ctx.redeliver(&op(), &ids[0]).await.unwrap();
    assert_eq!(view.status, DeliveryStatus::Pending);
    w.run_queue().await;
    let d = w.delivery(&ids[0]).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Succeeded, 2));
    let sent = w.sender.requests();
    assert_eq!(sent[0].headers.header("webhook-id"), sent[1].headers.header("webhook-id"));
}

#[tokio::test]
async fn redeliver_and_replay_refuse_a_disabled_subscription() {
    let w = world();
    let (sub, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","active":false}"#).await;
    w.subscribe(r#"{"tenant":"acme","url":"https://b.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    assert_eq!(ids.len(), 1, "the inactive subscription got nothing");
    let req = ReplayRequest { since: "2020-01-01T00:00:00Z".into(), status: None };
    assert_eq!(w.ctx.replay(&op(), &sub, req).await.unwrap_err().status(), 409);
}

#[tokio::test]
async fn replay_resends_matching_deliveries_oldest_first_and_paced() {
    let w = world();
    let (sub, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":[]}"#).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        w.sender.then([status(500)]);
        ids.extend(w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await);
        w.run_queue().await;
        w.clock.advance(Duration::from_secs(1));
    }
    let ok = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.run_queue().await;
    for id in &ids {
        assert_eq!(w.delivery(id).await.status, DeliveryStatus::Failed);
    }
    let req = ReplayRequest { since: "2026-11-23T09:00:00Z".into(), status: Some("failed".into()) };
    let r = w.ctx.replay(&op(), &sub, req).await.unwrap();
    assert_eq!(r.replayed, 3);
    let queued = w.queue.drain();
    let order: Vec<_> = queued.iter().map(|q| q.message.delivery_id().clone()).collect();
    assert_eq!(order, ids, "oldest first; the succeeded one is not replayed");
    let delays: Vec<_> = queued.iter().map(|q| q.delay).collect();
    assert_eq!(delays, vec![Duration::ZERO, Duration::from_millis(100), Duration::from_millis(200)]);
    assert_eq!(w.delivery(&ok[0]).await.attempts, 1);
    let bad = ReplayRequest { since: "yesterday".into(), status: None };
    assert_eq!(w.ctx.replay(&op(), &sub, bad).await.unwrap_err().status(), 422);
    let pending = ReplayRequest { since: "2026-11-23T09:00:00Z".into(), status: Some("pending".into()) };
    assert_eq!(w.ctx.replay(&op(), &sub, pending).await.unwrap_err().status(), 422);
}

#[tokio::test]
async fn a_rotation_signs_with_both_secrets_for_its_grace_then_the_new_one_only() {
    let w = world();
    let (sub, old) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let rotated =
        w.ctx.rotate_subscription_secret(&op(), &sub, Some(Duration::from_secs(3600))).await.unwrap();
    let new = Secret::parse(&rotated.secret).unwrap();
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.run_queue().await;
    let req = w.sender.requests().pop().unwrap();
    let now = w.clock.now().timestamp();
    standard::verify(&old, &req.headers, &req.body, now).unwrap();
    standard::verify(&new, &req.headers, &req.body, now).unwrap();
    w.clock.advance(Duration::from_secs(3601));
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.run_queue().await;
    let req = w.sender.requests().pop().unwrap();
    let now = w.clock.now().timestamp();
    assert!(standard::verify(&old, &req.headers, &req.body, now).is_err(), "the grace period is over");
    standard::verify(&new, &req.headers, &req.body, now).unwrap();
}

#[tokio::test]
async fn exhausted_deliveries_and_disabled_subscriptions_become_operational_events() {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    let ops_secret = Secret::generate([5; crate::signing::GENERATED_SECRET_BYTES]);
    let settings = ServiceSettings {
        ops_url: Some(crate::target::TargetUrl::parse("https://ops.example/hookline").unwrap()),
        ops_secret: Some(ops_secret.clone()),
        ..ServiceSettings::default()
    };
    let ctx =
        Context::new(store.clone(), queue.clone(), clock.clone(), Arc::new(SeededEntropy::new(2)), settings);
    let w = World { ctx, store, queue, clock, sender: ScriptedSender::new() };
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":[]}"#).await;
    w.subscribe(r#"{"tenant":"acme","url":"https://gone.example/h","event_types":["gone.*"]}"#).await;
    w.run_queue().await; // the two subscription.created events are delivered

    w.sender.then([status(500)]);
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.run_queue().await; // exhausted: an ops event is queued
    w.run_queue().await; // which is delivered (200)
    w.sender.then([status(410)]);
    w.publish(r#"{"tenant":"acme","type":"gone.now","payload":{}}"#).await;
    w.run_queue().await; // 410: delivery.failed and subscription.disabled
    w.run_queue().await;
    assert!(w.queue.drain().is_empty());

    let ops: Vec<_> = w
        .sender
        .requests()
        .into_iter()
        .filter(|r| r.url.as_str() == "https://ops.example/hookline")
        .collect();
    let bodies: Vec<serde_json::Value> =
        ops.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    let mut types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(
        types,
        vec![
            "delivery.exhausted",
            "delivery.failed",
            "subscription.created",
            "subscription.created",
            "subscription.disabled"
        ]
    );
    let exhausted = bodies.iter().find(|b| b["type"] == "delivery.exhausted").unwrap();
    assert_eq!(
        (exhausted["data"]["tenant"].as_str(), exhausted["data"]["reason"].as_str()),
        (Some("acme"), Some("exhausted"))
    );
    for r in &ops {
        standard::verify(&ops_secret, &r.headers, &r.body, w.clock.now().timestamp())
            .expect("signed with HOOKLINE_OPS_WEBHOOK_SECRET");
    }
}

#[tokio::test]
async fn the_ops_tenants_own_failures_publish_nothing() {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let clock = Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    let mut settings = ServiceSettings {
        ops_url: Some(crate::target::TargetUrl::parse("https://ops.example/hookline").unwrap()),
        ops_secret: Some(Secret::generate([5; crate::signing::GENERATED_SECRET_BYTES])),
        ..ServiceSettings::default()
    };
    settings.retry.schedule = RetrySchedule::parse_list("").unwrap();
    let ctx =
        Context::new(store.clone(), queue.clone(), clock.clone(), Arc::new(SeededEntropy::new(3)), settings);
    let w = World { ctx, store, queue, clock, sender: ScriptedSender::new() };
    w.sender.then([status(500)]);
    let ev: PublishEventRequest = serde_json::from_str(&format!(
        r#"{{"tenant":"{OPS_TENANT}","type":"delivery.exhausted","payload":{{}},"webhook_url":"https://ops.example/hookline"}}"#
    ))
    .unwrap();
    let err = w.ctx.publish_event(&op(), ev.clone(), None).await.unwrap_err();
    assert_eq!(err.status(), 422, "no API caller publishes to the reserved tenant");
    for accepted in w.ctx.accept_events(vec![Ok(ev.validate(None).unwrap())]).await {
        accepted.unwrap();
    }
    assert_eq!(
        w.run_queue().await,
        vec![Handled::Attempted { decision: Decision::GiveUp(GiveUpReason::Exhausted), acknowledged: false }]
    );
    assert!(w.queue.drain().is_empty(), "an ops delivery's failure is not itself an ops event");
}

/// The step before which a handling of a message dies, in their order.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// After the request was sent, before the attempt was recorded.
    Record,
    /// After the attempt was recorded, before its follow-up was queued.
    FollowUp,
    /// After the follow-up was queued, before the message was acknowledged.
    Ack,
}

#[tokio::test]
async fn a_handling_that_dies_at_any_step_leaves_the_next_attempt_on_its_schedule() {
    // Also with the cheaper reads stuck before the attempt (an eventually
    // consistent read at its stalest): a message that comes back is read
    // consistently, or it would send the recorded attempt again.
    for (crash, lag) in
        [Crash::Record, Crash::FollowUp, Crash::Ack].into_iter().flat_map(|c| [(c, false), (c, true)])
    {
        let w = world();
        w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":["5s","5s"]}"#).await;
        let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
        if lag {
            w.store.lag_peeks();
        }
        let crash = (crash, lag);
        let first = w.queue.drain().remove(0).message;
        w.sender.then([status(500), status(500)]);

        // The handling dies at `crash`: the message is not acknowledged.
        match crash.0 {
            Crash::Record => w.store.fail_records(1),
            Crash::FollowUp => w.queue.set_unavailable(true),
            Crash::Ack => {}
        }
        let died = w.ctx.handle_message(&w.sender, &once(&first)).await;
        assert_eq!(died.is_err(), !matches!(crash.0, Crash::Ack), "{crash:?}");
        w.queue.set_unavailable(false);
        let queued_before = w.queue.drain();

        // The queue hands the message out again two seconds later.
        w.clock.advance(Duration::from_secs(2));
        let again = Received { message: first.clone(), receives: 2, ack: None };
        let handled = w.ctx.handle_message(&w.sender, &again).await.unwrap();
        let d = w.delivery(&ids[0]).await;
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 1), "{crash:?}: one attempt counted");
        let due = d.next_attempt_at.expect("a next attempt");
        let follow_ups: Vec<Queued> = queued_before.into_iter().chain(w.queue.drain()).collect();
        let next = QueueMessage::Deliver { delivery_id: ids[0].clone(), attempt: 2 };
        assert!(follow_ups.iter().all(|q| q.message == next), "{crash:?}: {follow_ups:?}");
        match crash.0 {
            // The attempt was never recorded: it is made again now, and its
            // follow-up is queued for the schedule's 5 s after it.
            Crash::Record => {
                assert!(matches!(handled, Handled::Attempted { .. }), "{crash:?}: {handled:?}");
                assert_eq!(w.sender.requests().len(), 2, "sent again under the same id");
                assert_eq!(due, w.clock.now() + chrono::Duration::seconds(5));
                assert_eq!(follow_ups.iter().map(|q| q.delay).collect::<Vec<_>>(), [Duration::from_secs(5)]);
            }
            // The attempt is recorded: nothing is sent again; the follow-up
            // is queued for what is left of its 5 s (once, or twice when the
            // first one got through: a duplicate is skipped when handled).
            Crash::FollowUp | Crash::Ack => {
                assert_eq!(handled, Handled::Requeued, "{crash:?}");
                assert_eq!(w.sender.requests().len(), 1, "{crash:?}: nothing sent twice");
                let left = (due - w.clock.now()).to_std().unwrap();
                assert_eq!(left, Duration::from_secs(3), "{crash:?}");
                let expected = if matches!(crash.0, Crash::Ack) { 2 } else { 1 };
                assert_eq!(follow_ups.len(), expected, "{crash:?}");
                assert_eq!(follow_ups.last().map(|q| q.delay), Some(left), "{crash:?}: due on schedule");
            }
        }

        // When due, attempt 2 is made once, however many of its messages.
        w.clock.set(due);
        let mut outcomes = Vec::new();
        for q in &follow_ups {
            outcomes.push(w.ctx.handle_message(&w.sender, &once(&q.message)).await.unwrap());
        }
        assert_eq!(w.delivery(&ids[0]).await.attempts, 2, "{crash:?}");
        assert_eq!(
            outcomes.iter().filter(|o| matches!(o, Handled::Attempted { .. })).count(),
            1,
            "{crash:?}"
        );
        assert!(outcomes.iter().skip(1).all(|o| matches!(o, Handled::Skipped(_))), "{crash:?}: {outcomes:?}");
    }
}

#[tokio::test]
async fn a_cheaper_read_that_lags_never_loses_a_new_delivery_a_new_subscription_or_a_redelivery() {
    let w = world();
    // The cheaper reads show the store before any of this was written.
    w.store.lag_peeks();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    let handled = w.run_queue().await;
    assert!(matches!(handled[..], [Handled::Attempted { .. }]), "{handled:?}");
    assert_eq!(w.delivery(&ids[0]).await.status, DeliveryStatus::Succeeded);

    // Redelivered after it finished, while the cheaper read still shows it
    // finished: sent again all the same.
    w.store.lag_peeks();
    w.ctx.redeliver(&op(), &ids[0]).await.unwrap();
    let handled = w.run_queue().await;
    assert!(matches!(handled[..], [Handled::Attempted { .. }]), "{handled:?}");
    assert_eq!(w.sender.requests().len(), 2);
    assert_eq!(w.delivery(&ids[0]).await.attempts, 2);
}

#[tokio::test]
async fn a_stale_read_of_an_attempt_already_made_counts_it_once() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.store.lag_peeks();
    let message = w.queue.drain().remove(0).message;
    // Two copies of one message, each handed out for the first time: the
    // second sees the delivery as it was before the first one's attempt,
    // which failed; its own succeeds, and must change nothing.
    w.sender.then([status(500)]);
    let first = w.ctx.handle_message(&w.sender, &once(&message)).await.unwrap();
    let second = w.ctx.handle_message(&w.sender, &once(&message)).await.unwrap();
    assert!(matches!(first, Handled::Attempted { .. }), "{first:?}");
    assert!(matches!(second, Handled::Skipped(_)), "{second:?}");
    assert_eq!(w.sender.requests().len(), 2, "sent twice, as two copies read at once would be");
    let delivery_id = message.delivery_id();
    let d = w.delivery(delivery_id).await;
    assert_eq!(
        (d.status, d.attempts),
        (DeliveryStatus::Pending, 1),
        "counted once, the first's outcome kept"
    );
    let queued = w.queue.drain();
    assert_eq!(queued.len(), 1, "the first one's follow-up only: {queued:?}");
}

#[tokio::test]
async fn a_first_handling_of_a_recorded_attempt_queues_nothing_again() {
    // A duplicate that was never handed out before (a second message for the
    // same attempt) is skipped without queueing: duplicates do not multiply.
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","retry_schedule":["5s"]}"#).await;
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    let first = w.queue.drain().remove(0).message;
    w.sender.then([status(500)]);
    w.ctx.handle_message(&w.sender, &once(&first)).await.unwrap();
    assert_eq!(w.queue.drain().len(), 1, "the follow-up");
    let dup = w.ctx.handle_message(&w.sender, &once(&first)).await.unwrap();
    assert!(matches!(dup, Handled::Skipped(_)), "{dup:?}");
    assert!(w.queue.drain().is_empty());
}

#[tokio::test]
async fn a_request_the_payload_cannot_fill_fails_without_counting_against_the_endpoint() {
    let w = world();
    let (sub, _) = w
        .subscribe(
            r#"{"tenant":"acme","url":"https://a.example/h","body":{"kind":"object","type_field":"event"}}"#,
        )
        .await;
    let ids = w.publish(r#"{"tenant":"acme","type":"t.x","payload":[1,2]}"#).await;
    let handled = w.run_queue().await;
    assert_eq!(
        handled,
        vec![Handled::Attempted {
            decision: Decision::GiveUp(GiveUpReason::Unsendable),
            acknowledged: false
        }]
    );
    assert!(w.sender.requests().is_empty(), "nothing was sent");
    let attempts = w.store.attempts(&ids[0]).await.unwrap();
    assert_eq!(attempts[0].error, Some(FailureKind::Payload));
    let s = w.store.get_subscription(&sub).await.unwrap().unwrap();
    assert_eq!((s.failing_since, s.active), (None, true), "the endpoint's health is untouched");
}

#[tokio::test]
async fn a_repeated_publish_queues_what_the_first_one_stored_but_never_queued() {
    // The first publish stores the event and dies (here: its queue fails)
    // before its deliveries are queued; the publisher, unanswered, retries
    // with the same key, and the deliveries start at once rather than at the
    // scheduler's safety net.
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let body = r#"{"tenant":"acme","type":"t.x","payload":{},"idempotency_key":"k-1"}"#;
    w.queue.set_unavailable(true);
    let first = w.ctx.publish_event(&op(), serde_json::from_str(body).unwrap(), None).await.unwrap();
    w.queue.set_unavailable(false);
    assert!(w.queue.drain().is_empty(), "nothing was queued");
    // A repeat at once finds the delivery not yet overdue: its message may
    // still be on the way.
    w.ctx.publish_event(&op(), serde_json::from_str(body).unwrap(), None).await.unwrap();
    assert!(w.queue.drain().is_empty());
    w.clock.advance(crate::api::events::OVERDUE);
    let again = w.ctx.publish_event(&op(), serde_json::from_str(body).unwrap(), None).await.unwrap();
    assert_eq!(again, first);
    let queued: Vec<QueueMessage> = w.queue.drain().into_iter().map(|q| q.message).collect();
    assert_eq!(queued, [QueueMessage::Deliver { delivery_id: first.deliveries[0].id.clone(), attempt: 1 }]);
    w.ctx.handle_message(&w.sender, &once(&queued[0])).await.unwrap();
    let third = w.ctx.publish_event(&op(), serde_json::from_str(body).unwrap(), None).await.unwrap();
    assert_eq!(third, first);
    assert!(w.queue.drain().is_empty(), "a delivery that started is not queued again");
}

#[tokio::test]
async fn a_rate_limited_endpoint_gets_its_slots_and_the_rest_wait_without_spending_an_attempt() {
    let w = world();
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","rate_limit":2}"#).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.extend(w.publish(r#"{"tenant":"acme","type":"order.paid","payload":{}}"#).await);
    }
    let handled = w.run_queue().await;
    // At 2 a second (slots 510 ms apart), the slots at 0 and 510 ms fit
    // the horizon.
    assert_eq!(handled.iter().filter(|h| matches!(h, Handled::Attempted { .. })).count(), 2, "{handled:?}");
    assert_eq!(handled.iter().filter(|h| **h == Handled::Held).count(), 3);
    assert_eq!(w.sender.waits(), vec![Duration::ZERO, Duration::from_millis(510)]);
    let mut untouched = 0;
    for id in &ids {
        let d = w.delivery(id).await;
        if d.attempts == 0 {
            untouched += 1;
            assert_eq!(d.status, DeliveryStatus::Pending);
        }
    }
    assert_eq!(untouched, 3, "held back, no attempt spent");
    let requeued = w.queue.drain();
    assert_eq!(requeued.len(), 3, "held messages are queued again");
    // Back when the next slot is near, spread over a second.
    assert!(
        requeued.iter().all(|q| q.delay >= Duration::from_millis(20) && q.delay <= Duration::from_secs(2))
    );
    w.queue.enqueue(&requeued).await.unwrap();
    for _ in 0..5 {
        w.clock.advance(Duration::from_secs(2));
        w.run_queue().await;
    }
    for id in &ids {
        let d = w.delivery(id).await;
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Succeeded, 1));
    }
}

/// A shared schedule that other processes keep moving under every lease.
struct ContendedSlots;

#[async_trait::async_trait]
impl crate::ports::RateSlots for ContendedSlots {
    async fn lease(
        &self,
        _: &SubscriptionId,
        _: crate::policy::RateLimit,
        _: u32,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::policy::rate::Grant, crate::ports::StoreError> {
        Err(crate::ports::StoreError::Contended("the rate schedule kept changing".into()))
    }
}

#[tokio::test]
async fn a_rate_schedule_busy_with_other_senders_holds_the_delivery_back_instead_of_failing_it() {
    let mut w = world();
    w.ctx = w.ctx.with_rate_slots(Arc::new(ContendedSlots));
    w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","rate_limit":20}"#).await;
    let id = w.publish(r#"{"tenant":"acme","type":"order.paid","payload":{}}"#).await;
    let handled = w.run_queue().await;
    assert_eq!(handled, vec![Handled::Held]);
    assert!(w.sender.requests().is_empty());
    assert_eq!(w.delivery(&id[0]).await.attempts, 0, "no attempt spent");
    let requeued = w.queue.drain();
    assert_eq!(requeued.len(), 1, "queued again for its turn");
    assert!(requeued[0].delay <= Duration::from_secs(2), "back within the next second or so");
}

#[tokio::test]
async fn a_429_with_retry_after_pauses_the_whole_endpoint_until_then() {
    let w = world();
    let (sub, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    w.sender.then([AttemptOutcome::Response {
        status: 429,
        retry_after: Some(Duration::from_secs(30)),
        stop_retries: false,
    }]);
    let first = w.publish(r#"{"tenant":"acme","type":"order.paid","payload":{}}"#).await;
    w.run_queue().await;
    let paused = w.store.get_subscription(&sub).await.unwrap().unwrap().paused_until;
    assert_eq!(paused, Some(w.clock.now() + chrono::Duration::seconds(30)));

    // Another delivery to it is held back, nothing sent, no attempt spent.
    let second = w.publish(r#"{"tenant":"acme","type":"order.paid","payload":{}}"#).await;
    let sent = w.sender.requests().len();
    let (mine, others): (Vec<Queued>, Vec<Queued>) = w.queue.drain().into_iter().partition(
        |q| matches!(&q.message, QueueMessage::Deliver { delivery_id, .. } if *delivery_id == second[0]),
    );
    w.queue.enqueue(&others).await.unwrap(); // the first one's retry, for later
    assert_eq!(mine.len(), 1);
    let handled = w.ctx.handle_message(&w.sender, &once(&mine[0].message)).await.unwrap();
    assert_eq!(handled, Handled::Held);
    assert_eq!(w.sender.requests().len(), sent);
    assert_eq!(w.delivery(&second[0]).await.attempts, 0);

    // After the pause both go; the pause is cleared by the next attempt.
    w.clock.advance(Duration::from_secs(31));
    w.run_queue().await;
    assert_eq!(w.delivery(&first[0]).await.status, DeliveryStatus::Succeeded);
    assert_eq!(w.delivery(&second[0]).await.status, DeliveryStatus::Succeeded);
    assert_eq!(w.store.get_subscription(&sub).await.unwrap().unwrap().paused_until, None);
}

#[tokio::test]
async fn a_test_event_goes_to_its_one_subscription_and_only_of_a_type_it_wants() {
    let w = world();
    let (one, _) =
        w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h","event_types":["order.*"]}"#).await;
    w.subscribe(r#"{"tenant":"acme","url":"https://b.example/h"}"#).await;
    let id = w.ctx.send_test_event(&op(), &one, "order.paid", None).await.unwrap();
    let d = w.delivery(&id).await;
    assert_eq!(d.subscription_id(), Some(&one));
    assert_eq!(w.queue.drain().len(), 1, "the other subscription, which wants everything, gets nothing");
    // Channels and a filter that turn every event away do not stop a test.
    let (picky, _) = w
        .subscribe(r#"{"tenant":"acme","url":"https://c.example/h","channels":["x"],"filter":{"payload":{"never":true}}}"#)
        .await;
    let test = w.ctx.send_test_event(&op(), &picky, "order.paid", None).await.unwrap();
    assert_eq!(w.delivery(&test).await.subscription_id(), Some(&picky));
    assert_eq!(w.queue.drain().len(), 1);
    w.run_queue().await;
    let refused = w.ctx.send_test_event(&op(), &one, "invoice.paid", None).await.unwrap_err();
    assert_eq!(refused.status(), 422, "{refused}");
    let other_tenant = crate::auth::Caller {
        scope: crate::auth::Scope::Tenant(crate::model::TenantId::parse("beta").unwrap()),
        key_id: "k".into(),
    };
    assert_eq!(
        w.ctx.send_test_event(&other_tenant, &one, "order.paid", None).await.unwrap_err().status(),
        404
    );
    // A payload typed in the portal is the one sent; text that is not JSON
    // is the form's error, and nothing is sent.
    let typed = w.ctx.send_test_event(&op(), &one, "order.paid", Some(r#"{"typed": [1, 2]}"#)).await.unwrap();
    let event = w.ctx.get_event(&op(), &w.delivery(&typed).await.event_id).await.unwrap();
    assert_eq!(event.payload.get(), r#"{"typed": [1, 2]}"#);
    w.queue.drain();
    let bad = w.ctx.send_test_event(&op(), &one, "order.paid", Some("{nope")).await.unwrap_err();
    assert_eq!((bad.status(), w.queue.drain().len()), (422, 0), "{bad}");
}

#[tokio::test]
async fn the_operator_declares_event_types_that_every_key_reads() {
    use crate::api::catalog::DeclareEventType;
    let w = world();
    let tenant_key = crate::auth::Caller {
        scope: crate::auth::Scope::Tenant(crate::model::TenantId::parse("acme").unwrap()),
        key_id: "k".into(),
    };
    let declare = |description: &str| DeclareEventType {
        description: Some(description.into()),
        example: Some(serde_json::json!({"video_id": "v_1"})),
        schema: Some(serde_json::json!({"type": "object"})),
    };
    assert_eq!(
        w.ctx.declare_event_type(&tenant_key, "video.created", declare("new")).await.unwrap_err().status(),
        403
    );
    w.ctx.declare_event_type(&op(), "video.updated", declare("changed")).await.unwrap();
    w.ctx.declare_event_type(&op(), "video.created", declare("new")).await.unwrap();
    let bad =
        DeclareEventType { schema: Some(serde_json::json!("not a schema")), ..DeclareEventType::default() };
    assert_eq!(w.ctx.declare_event_type(&op(), "video.deleted", bad).await.unwrap_err().status(), 422);
    assert_eq!(w.ctx.declare_event_type(&op(), "no spaces!", declare("x")).await.unwrap_err().status(), 422);
    let seen = w.ctx.event_types(&tenant_key).await.unwrap();
    let names: Vec<&str> = seen.data.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["video.created", "video.updated"]);
    assert_eq!(w.ctx.remove_event_type(&tenant_key, "video.created").await.unwrap_err().status(), 403);
    w.ctx.remove_event_type(&op(), "video.created").await.unwrap();
    assert_eq!(w.ctx.remove_event_type(&op(), "video.created").await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn with_declared_types_only_a_subscription_names_declared_types_or_prefixes() {
    let mut w = world();
    let mut settings = (*w.ctx.settings).clone();
    settings.declared_types_only = true;
    w.ctx.settings = Arc::new(settings);
    let declare = crate::api::catalog::DeclareEventType::default();
    w.ctx.declare_event_type(&op(), "video.created", declare).await.unwrap();
    let create = |types: &str| -> CreateSubscriptionRequest {
        serde_json::from_str(&format!(
            r#"{{"tenant":"acme","url":"https://a.example/h","event_types":{types}}}"#
        ))
        .unwrap()
    };
    let refused =
        w.ctx.create_subscription(&op(), create(r#"["video.created","video.removed"]"#)).await.unwrap_err();
    assert_eq!(refused.status(), 422);
    assert!(refused.to_string().contains("video.removed"), "{refused}");
    let sub = w.ctx.create_subscription(&op(), create(r#"["video.created","job.*"]"#)).await.unwrap();
    let change: UpdateSubscriptionRequest =
        serde_json::from_str(r#"{"event_types":["video.gone"]}"#).unwrap();
    assert_eq!(
        w.ctx.update_subscription(&op(), &sub.subscription.id, change).await.unwrap_err().status(),
        422
    );
}

#[tokio::test]
async fn a_secret_is_revealed_to_a_key_that_reaches_its_subscription_alone() {
    let w = world();
    let (id, secret) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    let key = |tenant: &str| crate::auth::Caller {
        scope: crate::auth::Scope::Tenant(crate::model::TenantId::parse(tenant).unwrap()),
        key_id: "k".into(),
    };
    let revealed = w.ctx.reveal_subscription_secret(&key("acme"), &id).await.unwrap();
    assert_eq!(revealed.secret, secret.expose());
    assert_eq!(w.ctx.reveal_subscription_secret(&key("beta"), &id).await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn an_attempts_request_is_rebuilt_exactly_and_proven_by_its_signature() {
    let w = world();
    let (sub, _) = w
        .subscribe(
            r#"{"tenant":"acme","url":"https://a.example/h","headers":{"Authorization":"Bearer tok_9"}}"#,
        )
        .await;
    let ids = w.publish(r#"{"tenant":"acme","type":"video.encoded","payload":{"v":1}}"#).await;
    w.run_queue().await;
    let sent = w.sender.requests().pop().unwrap();
    w.clock.advance(Duration::from_secs(600));

    let shown = w.ctx.sent_request(&op(), &ids[0], 1).await.unwrap();
    assert!(shown.verified, "the stored signature verifies over the rebuilt request");
    assert_eq!(shown.body.as_bytes(), sent.body.as_slice());
    let names = |h: &[(String, String)]| h.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    let sent_headers: Vec<(String, String)> =
        sent.headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(names(&shown.headers), names(&sent_headers), "every header, in the order sent");
    for (name, value) in &shown.headers {
        let expected = if name.eq_ignore_ascii_case("authorization") {
            crate::api::sent::HIDDEN_HEADER
        } else {
            sent.headers.header(name).unwrap()
        };
        assert_eq!(value, expected, "{name}");
    }

    // A rotation since keeps the old secret in the set: still proven.
    w.ctx.rotate_subscription_secret(&op(), &sub, Some(Duration::from_secs(3600))).await.unwrap();
    assert!(w.ctx.sent_request(&op(), &ids[0], 1).await.unwrap().verified);
    // A different body format since: the rebuilt request is not the one sent, and says so.
    let patch: UpdateSubscriptionRequest = serde_json::from_str(r#"{"body":{"kind":"raw"}}"#).unwrap();
    w.ctx.update_subscription(&op(), &sub, patch).await.unwrap();
    assert!(!w.ctx.sent_request(&op(), &ids[0], 1).await.unwrap().verified);

    let other = crate::auth::Caller {
        scope: crate::auth::Scope::Tenant(crate::model::TenantId::parse("beta").unwrap()),
        key_id: "k".into(),
    };
    assert_eq!(w.ctx.sent_request(&other, &ids[0], 1).await.unwrap_err().status(), 404);
    assert_eq!(w.ctx.sent_request(&op(), &ids[0], 2).await.unwrap_err().status(), 404, "no attempt 2");
}

#[tokio::test]
async fn a_secret_carried_in_the_body_is_hidden_in_the_rebuilt_request() {
    let w = world();
    w.subscribe(
        r#"{"tenant":"acme","url":"https://a.example/h","preset":"targetvideo","secret":"your_secret_key"}"#,
    )
    .await;
    let ids = w.publish(r#"{"tenant":"acme","type":"video.encoded","payload":{"v":1}}"#).await;
    w.run_queue().await;
    let sent = w.sender.requests().pop().unwrap();
    assert!(String::from_utf8_lossy(&sent.body).contains("your_secret_key"), "the preset sends it");
    let shown = w.ctx.sent_request(&op(), &ids[0], 1).await.unwrap();
    assert!(shown.verified);
    assert!(!shown.body.contains("your_secret_key"), "{}", shown.body);
    assert!(shown.body.contains(crate::api::sent::HIDDEN_SECRET));
}

#[tokio::test]
async fn attempts_are_counted_by_hour_for_their_endpoint_and_the_service() {
    let w = world();
    let (sub, _) = w
        .subscribe(
            r#"{"tenant":"acme","url":"https://a.example/h","event_types":["t.*"],"retry_schedule":["1h"]}"#,
        )
        .await;
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.sender.then([status(500)]);
    w.run_queue().await; // 09:00: attempt 1 fails
    w.clock.advance(Duration::from_secs(3600));
    w.ctx.enqueue_due(100).await.unwrap();
    w.run_queue().await; // 10:00: attempt 2 succeeds
    // A request that cannot be built is not the endpoint's doing.
    let (raw, _) = w
        .subscribe(
            r#"{"tenant":"acme","url":"https://b.example/h","event_types":["raw.*"],"body":{"kind":"object","type_field":"event"}}"#,
        )
        .await;
    w.publish(r#"{"tenant":"acme","type":"raw.x","payload":[1,2]}"#).await;
    w.run_queue().await;
    let total = |s: &crate::api::stats::Stats| s.hours.iter().map(|h| h.succeeded + h.failed).sum::<u64>();
    assert_eq!(total(&w.ctx.stats(&op(), Some(&sub), 1).await.unwrap()), 0, "nothing before a flush");
    assert_eq!(
        w.ctx.flush_counts().await.unwrap(),
        6,
        "three scopes (the endpoint, its tenant, the service), two hours"
    );

    let stats = w.ctx.stats(&op(), Some(&sub), 1).await.unwrap();
    assert_eq!(stats.hours.len(), 24, "every hour, oldest first");
    let last_two: Vec<_> =
        stats.hours[22..].iter().map(|h| (h.hour.format("%H").to_string(), h.succeeded, h.failed)).collect();
    assert_eq!(last_two, [("09".to_owned(), 0, 1), ("10".to_owned(), 1, 0)]);
    assert_eq!(stats.hours[..22].iter().map(|h| h.succeeded + h.failed).sum::<u64>(), 0);
    let service = w.ctx.stats(&op(), None, 7).await.unwrap();
    assert_eq!(service.hours.len(), 168);
    let sums = service.hours.iter().fold((0, 0), |a, h| (a.0 + h.succeeded, a.1 + h.failed));
    assert_eq!(sums, (1, 2), "the service counts the unsendable attempt");
    assert_eq!(total(&w.ctx.stats(&op(), Some(&raw), 1).await.unwrap()), 0, "its endpoint does not");
    // The tenant's last day, as the operator's list shows it: one delivery
    // succeeded (after a retry), one given up on (the unsendable one).
    let page = crate::ports::PageRequest { cursor: None, limit: 10 };
    let tenants = w.ctx.list_tenants(&op(), "acme", &page).await.unwrap();
    assert_eq!((tenants.data[0].endpoints, tenants.data[0].last_day), (2, Some((1, 1))));

    let beta = crate::auth::Caller {
        scope: crate::auth::Scope::Tenant(crate::model::TenantId::parse("beta").unwrap()),
        key_id: "k".into(),
    };
    assert_eq!(w.ctx.stats(&beta, Some(&sub), 1).await.unwrap_err().status(), 404, "another tenant's");
    assert_eq!(
        w.ctx.stats(&beta, None, 1).await.unwrap_err().status(),
        403,
        "the service's is the operator's"
    );
    assert_eq!(w.ctx.stats(&op(), None, 8).await.unwrap_err().status(), 422);
}

#[tokio::test]
async fn with_charts_off_nothing_is_counted_and_stats_say_so() {
    let mut w = world();
    let mut settings = (*w.ctx.settings).clone();
    settings.charts = false;
    w.ctx.settings = Arc::new(settings);
    let (sub, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    w.publish(r#"{"tenant":"acme","type":"t.x","payload":{}}"#).await;
    w.run_queue().await;
    assert_eq!(w.ctx.flush_counts().await.unwrap(), 0, "no write");
    let err = w.ctx.stats(&op(), Some(&sub), 1).await.unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
}

#[tokio::test]
async fn a_test_event_of_a_declared_type_carries_its_example() {
    use crate::api::catalog::DeclareEventType;
    let w = world();
    let example = serde_json::json!({"order_id": "ord_1", "amount": 1299});
    let declared = DeclareEventType { example: Some(example.clone()), ..DeclareEventType::default() };
    w.ctx.declare_event_type(&op(), "order.paid", declared).await.unwrap();
    let (sub, _) = w.subscribe(r#"{"tenant":"acme","url":"https://a.example/h"}"#).await;
    w.ctx.send_test_event(&op(), &sub, "order.paid", None).await.unwrap();
    w.ctx.send_test_event(&op(), &sub, "order.refunded", None).await.unwrap();
    w.run_queue().await;
    let bodies: Vec<serde_json::Value> =
        w.sender.requests().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(bodies[0]["data"], example, "the declared example");
    assert_eq!(bodies[1]["data"]["test"], true, "an undeclared type gets the generic test payload");
}

#[tokio::test]
async fn an_ordered_delivery_keeps_its_message_waiting_through_its_retries() {
    let w = world();
    let (sub, _) = w
        .subscribe(r#"{"tenant":"acme","url":"https://a.example/h","ordered":true,"retry_schedule":["5s"]}"#)
        .await;
    let keyed = r#"{"tenant":"acme","type":"order.updated","payload":{},"ordering_key":"order-7"}"#;
    let (first, second) = (w.publish(keyed).await.remove(0), w.publish(keyed).await.remove(0));
    let unkeyed = w.publish(r#"{"tenant":"acme","type":"order.updated","payload":{}}"#).await.remove(0);
    let queued = w.queue.drain();
    let group = crate::model::order_group(&sub, "order-7");
    let groups: Vec<Option<&str>> = queued.iter().map(|q| q.message.group()).collect();
    assert_eq!(
        groups,
        [Some(group.as_str()), Some(group.as_str()), None],
        "the unkeyed event is not ordered"
    );
    assert_eq!(queued[0].message.delivery_id(), &first);
    assert_eq!(queued[1].message.delivery_id(), &second);

    // A failed attempt keeps the message, waiting for the retry; nothing
    // is queued instead of it.
    w.sender.then([status(500)]);
    let handled = w.ctx.handle_message(&w.sender, &once(&queued[0].message)).await.unwrap();
    let retry_at = w.clock.now() + chrono::Duration::seconds(5);
    assert_eq!(handled, Handled::Waits { until: retry_at });
    assert!(w.queue.drain().is_empty(), "no follow-up message: the same one waits");
    // Handed out early, it waits again and sends nothing.
    let early = w.ctx.handle_message(&w.sender, &once(&queued[0].message)).await.unwrap();
    assert_eq!(early, Handled::Waits { until: retry_at });
    assert_eq!(w.sender.requests().len(), 1);
    // Due, it makes the second attempt (whatever attempt it was queued for).
    w.clock.advance(Duration::from_secs(5));
    let done = w.ctx.handle_message(&w.sender, &once(&queued[0].message)).await.unwrap();
    assert!(matches!(done, Handled::Attempted { decision: Decision::Succeeded, .. }), "{done:?}");
    let d = w.delivery(&first).await;
    assert_eq!(
        (d.status, d.attempts, d.ordering.as_deref()),
        (DeliveryStatus::Succeeded, 2, Some(group.as_str()))
    );
    // Once finished, a copy of the message is acknowledged as nothing to do.
    let again = w.ctx.handle_message(&w.sender, &once(&queued[0].message)).await.unwrap();
    assert!(matches!(again, Handled::Skipped(_)), "{again:?}");
    assert_eq!(w.delivery(&unkeyed).await.ordering, None);
    // A redelivery joins the key's line, in its group.
    w.ctx.redeliver(&op(), &first).await.unwrap();
    let requeued = w.queue.drain();
    assert_eq!(requeued[0].message.group(), Some(group.as_str()));
}
