//! The store contract: what every store must do, written once and run
//! against the in-memory fake the unit tests trust and the SQLite store
//! (`shared/sqlite/tests/contract.rs`, in the fast tier), and the DynamoDB
//! store (`tests/aws/contract.rs`, on moto): each calls [`store_contract!`]
//! with a function that makes an empty store. What only one store does
//! (SQLite's purge and queue, DynamoDB's TTL and item layout) is tested
//! beside that store. Test code (feature `fakes`): it panics on failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::model::{
    Delivery, DeliveryId, DeliveryStatus, Health, Subscription, SubscriptionId, Tenant, TenantId,
};
use crate::ports::samples::{
    attempt, delivery, event, record, retry_at, subscription, succeeded, t0, tenant,
};
use crate::ports::{DeliveryFilter, Inserted, PageRequest, Routes, Store, Written};
use crate::signing::{GENERATED_SECRET_BYTES, Secret, SecretSet};
use chrono::Duration as Span;

/// Every case of the contract, each a `#[tokio::test]` calling
/// `$crate::ports::contract::<case>` on a store `$make().await` returns (a
/// value that derefs to the store and keeps what it needs alive).
#[macro_export]
macro_rules! store_contract {
    ($make:path) => {
        $crate::store_contract!(@cases $make,
            subscriptions_round_trip_and_list_by_tenant_newest_first,
            a_tenant_holds_no_more_subscriptions_than_its_limit_under_concurrent_creates,
            writes_are_conditioned_on_the_version_they_were_made_from,
            a_tenants_routing_version_moves_with_every_write_that_changes_its_routes,
            tenants_are_listed_by_name_with_their_counts_and_found_by_prefix,
            the_failing_and_the_disabled_are_watched_in_their_order_until_they_leave,
            tenant_records_are_written_over_the_version_they_were_made_from,
            an_idempotency_key_stores_an_event_once_per_tenant,
            attempts_are_recorded_in_order_once_and_never_after_the_end,
            due_deliveries_are_claimed_once_until_their_lease_ends,
            deliveries_list_newest_first_by_subscription_tenant_and_event,
            a_long_listing_pages_in_order_without_gaps_or_repeats,
            canceling_a_subscriptions_deliveries_leaves_finished_ones_alone,
            a_reopened_delivery_is_pending_again_with_its_attempts_kept,
            a_delivery_canceled_before_its_first_attempt_takes_it_only_once_redelivered,
            an_event_is_kept_only_ever_longer,
            event_types_are_declared_replaced_listed_by_name_and_removed,
            hourly_counts_add_up_per_scope_and_hour,
            a_name_is_claimed_once_however_many_race,
        );
    };
    (@cases $make:path, $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let subject = $make().await;
                $crate::ports::contract::$case(&*subject).await;
            }
        )*
    };
}

fn page(cursor: Option<String>, limit: usize) -> PageRequest {
    PageRequest { cursor, limit }
}

async fn list(s: &dyn Store, filter: &DeliveryFilter) -> Vec<DeliveryId> {
    s.list_deliveries(filter, &page(None, 100)).await.unwrap().items.into_iter().map(|d| d.id).collect()
}

/// Every subscription of the sample tenant, read in full.
async fn routes(s: &dyn Store) -> Vec<Subscription> {
    s.tenant_routes(&tenant(), None).await.unwrap().into_subscriptions()
}

fn sorted(mut ids: Vec<DeliveryId>) -> Vec<DeliveryId> {
    ids.sort();
    ids
}

/// The tenants that have had subscriptions are listed by name, each with
/// how many it has now (none, once all are deleted), a page at a time, and
/// found by the start of their name.
pub async fn tenants_are_listed_by_name_with_their_counts_and_found_by_prefix(s: &dyn Store) {
    let mut n = 0;
    let mut add = async |t: &str| {
        n += 1;
        let sub = Subscription { tenant: TenantId::parse(t).unwrap(), ..subscription(n) };
        assert!(s.insert_subscription(&sub, 50).await.unwrap());
        sub
    };
    for t in ["beta", "acme", "acme-eu", "acme"] {
        add(t).await;
    }
    let gone = add("zeta").await;
    assert!(s.delete_subscription(&gone.id).await.unwrap());
    let listed = |p: &crate::ports::Page<crate::ports::TenantCount>| {
        p.items.iter().map(|t| (t.tenant.to_string(), t.subscriptions)).collect::<Vec<_>>()
    };
    let first = s.list_tenants("", &page(None, 2)).await.unwrap();
    assert_eq!(listed(&first), [("acme".into(), 2), ("acme-eu".into(), 1)]);
    let second = s.list_tenants("", &page(first.next_cursor.clone(), 2)).await.unwrap();
    assert_eq!(listed(&second), [("beta".into(), 1), ("zeta".into(), 0)]);
    assert_eq!(second.next_cursor, None, "the last page");
    let found = s.list_tenants("acme", &page(None, 10)).await.unwrap();
    assert_eq!(listed(&found), [("acme".into(), 2), ("acme-eu".into(), 1)]);
    assert_eq!(found.next_cursor, None);
    assert!(s.list_tenants("nobody", &page(None, 10)).await.unwrap().items.is_empty());
}

