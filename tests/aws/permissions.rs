//! Each Lambda function's work, done with exactly the permissions
//! `template.yaml` grants it: on a moto server with IAM enforced, each
//! function's handlers run with credentials whose policy is that function's
//! `Policies` statements, read from the template (`support/function_roles.py`).
//! The SQS event source mapping receives and deletes with the deliver
//! function's credentials, as Lambda does with its role. A permission the
//! code needs and the template lacks fails the work here (removing
//! Scan or UpdateItem from ingest's statements, or SendMessage from the outbox's, does); a
//! permission the template does not grant is refused.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use chrono::Utc;
use hookline::api::events::PublishEventRequest;
use hookline::api::tenants::OneOffRequest;
use hookline::auth::Caller;
use hookline::guard::TargetGuard;
use hookline::model::TenantId;
use hookline::ports::fakes::ManualClock;
use hookline::ports::{
    Clock, DeliveryFilter, DeliveryStore, EventStore, OsEntropy, PageRequest, SubscriptionStore,
};
use hookline::{Context, ServiceSettings};
use hookline_aws::pump::Pump;
use hookline_aws::{DynamoStore, SqsQueue, lambda, provision};
use hookline_sender::HttpSender;
use hookline_tests::moto::{Moto, sdk_at, unique};
use hookline_tests::receiver::{Receiver, Reply};
use hookline_tests::{repo_root, test_python};
use serde_json::{Value, json};

/// One function as AWS runs it: its context and clients, signed with its
/// own credentials.
struct Function {
    ctx: Context,
    store: DynamoStore,
    queue: SqsQueue,
    pump: Pump,
    sqs: aws_sdk_sqs::Client,
    /// For the deliver function: the outbox before it, as Lambda runs it
    /// (the table's stream read with the test's credentials, as the event
    /// source mapping reads it with the role SAM gives it; the messages
    /// sent with the outbox function's).
    outbox: Option<(tokio::sync::Mutex<hookline_aws::stream_pump::StreamPump>, SqsQueue)>,
}

/// The SDK configuration of a caller with `creds`.
async fn sdk_as(moto: &Moto, creds: &Value) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            creds["key"].as_str().expect("key"),
            creds["secret"].as_str().expect("secret"),
            None,
            None,
            "template",
        ))
        .load()
        .await
}

/// The delivery queue and the ordered (FIFO) one, by URL.
type QueueUrls<'a> = (&'a str, &'a str);

async fn function(
    moto: &Moto,
    creds: &Value,
    table: &str,
    (queue_url, ordered_url): QueueUrls<'_>,
    clock: Arc<ManualClock>,
    settings: &ServiceSettings,
) -> Function {
    let sdk = sdk_as(moto, creds).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, Duration::from_secs(86_400));
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsQueue::new(sqs.clone(), queue_url).with_ordered(ordered_url);
    // As lambda::context builds it: rate-limited endpoints' slots in the table.
    let ctx = Context::new(
        Arc::new(store.clone()),
        Arc::new(queue.clone()),
        clock,
        Arc::new(OsEntropy),
        settings.clone(),
    )
    .with_rate_slots(Arc::new(store.clone()));
    Function { ctx, store, queue, pump: Pump::new(sqs.clone(), queue_url), sqs, outbox: None }
}

/// What the template's resources are on the emulator, and each function's
/// (and the producer policy's) credentials.
struct Provisioned {
    table: String,
    deliveries: provision::Queues,
    ordered: provision::Queues,
    ingest: provision::Queues,
    roles: HashMap<String, Value>,
}

