//! What only the AWS adapters do, against a real local emulator (moto):
//! DynamoDB's TTL and item layout, SQS batching and delays, warming up, and
//! how AWS's errors reach the ports. What every store must do is the store
//! contract suite (`store_contract.rs`), run against DynamoDB there.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hookline::model::{Attempt, DeliveryId};
use hookline::ports::samples::{attempt, delivery, event, record, retry_at, subscription, succeeded, t0};
use hookline::ports::{DeliveryQueue, DeliveryStore, EventStore, QueueMessage, Queued};
use hookline_aws::{DynamoStore, SqsQueue, provision};
use hookline_tests::moto::{Moto, unique};

/// Deletes the item with this key, as if it had never been written.
async fn forget(a: &Aws, pk: String, sk: &str) {
    hookline_tests::moto::forget(&a.dynamo, &a.table, pk, sk).await;
}

struct Aws {
    moto: Moto,
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
    let queue_url = provision::create_queues(&sqs, &unique("queue"), 5).await.expect("create queues").url;
    let store = DynamoStore::new(dynamo.clone(), table.clone(), Duration::from_secs(86_400));
    Aws { moto, dynamo, table, store, sqs, queue_url }
}

/// The item with this key, read consistently.
async fn item(a: &Aws, pk: String, sk: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
    let out = a
        .dynamo
        .get_item()
        .table_name(&a.table)
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item().cloned()
}