/// The subscriptions failing now (longest first) and those disabled for
/// their failures (latest run first) are listed across tenants, and leave
/// the lists when they recover, are enabled again or are deleted.
pub async fn the_failing_and_the_disabled_are_watched_in_their_order_until_they_leave(s: &dyn Store) {
    let subs: Vec<Subscription> = (1..=4)
        .map(|n| Subscription { tenant: TenantId::parse(&format!("t{n}")).unwrap(), ..subscription(n) })
        .collect();
    for sub in &subs {
        assert!(s.insert_subscription(sub, 50).await.unwrap());
    }
    let (a, b, c, d) = (&subs[0], &subs[1], &subs[2], &subs[3]);
    let ids = |list: &[Subscription]| list.iter().map(|x| x.id.clone()).collect::<Vec<_>>();
    let fail_since = |hours: i64| Health { failing_since: Some(t0() + Span::hours(hours)), ..a.health() };
    s.update_health(&b.id, &fail_since(1)).await.unwrap();
    s.update_health(&c.id, &fail_since(0)).await.unwrap();
    s.update_health(&d.id, &fail_since(2)).await.unwrap();
    s.update_health(&d.id, &Health { disabled_reason: Some("failing"), ..fail_since(2) }).await.unwrap();
    let w = s.watched(10).await.unwrap();
    assert_eq!((ids(&w.failing), ids(&w.disabled)), (vec![c.id.clone(), b.id.clone()], vec![d.id.clone()]));
    assert_eq!(ids(&s.watched(1).await.unwrap().failing), vec![c.id.clone()], "the longest failing");
    // b recovers; d is enabled again by a change; c changed stays failing.
    s.update_health(&b.id, &Health { failing_since: None, ..a.health() }).await.unwrap();
    let mut enabled = s.get_subscription(&d.id).await.unwrap().unwrap();
    (enabled.active, enabled.disabled_reason, enabled.failing_since) = (true, None, None);
    enabled.version += 1;
    assert_eq!(s.update_subscription(&enabled).await.unwrap(), Written::Done);
    let mut changed = s.get_subscription(&c.id).await.unwrap().unwrap();
    changed.description = Some("still failing".into());
    changed.version += 1;
    assert_eq!(s.update_subscription(&changed).await.unwrap(), Written::Done);
    let w = s.watched(10).await.unwrap();
    assert_eq!((ids(&w.failing), ids(&w.disabled)), (vec![c.id.clone()], vec![]));
    assert_eq!(w.failing[0].description.as_deref(), Some("still failing"), "as it is now");
    assert!(s.delete_subscription(&c.id).await.unwrap());
    assert_eq!(s.watched(10).await.unwrap(), crate::ports::Watched::default(), "deleted, gone");
}

/// Subscriptions round-trip, ids are unique, a tenant's list pages newest
/// first without gaps, and deleting is reported once.
pub async fn subscriptions_round_trip_and_list_by_tenant_newest_first(s: &dyn Store) {
    let subs: Vec<Subscription> = (1..=5).map(subscription).collect();
    for sub in &subs {
        assert!(s.insert_subscription(sub, 50).await.unwrap());
    }
    assert!(s.insert_subscription(&subs[0], 50).await.is_err(), "ids are unique");
    assert_eq!(s.get_subscription(&subs[2].id).await.unwrap().as_ref(), Some(&subs[2]));
    let unknown = SubscriptionId::generate(t0(), [99; 10]);
    assert_eq!(s.get_subscription(&unknown).await.unwrap(), None);
    // The cheaper read shows the same once settled (moto is strongly
    // consistent; DynamoDB would show it within about a second).
    assert_eq!(s.peek_subscription(&subs[2].id).await.unwrap().as_ref(), Some(&subs[2]));
    assert_eq!(s.peek_subscription(&unknown).await.unwrap(), None);

    let p1 = s.list_subscriptions(&tenant(), &page(None, 2)).await.unwrap();
    let p2 = s.list_subscriptions(&tenant(), &page(p1.next_cursor.clone(), 2)).await.unwrap();
    let p3 = s.list_subscriptions(&tenant(), &page(p2.next_cursor.clone(), 2)).await.unwrap();
    let ids: Vec<_> = [p1.items, p2.items, p3.items].concat().into_iter().map(|x| x.id).collect();
    let mut expected: Vec<_> = subs.iter().rev().map(|x| x.id.clone()).collect();
    assert_eq!(ids, expected, "newest first, no gaps");
    assert!(p3.next_cursor.is_none());
    let other = TenantId::parse("other").unwrap();
    assert!(s.list_subscriptions(&other, &page(None, 10)).await.unwrap().items.is_empty());

    assert!(s.delete_subscription(&subs[0].id).await.unwrap());
    assert!(!s.delete_subscription(&subs[0].id).await.unwrap(), "a second delete finds nothing");
    expected.pop();
    let mut all: Vec<_> = routes(s).await.into_iter().map(|x| x.id).collect();
    all.sort();
    expected.sort();
    assert_eq!(all, expected);
}

