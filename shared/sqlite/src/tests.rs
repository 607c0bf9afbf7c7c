//! The SQLite adapters against real database files, for what only they do:
//! persistence across reopening, the purge, migrations, and the queue's
//! lease / acknowledge / release / dead-letter contract. What every store
//! must do is the store contract suite (hookline::ports::contract), run
//! against this store, DynamoDB and the in-memory fake alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hookline::auth::Caller;
use hookline::model::{DeliveryId, DeliveryStatus, SubscriptionId, Tenant};
use hookline::ports::fakes::ManualClock;
use hookline::ports::samples::{attempt, delivery, event, record, subscription, succeeded, t0, tenant};
use hookline::ports::{Ack, DeadLetters, Recorded, Recording};
use hookline::ports::{
    Clock, DeliveryFilter, DeliveryQueue, DeliveryStore, EventStore, Inserted, PageRequest, QueueMessage,
    Queued, SubscriptionStore, TenantStore, Written,
};
use hookline::signing::{GENERATED_SECRET_BYTES, Secret, SecretSet};

use super::*;

/// A database file in its own temporary directory, removed when dropped.
struct Db {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
}

impl Db {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), clock: Arc::new(ManualClock::new(t0())) }
    }

    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.dir.path().join("test.db"), self.clock.clone()).unwrap()
    }
}

#[tokio::test]
async fn everything_stored_survives_reopening_the_file() {
    let db = Db::new();
    let sub = subscription(1);
    let ev = event(1, None);
    let d = delivery(1, &ev, &sub.id, None);
    {
        let s = db.open();
        assert!(s.insert_subscription(&sub, 50).await.unwrap());
        assert_eq!(s.insert_event(&ev, std::slice::from_ref(&d), &[]).await.unwrap(), Inserted::New);
        let mut t = Tenant::new(tenant(), t0());
        t.secrets = Some(SecretSet::new(Secret::generate([7; GENERATED_SECRET_BYTES])));
        t.version = 1;
        assert_eq!(s.put_tenant(&t).await.unwrap(), Written::Done);
    }
    let s = db.open();
    assert_eq!(s.get_subscription(&sub.id).await.unwrap(), Some(sub));
    let back = s.get_event(&ev.id).await.unwrap().unwrap();
    assert_eq!(back.payload.get(), ev.payload.get(), "payload bytes kept exactly");
    assert_eq!(s.get_delivery(&d.id).await.unwrap(), Some(d));
    assert!(s.get_tenant(&tenant()).await.unwrap().and_then(|t| t.secrets).is_some());
}