/// An attribute of the item with this key, as a number.
async fn number(a: &Aws, pk: String, sk: &str, name: &str) -> Option<i64> {
    item(a, pk, sk).await?.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

/// The `expires_at` (DynamoDB TTL) of the item with this key, if any.
async fn ttl(a: &Aws, pk: String, sk: &str) -> Option<i64> {
    number(a, pk, sk, "expires_at").await
}

/// The key of delivery `d`'s outcome record (its subscription's listing).
fn outcome(d: &hookline::model::Delivery) -> (String, String) {
    let sub = d.subscription_id().expect("a subscription's delivery");
    (hookline_aws::outcome_partition(&format!("D#{sub}"), &d.id), d.id.to_string())
}

/// The key of event `e`'s item.
fn event_key(e: &hookline::model::Event) -> (String, String) {
    (hookline_aws::event_partition(&e.id), e.id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_deliveries_and_their_events_expire_one_retention_after() {
    let a = aws().await;
    let e = event(1, None);
    let d = delivery(1, &e, &subscription(1).id, Some(t0()));
    a.store.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();
    let ((opk, osk), (epk, esk)) = (outcome(&d), event_key(&e));
    assert!(item(&a, opk.clone(), &osk).await.is_none(), "a delivery never attempted is its event's stub");
    record(&a.store, attempt(&d.id, 1), retry_at(t0())).await.unwrap();
    assert_eq!(ttl(&a, opk.clone(), &osk).await, None, "a pending delivery never expires");
    record(&a.store, attempt(&d.id, 2), succeeded()).await.unwrap();
    // Retention is a day here: TTL removes the finished delivery a day after
    // it finished, the event a day after it was created.
    assert_eq!(ttl(&a, opk, &osk).await, Some(t0().timestamp() + 86_400));
    assert_eq!(ttl(&a, epk, &esk).await, Some(e.created_at.timestamp() + 86_400));
}

/// The sort keys of a delivery's older attempts' items.
async fn partition(a: &Aws, id: &DeliveryId) -> Vec<String> {
    let out = a
        .dynamo
        .query()
        .table_name(&a.table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", aws_sdk_dynamodb::types::AttributeValue::S(format!("A#{id}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items().iter().filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_attempt_rides_in_the_outcome_record_and_no_attempt_is_lost() {
    let a = aws().await;
    let sub = subscription(1);
    let e = event(1, None);
    let d = delivery(1, &e, &sub.id, Some(t0()));
    a.store.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();

    let first = Attempt { response_excerpt: Some("busy".into()), ..attempt(&d.id, 1) };
    assert!(record(&a.store, first.clone(), retry_at(t0())).await.unwrap());
    assert!(partition(&a, &d.id).await.is_empty(), "a first attempt is no write of its own");
    let (opk, osk) = outcome(&d);
    assert!(item(&a, opk.clone(), &osk).await.is_some(), "it is in the outcome record");
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), std::slice::from_ref(&first));

    // The scheduler's claim rewrites the record and keeps the attempt.
    assert_eq!(a.store.claim_due(t0(), Duration::from_secs(60), 10).await.unwrap().len(), 1);
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), std::slice::from_ref(&first));

    // A second attempt with a large response excerpt gets its own item; the
    // first one is written out of the record.
    let second = Attempt { response_excerpt: Some("x".repeat(2000)), ..attempt(&d.id, 2) };
    assert!(record(&a.store, second.clone(), retry_at(t0())).await.unwrap());
    assert_eq!(partition(&a, &d.id).await, ["00001", "00002"]);
    let third = attempt(&d.id, 3);
    assert!(record(&a.store, third.clone(), retry_at(t0())).await.unwrap());
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first.clone(), second.clone(), third.clone()]);

    // Canceling and reopening (a redelivery) rewrite the record too,
    // and keep every attempt.
    assert!(a.store.cancel_delivery(&d.id, t0()).await.unwrap());
    assert_eq!(a.store.get_delivery(&d.id).await.unwrap().unwrap().attempts, 3);
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first.clone(), second.clone(), third.clone()]);
    assert!(a.store.reopen_delivery(&d.id, t0(), t0()).await.unwrap().is_some());
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first.clone(), second.clone(), third.clone()]);

    // As after a crash between the two writes of a fourth record: the third
    // attempt in its own item and still in the record. Listed once.
    let mut copy = std::collections::HashMap::new();
    copy.insert("pk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(format!("A#{}", d.id)));
    copy.insert("sk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("00003".into()));
    copy.insert(
        "rec".to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::S(serde_json::to_string(&third).unwrap()),
    );
    a.dynamo.put_item().table_name(&a.table).set_item(Some(copy)).send().await.unwrap();
    assert_eq!(a.store.attempts(&d.id).await.unwrap(), [first, second, third]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_packs_messages_in_batches_and_holds_delayed_ones_back() {
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
            received.push(QueueMessage::all_in(m.body().unwrap()).unwrap());
            a.sqs
                .delete_message()
                .queue_url(&a.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let mut sizes: Vec<usize> = received.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [3, 10, 10], "23 due now: packed ten to a body, in three SQS messages");
    let mut got: Vec<QueueMessage> = received.into_iter().flatten().collect();
    let mut want: Vec<QueueMessage> = batch[..23].iter().map(|q| q.message.clone()).collect();
    let key = |m: &QueueMessage| format!("{m:?}");
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want, "every immediate message once, and not the delayed one");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_errors_say_whether_a_retry_can_help() {
    let a = aws().await;
    let missing = DynamoStore::new(a.dynamo.clone(), "no-such-table", Duration::from_secs(60));
    let refused = missing.get_delivery(&DeliveryId::generate(t0(), [1; 10])).await.unwrap_err();
    assert!(!refused.is_retryable(), "a missing table needs an operator: {refused}");
    assert!(refused.to_string().contains("ResourceNotFound"), "the service's code is kept: {refused}");
    let gone = a.queue_url.replace("hookline-queue", "no-such-queue");
    let message = Queued {
        message: QueueMessage::Deliver { delivery_id: DeliveryId::generate(t0(), [1; 10]), attempt: 1 },
        delay: Duration::ZERO,
    };
    let queue_refused =
        SqsQueue::new(a.sqs.clone(), gone).enqueue(std::slice::from_ref(&message)).await.unwrap_err();
    assert!(!queue_refused.is_retryable(), "a missing queue needs an operator: {queue_refused}");

    // Nothing listens where the emulator was: the call may pass later.
    let endpoint = a.moto.endpoint.clone();
    drop(a);
    let sdk = hookline_tests::moto::sdk_at(&endpoint).await;
    let down = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), "t", Duration::from_secs(60));
    let unavailable = down.get_delivery(&DeliveryId::generate(t0(), [1; 10])).await.unwrap_err();
    assert!(unavailable.is_retryable(), "an unreachable store is retryable: {unavailable}");
    let queue_down = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), format!("{endpoint}/123456789012/q"));
    let unavailable = queue_down.enqueue(&[message]).await.unwrap_err();
    assert!(unavailable.is_retryable(), "an unreachable queue is retryable: {unavailable}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_publish_that_stopped_part_way_is_finished_by_its_repeat_under_its_ids() {
    use hookline::model::DeliveryStatus;
    use hookline::ports::Inserted;
    let a = aws().await;
    let (s1, s2) = (subscription(1).id, subscription(2).id);
    let first = event(1, Some("order-7"));
    let (d1, d2) = (delivery(1, &first, &s1, Some(t0())), delivery(2, &first, &s2, Some(t0())));
    assert_eq!(a.store.insert_event(&first, &[d1.clone(), d2.clone()], &[]).await.unwrap(), Inserted::New);
    // The first publish stopped after its key (the writes are in that
    // order: key, event, which carries its deliveries).
    let (epk, esk) = event_key(&first);
    forget(&a, epk.clone(), &esk).await;

    // The same request again, at once: the first may still be writing, so
    // nothing is finished and the caller is told to retry.
    let mut again = event(2, Some("order-7"));
    again.fingerprint = first.fingerprint.clone();
    let fresh = [delivery(1, &again, &s1, Some(t0())), delivery(2, &again, &s2, Some(t0()))];
    let early = a.store.insert_event(&again, &fresh, &[]).await.unwrap_err();
    assert!(early.is_retryable(), "{early}");
    assert!(a.store.get_delivery(&d2.id).await.unwrap().is_none(), "nothing finished while it may race");

    // Past the longest a publish runs, the repeat finishes the first: its
    // ids (derived from the first's event id), its time.
    again.created_at = first.created_at + hookline::ports::span(hookline_aws::PUBLISH_IN_FLIGHT);
    let out = a.store.insert_event(&again, &fresh, &[]).await.unwrap();
    assert_eq!(out, Inserted::Resumed { event_id: first.id.clone() });
    let stored = a.store.get_event(&first.id).await.unwrap().expect("the event is stored under its first id");
    assert_eq!(stored.created_at, first.created_at);
    assert!(a.store.get_event(&again.id).await.unwrap().is_none(), "nothing under the repeat's ids");
    let mut found: Vec<_> = a.store.event_deliveries(&first.id).await.unwrap();
    found.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(found.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), vec![d1.id.clone(), d2.id.clone()]);
    for d in &found {
        assert_eq!((d.status, d.event_id.clone()), (DeliveryStatus::Pending, first.id.clone()));
    }
    for d in &fresh {
        assert!(a.store.get_delivery(&d.id).await.unwrap().is_none());
    }

    // Once whole, a repeat is a plain duplicate; a different request with
    // the key finishes nothing.
    let out = a.store.insert_event(&again, &fresh, &[]).await.unwrap();
    assert_eq!(
        out,
        Inserted::Duplicate { event_id: first.id.clone(), fingerprint: first.fingerprint.clone() }
    );
    forget(&a, epk, &esk).await;
    let mut other = event(3, Some("order-7"));
    other.fingerprint = Some("another request".into());
    let out = a.store.insert_event(&other, &[delivery(5, &other, &s1, Some(t0()))], &[]).await.unwrap();
    assert_eq!(
        out,
        Inserted::Duplicate { event_id: first.id.clone(), fingerprint: first.fingerprint.clone() }
    );
    assert!(a.store.get_event(&first.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_listing_merges_its_shards_in_order_when_one_runs_dry_mid_page() {
    use hookline::model::{Delivery, DeliveryStatus};
    use hookline::ports::{DeliveryFilter, PageRequest};
    let a = aws().await;
    let e = event(1, None);
    let sub = subscription(1).id;
    // Ten deliveries, 1 the oldest: 10, 8, 6, 5, 2 in one listing shard,
    // 9, 4, 3 in another; 10, 6, 5 and 4 succeeded. Listed succeeded, three
    // a page: the first page takes 10, 9, 8 from the shards' first reads
    // and keeps 10; then 6 empties its shard's buffer while that shard
    // still holds 5, newer than the other shard's 4 — the merge must read
    // on before it goes past 5.
    let (shard_a, shard_b) = ("0", "1");
    let group = format!("D#{sub}");
    let mut made: Vec<(u8, Delivery)> = Vec::new();
    for rank in [2u8, 3, 4, 5, 6, 8, 9, 10] {
        let want = if [10, 8, 6, 5, 2].contains(&rank) { shard_a } else { shard_b };
        let at = t0() + chrono::Duration::milliseconds(rank.into());
        // An event of its own for each, its one delivery in the shard wanted.
        let e = (0..=u16::MAX)
            .map(|salt| {
                let [hi, lo] = salt.to_be_bytes();
                let id = hookline::model::EventId::for_tenant(
                    at,
                    e.tenant.as_str(),
                    // The id's low bits: its tenant's, then 40 random ones.
                    [0, 0, 0, rank, hi, lo, 0, 0, 0, 0],
                );
                hookline::model::Event { id, created_at: at, ..e.clone() }
            })
            .find(|e| {
                hookline_aws::outcome_partition(&group, &e.id.delivery(0).unwrap()).rsplit('#').next()
                    == Some(want)
            })
            .expect("an id in the shard");
        let d = delivery(0, &e, &sub, Some(t0()));
        a.store.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();
        made.push((rank, d));
    }
    for (rank, d) in &made {
        if [10, 6, 5, 4].contains(rank) {
            record(&a.store, attempt(&d.id, 1), succeeded()).await.unwrap();
        }
    }
    let filter = DeliveryFilter {
        subscription_id: Some(sub),
        status: Some(DeliveryStatus::Succeeded),
        ..Default::default()
    };
    let (mut got, mut cursor) = (Vec::new(), None);
    for _ in 0..5 {
        let page = a.store.list_deliveries(&filter, &PageRequest { cursor, limit: 3 }).await.unwrap();
        got.extend(
            page.items.iter().map(|d| made.iter().find(|(_, m)| m.id == d.id).map(|(r, _)| *r).unwrap()),
        );
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(got, vec![10, 6, 5, 4], "newest first, none skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishes_with_one_key_at_once_store_one_event_and_finish_nothing_twice() {
    use hookline::ports::Inserted;
    let a = aws().await;
    let sub = subscription(1).id;
    for round in 0..5u8 {
        let key = format!("order-{round}");
        let first = event(2 * round + 1, Some(&key));
        let mut second = event(2 * round + 2, Some(&key));
        second.fingerprint = first.fingerprint.clone();
        let (d1, d2) = (delivery(1, &first, &sub, Some(t0())), delivery(2, &second, &sub, Some(t0())));
        let (x, y) = tokio::join!(
            a.store.insert_event(&first, std::slice::from_ref(&d1), &[]),
            a.store.insert_event(&second, std::slice::from_ref(&d2), &[])
        );
        let mut outcomes = [x.unwrap(), y.unwrap()];
        outcomes.sort_by_key(|o| !matches!(o, Inserted::New));
        let [won, lost] = outcomes;
        assert_eq!(won, Inserted::New, "round {round}");
        // The loser waited for the winner's event: a plain duplicate, not a
        // "finished here" that would send the deliveries a second time.
        assert!(matches!(lost, Inserted::Duplicate { .. }), "round {round}: {lost:?}");
    }
}

/// Where the scheduler's sweep of `due` shard `k` starts next (ms; stored
/// in whole seconds).
async fn sweep_position(a: &Aws, k: u32) -> i64 {
    let sched = item(a, hookline_aws::SWEEP_POSITIONS_PK.into(), "DUE").await;
    let pos = sched.and_then(|i| i.get("pos").and_then(|v| v.as_l().ok()).cloned()).unwrap_or_default();
    let seconds: i64 =
        pos.get(k as usize).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0);
    seconds * 1000
}

/// Sample deliveries of `e` whose `due` entries share one shard.
fn same_due_shard(e: &hookline::model::Event, count: usize) -> Vec<hookline::model::Delivery> {
    let sub = subscription(1).id;
    let all: Vec<_> = (1..=255u8).map(|n| delivery(n, e, &sub, Some(t0()))).collect();
    let k = hookline_aws::due_shard(&all[0].id);
    let same: Vec<_> = all.into_iter().filter(|d| hookline_aws::due_shard(&d.id) == k).take(count).collect();
    assert_eq!(same.len(), count, "enough sample deliveries in one shard");
    same
}

/// A finished delivery keeps its `due` entry (removing it would be one
/// more index write); the scheduler's sweep reads it once, claims nothing
/// for it, and starts past it the next time. Entries are a retry's that
/// waits in the store (`retry_at`: not queued).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_delivery_keeps_its_due_entry_and_the_sweep_passes_it_once() {
    let a = aws().await;
    let e = event(1, None);
    let [done, waiting] = <[_; 2]>::try_from(same_due_shard(&e, 2)).unwrap();
    a.store.insert_event(&e, &[done.clone(), waiting.clone()], &[]).await.unwrap();
    for d in [&done, &waiting] {
        record(&a.store, attempt(&d.id, 1), retry_at(t0())).await.unwrap();
    }
    let (pk, sk) = outcome(&done);
    assert_eq!(number(&a, pk.clone(), &sk, "due_at").await, Some(t0().timestamp_millis()), "a waiting retry");
    record(&a.store, attempt(&done.id, 2), succeeded()).await.unwrap();
    assert_eq!(number(&a, pk, &sk, "due_at").await, Some(t0().timestamp_millis()), "the entry stays");
    assert_eq!(
        a.store.get_delivery(&done.id).await.unwrap().unwrap().due_at,
        None,
        "but is not its due time"
    );

    let now = t0() + chrono::Duration::minutes(1);
    let claimed = a.store.claim_due(now, Duration::from_secs(60), 10).await.unwrap();
    assert_eq!(claimed.iter().map(|d| &d.id).collect::<Vec<_>>(), [&waiting.id], "only the pending one");
    let k = hookline_aws::due_shard(&done.id);
    let settled = (now - chrono::Duration::from_std(hookline_aws::SWEEP_SETTLE).unwrap()).timestamp_millis();
    assert_eq!(sweep_position(&a, k).await, settled, "the next sweep starts past the finished one's entry");
}

/// An entry that reaches the index behind a sweep — due before the run's
/// now, but within the settling time — is still found by the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_appears_behind_a_sweep_within_the_settling_time_is_still_claimed() {
    let a = aws().await;
    let e = event(1, None);
    let [first, late] = <[_; 2]>::try_from(same_due_shard(&e, 2)).unwrap();
    a.store.insert_event(&e, &[first.clone(), late.clone()], &[]).await.unwrap();
    record(&a.store, attempt(&first.id, 1), retry_at(t0())).await.unwrap();
    let run = t0() + chrono::Duration::minutes(1);
    assert_eq!(a.store.claim_due(run, Duration::from_secs(600), 10).await.unwrap().len(), 1);

    // Written after that run, due a moment before it.
    assert!(hookline_aws::SWEEP_SETTLE > Duration::from_secs(5));
    let behind = run - chrono::Duration::seconds(5);
    record(&a.store, attempt(&late.id, 1), retry_at(behind)).await.unwrap();
    let next =
        a.store.claim_due(run + chrono::Duration::minutes(1), Duration::from_secs(600), 10).await.unwrap();
    assert_eq!(next.iter().map(|d| &d.id).collect::<Vec<_>>(), [&late.id]);
}

/// A shard with more entries than a sweep reads in one query is swept
/// across pages: the pending deliveries among finished ones are all
/// claimed, what a limit leaves is claimed by the next call, and nothing
/// finished is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_with_more_entries_than_a_page_is_swept_across_pages() {
    let a = aws().await;
    let sub = subscription(1).id;
    let k = hookline_aws::due_shard(&delivery(1, &event(1, None), &sub, None).id);
    // 250 deliveries in one shard (a page is 100), each a retry waiting in
    // the store, due a millisecond apart: the deliveries of 250 events.
    let mut all = Vec::new();
    for seed in 0..u16::MAX {
        let [hi, lo] = seed.to_be_bytes();
        let e = hookline::model::Event {
            id: hookline::model::EventId::for_tenant(
                t0(),
                hookline::ports::samples::tenant().as_str(),
                [7, 7, 7, 7, hi, lo, 7, 7, 7, 7],
            ),
            ..event(1, None)
        };
        let d = delivery(0, &e, &sub, None);
        if hookline_aws::due_shard(&d.id) == k {
            a.store.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();
            let due = t0() + chrono::Duration::milliseconds(all.len() as i64);
            record(&a.store, attempt(&d.id, 1), retry_at(due)).await.unwrap();
            all.push(d);
            if all.len() == 250 {
                break;
            }
        }
    }
    assert_eq!(all.len(), 250);
    // Every other one finishes.
    let finished: Vec<_> = all.iter().step_by(2).collect();
    for d in &finished {
        record(&a.store, attempt(&d.id, 2), succeeded()).await.unwrap();
    }
    let mut pending: Vec<_> = all.iter().skip(1).step_by(2).map(|d| d.id.clone()).collect();

    let now = t0() + chrono::Duration::minutes(1);
    let lease = Duration::from_secs(600);
    let first = a.store.claim_due(now, lease, 60).await.unwrap();
    assert_eq!(first.len(), 60, "the limit");
    let rest = a.store.claim_due(now, lease, 1000).await.unwrap();
    let mut claimed: Vec<_> = first.into_iter().chain(rest).map(|d| d.id).collect();
    claimed.sort();
    pending.sort();
    assert_eq!(claimed, pending, "every pending one once, no finished one");
}