/// A tenant never holds more subscriptions than its limit, however many
/// are created at once; deleting one makes room again.
pub async fn a_tenant_holds_no_more_subscriptions_than_its_limit_under_concurrent_creates(s: &dyn Store) {
    let subs: Vec<Subscription> = (1..=12).map(subscription).collect();
    let created = futures_util::future::join_all(subs.iter().map(|sub| s.insert_subscription(sub, 5))).await;
    let admitted: Vec<&Subscription> =
        subs.iter().zip(&created).filter(|(_, ok)| *ok.as_ref().unwrap()).map(|(sub, _)| sub).collect();
    assert_eq!(admitted.len(), 5, "exactly the limit was admitted");
    assert_eq!(routes(s).await.len(), 5);
    let mut elsewhere = subscription(20);
    elsewhere.tenant = TenantId::parse("beta").unwrap();
    assert!(s.insert_subscription(&elsewhere, 5).await.unwrap(), "the limit is per tenant");
    assert!(s.delete_subscription(&admitted[0].id).await.unwrap());
    assert!(s.insert_subscription(&subscription(30), 5).await.unwrap(), "a deletion makes room");
    assert!(!s.insert_subscription(&subscription(31), 5).await.unwrap());
}

/// A change is stored only if the subscription is still the version it was
/// made from; a health update is a version of its own and changes only the
/// health fields.
pub async fn writes_are_conditioned_on_the_version_they_were_made_from(s: &dyn Store) {
    let sub = subscription(1);
    let mut next = sub.clone();
    next.version = 2;
    assert_eq!(s.update_subscription(&next).await.unwrap(), Written::Missing, "nothing to update yet");
    assert!(s.insert_subscription(&sub, 50).await.unwrap());
    next.description = Some("edited".into());
    assert_eq!(s.update_subscription(&next).await.unwrap(), Written::Done);
    let mut stale = sub.clone();
    stale.description = Some("made from version 1".into());
    stale.version = 2;
    assert_eq!(s.update_subscription(&stale).await.unwrap(), Written::Stale, "version 1 is gone");
    assert_eq!(s.get_subscription(&sub.id).await.unwrap().unwrap().description.as_deref(), Some("edited"));

    // The health of an endpoint moves under a change made from before it:
    // that change is stale, and the disable stands.
    let mut patch = next.clone();
    patch.active = true;
    patch.description = Some("made before the disable".into());
    patch.version = 3;
    let failing = Health {
        failing_since: Some(t0()),
        failing_announced: true,
        disabled_reason: Some("gone"),
        paused_until: Some(t0()),
    };
    s.update_health(&sub.id, &failing).await.unwrap();
    assert_eq!(s.update_subscription(&patch).await.unwrap(), Written::Stale);
    let disabled = s.get_subscription(&sub.id).await.unwrap().unwrap();
    assert_eq!((disabled.active, disabled.disabled_reason.as_deref()), (false, Some("gone")));
    assert_eq!((disabled.failing_since, disabled.failing_announced, disabled.version), (Some(t0()), true, 3));
    assert_eq!(disabled.paused_until, Some(t0()), "a pause is health too");
    assert_eq!(disabled.description.as_deref(), Some("edited"), "the rest as it was");

    assert!(s.delete_subscription(&sub.id).await.unwrap());
    let mut late = disabled.clone();
    late.version = 4;
    assert_eq!(s.update_subscription(&late).await.unwrap(), Written::Missing);
    s.update_health(&sub.id, &Health::default()).await.unwrap();
    assert_eq!(s.get_subscription(&sub.id).await.unwrap(), None, "health resurrects nothing");
}

/// Where a tenant's routes are read unchanged, what they were read with is
/// still right: every create, update, delete and disabling health update
/// moves the tenant's routing version (and no other tenant's); a health
/// update that disables nothing leaves it.
pub async fn a_tenants_routing_version_moves_with_every_write_that_changes_its_routes(s: &dyn Store) {
    async fn version(s: &dyn Store, tenant: &TenantId) -> (Option<u64>, Vec<Subscription>) {
        match s.tenant_routes(tenant, None).await.unwrap() {
            Routes::Read { version, subscriptions } => (version, subscriptions),
            Routes::Unchanged => panic!("nothing was known: the routes must be read"),
        }
    }
    async fn unchanged(s: &dyn Store, tenant: &TenantId, v: Option<u64>) -> bool {
        s.tenant_routes(tenant, v).await.unwrap() == Routes::Unchanged
    }
    let other = TenantId::parse("other").unwrap();
    let (empty, none) = version(s, &tenant()).await;
    assert!(none.is_empty());
    assert!(empty.is_some(), "a store pins the version it read at");
    assert!(unchanged(s, &tenant(), empty).await, "nothing changed: nothing read");

    let sub = subscription(1);
    assert!(s.insert_subscription(&sub, 50).await.unwrap());
    assert!(!unchanged(s, &tenant(), empty).await, "a create moves it");
    let (created, subs) = version(s, &tenant()).await;
    assert_eq!(subs, vec![sub.clone()]);
    let (elsewhere, _) = version(s, &other).await;

    let mut next = sub.clone();
    next.version = 2;
    next.event_types = vec![crate::model::EventTypePattern::parse("invoice.paid").unwrap()];
    assert_eq!(s.update_subscription(&next).await.unwrap(), Written::Done);
    assert!(!unchanged(s, &tenant(), created).await, "an update moves it");
    let (updated, subs) = version(s, &tenant()).await;
    assert_eq!(subs, vec![next.clone()], "read as updated");

    let failing = Health { failing_since: Some(t0()), ..next.health() };
    s.update_health(&sub.id, &failing).await.unwrap();
    assert!(unchanged(s, &tenant(), updated).await, "a failure disables nothing: routes unchanged");
    s.update_health(&sub.id, &Health { disabled_reason: Some("failing"), ..failing }).await.unwrap();
    assert!(!unchanged(s, &tenant(), updated).await, "a disable moves it");
    let (disabled, subs) = version(s, &tenant()).await;
    assert!(!subs[0].active);

    assert!(s.delete_subscription(&sub.id).await.unwrap());
    assert!(!unchanged(s, &tenant(), disabled).await, "a delete moves it");
    assert!(version(s, &tenant()).await.1.is_empty());
    assert!(unchanged(s, &other, elsewhere).await, "another tenant's routes stay as they were");
}