async fn provision_with_roles(moto: &Moto) -> Provisioned {
    let sdk = sdk_at(&moto.endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let table = unique("iam");
    provision::create_table(&dynamo, &table).await.expect("table");
    let deliveries = provision::create_queues(&sqs, &unique("iam"), 5).await.expect("queues");
    let ingest = provision::create_queues(&sqs, &unique("iam-ingest"), 5).await.expect("queues");
    let ordered = provision::create_ordered_queues(&sqs, &unique("iam"), 100).await.expect("fifo queues");
    let arn_of = |url: String| {
        let sqs = sqs.clone();
        async move {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .expect("queue attributes");
            attrs
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                .cloned()
                .expect("arn")
        }
    };
    let described = dynamo.describe_table().table_name(&table).send().await.expect("describe");
    let table_arn = described.table().and_then(|t| t.table_arn()).expect("table arn").to_owned();
    let arns = [
        ("Table.Arn", table_arn),
        ("DeliveryQueue.Arn", arn_of(deliveries.url.clone()).await),
        ("DeliveryDLQ.Arn", arn_of(deliveries.dlq_url.clone()).await),
        ("OrderedQueue.Arn", arn_of(ordered.url.clone()).await),
        ("OrderedDLQ.Arn", arn_of(ordered.dlq_url.clone()).await),
        ("IngestQueue.Arn", arn_of(ingest.url.clone()).await),
        ("IngestDLQ.Arn", arn_of(ingest.dlq_url.clone()).await),
    ];
    let out = Command::new(test_python().expect("test python"))
        .arg(repo_root().join("tests/support/function_roles.py"))
        .args([moto.endpoint.clone(), repo_root().join("template.yaml").display().to_string()])
        .args(arns.iter().map(|(name, arn)| format!("{name}={arn}")))
        .output()
        .expect("run function_roles.py");
    assert!(out.status.success(), "function_roles.py: {}", String::from_utf8_lossy(&out.stderr));
    let roles: HashMap<String, Value> = serde_json::from_slice(&out.stdout).expect("roles JSON");
    Provisioned { table, deliveries, ordered, ingest, roles }
}

fn request<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid request")
}