#[tokio::test]
async fn a_purge_removes_finished_records_past_retention_and_keeps_live_ones() {
    let db = Db::new();
    let s = db.open();
    let now = db.clock.now();
    let sub = SubscriptionId::generate(now, [9; 10]);
    let old = event(1, Some("old-key"));
    let done = delivery(1, &old, &sub, Some(now));
    let live_event = event(2, None);
    let live = delivery(2, &live_event, &sub, Some(now));
    s.insert_event(&old, std::slice::from_ref(&done), &[]).await.unwrap();
    s.insert_event(&live_event, std::slice::from_ref(&live), &[]).await.unwrap();
    record(&s, attempt(&done.id, 1), succeeded()).await.unwrap();

    assert_eq!(s.purge(now).await.unwrap(), Purged::default(), "nothing is older than the cutoff yet");
    let later = now + chrono::Duration::days(31);
    assert_eq!(s.purge(later).await.unwrap(), Purged { events: 1, deliveries: 1 });
    assert!(s.get_delivery(&done.id).await.unwrap().is_none());
    assert!(s.attempts(&done.id).await.unwrap().is_empty());
    assert!(s.get_event(&old.id).await.unwrap().is_none());
    assert_eq!(
        s.insert_event(&event(3, Some("old-key")), &[], &[]).await.unwrap(),
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
        let conn = rusqlite::Connection::open(db.dir.path().join("test.db")).unwrap();
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
async fn a_database_from_before_deliveries_given_up_were_counted_keeps_its_counts() {
    use hookline::ports::{CountScope, CountStore, HourCount};
    let db = Db::new();
    let hour = hookline::tally::hour_of(db.clock.now());
    {
        let conn = rusqlite::Connection::open(db.dir.path().join("test.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE hourly_counts (scope TEXT NOT NULL, hour INTEGER NOT NULL,
             succeeded INTEGER NOT NULL, failed INTEGER NOT NULL, PRIMARY KEY (scope, hour));",
        )
        .unwrap();
        conn.execute("INSERT INTO hourly_counts VALUES ('*', ?1, 4, 2)", [hour.timestamp()]).unwrap();
    }
    let s = db.open();
    let read = s.hourly_counts(&CountScope::Service, hour).await.unwrap();
    assert_eq!(read, vec![HourCount::new(hour, (4, 2, 0))], "kept, none given up on");
    s.add_counts(&[(CountScope::Service, HourCount::new(hour, (0, 1, 1)))]).await.unwrap();
    let read = s.hourly_counts(&CountScope::Service, hour).await.unwrap();
    assert_eq!(read, vec![HourCount::new(hour, (4, 3, 1))], "and counted on");
}

#[tokio::test]
async fn a_database_from_before_tenant_records_keeps_each_tenants_secret() {
    let db = Db::new();
    let secrets = SecretSet::new(Secret::generate([3; GENERATED_SECRET_BYTES]));
    {
        let conn = rusqlite::Connection::open(db.dir.path().join("test.db")).unwrap();
        conn.execute_batch("CREATE TABLE tenants (tenant TEXT PRIMARY KEY, secrets TEXT NOT NULL);").unwrap();
        conn.execute(
            "INSERT INTO tenants (tenant, secrets) VALUES ('acme', ?1)",
            [serde_json::to_string(&secrets).unwrap()],
        )
        .unwrap();
    }
    let s = db.open();
    let t = s.get_tenant(&tenant()).await.unwrap().expect("the tenant survives");
    assert_eq!((t.secrets.clone(), t.version), (Some(secrets), 1));
    let mut next = t.clone();
    next.version = 2;
    assert_eq!(s.put_tenant(&next).await.unwrap(), Written::Done, "and is written as any other");
    drop(s);
    assert!(db.open().get_tenant(&tenant()).await.unwrap().is_some(), "reopening migrates nothing twice");
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
    db.clock.advance(Duration::from_secs(2));
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.ready, stats.in_flight, stats.delayed), (1, 0, 1));
    assert_eq!(stats.oldest_ready_age, Duration::from_secs(2), "visible for 2 s, not taken");
    // The Service page reads the queue as the metrics do.
    let depth = hookline::ports::DeliveryQueue::depth(&q).await.unwrap();
    let waited = Some(Duration::from_secs(2));
    assert_eq!(depth, Some(hookline::ports::QueueDepth { waiting: 1, held: 1, oldest_wait: waited }));
    assert_eq!(hookline::ports::DeadLetters::count(&q).await.unwrap(), Some(0));
    let taken = q.take(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(taken.len(), 1, "the delayed one is not visible yet");
    assert_eq!(taken[0].message.as_ref().unwrap(), &msg(1));
    assert!(q.take(10, Duration::from_secs(60)).await.unwrap().is_empty(), "leased");
    let stats = q.stats().await.unwrap();
    assert_eq!((stats.ready, stats.in_flight, stats.delayed), (0, 1, 1));
    assert_eq!(stats.oldest_ready_age, Duration::ZERO, "nothing ready");
    db.clock.advance(Duration::from_secs(28));
    assert_eq!(q.take(10, Duration::from_secs(60)).await.unwrap().len(), 1, "the delayed one is due");
    db.clock.advance(Duration::from_secs(33));
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
async fn a_failed_message_comes_back_soon_dies_with_its_last_error_and_is_redriven_once() {
    let db = Db::new();
    let q = SqliteQueue::new(db.open());
    q.enqueue(&[Queued { message: msg(1), delay: Duration::ZERO }]).await.unwrap();
    for n in 1..=MAX_RECEIVES {
        let taken = q.take(1, Duration::from_secs(90)).await.unwrap();
        assert_eq!(taken.len(), 1, "receive {n}");
        q.fail(taken[0].seq, taken[0].receives, format!("store unavailable ({n})")).await.unwrap();
        // Back after its receive count in seconds, not the 90 s lease.
        db.clock.advance(Duration::from_secs(u64::from(n)));
    }
    assert!(q.take(1, Duration::from_secs(90)).await.unwrap().is_empty(), "dead now");
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some("store unavailable (5)"), "the last error");
    assert_eq!(
        (dead[0].receives, dead[0].body.clone()),
        (MAX_RECEIVES, serde_json::to_string(&msg(1)).unwrap())
    );
    assert_eq!(dead[0].died_at, Some(db.clock.now()));

    assert!(q.redrive(&dead[0].id).await.unwrap());
    assert!(!q.redrive(&dead[0].id).await.unwrap(), "once");
    assert!(!q.redrive("not-a-number").await.unwrap());
    assert!(q.dead_letters(10).await.unwrap().is_empty());
    let back = q.take(1, Duration::from_secs(90)).await.unwrap();
    assert_eq!((back[0].message.as_ref().unwrap(), back[0].receives), (&msg(1), 1), "as if new");
}

#[tokio::test]
async fn a_message_that_cannot_be_read_is_set_aside_at_once_with_why() {
    let db = Db::new();
    let store = db.open();
    let q = SqliteQueue::new(store.clone());
    store
        .write(|tx| {
            tx.execute("INSERT INTO queue (message, visible_at) VALUES ('{not json', 0)", [])
                .map_err(crate::sql::classify)?;
            Ok(())
        })
        .await
        .unwrap();
    let taken = q.take(1, Duration::from_secs(90)).await.unwrap();
    assert!(taken[0].message.is_err());
    q.give_up(taken[0].seq, "unreadable".into()).await.unwrap();
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!((dead[0].body.as_str(), dead[0].reason.as_deref()), ("{not json", Some("unreadable")));
    assert_eq!(q.depth().await.unwrap(), (0, 1));
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

#[tokio::test]
async fn an_attempt_its_follow_up_and_its_acknowledgement_are_written_together_or_not_at_all() {
    let db = Db::new();
    let store = db.open();
    let queue = SqliteQueue::new(store.clone());
    let e = event(1, None);
    let d = delivery(1, &e, &subscription(1).id, Some(t0()));
    store.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();
    queue.enqueue(&[Queued { message: msg(1), delay: Duration::ZERO }]).await.unwrap();
    let lease = queue.take(1, Duration::from_secs(60)).await.unwrap().remove(0);
    assert_eq!(lease.receives, 1);

    let first = attempt(&d.id, 1);
    let follow_up = Queued { message: msg(2), delay: Duration::from_secs(5) };
    let recording = Recording {
        keep_until: None,
        delivery: None,
        attempt: &first,
        update: &hookline::ports::samples::retry_at(t0()),
        follow_up: Some(&follow_up),
        ack: Some(Ack(lease.seq)),
    };
    let recorded = store.record_attempt(&recording).await.unwrap();
    assert_eq!(recorded, Recorded { applied: true, follow_up_queued: true, acknowledged: true });
    assert_eq!(queue.depth().await.unwrap(), (1, 0), "the message gone, its follow-up queued");
    assert!(queue.take(10, Duration::from_secs(60)).await.unwrap().is_empty(), "held back its 5 s");
    db.clock.advance(Duration::from_secs(5));
    let next = queue.take(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(next.iter().map(|l| l.message.clone().unwrap()).collect::<Vec<_>>(), [msg(2)]);

    // A repeat of the same attempt changes nothing: no second follow-up, no
    // acknowledgement of the message that carried it.
    let twice = store.record_attempt(&Recording { ack: Some(Ack(next[0].seq)), ..recording }).await.unwrap();
    assert_eq!(twice, Recorded::default());
    assert_eq!(queue.depth().await.unwrap(), (1, 0));
    assert_eq!(store.attempts(&d.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_event_its_deliveries_and_their_messages_are_stored_together() {
    let db = Db::new();
    let store = db.open();
    let queue = SqliteQueue::new(store.clone());
    assert!(store.queues_messages());
    let e = event(1, Some("k"));
    let d = delivery(1, &e, &subscription(1).id, Some(t0()));
    let start = Queued { message: msg(1), delay: Duration::ZERO };
    store.insert_event(&e, std::slice::from_ref(&d), std::slice::from_ref(&start)).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), (1, 0), "queued with the event");
    // A repeat stores nothing, and queues nothing either.
    let repeat = event(2, Some("k"));
    let dup = store.insert_event(&repeat, &[], std::slice::from_ref(&start)).await.unwrap();
    assert!(matches!(dup, Inserted::Duplicate { .. }));
    assert_eq!(queue.depth().await.unwrap(), (1, 0));
}

/// A receiver that answers 200 only when the test opens the gate.
struct GatedSender {
    sent: AtomicU32,
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl hookline::ports::Sender for GatedSender {
    async fn wait(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    async fn send(&self, _: &hookline::wire::OutgoingRequest) -> hookline::ports::SendResult {
        self.sent.fetch_add(1, Ordering::SeqCst);
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
        hookline::ports::SendResult {
            outcome: hookline::policy::AttemptOutcome::Response {
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
    use hookline::api::events::PublishEventRequest;
    use hookline::api::subscriptions::CreateSubscriptionRequest;
    use hookline::ports::fakes::SeededEntropy;
    use hookline::{Context, ServiceSettings};

    let db = Db::new();
    let store = Arc::new(db.open());
    let queue = SqliteQueue::new((*store).clone());
    let ctx = Context::new(
        store.clone(),
        Arc::new(queue.clone()),
        db.clock.clone(),
        Arc::new(SeededEntropy::new(1)),
        ServiceSettings::default(),
    );
    let req: CreateSubscriptionRequest =
        serde_json::from_str(r#"{"tenant":"acme","url":"https://example.com/h"}"#).unwrap();
    ctx.create_subscription(&Caller::internal(), req).await.unwrap();
    for i in 0..40 {
        let req: PublishEventRequest = serde_json::from_str(&format!(
            r#"{{"tenant":"acme","type":"video.encoded","payload":{{"i":{i}}}}}"#
        ))
        .unwrap();
        ctx.publish_event(&Caller::internal(), req, None).await.unwrap();
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