/// A tenant's record is written only over the version it was made from.
pub async fn tenant_records_are_written_over_the_version_they_were_made_from(s: &dyn Store) {
    assert_eq!(s.get_tenant(&tenant()).await.unwrap(), None);
    let mut first = Tenant::new(tenant(), t0());
    first.secrets = Some(SecretSet::new(Secret::generate([1; GENERATED_SECRET_BYTES])));
    first.version = 1;
    assert_eq!(s.put_tenant(&first).await.unwrap(), Written::Done);
    let mut rival = Tenant::new(tenant(), t0());
    rival.secrets = Some(SecretSet::new(Secret::generate([2; GENERATED_SECRET_BYTES])));
    rival.version = 1;
    assert_eq!(s.put_tenant(&rival).await.unwrap(), Written::Stale, "the first secret stays");
    let mut rotated = first.clone();
    rotated.secrets = Some(SecretSet::new(Secret::generate([3; GENERATED_SECRET_BYTES])));
    rotated.one_off.timeout = crate::policy::AttemptTimeout::from_millis(5000).unwrap();
    rotated.version = 2;
    assert_eq!(s.put_tenant(&rotated).await.unwrap(), Written::Done);
    assert_eq!(s.put_tenant(&first).await.unwrap(), Written::Stale);
    assert_eq!(s.get_tenant(&tenant()).await.unwrap(), Some(rotated));
}

/// An event and its deliveries are stored once per tenant and idempotency
/// key, with the payload's bytes exactly; a repeat stores nothing.
pub async fn an_idempotency_key_stores_an_event_once_per_tenant(s: &dyn Store) {
    let sub = subscription(1);
    let first = event(1, Some("key-1"));
    let ds = vec![delivery(1, &first, &sub.id, Some(t0())), delivery(2, &first, &sub.id, Some(t0()))];
    assert_eq!(s.insert_event(&first, &ds, &[]).await.unwrap(), Inserted::New);

    let again = event(2, Some("key-1"));
    let other = vec![delivery(3, &again, &sub.id, Some(t0()))];
    let repeat = s.insert_event(&again, &other, &[]).await.unwrap();
    let fingerprint = first.fingerprint.clone();
    assert_eq!(
        repeat,
        Inserted::Duplicate { event_id: first.id.clone(), fingerprint },
        "with the first request's digest"
    );
    assert!(s.get_event(&again.id).await.unwrap().is_none(), "nothing of the repeat is stored");
    assert!(s.get_delivery(&other[0].id).await.unwrap().is_none());

    let back = s.get_event(&first.id).await.unwrap().unwrap();
    assert_eq!(back.payload.get(), first.payload.get(), "payload bytes kept exactly");
    let on_channels = event(40, None);
    s.insert_event(&on_channels, &[delivery(40, &on_channels, &sub.id, Some(t0()))], &[]).await.unwrap();
    let channels = s.get_event(&on_channels.id).await.unwrap().unwrap().channels;
    assert_eq!(channels, ["shop-eu", "team:ops"], "an event's channels kept, in order");
    assert_eq!(
        (&back.tenant, &back.event_type, &back.idempotency_key),
        (&first.tenant, &first.event_type, &first.idempotency_key)
    );
    let stored: Vec<_> = s.event_deliveries(&first.id).await.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(sorted(stored), sorted(ds.iter().map(|d| d.id.clone()).collect()));
    assert_eq!(s.get_delivery(&ds[0].id).await.unwrap().as_ref(), Some(&ds[0]));
    assert_eq!(s.peek_delivery(&ds[0].id).await.unwrap().as_ref(), Some(&ds[0]), "the cheaper read");
    assert!(s.peek_delivery(&other[0].id).await.unwrap().is_none());

    let mut elsewhere = event(3, Some("key-1"));
    elsewhere.tenant = TenantId::parse("beta").unwrap();
    assert_eq!(s.insert_event(&elsewhere, &[], &[]).await.unwrap(), Inserted::New, "keys are per tenant");
    assert_eq!(s.insert_event(&event(4, None), &[], &[]).await.unwrap(), Inserted::New);
    assert_eq!(
        s.insert_event(&event(5, None), &[], &[]).await.unwrap(),
        Inserted::New,
        "no key, no conflict"
    );
}

