//! Ordered delivery per key, as a receiver sees it: what every ordering
//! test publishes, and how it checks what arrived. The shared scenario runs
//! in both modes; the embedded binary's SIGKILL test uses the same parts.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Received, Receiver};
use crate::scenarios::ServiceUnderTest;

/// The schedule of the ordering tests: fifteen retries a second apart, so
/// at 30 % failures no delivery runs out of attempts (0.3^16 ≈ 4e-9).
pub const SCHEDULE: [&str; 15] = ["1s"; 15];

/// Event `seq` of key `key`: what it carries, so a receiver can tell where
/// it belongs.
pub fn keyed_event(tenant: &str, key: usize, seq: usize) -> Value {
    json!({"tenant": tenant, "type": "order.updated", "ordering_key": format!("order-{key}"),
        "payload": {"key": key, "seq": seq}})
}

/// The events `0..events` spread over `keys` keys, round robin: event `i`
/// is the `i / keys`-th of key `i % keys`.
pub fn spread(tenant: &str, events: usize, keys: usize) -> Vec<Value> {
    (0..events).map(|i| keyed_event(tenant, i % keys, i / keys)).collect()
}

/// Per key, the events' places in the order `got` first reached the
/// receiver, each run of requests for one event (its retries) counted once:
/// for a key delivered in order, `0, 1, 2, …` — an event retried after a
/// later one was sent shows up twice.
pub fn arrival_order(got: &[Received]) -> BTreeMap<u64, Vec<u64>> {
    let mut order: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for r in got {
        let body = r.json();
        let (Some(key), Some(seq)) = (body["data"]["key"].as_u64(), body["data"]["seq"].as_u64()) else {
            continue;
        };
        let seen = order.entry(key).or_default();
        if seen.last() != Some(&seq) {
            seen.push(seq);
        }
    }
    order
}

/// Asserts that every key's events arrived in publish order, each once
/// (its retries aside), none missing: `events` over `keys` as [`spread`]
/// makes them.
pub fn assert_in_order(got: &[Received], events: usize, keys: usize) {
    let order = arrival_order(got);
    assert_eq!(order.len(), keys, "every key reached the receiver");
    for (key, seqs) in &order {
        let published = (events - *key as usize).div_ceil(keys);
        let want: Vec<u64> = (0..published as u64).collect();
        assert_eq!(seqs, &want, "key {key}: events in the order they first arrived");
    }
}

/// Publishes `bodies` in order, the first half one request each, the rest
/// in batches of `batch` (a batch's order is its events' publish order).
pub async fn publish_in_order(h: &dyn ServiceUnderTest, bodies: &[Value], batch: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let (single, batched) = bodies.split_at(bodies.len() / 2);
    for body in single {
        let (status, ev) = h.call("POST", "/v1/events", Some(body.clone())).await;
        assert_eq!(status, 202, "{ev}");
        ids.extend(crate::delivery_ids(&ev));
    }
    for chunk in batched.chunks(batch.max(1)) {
        let (status, out) = h.call("POST", "/v1/events/batch", Some(json!({"events": chunk}))).await;
        assert_eq!(status, 200, "{out}");
        for result in out["results"].as_array().into_iter().flatten() {
            assert_eq!(result["status"], 202, "{result}");
            ids.extend(crate::delivery_ids(&result["event"]));
        }
    }
    ids
}

/// An ordered subscription receives each key's events strictly in publish
/// order though its endpoint fails 30 % of requests at random: a retry
/// holds its key back (nothing of the key is sent until it succeeds), the
/// keys run side by side, and nothing is lost. An unordered subscription
/// beside it gets every event too. A bad `ordering_key` is refused.
pub async fn ordered_deliveries_reach_each_key_in_publish_order(
    h: &dyn ServiceUnderTest,
    events: usize,
    keys: usize,
) {
    let tenant = "ordering";
    let r = Receiver::start_failing_randomly(30, 0x5eed).await;
    let plain = Receiver::start().await;
    let body =
        json!({"tenant": tenant, "url": r.url("/ordered"), "ordered": true, "retry_schedule": SCHEDULE});
    let (status, sub) = h.call("POST", "/v1/subscriptions", Some(body)).await;
    assert_eq!((status, &sub["ordered"]), (201, &json!(true)), "{sub}");
    let (status, _) =
        h.call("POST", "/v1/subscriptions", Some(json!({"tenant": tenant, "url": plain.url("/")}))).await;
    assert_eq!(status, 201);

    for (bad, why) in [
        (json!({"tenant": tenant, "type": "order.updated", "payload": {}, "ordering_key": ""}), "empty"),
        (
            json!({"tenant": tenant, "type": "order.updated", "payload": {}, "ordering_key": "k".repeat(257)}),
            "long",
        ),
    ] {
        let (status, err) = h.call("POST", "/v1/events", Some(bad)).await;
        assert_eq!(status, 422, "{why}: {err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("ordering_key"), "{why}: {err}");
    }

    let ids = publish_in_order(h, &spread(tenant, events, keys), 20).await;
    assert_eq!(ids.len(), 2 * events, "two deliveries an event");
    // The first event's two deliveries: in order to the ordered endpoint
    // alone.
    for id in &ids[..2] {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        let ordered = d["subscription_id"] == sub["id"];
        assert_eq!(d.get("ordered") == Some(&json!(true)), ordered, "{d}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    loop {
        // Out of order shows as more runs than events: checked below.
        let done = arrival_order(&r.received()).values().map(Vec::len).sum::<usize>() >= events
            && plain.received().len() >= events;
        if done {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let short: Vec<(u64, usize)> = arrival_order(&r.received())
                .into_iter()
                .map(|(k, s)| (k, s.len()))
                .filter(|(_, n)| *n < events / keys)
                .collect();
            let mut pending = Vec::new();
            for id in &ids {
                let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
                if d["status"] != "succeeded" {
                    pending.push(d);
                }
            }
            panic!(
                "gave up waiting: keys short {short:?}, the plain endpoint got {} of {events}; unfinished: {pending:?}",
                plain.received().len()
            );
        }
        h.tick().await;
    }
    // The last event's success is recorded a moment after it arrived.
    for id in &ids {
        crate::scenarios::wait_status(h, id, "succeeded").await;
    }
    let got = r.received();
    assert_in_order(&got, events, keys);
    assert!(got.len() > events, "the receiver failed some requests, which were retried");
}
