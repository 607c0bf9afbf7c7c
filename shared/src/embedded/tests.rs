//! The SQLite adapters against real database files: the same conditional
//! rules as the fakes, persistence across reopening, and the queue's
//! lease / acknowledge / release / dead-letter contract.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::value::RawValue;

use super::*;
use crate::model::{
    Attempt, Delivery, DeliveryId, DeliveryStatus, DeliveryTarget, Event, EventId, EventType, Subscription,
    SubscriptionId, TenantId,
};
use crate::ports::fakes::ManualClock;
use crate::ports::{
    AttemptUpdate, Clock, DeliveryFilter, DeliveryQueue, DeliveryStore, EventStore, Inserted, PageRequest,
    QueueMessage, Queued, SubscriptionStore, TenantStore,
};
use crate::signing::{GENERATED_SECRET_BYTES, Secret, SecretSet};

struct Db {
    dir: PathBuf,
    clock: Arc<ManualClock>,
}

impl Db {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hookline-sqlite-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, clock: Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap())) }
    }

    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.dir.join("test.db"), self.clock.clone()).unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn subscription(n: u8, at: chrono::DateTime<Utc>) -> Subscription {
    let req: crate::model::api::CreateSubscriptionRequest =
        serde_json::from_str(r#"{"tenant":"acme","url":"https://example.com/h"}"#).unwrap();
    req.into_subscription(
        SubscriptionId::generate(at, [n; 10]),
        at,
        Secret::generate([n; GENERATED_SECRET_BYTES]),
    )
    .unwrap()
}

fn event(n: u8, key: Option<&str>, at: chrono::DateTime<Utc>) -> Event {
    Event {
        id: EventId::generate(at, [n; 10]),
        tenant: tenant(),
        event_type: EventType::parse("video.encoded").unwrap(),
        payload: RawValue::from_string(format!(r#"{{"n": {n}}}"#)).unwrap(),
        idempotency_key: key.map(str::to_owned),
        webhook_url: None,
        created_at: at,
    }
}

fn delivery(n: u8, event: &Event, sub: &SubscriptionId, due: Option<chrono::DateTime<Utc>>) -> Delivery {
    Delivery {
        id: DeliveryId::generate(event.created_at, [n; 10]),
        event_id: event.id.clone(),
        tenant: tenant(),
        event_type: event.event_type.clone(),
        target: DeliveryTarget::Subscription { subscription_id: sub.clone() },
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(event.created_at),
        due_at: due,
        give_up_reason: None,
        last_status_code: None,
        created_at: event.created_at,
        updated_at: event.created_at,
    }
}

fn attempt(d: &DeliveryId, number: u32, at: chrono::DateTime<Utc>) -> Attempt {
    Attempt {
        delivery_id: d.clone(),
        number,
        started_at: at,
        duration_ms: 12,
        url: "https://example.com/h".into(),
        status_code: Some(500),
        error: None,
        error_message: None,
        response_excerpt: Some("oops".into()),
    }
}

fn retry_update(at: chrono::DateTime<Utc>) -> AttemptUpdate {
    AttemptUpdate {
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(at),
        due_at: Some(at),
        give_up_reason: None,
    }
}

#[tokio::test]
async fn everything_stored_survives_reopening_the_file() {
    let db = Db::new();
    let now = db.clock.now();
    let sub = subscription(1, now);
    let ev = event(1, None, now);
    let d = delivery(1, &ev, &sub.id, None);
    {
        let s = db.open();
        s.insert_subscription(&sub).await.unwrap();
        assert_eq!(s.insert_event(&ev, std::slice::from_ref(&d)).await.unwrap(), Inserted::New);
        s.init_tenant_secrets(&tenant(), &SecretSet::new(Secret::generate([7; GENERATED_SECRET_BYTES])))
            .await
            .unwrap();
    }
    let s = db.open();
    assert_eq!(s.get_subscription(&sub.id).await.unwrap(), Some(sub));
    let back = s.get_event(&ev.id).await.unwrap().unwrap();
    assert_eq!(back.payload.get(), r#"{"n": 1}"#, "payload bytes kept exactly");
    assert_eq!(s.get_delivery(&d.id).await.unwrap(), Some(d));
    assert!(s.tenant_secrets(&tenant()).await.unwrap().is_some());
}

#[tokio::test]
async fn an_idempotency_key_is_used_once_per_tenant() {
    let db = Db::new();
    let s = db.open();
    let now = db.clock.now();
    let first = event(1, Some("k"), now);
    assert_eq!(s.insert_event(&first, &[]).await.unwrap(), Inserted::New);
    let again = event(2, Some("k"), now);
    assert_eq!(
        s.insert_event(&again, &[]).await.unwrap(),
        Inserted::Duplicate { event_id: first.id.clone() }
    );
    assert!(s.get_event(&again.id).await.unwrap().is_none(), "nothing of the repeat is stored");
    let mut other = event(3, Some("k"), now);
    other.tenant = TenantId::parse("beta").unwrap();
    assert_eq!(s.insert_event(&other, &[]).await.unwrap(), Inserted::New);
    assert_eq!(s.insert_event(&event(4, None, now), &[]).await.unwrap(), Inserted::New);
    assert_eq!(
        s.insert_event(&event(5, None, now), &[]).await.unwrap(),
        Inserted::New,
        "no key, no conflict"
    );
}

#[tokio::test]
async fn attempts_are_recorded_only_in_order_and_only_while_pending() {
    let db = Db::new();
    let s = db.open();
    let now = db.clock.now();
    let ev = event(1, None, now);
    let sub = SubscriptionId::generate(now, [9; 10]);
    let d = delivery(1, &ev, &sub, Some(now));
    s.insert_event(&ev, std::slice::from_ref(&d)).await.unwrap();

    assert!(!s.record_attempt(&attempt(&d.id, 2, now), &retry_update(now)).await.unwrap(), "skipping ahead");
    assert!(s.record_attempt(&attempt(&d.id, 1, now), &retry_update(now)).await.unwrap());
    assert!(
        !s.record_attempt(&attempt(&d.id, 1, now), &retry_update(now)).await.unwrap(),
        "the same attempt twice"
    );
    let done = AttemptUpdate {
        status: DeliveryStatus::Succeeded,
        next_attempt_at: None,
        due_at: None,
        give_up_reason: None,
    };
    assert!(s.record_attempt(&attempt(&d.id, 2, now), &done).await.unwrap());
    assert!(!s.record_attempt(&attempt(&d.id, 3, now), &retry_update(now)).await.unwrap(), "no resurrection");

    let stored = s.get_delivery(&d.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts, stored.due_at), (DeliveryStatus::Succeeded, 2, None));
    let numbers: Vec<u32> = s.attempts(&d.id).await.unwrap().iter().map(|a| a.number).collect();
    assert_eq!(numbers, vec![1, 2]);
}

#[tokio::test]
async fn a_due_delivery_is_claimed_by_one_caller_until_its_lease_ends() {
    let db = Db::new();
    let s = db.open();
    let now = db.clock.now();
    let ev = event(1, None, now);
    let sub = SubscriptionId::generate(now, [9; 10]);
    let due = delivery(1, &ev, &sub, Some(now));
    let later = delivery(2, &ev, &sub, Some(now + chrono::Duration::hours(1)));
    s.insert_event(&ev, &[due.clone(), later]).await.unwrap();

    let lease = Duration::from_secs(60);
    let (a, b) = tokio::join!(s.claim_due(now, lease, 10), s.claim_due(now, lease, 10));
    let claimed: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).map(|d| d.id).collect();
    assert_eq!(claimed, vec![due.id.clone()], "exactly one claim of the one due delivery");
    assert!(s.claim_due(now + chrono::Duration::seconds(59), lease, 10).await.unwrap().is_empty());
    assert_eq!(
        s.claim_due(now + chrono::Duration::seconds(60), lease, 10).await.unwrap().len(),
        1,
        "the lease ended"
    );
}

#[tokio::test]
async fn lists_page_newest_first_and_filter() {
    let db = Db::new();
    let s = db.open();
    let base = db.clock.now();
    let sub = SubscriptionId::generate(base, [9; 10]);
    let mut ids = Vec::new();
    for n in 0..5u8 {
        let at = base + chrono::Duration::seconds(n.into());
        let ev = event(n, None, at);
        let d = delivery(n, &ev, &sub, None);
        ids.push(d.id.clone());
        s.insert_event(&ev, &[d]).await.unwrap();
    }
    let filter = DeliveryFilter { subscription_id: Some(sub.clone()), ..Default::default() };
    let p1 = s.list_deliveries(&filter, &PageRequest { cursor: None, limit: 2 }).await.unwrap();
    let p2 =
        s.list_deliveries(&filter, &PageRequest { cursor: p1.next_cursor.clone(), limit: 2 }).await.unwrap();
    let p3 =
        s.list_deliveries(&filter, &PageRequest { cursor: p2.next_cursor.clone(), limit: 2 }).await.unwrap();
    let seen: Vec<DeliveryId> = [p1.items, p2.items, p3.items].concat().into_iter().map(|d| d.id).collect();
    ids.reverse();
    assert_eq!(seen, ids);
    assert!(p3.next_cursor.is_none());
    let since = DeliveryFilter { since: Some(base + chrono::Duration::seconds(3)), ..Default::default() };
    assert_eq!(
        s.list_deliveries(&since, &PageRequest { cursor: None, limit: 10 }).await.unwrap().items.len(),
        2
    );
    let failed = DeliveryFilter { status: Some(DeliveryStatus::Failed), ..Default::default() };
    assert!(
        s.list_deliveries(&failed, &PageRequest { cursor: None, limit: 10 }).await.unwrap().items.is_empty()
    );
}

#[tokio::test]
async fn canceling_a_subscriptions_deliveries_leaves_finished_ones_alone() {
    let db = Db::new();
    let s = db.open();
    let now = db.clock.now();
    let ev = event(1, None, now);
    let sub = SubscriptionId::generate(now, [9; 10]);
    let pending = delivery(1, &ev, &sub, Some(now));
    let finished = delivery(2, &ev, &sub, Some(now));
    s.insert_event(&ev, &[pending.clone(), finished.clone()]).await.unwrap();
    let done = AttemptUpdate {
        status: DeliveryStatus::Succeeded,
        next_attempt_at: None,
        due_at: None,
        give_up_reason: None,
    };
    s.record_attempt(&attempt(&finished.id, 1, now), &done).await.unwrap();
    assert_eq!(s.cancel_subscription_deliveries(&sub, now).await.unwrap(), 1);
    assert_eq!(s.get_delivery(&pending.id).await.unwrap().unwrap().status, DeliveryStatus::Canceled);
    assert_eq!(s.get_delivery(&finished.id).await.unwrap().unwrap().status, DeliveryStatus::Succeeded);
    assert!(
        s.claim_due(now + chrono::Duration::days(1), Duration::from_secs(1), 10).await.unwrap().is_empty()
    );
}

fn msg(n: u8) -> QueueMessage {
    QueueMessage::Deliver {
        delivery_id: DeliveryId::generate(Utc.timestamp_opt(1_800_000_000, 0).unwrap(), [n; 10]),
        attempt: 1,
    }
}

#[tokio::test]
async fn the_queue_hides_taken_messages_until_acknowledged_or_their_lease_ends() {
    let db = Db::new();
    let q = SqliteQueue::new(db.open());
    q.enqueue(&[
        Queued { message: msg(1), delay: Duration::ZERO },
        Queued { message: msg(2), delay: Duration::from_secs(30) },
    ])
    .await
    .unwrap();
    let taken = q.take(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(taken.len(), 1, "the delayed one is not visible yet");
    assert_eq!(taken[0].message.as_ref().unwrap(), &msg(1));
    assert!(q.take(10, Duration::from_secs(60)).await.unwrap().is_empty(), "leased");
    db.clock.advance(Duration::from_secs(30));
    assert_eq!(q.take(10, Duration::from_secs(60)).await.unwrap().len(), 1, "the delayed one is due");
    db.clock.advance(Duration::from_secs(31));
    let again = q.take(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.len(), 1, "an unacknowledged message comes back when its lease ends");
    q.ack(again[0].seq).await.unwrap();
    db.clock.advance(Duration::from_secs(120));
    let rest = q.take(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(rest.len(), 1, "only the other message is left");
}

#[tokio::test]
async fn a_restart_releases_leases_at_once_but_keeps_delays() {
    let db = Db::new();
    {
        let q = SqliteQueue::new(db.open());
        q.enqueue(&[
            Queued { message: msg(1), delay: Duration::ZERO },
            Queued { message: msg(2), delay: Duration::from_secs(600) },
        ])
        .await
        .unwrap();
        assert_eq!(q.take(10, Duration::from_secs(90)).await.unwrap().len(), 1);
        // The process dies here, holding the lease.
    }
    let q = SqliteQueue::new(db.open());
    assert_eq!(q.release_leases().await.unwrap(), 1);
    let taken = q.take(10, Duration::from_secs(90)).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].message.as_ref().unwrap(), &msg(1));
}

#[tokio::test]
async fn a_message_received_too_often_goes_to_dead_letters() {
    let db = Db::new();
    let q = SqliteQueue::new(db.open());
    q.enqueue(&[Queued { message: msg(1), delay: Duration::ZERO }]).await.unwrap();
    for _ in 0..MAX_RECEIVES {
        assert_eq!(q.take(1, Duration::from_secs(1)).await.unwrap().len(), 1);
        db.clock.advance(Duration::from_secs(2));
    }
    assert!(q.take(1, Duration::from_secs(1)).await.unwrap().is_empty());
    assert_eq!(q.depth().await.unwrap(), (0, 1));
}

#[tokio::test]
async fn a_purge_removes_finished_records_past_retention_and_keeps_live_ones() {
    let db = Db::new();
    let s = db.open();
    let now = db.clock.now();
    let sub = SubscriptionId::generate(now, [9; 10]);
    let old = event(1, Some("old-key"), now);
    let done = delivery(1, &old, &sub, Some(now));
    let live_event = event(2, None, now);
    let live = delivery(2, &live_event, &sub, Some(now));
    s.insert_event(&old, std::slice::from_ref(&done)).await.unwrap();
    s.insert_event(&live_event, std::slice::from_ref(&live)).await.unwrap();
    let finished = AttemptUpdate {
        status: DeliveryStatus::Succeeded,
        next_attempt_at: None,
        due_at: None,
        give_up_reason: None,
    };
    s.record_attempt(&attempt(&done.id, 1, now), &finished).await.unwrap();

    assert_eq!(s.purge(now).await.unwrap(), Purged::default(), "nothing is older than the cutoff yet");
    let later = now + chrono::Duration::days(31);
    assert_eq!(s.purge(later).await.unwrap(), Purged { events: 1, deliveries: 1 });
    assert!(s.get_delivery(&done.id).await.unwrap().is_none());
    assert!(s.attempts(&done.id).await.unwrap().is_empty());
    assert!(s.get_event(&old.id).await.unwrap().is_none());
    assert_eq!(
        s.insert_event(&event(3, Some("old-key"), later), &[]).await.unwrap(),
        Inserted::New,
        "the key expired with its event"
    );
    assert!(s.get_delivery(&live.id).await.unwrap().is_some(), "a pending delivery is never purged");
    assert!(s.get_event(&live_event.id).await.unwrap().is_some(), "nor the event it needs");
}

#[tokio::test]
async fn a_database_from_before_finished_at_is_migrated_in_place() {
    let db = Db::new();
    {
        let conn = rusqlite::Connection::open(db.dir.join("test.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE deliveries (id TEXT PRIMARY KEY, event_id TEXT NOT NULL, tenant TEXT NOT NULL,
             subscription_id TEXT, status TEXT NOT NULL, attempts INTEGER NOT NULL, due_at INTEGER,
             created_at INTEGER NOT NULL, record TEXT NOT NULL);",
        )
        .unwrap();
    }
    let s = db.open();
    assert_eq!(s.purge(db.clock.now()).await.unwrap(), Purged::default());
}

#[tokio::test]
async fn acknowledging_several_messages_deletes_exactly_those() {
    let db = Db::new();
    let q = SqliteQueue::new(db.open());
    let queued: Vec<Queued> = (1..=3).map(|n| Queued { message: msg(n), delay: Duration::ZERO }).collect();
    q.enqueue(&queued).await.unwrap();
    let taken = q.take(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(taken.len(), 3);
    q.ack_all(vec![taken[0].seq, taken[2].seq]).await.unwrap();
    db.clock.advance(Duration::from_secs(61));
    let left = q.take(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(left.len(), 1, "only the unacknowledged message comes back");
    assert_eq!(left[0].message.as_ref().unwrap(), taken[1].message.as_ref().unwrap());
}

/// A receiver that answers 200 only when the test opens the gate.
struct GatedSender {
    sent: AtomicU32,
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl crate::ports::Sender for GatedSender {
    async fn send(&self, _: &crate::wire::OutgoingRequest) -> crate::ports::SendResult {
        self.sent.fetch_add(1, Ordering::SeqCst);
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        crate::ports::SendResult {
            outcome: crate::policy::AttemptOutcome::Response {
                status: 200,
                retry_after: None,
                stop_retries: false,
            },
            duration: Duration::from_millis(1),
            response_excerpt: None,
            error_message: None,
        }
    }
}

#[tokio::test]
async fn the_workers_acknowledge_every_handled_message_before_they_return() {
    use crate::handlers::{Context, Settings};
    use crate::model::api::{CreateSubscriptionRequest, PublishEventRequest};
    use crate::ports::fakes::SeededEntropy;

    let db = Db::new();
    let store = Arc::new(db.open());
    let queue = SqliteQueue::new((*store).clone());
    let ctx = Context::new(
        store.clone(),
        Arc::new(queue.clone()),
        db.clock.clone(),
        Arc::new(SeededEntropy::new(1)),
        Settings::default(),
    );
    let req: CreateSubscriptionRequest =
        serde_json::from_str(r#"{"tenant":"acme","url":"https://example.com/h"}"#).unwrap();
    ctx.create_subscription(req).await.unwrap();
    for i in 0..40 {
        let req: PublishEventRequest = serde_json::from_str(&format!(
            r#"{{"tenant":"acme","type":"video.encoded","payload":{{"i":{i}}}}}"#
        ))
        .unwrap();
        ctx.publish_event(req, None).await.unwrap();
    }
    assert_eq!(queue.depth().await.unwrap(), (40, 0));

    // Every attempt is in flight when the stop comes; they all finish after it.
    let sender = Arc::new(GatedSender { sent: AtomicU32::new(0), gate: tokio::sync::Semaphore::new(0) });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(worker::run_deliver(ctx, queue.clone(), sender.clone(), 64, stopped));
    let all_in_flight = async {
        while sender.sent.load(Ordering::SeqCst) < 40 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all_in_flight).await.expect("all 40 attempts start");
    stop.send(true).unwrap();
    sender.gate.add_permits(40);
    workers.await.unwrap();

    assert_eq!(
        queue.depth().await.unwrap(),
        (0, 0),
        "every handled message is acknowledged by the time they return"
    );
    let page = store
        .list_deliveries(
            &DeliveryFilter { tenant: Some(tenant()), ..Default::default() },
            &PageRequest { limit: 100, cursor: None },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 40);
    assert!(page.items.iter().all(|d| d.status == DeliveryStatus::Succeeded && d.attempts == 1));
}