/// Attempts are recorded in order, each once, and never after the delivery
/// finished; a finished delivery cannot be canceled.
pub async fn attempts_are_recorded_in_order_once_and_never_after_the_end(s: &dyn Store) {
    let e = event(1, None);
    let d = delivery(1, &e, &subscription(1).id, Some(t0()));
    s.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();

    assert!(!record(s, attempt(&d.id, 2), retry_at(t0())).await.unwrap(), "skipping ahead");
    assert!(record(s, attempt(&d.id, 1), retry_at(t0())).await.unwrap());
    assert!(!record(s, attempt(&d.id, 1), retry_at(t0())).await.unwrap(), "the same attempt twice");
    assert!(record(s, attempt(&d.id, 2), succeeded()).await.unwrap());
    assert!(!record(s, attempt(&d.id, 3), retry_at(t0())).await.unwrap(), "no resurrection");

    let stored = s.get_delivery(&d.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts, stored.due_at), (DeliveryStatus::Succeeded, 2, None));
    assert_eq!(stored.last_status_code, Some(500));
    assert_eq!(s.attempts(&d.id).await.unwrap(), vec![attempt(&d.id, 1), attempt(&d.id, 2)]);
    assert!(!s.cancel_delivery(&d.id, t0()).await.unwrap(), "a finished delivery cannot be canceled");
    let unknown = DeliveryId::generate(t0(), [99; 10]);
    assert!(!record(s, attempt(&unknown, 1), retry_at(t0())).await.unwrap());
}

/// Each due delivery is claimed by exactly one of two concurrent callers,
/// one not yet due by neither, and a claim holds until its lease ends.
pub async fn due_deliveries_are_claimed_once_until_their_lease_ends(s: &dyn Store) {
    let e = event(1, None);
    let sub = subscription(1).id;
    let due: Vec<Delivery> = (1..=20).map(|n| delivery(n, &e, &sub, Some(t0()))).collect();
    let mut all = due.clone();
    let later = delivery(30, &e, &sub, None);
    all.push(later.clone());
    s.insert_event(&e, &all, &[]).await.unwrap();
    // Due as a retry waits in the store: a first attempt's message is the
    // store's or the queue's to keep (SQLite holds it with the delivery;
    // DynamoDB's outbox sends it from the table's stream), never the sweep's.
    for d in &due {
        assert!(record(s, attempt(&d.id, 1), retry_at(t0())).await.unwrap());
    }
    assert!(record(s, attempt(&later.id, 1), retry_at(t0() + Span::hours(2))).await.unwrap());

    let lease = Duration::from_secs(60);
    let (x, y) =
        futures_util::future::join(s.claim_due(t0(), lease, 100), s.claim_due(t0(), lease, 100)).await;
    let claimed: Vec<_> = x.unwrap().into_iter().chain(y.unwrap()).map(|d| d.id).collect();
    assert_eq!(
        sorted(claimed),
        sorted(due.iter().map(|d| d.id.clone()).collect()),
        "each once, the later one not"
    );
    assert!(s.claim_due(t0() + Span::seconds(59), lease, 100).await.unwrap().is_empty(), "leased");
    let again = s.claim_due(t0() + Span::seconds(60), lease, 100).await.unwrap();
    assert_eq!(again.len(), 20, "the lease ended");
    assert!(again.iter().all(|d| d.due_at == Some(t0() + Span::seconds(120))), "claimed for a new lease");
    assert_eq!(s.claim_due(t0() + Span::seconds(200), lease, 5).await.unwrap().len(), 5, "at most the limit");
    // What a call left for its limit is still there for the next one.
    let rest = s.claim_due(t0() + Span::seconds(200), lease, 100).await.unwrap();
    assert_eq!(rest.len(), 15, "the rest, none passed over");
}