/// A table another data model wrote is refused, with what to do; a new one
/// is marked as this model's, and a marker of another is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_another_data_model_is_refused_and_a_new_one_marked() {
    let a = aws().await;
    assert_eq!(a.store.check_schema().await.unwrap(), Ok(()), "a new table");
    assert_eq!(
        number(&a, "META".into(), "SCHEMA", "v").await,
        Some(hookline_aws::SCHEMA_VERSION),
        "marked as this model's"
    );
    a.store.warm_up().await.expect("and used");

    // A table the first data model wrote: items, no marker.
    let old = unique("v1");
    provision::create_table(&a.dynamo, &old).await.expect("create table");
    let mut item = std::collections::HashMap::new();
    item.insert("pk".to_owned(), AttributeValue::S("EVT#evt_01".into()));
    item.insert("sk".to_owned(), AttributeValue::S("EVT".into()));
    a.dynamo.put_item().table_name(&old).set_item(Some(item)).send().await.unwrap();
    let store = DynamoStore::new(a.dynamo.clone(), old.clone(), Duration::from_secs(60));
    let refused = store.check_schema().await.unwrap().expect_err("refused");
    assert!(refused.contains(&old) && refused.contains("Moving to a new data model"), "{refused}");
    assert!(store.warm_up().await.is_err());

    // A marker of another version.
    let mut marker = std::collections::HashMap::new();
    marker.insert("pk".to_owned(), AttributeValue::S("META".into()));
    marker.insert("sk".to_owned(), AttributeValue::S("SCHEMA".into()));
    marker.insert("v".to_owned(), AttributeValue::N("3".into()));
    a.dynamo.put_item().table_name(&a.table).set_item(Some(marker)).send().await.unwrap();
    let refused = a.store.check_schema().await.unwrap().expect_err("refused");
    assert!(refused.contains("v3"), "{refused}");
}