/// Hands what is queued to the deliver function, with its credentials, as
/// the event source mapping does, until nothing is left.
async fn drain(deliver: &Function, sender: &HttpSender) {
    for _ in 0..30 {
        if let Some((stream, queue)) = &deliver.outbox {
            stream.lock().await.run(queue, deliver.ctx.clock.now()).await.expect("the outbox may send");
        }
        let batch = deliver.pump.receive(10, Duration::from_secs(1)).await.expect("deliver may receive");
        if batch.is_empty() {
            return;
        }
        let response: SqsBatchResponse =
            lambda::deliver_batch(&deliver.ctx, sender, batch.event.clone(), 8).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "the deliver function failed a message (see its log)"
        );
        deliver.pump.settle(&batch, &response).await.expect("deliver may delete");
    }
    panic!("the queue never emptied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_works_with_exactly_the_permissions_the_template_grants() {
    let moto = Moto::start().await;
    let Provisioned { table, deliveries, ordered, ingest: ingest_queue, roles } =
        provision_with_roles(&moto).await;
    let queue_url = deliveries.url;
    let urls = (queue_url.as_str(), ordered.url.as_str());
    for name in [
        "IngestFunction",
        "DeliverFunction",
        "RetryFunction",
        "IngestQueueFunction",
        "OutboxFunction",
        "IngestProducerPolicy",
    ] {
        assert!(roles.contains_key(name), "{name} has a role: {roles:?}");
    }
    let ok_receiver = Receiver::start().await;
    let gone = Receiver::start().await;
    // Every answer 410, however many requests reach it.
    gone.script([Reply::Status(410); 4]);
    let ops = Receiver::start().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut settings = ServiceSettings::default();
    settings.retry.jitter = 0.0;
    settings.guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    settings.ops_url = Some(hookline::target::TargetUrl::parse(&ops.url("/ops")).expect("url"));
    settings.ops_secret =
        Some(hookline::signing::Secret::parse(hookline_tests::scenarios::OPS_SECRET).expect("secret"));
    settings.portal_key = Some(hookline::auth::portal::PortalKey::from_bytes(vec![7; 32]).expect("key"));
    let [ingest, deliver, retry] =
        ["IngestFunction", "DeliverFunction", "RetryFunction"].map(|n| roles[n].clone());
    let ingest = function(&moto, &ingest, &table, urls, clock.clone(), &settings).await;
    let mut deliver = function(&moto, &deliver, &table, urls, clock.clone(), &settings).await;
    let outbox_sdk = sdk_as(&moto, &roles["OutboxFunction"]).await;
    let outbox_queue =
        SqsQueue::new(aws_sdk_sqs::Client::new(&outbox_sdk), &queue_url).with_ordered(&ordered.url);
    outbox_queue.warm_up().await.expect("the outbox warms up its queue");
    let admin_sdk = sdk_as(&moto, &roles["TestAdministrator"]).await;
    let stream = hookline_aws::stream_pump::StreamPump::new(
        &aws_sdk_dynamodb::Client::new(&admin_sdk),
        aws_sdk_dynamodbstreams::Client::new(&admin_sdk),
        &table,
    )
    .await
    .expect("the table's stream");
    deliver.outbox = Some((tokio::sync::Mutex::new(stream), outbox_queue));
    let retry = function(&moto, &retry, &table, urls, clock.clone(), &settings).await;
    let from_queue =
        function(&moto, &roles["IngestQueueFunction"], &table, urls, clock.clone(), &settings).await;
    let sender = HttpSender::new(settings.guard.clone()).expect("sender");
    let op = Caller::internal();

    // Each function's warm-up at start.
    for (name, f) in
        [("ingest", &ingest), ("deliver", &deliver), ("retry", &retry), ("ingest-queue", &from_queue)]
    {
        f.store.warm_up().await.unwrap_or_else(|e| panic!("{name} warms up its table: {e}"));
        f.queue.warm_up().await.unwrap_or_else(|e| panic!("{name} warms up its queue: {e}"));
    }

    // The ingest function: the whole API.
    let sub = |url: String, schedule: Value| json!({"tenant":"acme","url":url,"retry_schedule":schedule});
    let a = ingest
        .ctx
        .create_subscription(&op, request(sub(ok_receiver.url("/a"), json!(["2h"]))))
        .await
        .unwrap();
    let g = ingest.ctx.create_subscription(&op, request(sub(gone.url("/g"), json!([])))).await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    ingest.ctx.create_tenant_secret(&op, &acme).await.unwrap();
    ingest
        .ctx
        .put_one_off(&op, &acme, request::<OneOffRequest>(json!({"preset":"transcodely"})))
        .await
        .unwrap();
    let plain: PublishEventRequest =
        request(json!({"tenant":"acme","type":"video.encoded","payload":{"n":1}}));
    let first = ingest.ctx.publish_event(&op, plain, None).await.unwrap();
    let keyed: PublishEventRequest = request(
        json!({"tenant":"acme","type":"video.encoded","payload":{"n":2},"webhook_url":ok_receiver.url("/job")}),
    );
    let second = ingest.ctx.publish_event(&op, keyed, Some("key-1")).await.unwrap();
    let again: PublishEventRequest = request(
        json!({"tenant":"acme","type":"video.encoded","payload":{"n":2},"webhook_url":ok_receiver.url("/job")}),
    );
    assert_eq!(ingest.ctx.publish_event(&op, again, Some("key-1")).await.unwrap(), second);
    ingest.ctx.get_event(&op, &first.id).await.unwrap();
    let page = PageRequest { cursor: None, limit: 10 };
    ingest.ctx.list_subscriptions(&op, Some(acme.clone()), &page).await.unwrap();
    let by_tenant = DeliveryFilter { tenant: Some(acme.clone()), ..Default::default() };
    ingest.ctx.list_deliveries(&op, &by_tenant, &page).await.unwrap();
    // A rate limit: the deliver function leases its slots (UpdateItem).
    let patch = request(json!({"description":"checked","rate_limit":50}));
    ingest.ctx.update_subscription(&op, &a.subscription.id, patch).await.unwrap();
    // The event-type catalog (PutItem, Query, DeleteItem).
    let declare = hookline::api::catalog::DeclareEventType::default();
    ingest.ctx.declare_event_type(&op, "video.created", declare.clone()).await.unwrap();
    ingest.ctx.declare_event_type(&op, "video.deleted", declare).await.unwrap();
    assert_eq!(ingest.ctx.event_types(&op).await.unwrap().data.len(), 2);
    ingest.ctx.remove_event_type(&op, "video.deleted").await.unwrap();
    ingest.ctx.rotate_subscription_secret(&op, &a.subscription.id, None).await.unwrap();

    // The deliver function: attempts, follow-ups, health, a disable with its
    // cancellations, operational events.
    drain(&deliver, &sender).await;
    // The rate-limited endpoint's deliveries took their slots from the table.
    let dynamo_admin = aws_sdk_dynamodb::Client::new(&sdk_as(&moto, &roles["TestAdministrator"]).await);
    let lease = dynamo_admin
        .get_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("RATE#{}", a.subscription.id)))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("RATE".into()))
        .send()
        .await
        .expect("read the schedule");
    assert!(lease.item().is_some(), "the deliver function leased slots for the rate-limited endpoint");
    let gone_sub = deliver.store.get_subscription(&g.subscription.id).await.unwrap().unwrap();
    assert!(!gone_sub.active, "410 disabled it");
    assert!(!ops.received().is_empty(), "an operational event was published");
    let d = first.deliveries.iter().find(|d| d.subscription_id.as_ref() == Some(&a.subscription.id)).unwrap();
    ingest.ctx.get_delivery(&op, &d.id).await.unwrap();
    // The deliver function wrote its batches' attempt counts (a failed write
    // only warns, so this is where a missing grant shows); the ingest
    // function, which serves the portal, reads them.
    let counted =
        |s: hookline::api::stats::Stats| s.hours.iter().map(|h| h.succeeded + h.failed).sum::<u64>();
    assert!(counted(ingest.ctx.stats(&op, Some(&a.subscription.id), 1).await.unwrap()) >= 1);
    assert!(
        counted(ingest.ctx.stats(&op, None, 1).await.unwrap()) >= 3,
        "the service counts every endpoint's"
    );
    ingest.ctx.redeliver(&op, &d.id).await.unwrap();
    let replay = request(json!({"since":"2020-01-01T00:00:00Z","status":"succeeded"}));
    ingest.ctx.replay(&op, &a.subscription.id, replay).await.unwrap();
    drain(&deliver, &sender).await;

    // The retry function: a retry two hours out waits in the table until the
    // scheduler queues it. The schedule grown since the publish makes the
    // deliver function keep the event longer.
    ok_receiver.script([Reply::Status(503), Reply::Status(503)]);
    let late: PublishEventRequest =
        request(json!({"tenant":"acme","type":"video.encoded","payload":{"n":3}}));
    let late = ingest.ctx.publish_event(&op, late, None).await.unwrap();
    let longer = request(json!({"retry_schedule":["2h","48h"]}));
    ingest.ctx.update_subscription(&op, &a.subscription.id, longer).await.unwrap();
    drain(&deliver, &sender).await;
    clock.advance(Duration::from_secs(2 * 3600 + 1));
    assert!(retry.ctx.enqueue_due(100).await.unwrap() >= 1, "the scheduler queued the late retry");
    drain(&deliver, &sender).await;
    let late_id = &late.deliveries.iter().find(|d| d.subscription_id.is_some()).unwrap().id;
    assert_eq!(deliver.store.get_delivery(late_id).await.unwrap().unwrap().attempts, 2);
    let kept = deliver.store.get_event(&late.id).await.unwrap().unwrap().last_attempt_by.unwrap();
    assert!(kept >= clock.now() + chrono::Duration::hours(48), "kept for the 48 h retry: {kept}");

    ingest.ctx.delete_subscription(&op, &g.subscription.id).await.unwrap();

    // Ordered deliveries: the ingest function and the outbox send them to
    // the FIFO queue; the deliver function receives them there, hides one
    // whose retry must wait (ChangeMessageVisibility) and deletes each once
    // it is delivered — the second of the key only after the first.
    let in_order = Receiver::start().await;
    in_order.script([Reply::Status(503)]);
    let body = json!({"tenant":"acme","url":in_order.url("/o"),"ordered":true,"retry_schedule":["1s"],
        "event_types":["order.*"]});
    let o = ingest.ctx.create_subscription(&op, request(body)).await.unwrap();
    for n in 0..2 {
        let keyed: PublishEventRequest = request(
            json!({"tenant":"acme","type":"order.updated","ordering_key":"order-1","payload":{"n":n}}),
        );
        ingest.ctx.publish_event(&op, keyed, None).await.unwrap();
    }
    if let Some((stream, queue)) = &deliver.outbox {
        stream.lock().await.run(queue, deliver.ctx.clock.now()).await.expect("the outbox may send");
    }
    let fifo = Pump::new(deliver.sqs.clone(), &ordered.url);
    let mut hidden = 0;
    for _ in 0..20 {
        if in_order.received().len() >= 3 {
            break;
        }
        let batch =
            fifo.receive(10, Duration::from_secs(1)).await.expect("deliver may receive from the FIFO queue");
        let response = lambda::deliver_batch(&deliver.ctx, &sender, batch.event.clone(), 8).await;
        hidden += response.batch_item_failures.len();
        fifo.settle(&batch, &response).await.expect("deliver may delete from the FIFO queue");
        clock.advance(Duration::from_secs(2));
    }
    let ns: Vec<Value> = in_order.received().iter().map(|r| r.json()["data"]["n"].clone()).collect();
    assert_eq!(ns, [json!(0), json!(0), json!(1)], "the retry held its key");
    assert!(hidden >= 1, "the retry waited hidden on the FIFO queue");
    ingest.ctx.delete_subscription(&op, &o.subscription.id).await.unwrap();

    // A delivery canceled before its first attempt (the deliver function
    // finds its endpoint disabled: the event's stub marked, UpdateItem),
    // then redelivered through the API and delivered once enabled again.
    let paused =
        ingest.ctx.create_subscription(&op, request(sub(ok_receiver.url("/p"), json!([])))).await.unwrap();
    let typed: PublishEventRequest = request(json!({"tenant":"acme","type":"video.paused","payload":{}}));
    let ev = ingest.ctx.publish_event(&op, typed, None).await.unwrap();
    let held =
        ev.deliveries.iter().find(|d| d.subscription_id.as_ref() == Some(&paused.subscription.id)).unwrap();
    let off = request(json!({"active": false}));
    ingest.ctx.update_subscription(&op, &paused.subscription.id, off).await.unwrap();
    drain(&deliver, &sender).await;
    let canceled = deliver.store.get_delivery(&held.id).await.unwrap().unwrap();
    assert_eq!((canceled.status.as_str(), canceled.attempts), ("canceled", 0));
    let on = request(json!({"active": true}));
    ingest.ctx.update_subscription(&op, &paused.subscription.id, on).await.unwrap();
    ingest.ctx.redeliver(&op, &held.id).await.unwrap();
    drain(&deliver, &sender).await;
    let done = deliver.store.get_delivery(&held.id).await.unwrap().unwrap();
    assert_eq!((done.status.as_str(), done.attempts), ("succeeded", 1));

    // The portal, which the ingest function serves: a link opens once (its
    // nonce claimed with a conditional PutItem).
    let link = ingest.ctx.portal_link(&op, "acme").unwrap();
    let token = link.url.split("token=").nth(1).expect("a token");
    assert!(ingest.ctx.open_portal(token).await.expect("ingest may claim").is_ok());
    assert!(ingest.ctx.open_portal(token).await.expect("ingest may read the claim").is_err(), "once");

    // And what a function is not granted, it cannot do: enforcement is on.
    // The ingest-queue function: a producer holding the template's producer
    // policy sends publish requests (one new, one keyed and repeated, one
    // never valid); the function receives them from the ingest queue,
    // publishes, sets the invalid one aside in the dead-letter queue, and
    // the event source mapping deletes the batch — each with its own
    // credentials.
    let producer = aws_sdk_sqs::Client::new(&sdk_as(&moto, &roles["IngestProducerPolicy"]).await);
    let bodies = [
        json!({"tenant":"acme","type":"video.encoded","payload":{"n":4}}),
        json!({"tenant":"acme","type":"video.encoded","payload":{"n":5},"idempotency_key":"q-5"}),
        json!({"tenant":"acme","type":"video.encoded","payload":{"n":5},"idempotency_key":"q-5"}),
        json!({"tenant":"acme","type":"not a type","payload":{}}),
    ];
    let entries = bodies.iter().enumerate().map(|(i, b)| {
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id(i.to_string())
            .message_body(b.to_string())
            .build()
            .expect("entry")
    });
    let sent = producer
        .send_message_batch()
        .queue_url(&ingest_queue.url)
        .set_entries(Some(entries.collect()))
        .send()
        .await
        .expect("the producer may send to the ingest queue");
    assert!(sent.failed().is_empty(), "{sent:?}");
    let rejects = hookline_aws::RejectQueue::new(from_queue.sqs.clone(), &ingest_queue.dlq_url);
    let ingest_pump = Pump::new(from_queue.sqs.clone(), &ingest_queue.url);
    let mut published = 0;
    while published < bodies.len() {
        let batch = ingest_pump.receive(10, Duration::from_secs(1)).await.expect("ingest-queue may receive");
        assert!(!batch.is_empty(), "the ingest queue ran dry after {published} messages");
        let response = lambda::ingest_batch(&from_queue.ctx, &rejects, batch.event.clone()).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "the ingest-queue function failed a message (see its log)"
        );
        published += ingest_pump.settle(&batch, &response).await.expect("ingest-queue may delete");
    }
    drain(&deliver, &sender).await;
    let refused = producer.receive_message().queue_url(&ingest_queue.url).send().await;
    assert!(refused.is_err(), "a producer may only send");

    // The API's dead letters (the ingest function): a message dead in the
    // delivery queue's DLQ (put there by the test as SQS would) is listed
    // and redriven, then delivered.
    let admin = aws_sdk_sqs::Client::new(&sdk_as(&moto, &roles["TestAdministrator"]).await);
    let stuck: PublishEventRequest =
        request(json!({"tenant":"acme","type":"video.encoded","payload":{"n":6}}));
    let stuck = ingest.ctx.publish_event(&op, stuck, None).await.unwrap();
    let stuck_id = stuck.deliveries[0].id.clone();
    let body = serde_json::to_string(&hookline::ports::QueueMessage::Deliver {
        delivery_id: stuck_id.clone(),
        attempt: 1,
    })
    .unwrap();
    if let Some((stream, queue)) = &deliver.outbox {
        stream.lock().await.run(queue, deliver.ctx.clock.now()).await.expect("the outbox may send");
    }
    let moved = deliver.pump.receive(10, Duration::from_secs(1)).await.expect("receive");
    assert_eq!(moved.len(), 1);
    admin
        .delete_message()
        .queue_url(&queue_url)
        .receipt_handle(moved.event.records[0].receipt_handle.clone().unwrap_or_default())
        .send()
        .await
        .expect("take it off the queue");
    admin
        .send_message()
        .queue_url(&deliveries.dlq_url)
        .message_body(body)
        .send()
        .await
        .expect("into the DLQ");
    let api = ingest.ctx.clone().with_dead_letters(Arc::new(hookline_aws::SqsDeadLetters::new(
        ingest.sqs.clone(),
        &deliveries.dlq_url,
        &queue_url,
    )));
    // The operator's Service page counts it (GetQueueAttributes, which the
    // page would show as unknown were it denied), and reads the queue's
    // depth; the tenants page lists acme from the index.
    let health = api.service_health(&op).await.unwrap();
    assert_eq!(health.dead_letters, Some(1), "the dead letter counted");
    assert!(health.queue.is_some(), "the queue's depth");
    let page = hookline::ports::PageRequest { cursor: None, limit: 10 };
    let tenants = api.list_tenants(&op, "", &page).await.unwrap();
    assert!(tenants.data.iter().any(|t| t.tenant.as_str() == "acme" && t.endpoints >= 1), "{tenants:?}");
    let dead = api.list_dead_letters(&op, None).await.unwrap();
    assert_eq!(dead.data.len(), 1);
    api.redrive_dead_letter(&op, &dead.data[0].id).await.unwrap();
    drain(&deliver, &sender).await;
    assert_eq!(deliver.store.get_delivery(&stuck_id).await.unwrap().unwrap().attempts, 1);

    // The retry function's redriver: a message dead in the DLQ goes back
    // with its credentials.
    admin
        .send_message()
        .queue_url(&deliveries.dlq_url)
        .message_body(
            serde_json::to_string(&hookline::ports::QueueMessage::Deliver {
                delivery_id: stuck_id.clone(),
                attempt: 2,
            })
            .unwrap(),
        )
        .send()
        .await
        .expect("into the DLQ");
    let redriver = hookline_aws::SqsDeadLetters::new(retry.sqs.clone(), &deliveries.dlq_url, &queue_url);
    assert_eq!(redriver.redrive_all(2).await.expect("retry may redrive"), 1);
    drain(&deliver, &sender).await;

    // The ordered queue's DLQ: listed and redriven by the API, and by the
    // retry function, each message back into its own message group.
    let in_order = |attempt: u32| {
        serde_json::to_string(&hookline::ports::QueueMessage::DeliverInOrder {
            delivery_id: stuck_id.clone(),
            attempt,
            group: "sub_dead.key".into(),
        })
        .unwrap()
    };
    let into_fifo_dlq = |body: String, n: u32| {
        admin
            .send_message()
            .queue_url(&ordered.dlq_url)
            .message_body(body)
            .message_group_id("sub_dead.key")
            .message_deduplication_id(format!("dead-{n}"))
            .send()
    };
    let back_in_its_group = || async {
        let out = admin
            .receive_message()
            .queue_url(&ordered.url)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive the redriven message");
        let m = out.messages().first().cloned().expect("the dead letter is back on the ordered queue");
        let group = m
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId));
        assert_eq!(group.map(String::as_str), Some("sub_dead.key"));
        admin
            .delete_message()
            .queue_url(&ordered.url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("take it off");
    };
    into_fifo_dlq(in_order(3), 3).await.expect("into the ordered DLQ");
    let both = |sqs: &aws_sdk_sqs::Client| {
        hookline_aws::SqsDeadLetters::new(sqs.clone(), &deliveries.dlq_url, &queue_url)
            .with_ordered(&ordered.dlq_url, &ordered.url)
    };
    let api = ingest.ctx.clone().with_dead_letters(Arc::new(both(&ingest.sqs)));
    let dead = api.list_dead_letters(&op, None).await.unwrap();
    assert_eq!(dead.data.len(), 1, "the ordered queue's dead letter is listed");
    api.redrive_dead_letter(&op, &dead.data[0].id).await.unwrap();
    back_in_its_group().await;
    into_fifo_dlq(in_order(4), 4).await.expect("into the ordered DLQ");
    assert_eq!(both(&retry.sqs).redrive_all(2).await.expect("retry may redrive the ordered DLQ"), 1);
    back_in_its_group().await;

    let refused = deliver.store.delete_subscription(&a.subscription.id).await.unwrap_err();
    assert!(!refused.is_retryable() && refused.to_string().contains("AccessDenied"), "{refused}");
    let event = hookline::ports::samples::event(9, None);
    let refused = retry.store.keep_event(&event.id, hookline::ports::samples::t0()).await.unwrap_err();
    assert!(refused.to_string().contains("AccessDenied"), "retry may not update items: {refused}");
}