/// Attempted deliveries list newest first by subscription, by tenant and
/// by event, paged without gaps and filtered by status and time.
pub async fn deliveries_list_newest_first_by_subscription_tenant_and_event(s: &dyn Store) {
    let (s1, s2) = (subscription(1).id, subscription(2).id);
    let mut made = Vec::new();
    for n in 1..=6u8 {
        let mut e = event(n, None);
        if n == 3 {
            e.event_type = crate::model::EventType::parse("video.deleted").unwrap();
        }
        let d = delivery(n, &e, if n % 2 == 0 { &s2 } else { &s1 }, Some(t0()));
        made.push((n, e.id.clone(), d.id.clone()));
        s.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();
        // Listed once attempted (a store may list unattempted ones too).
        assert!(record(s, attempt(&d.id, 1), retry_at(t0())).await.unwrap());
    }
    let by_sub = DeliveryFilter { subscription_id: Some(s1.clone()), ..Default::default() };
    let p1 = s.list_deliveries(&by_sub, &page(None, 2)).await.unwrap();
    let p2 = s.list_deliveries(&by_sub, &page(p1.next_cursor.clone(), 2)).await.unwrap();
    let got: Vec<_> = [p1.items, p2.items].concat().into_iter().map(|d| d.id).collect();
    let want: Vec<_> = made.iter().rev().filter(|(n, ..)| n % 2 == 1).map(|(.., id)| id.clone()).collect();
    assert_eq!(got, want, "newest first, paged without gaps");
    assert!(p2.next_cursor.is_none());

    let everything: Vec<_> = made.iter().rev().map(|(.., id)| id.clone()).collect();
    assert_eq!(list(s, &DeliveryFilter { tenant: Some(tenant()), ..Default::default() }).await, everything);
    let since =
        DeliveryFilter { tenant: Some(tenant()), since: Some(t0() + Span::seconds(4)), ..Default::default() };
    assert_eq!(list(s, &since).await, everything[..3].to_vec(), "created at or after");
    let until =
        DeliveryFilter { tenant: Some(tenant()), until: Some(t0() + Span::seconds(2)), ..Default::default() };
    assert_eq!(list(s, &until).await, everything[5..].to_vec(), "created before");
    let (_, third_event, third) = &made[2];
    let by_event = DeliveryFilter { event_id: Some(third_event.clone()), ..Default::default() };
    assert_eq!(list(s, &by_event).await, vec![third.clone()]);
    let by_type = DeliveryFilter {
        tenant: Some(tenant()),
        event_type: Some(crate::model::EventType::parse("video.deleted").unwrap()),
        ..Default::default()
    };
    assert_eq!(list(s, &by_type).await, vec![third.clone()], "by event type");
    let failed =
        DeliveryFilter { tenant: Some(tenant()), status: Some(DeliveryStatus::Failed), ..Default::default() };
    assert!(list(s, &failed).await.is_empty());

    // A cursor no listing gave out (any short word passes the API's check)
    // bounds the ids as text: never an error.
    let by_tenant = DeliveryFilter { tenant: Some(tenant()), ..Default::default() };
    for filter in [&by_sub, &by_tenant] {
        let all = s.list_deliveries(filter, &page(Some("zzz".into()), 100)).await.unwrap();
        assert_eq!(all.items.len(), if filter.tenant.is_some() { 6 } else { 3 }, "every id is below it");
        let none = s.list_deliveries(filter, &page(Some("abc".into()), 100)).await.unwrap();
        assert!(none.items.is_empty(), "no id is below it");
    }
}

