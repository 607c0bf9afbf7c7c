//! The DynamoDB store and the SQS queue against a real local emulator
//! (moto): conditional writes, idempotency, claims, paging through the
//! indexes, batching and delays.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use hookline::aws::{DynamoStore, SqsQueue, provision};
use hookline::model::api::CreateSubscriptionRequest;
use hookline::model::{
    Attempt, Delivery, DeliveryId, DeliveryStatus, DeliveryTarget, Event, EventId, EventType, Subscription,
    SubscriptionId, TenantId,
};
use hookline::ports::{
    AttemptUpdate, DeliveryFilter, DeliveryQueue, DeliveryStore, EventStore, Inserted, PageRequest,
    QueueMessage, Queued, SubscriptionStore, TenantStore,
};
use hookline::signing::{GENERATED_SECRET_BYTES, Secret, SecretSet};
use hookline_tests::moto::{Moto, unique};
use serde_json::value::RawValue;

struct Aws {
    _moto: Moto,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    store: DynamoStore,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

async fn aws() -> Aws {
    let moto = Moto::start().await;
    let sdk = moto.sdk().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("table");
    provision::create_table(&dynamo, &table).await.expect("create table");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = provision::create_queues(&sqs, &unique("queue"), 5).await.expect("create queues");
    let store = DynamoStore::new(dynamo.clone(), table.clone(), Duration::from_secs(86_400));
    Aws { _moto: moto, dynamo, table, store, sqs, queue_url }
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn subscription(n: u8) -> Subscription {
    let req: CreateSubscriptionRequest =
        serde_json::from_str(r#"{"tenant":"acme","url":"https://example.com/h","event_types":["video.*"]}"#)
            .unwrap();
    let at = t0() + chrono::Duration::seconds(n.into());
    req.into_subscription(
        SubscriptionId::generate(at, [n; 10]),
        at,
        Secret::generate([n; GENERATED_SECRET_BYTES]),
    )
    .unwrap()
}

fn event(n: u8, key: Option<&str>) -> Event {
    let at = t0() + chrono::Duration::seconds(n.into());
    Event {
        id: EventId::generate(at, [n; 10]),
        tenant: tenant(),
        event_type: EventType::parse("video.encoded").unwrap(),
        payload: RawValue::from_string(format!(r#"{{"n": {n}, "quote": "\"q\""}}"#)).unwrap(),
        idempotency_key: key.map(str::to_owned),
        webhook_url: None,
        created_at: at,
    }
}

fn delivery(n: u8, e: &Event, sub: &SubscriptionId, due: Option<chrono::DateTime<Utc>>) -> Delivery {
    Delivery {
        id: DeliveryId::generate(e.created_at, [n; 10]),
        event_id: e.id.clone(),
        tenant: tenant(),
        event_type: e.event_type.clone(),
        target: DeliveryTarget::Subscription { subscription_id: sub.clone() },
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(e.created_at),
        due_at: due,
        give_up_reason: None,
        last_status_code: None,
        created_at: e.created_at,
        updated_at: e.created_at,
    }
}

fn attempt(d: &DeliveryId, number: u32) -> Attempt {
    Attempt {
        delivery_id: d.clone(),
        number,
        started_at: t0(),
        duration_ms: 3,
        url: "https://example.com/h".into(),
        status_code: Some(500),
        error: None,
        error_message: None,
        response_excerpt: None,
    }
}

fn pending(at: chrono::DateTime<Utc>) -> AttemptUpdate {
    AttemptUpdate {
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(at),
        due_at: Some(at),
        give_up_reason: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_tenant_secrets_round_trip_and_list_by_tenant() {
    let a = aws().await;
    let subs: Vec<Subscription> = (1..=5).map(subscription).collect();
    for s in &subs {
        a.store.insert_subscription(s).await.unwrap();
    }
    assert!(a.store.insert_subscription(&subs[0]).await.is_err(), "ids are unique");
    assert_eq!(a.store.get_subscription(&subs[2].id).await.unwrap().as_ref(), Some(&subs[2]));

    let p1 = a.store.list_subscriptions(&tenant(), &PageRequest { cursor: None, limit: 2 }).await.unwrap();
    let p2 = a
        .store
        .list_subscriptions(&tenant(), &PageRequest { cursor: p1.next_cursor.clone(), limit: 2 })
        .await
        .unwrap();
    let p3 = a
        .store
        .list_subscriptions(&tenant(), &PageRequest { cursor: p2.next_cursor.clone(), limit: 2 })
        .await
        .unwrap();
    let ids: Vec<_> = [p1.items, p2.items, p3.items].concat().into_iter().map(|s| s.id).collect();
    let mut expected: Vec<_> = subs.iter().rev().map(|s| s.id.clone()).collect();
    assert_eq!(ids, expected, "newest first, no gaps");
    assert!(p3.next_cursor.is_none());

    assert!(a.store.delete_subscription(&subs[0].id).await.unwrap());
    assert!(!a.store.delete_subscription(&subs[0].id).await.unwrap());
    expected.pop();
    let all: Vec<_> =
        a.store.tenant_subscriptions(&tenant()).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(all.len(), expected.len());

    let first = SecretSet::new(Secret::generate([1; GENERATED_SECRET_BYTES]));
    let second = SecretSet::new(Secret::generate([2; GENERATED_SECRET_BYTES]));
    assert_eq!(a.store.init_tenant_secrets(&tenant(), &first).await.unwrap(), first);
    assert_eq!(
        a.store.init_tenant_secrets(&tenant(), &second).await.unwrap(),
        first,
        "the first secret stays"
    );
    a.store.put_tenant_secrets(&tenant(), &second).await.unwrap();
    assert_eq!(a.store.tenant_secrets(&tenant()).await.unwrap(), Some(second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_and_its_deliveries_are_stored_once_per_idempotency_key() {
    let a = aws().await;
    let sub = subscription(1);
    let e = event(1, Some("key-1"));
    let ds = vec![delivery(1, &e, &sub.id, Some(t0())), delivery(2, &e, &sub.id, Some(t0()))];
    assert_eq!(a.store.insert_event(&e, &ds).await.unwrap(), Inserted::New);
    let again = event(2, Some("key-1"));
    let other = vec![delivery(3, &again, &sub.id, Some(t0()))];
    assert_eq!(
        a.store.insert_event(&again, &other).await.unwrap(),
        Inserted::Duplicate { event_id: e.id.clone() }
    );
    assert!(a.store.get_event(&again.id).await.unwrap().is_none());
    assert!(a.store.get_delivery(&other[0].id).await.unwrap().is_none(), "nothing of the repeat is stored");

    let back = a.store.get_event(&e.id).await.unwrap().unwrap();
    assert_eq!(back.payload.get(), e.payload.get(), "payload bytes kept exactly");
    let mut got: Vec<_> = a.store.event_deliveries(&e.id).await.unwrap().into_iter().map(|d| d.id).collect();
    got.sort();
    assert_eq!(got, vec![ds[0].id.clone(), ds[1].id.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_recorded_in_order_once_and_never_after_the_end() {
    let a = aws().await;
    let sub = subscription(1);
    let e = event(1, None);
    let d = delivery(1, &e, &sub.id, Some(t0()));
    a.store.insert_event(&e, std::slice::from_ref(&d)).await.unwrap();
    assert!(!a.store.record_attempt(&attempt(&d.id, 2), &pending(t0())).await.unwrap());
    assert!(a.store.record_attempt(&attempt(&d.id, 1), &pending(t0())).await.unwrap());
    assert!(!a.store.record_attempt(&attempt(&d.id, 1), &pending(t0())).await.unwrap());
    let done = AttemptUpdate {
        status: DeliveryStatus::Succeeded,
        next_attempt_at: None,
        due_at: None,
        give_up_reason: None,
    };
    assert!(a.store.record_attempt(&attempt(&d.id, 2), &done).await.unwrap());
    assert!(!a.store.record_attempt(&attempt(&d.id, 3), &pending(t0())).await.unwrap(), "no resurrection");
    let stored = a.store.get_delivery(&d.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts), (DeliveryStatus::Succeeded, 2));
    // Retention: DynamoDB's TTL removes a finished delivery and its event
    // one retention period (a day here) after they finish / are created.
    let ttl = |pk: String, sk: &'static str| {
        let (client, table) = (a.dynamo.clone(), a.table.clone());
        async move {
            let out = client
                .get_item()
                .table_name(table)
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
                .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
                .send()
                .await
                .unwrap();
            out.item()
                .and_then(|i| i.get("expires_at"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
        }
    };
    assert_eq!(ttl(format!("DLV#{}", d.id), "DLV").await, Some(t0().timestamp() + 86_400));
    assert_eq!(ttl(format!("EVT#{}", e.id), "EVT").await, Some(e.created_at.timestamp() + 86_400));
    let numbers: Vec<u32> = a.store.attempts(&d.id).await.unwrap().iter().map(|x| x.number).collect();
    assert_eq!(numbers, vec![1, 2]);
    assert!(!a.store.cancel_delivery(&d.id, t0()).await.unwrap(), "a finished delivery cannot be canceled");
}

/// The sort keys in a delivery's partition of the table.
async fn partition(a: &Aws, id: &DeliveryId) -> Vec<String> {
    let out = a
        .dynamo
        .query()
        .table_name(&a.table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", aws_sdk_dynamodb::types::AttributeValue::S(format!("DLV#{id}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items().iter().filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_attempt_rides_in_the_delivery_item_and_no_attempt_is_lost() {
    let a = aws().await;
    let sub = subscription(1);
    let e = event(1, None);
    let d = delivery(1, &e, &sub.id, Some(t0()));
    a.store.insert_event(&e, std::slice::from_ref(&d)).await.unwrap();

    let first = Attempt { response_excerpt: Some("busy".into()), ..attempt(&d.id, 1) };
    assert!(a.store.record_attempt(&first, &pending(t0())).await.unwrap());
    assert_eq!(partition(&a, &d.id).await, ["DLV"], "a first attempt is no write of its own");
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), std::slice::from_ref(&first));

    // The scheduler's claim rewrites the delivery item and keeps the attempt.
    assert_eq!(a.store.claim_due(t0(), Duration::from_secs(60), 10).await.unwrap().len(), 1);
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), std::slice::from_ref(&first));

    // A second attempt with a large response excerpt gets its own item; the
    // first one is written out of the delivery item.
    let second = Attempt { response_excerpt: Some("x".repeat(2000)), ..attempt(&d.id, 2) };
    assert!(a.store.record_attempt(&second, &pending(t0())).await.unwrap());
    assert_eq!(partition(&a, &d.id).await, ["ATT#00001", "ATT#00002", "DLV"]);
    let third = attempt(&d.id, 3);
    assert!(a.store.record_attempt(&third, &pending(t0())).await.unwrap());
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first.clone(), second.clone(), third.clone()]);

    // Canceling and reopening (a redelivery) rewrite the delivery item too,
    // and keep every attempt.
    assert!(a.store.cancel_delivery(&d.id, t0()).await.unwrap());
    assert_eq!(a.store.get_delivery(&d.id).await.unwrap().unwrap().attempts, 3);
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first.clone(), second.clone(), third.clone()]);
    assert!(a.store.reopen_delivery(&d.id, t0(), t0()).await.unwrap().is_some());
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first.clone(), second.clone(), third.clone()]);

    // As after a crash between the two writes of a fourth record: the third
    // attempt in its own item and still in the delivery item. Listed once.
    let mut copy = std::collections::HashMap::new();
    copy.insert("pk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(format!("DLV#{}", d.id)));
    copy.insert("sk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("ATT#00003".into()));
    copy.insert(
        "rec".to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::S(serde_json::to_string(&third).unwrap()),
    );
    a.dynamo.put_item().table_name(&a.table).set_item(Some(copy)).send().await.unwrap();
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first, second, third]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_deliveries_are_claimed_once_across_shards_until_the_lease_ends() {
    let a = aws().await;
    let sub = subscription(1);
    let e = event(1, None);
    let due: Vec<Delivery> = (1..=20).map(|n| delivery(n, &e, &sub.id, Some(t0()))).collect();
    let later = delivery(30, &e, &sub.id, Some(t0() + chrono::Duration::hours(2)));
    let mut all = due.clone();
    all.push(later);
    a.store.insert_event(&e, &all).await.unwrap();

    let lease = Duration::from_secs(60);
    let (x, y) = tokio::join!(a.store.claim_due(t0(), lease, 100), a.store.claim_due(t0(), lease, 100));
    let mut claimed: Vec<_> = x.unwrap().into_iter().chain(y.unwrap()).map(|d| d.id).collect();
    claimed.sort();
    let mut expected: Vec<_> = due.iter().map(|d| d.id.clone()).collect();
    expected.sort();
    assert_eq!(claimed, expected, "each due delivery claimed exactly once, the later one not at all");
    assert!(a.store.claim_due(t0() + chrono::Duration::seconds(59), lease, 100).await.unwrap().is_empty());
    assert_eq!(a.store.claim_due(t0() + chrono::Duration::seconds(60), lease, 100).await.unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_list_by_subscription_tenant_and_event_with_filters_and_cancel() {
    let a = aws().await;
    let (s1, s2) = (subscription(1), subscription(2));
    let mut ids = Vec::new();
    for n in 1..=6u8 {
        let e = event(n, None);
        let d = delivery(n, &e, if n % 2 == 0 { &s2.id } else { &s1.id }, Some(t0()));
        ids.push((n, d.id.clone()));
        a.store.insert_event(&e, &[d]).await.unwrap();
    }
    let by_sub = DeliveryFilter { subscription_id: Some(s1.id.clone()), ..Default::default() };
    let p1 = a.store.list_deliveries(&by_sub, &PageRequest { cursor: None, limit: 2 }).await.unwrap();
    let p2 = a
        .store
        .list_deliveries(&by_sub, &PageRequest { cursor: p1.next_cursor.clone(), limit: 2 })
        .await
        .unwrap();
    let got: Vec<_> = [p1.items, p2.items].concat().into_iter().map(|d| d.id).collect();
    let want: Vec<_> = ids.iter().rev().filter(|(n, _)| n % 2 == 1).map(|(_, id)| id.clone()).collect();
    assert_eq!(got, want);
    assert!(p2.next_cursor.is_none());

    let by_tenant = DeliveryFilter {
        tenant: Some(tenant()),
        since: Some(t0() + chrono::Duration::seconds(4)),
        ..Default::default()
    };
    assert_eq!(
        a.store
            .list_deliveries(&by_tenant, &PageRequest { cursor: None, limit: 10 })
            .await
            .unwrap()
            .items
            .len(),
        3
    );

    assert_eq!(a.store.cancel_subscription_deliveries(&s2.id, t0()).await.unwrap(), 3);
    let canceled = DeliveryFilter {
        tenant: Some(tenant()),
        status: Some(DeliveryStatus::Canceled),
        ..Default::default()
    };
    assert_eq!(
        a.store
            .list_deliveries(&canceled, &PageRequest { cursor: None, limit: 10 })
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let claimed = a.store.claim_due(t0(), Duration::from_secs(60), 100).await.unwrap();
    assert_eq!(claimed.len(), 3, "canceled deliveries leave the due index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_sends_in_batches_and_holds_delayed_messages_back() {
    let a = aws().await;
    let q = SqsQueue::new(a.sqs.clone(), &a.queue_url);
    let msg = |n: u8, delay: u64| Queued {
        message: QueueMessage::Deliver { delivery_id: DeliveryId::generate(t0(), [n; 10]), attempt: 1 },
        delay: Duration::from_secs(delay),
    };
    let mut batch: Vec<Queued> = (0..23).map(|n| msg(n, 0)).collect();
    batch.push(msg(99, 60));
    q.enqueue(&batch).await.unwrap();
    let mut received = Vec::new();
    for _ in 0..10 {
        let out =
            a.sqs.receive_message().queue_url(&a.queue_url).max_number_of_messages(10).send().await.unwrap();
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            received.push(serde_json::from_str::<QueueMessage>(m.body().unwrap()).unwrap());
        }
    }
    assert_eq!(received.len(), 23, "all immediate messages, and not the delayed one");
    assert!(!received.contains(&msg(99, 60).message));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_warm_up_on_their_resources_and_report_missing_ones() {
    let a = aws().await;
    a.store.warm_up().await.expect("the store warms up on its table");
    SqsQueue::new(a.sqs.clone(), &a.queue_url).warm_up().await.expect("the queue warms up");

    let missing = DynamoStore::new(a.dynamo.clone(), "no-such-table", Duration::from_secs(60));
    assert!(missing.warm_up().await.is_err(), "a missing table is reported");
    let gone = a.queue_url.replace("hookline-queue", "no-such-queue");
    assert!(SqsQueue::new(a.sqs.clone(), gone).warm_up().await.is_err(), "a missing queue is reported");
}