/// Where `gsi1` lags behind a create, a tenant's routes are read again and
/// then used for the one publish, pinned to no routing version (so nothing
/// keeps them); once the index shows every subscription counted, they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_read_while_the_index_lags_a_create_are_kept_by_no_one() {
    use hookline::ports::{Routes, SubscriptionStore};
    let a = aws().await;
    let (one, two) = (subscription(1), subscription(2));
    for sub in [&one, &two] {
        assert!(a.store.insert_subscription(sub, 1000).await.unwrap());
    }
    // The index not yet showing `two`, as just after its create.
    let index = |set: bool| {
        let req = a
            .dynamo
            .update_item()
            .table_name(&a.table)
            .key("pk", AttributeValue::S(format!("SUB#{}", two.id)))
            .key("sk", AttributeValue::S("SUB".into()));
        match set {
            true => req
                .update_expression("SET g1pk = :p")
                .expression_attribute_values(":p", AttributeValue::S(format!("SUBS#{}", two.tenant))),
            false => req.update_expression("REMOVE g1pk"),
        }
        .send()
    };
    index(false).await.unwrap();
    match a.store.tenant_routes(&one.tenant, None).await.unwrap() {
        Routes::Read { version: None, subscriptions } => assert_eq!(subscriptions, vec![one.clone()]),
        other => panic!("routes short of the count were pinned to a version: {other:?}"),
    }
    index(true).await.unwrap();
    match a.store.tenant_routes(&one.tenant, None).await.unwrap() {
        Routes::Read { version: Some(v), subscriptions } => {
            assert_eq!(subscriptions.len(), 2);
            assert_eq!(a.store.tenant_routes(&one.tenant, Some(v)).await.unwrap(), Routes::Unchanged);
        }
        other => panic!("every subscription found, yet not pinned: {other:?}"),
    }
}