/// A listing longer than many pages (DynamoDB spreads one over several
/// partitions and merges them) comes back newest first, page after page,
/// with nothing skipped or repeated, filtered or not.
pub async fn a_long_listing_pages_in_order_without_gaps_or_repeats(s: &dyn Store) {
    let e = event(1, None);
    let sub = subscription(1).id;
    let made: Vec<Delivery> = (1..=60).map(|n| delivery(n, &e, &sub, Some(t0()))).collect();
    s.insert_event(&e, &made, &[]).await.unwrap();
    for (i, d) in made.iter().enumerate() {
        let update = if i % 3 == 0 { succeeded() } else { retry_at(t0()) };
        assert!(record(s, attempt(&d.id, 1), update).await.unwrap());
    }
    let newest_first: Vec<DeliveryId> = made.iter().rev().map(|d| d.id.clone()).collect();
    let succeeded_ids: Vec<DeliveryId> = made.iter().step_by(3).rev().map(|d| d.id.clone()).collect();
    let by_sub = DeliveryFilter { subscription_id: Some(sub), ..Default::default() };
    let by_tenant = DeliveryFilter { tenant: Some(tenant()), ..Default::default() };
    let done = DeliveryFilter { status: Some(DeliveryStatus::Succeeded), ..by_tenant.clone() };
    let done_here = DeliveryFilter { status: Some(DeliveryStatus::Succeeded), ..by_sub.clone() };
    for (filter, want) in [
        (&by_sub, &newest_first),
        (&by_tenant, &newest_first),
        (&done, &succeeded_ids),
        (&done_here, &succeeded_ids),
    ] {
        let (mut got, mut cursor, mut pages) = (Vec::new(), None, 0);
        loop {
            let p = s.list_deliveries(filter, &page(cursor, 3)).await.unwrap();
            assert!(p.items.len() <= 3);
            got.extend(p.items.into_iter().map(|d| d.id));
            pages += 1;
            assert!(pages <= 40, "the cursor kept coming back");
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(&got, want, "{filter:?}: newest first, nothing skipped or repeated");
        assert!(pages >= want.len() / 3, "{filter:?}: pages of 3");
    }
}

/// Canceling a subscription's deliveries cancels the pending ones only, and
/// canceled deliveries are never claimed.
pub async fn canceling_a_subscriptions_deliveries_leaves_finished_ones_alone(s: &dyn Store) {
    let e = event(1, None);
    let (sub, other) = (subscription(1).id, subscription(2).id);
    let pending = delivery(1, &e, &sub, Some(t0()));
    let finished = delivery(2, &e, &sub, Some(t0()));
    let elsewhere = delivery(3, &e, &other, Some(t0()));
    s.insert_event(&e, &[pending.clone(), finished.clone(), elsewhere.clone()], &[]).await.unwrap();
    record(s, attempt(&finished.id, 1), succeeded()).await.unwrap();
    // Pending once attempted, waiting in the store for their retry. (One
    // never attempted is canceled by its first handling when its
    // subscription is gone, in every store; some cancel it here too.)
    for d in [&pending, &elsewhere] {
        assert!(record(s, attempt(&d.id, 1), retry_at(t0())).await.unwrap());
    }

    assert_eq!(s.cancel_subscription_deliveries(&sub, t0()).await.unwrap(), 1);
    assert_eq!(s.get_delivery(&pending.id).await.unwrap().unwrap().status, DeliveryStatus::Canceled);
    assert_eq!(s.get_delivery(&finished.id).await.unwrap().unwrap().status, DeliveryStatus::Succeeded);
    let canceled = DeliveryFilter {
        subscription_id: Some(sub),
        status: Some(DeliveryStatus::Canceled),
        ..Default::default()
    };
    assert_eq!(list(s, &canceled).await, vec![pending.id.clone()]);
    let claimed: Vec<_> =
        s.claim_due(t0(), Duration::from_secs(60), 10).await.unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(claimed, vec![elsewhere.id], "canceled and finished deliveries are not due");
}

/// A reopened delivery is pending again, due when asked, with its attempts
/// kept and counted, whatever state it was in.
pub async fn a_reopened_delivery_is_pending_again_with_its_attempts_kept(s: &dyn Store) {
    let e = event(1, None);
    let d = delivery(1, &e, &subscription(1).id, Some(t0()));
    s.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();
    record(s, attempt(&d.id, 1), retry_at(t0())).await.unwrap();
    assert!(s.cancel_delivery(&d.id, t0()).await.unwrap());
    assert!(!s.cancel_delivery(&d.id, t0()).await.unwrap(), "canceled once");

    let at = t0() + Span::minutes(5);
    let reopened = s.reopen_delivery(&d.id, at, at + Span::minutes(15)).await.unwrap().unwrap();
    assert_eq!(
        (reopened.status, reopened.attempts, reopened.next_attempt_at),
        (DeliveryStatus::Pending, 1, Some(at))
    );
    assert_eq!(s.get_delivery(&d.id).await.unwrap(), Some(reopened));
    assert_eq!(s.attempts(&d.id).await.unwrap(), vec![attempt(&d.id, 1)]);
    assert!(record(s, attempt(&d.id, 2), succeeded()).await.unwrap(), "the next attempt counts on");
    let unknown = DeliveryId::generate(t0(), [99; 10]);
    assert_eq!(s.reopen_delivery(&unknown, at, at).await.unwrap(), None);
}

/// A delivery canceled before its first attempt: a first attempt's read
/// (the cheapest the store has) shows it canceled, and its recording is
/// refused; redelivered, the same read shows it pending and unattempted,
/// and its first attempt is recorded, once.
pub async fn a_delivery_canceled_before_its_first_attempt_takes_it_only_once_redelivered(s: &dyn Store) {
    let e = event(1, None);
    let d = delivery(1, &e, &subscription(1).id, Some(t0()));
    s.insert_event(&e, std::slice::from_ref(&d), &[]).await.unwrap();
    let read = s.peek_for_attempt(&d.id, 1).await.unwrap().unwrap();
    assert_eq!((read.status, read.attempts), (DeliveryStatus::Pending, 0));
    assert!(s.cancel_delivery(&d.id, t0()).await.unwrap());
    let first = |read: &Delivery| {
        let (attempt, update) = (attempt(&d.id, 1), succeeded());
        let read = read.clone();
        async move {
            let r = crate::ports::Recording {
                attempt: &attempt,
                delivery: Some(&read),
                update: &update,
                follow_up: None,
                ack: None,
                keep_until: None,
            };
            s.record_attempt(&r).await.unwrap().applied
        }
    };
    // A handling that read it before the cancel: its attempt is not counted.
    assert!(!first(&read).await, "a canceled delivery takes no attempt");
    let canceled = s.peek_for_attempt(&d.id, 1).await.unwrap().unwrap();
    assert_eq!(canceled.status, DeliveryStatus::Canceled, "a first attempt's read sees the cancel");

    let at = t0() + Span::minutes(5);
    s.reopen_delivery(&d.id, at, at + Span::minutes(15)).await.unwrap().unwrap();
    let read = s.peek_for_attempt(&d.id, 1).await.unwrap().unwrap();
    assert_eq!((read.status, read.attempts), (DeliveryStatus::Pending, 0));
    assert!(first(&read).await, "the redelivered first attempt counts");
    assert!(!first(&read).await, "once");
    let got = s.get_delivery(&d.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.attempts), (DeliveryStatus::Succeeded, 1));
    assert_eq!(s.attempts(&d.id).await.unwrap(), vec![attempt(&d.id, 1)]);
}

/// An event's `last_attempt_by` reads back as stored and only ever moves
/// later: keeping an event longer extends it, a shorter keep changes
/// nothing, and keeping an event that does not exist creates none.
pub async fn an_event_is_kept_only_ever_longer(s: &dyn Store) {
    let mut ev = event(1, None);
    let foreseen = t0() + Span::hours(2);
    ev.last_attempt_by = Some(foreseen);
    s.insert_event(&ev, &[], &[]).await.unwrap();
    let by = |e: Option<crate::model::Event>| e.unwrap().last_attempt_by;
    assert_eq!(by(s.get_event(&ev.id).await.unwrap()), Some(foreseen));

    s.keep_event(&ev.id, t0() + Span::hours(1)).await.unwrap();
    assert_eq!(by(s.get_event(&ev.id).await.unwrap()), Some(foreseen), "never shorter");
    let longer = t0() + Span::hours(50);
    s.keep_event(&ev.id, longer).await.unwrap();
    assert_eq!(by(s.get_event(&ev.id).await.unwrap()), Some(longer));

    let unforeseen = event(2, None);
    s.insert_event(&unforeseen, &[], &[]).await.unwrap();
    assert_eq!(by(s.get_event(&unforeseen.id).await.unwrap()), None);
    s.keep_event(&unforeseen.id, longer).await.unwrap();
    assert_eq!(by(s.get_event(&unforeseen.id).await.unwrap()), Some(longer));

    let missing = event(3, None);
    s.keep_event(&missing.id, longer).await.unwrap();
    assert!(s.get_event(&missing.id).await.unwrap().is_none(), "nothing created");
}

/// The catalog keeps one declaration per name, lists them by name, and
/// removes one once.
pub async fn event_types_are_declared_replaced_listed_by_name_and_removed(s: &dyn Store) {
    use crate::model::{EventType, EventTypeInfo};
    let info = |name: &str, description: &str| EventTypeInfo {
        name: EventType::parse(name).unwrap(),
        description: Some(description.into()),
        example: Some(serde_json::json!({"id": "v_1", "quote": "\""})),
        schema: None,
        updated_at: t0(),
    };
    assert!(s.event_types().await.unwrap().is_empty());
    s.put_event_type(&info("video.updated", "changed")).await.unwrap();
    s.put_event_type(&info("video.created", "new")).await.unwrap();
    s.put_event_type(&info("video.created", "uploaded")).await.unwrap();
    let all = s.event_types().await.unwrap();
    let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["video.created", "video.updated"]);
    assert_eq!(all[0], info("video.created", "uploaded"), "replaced whole, example bytes intact");
    assert!(s.delete_event_type(&EventType::parse("video.created").unwrap()).await.unwrap());
    assert!(!s.delete_event_type(&EventType::parse("video.created").unwrap()).await.unwrap());
    assert_eq!(s.event_types().await.unwrap().len(), 1);
}

/// Hourly counts add up per scope and hour, whichever write added them,
/// and a chart reads one scope's hours from a time on, oldest first.
pub async fn hourly_counts_add_up_per_scope_and_hour(s: &dyn Store) {
    use crate::ports::{CountScope, HourCount};
    let sub = CountScope::Subscription(subscription(1).id);
    let other = CountScope::Tenant(tenant());
    let h = |n: i64| crate::tally::hour_of(t0()) + Span::hours(n);
    let c = |hour, succeeded, failed, gave_up| HourCount::new(hour, (succeeded, failed, gave_up));
    s.add_counts(&[(CountScope::Service, c(h(0), 3, 1, 1)), (sub.clone(), c(h(0), 2, 1, 0))]).await.unwrap();
    // Writes from several processes (DynamoDB: a shard each) add up.
    for _ in 0..3 {
        s.add_counts(&[(sub.clone(), c(h(0), 1, 0, 0)), (sub.clone(), c(h(2), 0, 4, 1))]).await.unwrap();
    }
    s.add_counts(&[(other.clone(), c(h(1), 9, 9, 2))]).await.unwrap();
    assert_eq!(s.hourly_counts(&sub, h(0)).await.unwrap(), vec![c(h(0), 5, 1, 0), c(h(2), 0, 12, 3)]);
    assert_eq!(s.hourly_counts(&sub, h(1)).await.unwrap(), vec![c(h(2), 0, 12, 3)], "from a time on");
    assert_eq!(s.hourly_counts(&CountScope::Service, h(-5)).await.unwrap(), vec![c(h(0), 3, 1, 1)]);
    assert_eq!(s.hourly_counts(&other, h(0)).await.unwrap(), vec![c(h(1), 9, 9, 2)], "scopes apart");
}

/// A name is taken once: the first claim, of however many at once, wins;
/// every later one is refused; another name is its own.
pub async fn a_name_is_claimed_once_however_many_race(s: &dyn Store) {
    let until = t0() + Span::minutes(10);
    let claims = (0..8).map(|_| s.claim("link:n1", until));
    let won =
        futures_util::future::join_all(claims).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(won, 1, "one of eight at once");
    assert!(!s.claim("link:n1", until).await.unwrap(), "and none after");
    assert!(s.claim("link:n2", until).await.unwrap(), "another name is its own");
}
