//! Sample records for tests of the stores and the flow (feature `fakes`):
//! numbered so a test can make several that differ, with ids that sort by
//! their creation time as real ones do.

// Test code (feature `fakes`): a broken fixture panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use serde_json::value::RawValue;

use crate::model::{
    Attempt, AttemptUpdate, Delivery, DeliveryId, DeliverySettings, DeliveryStatus, DeliveryTarget, Event,
    EventId, EventType, EventTypePattern, Subscription, SubscriptionId, TenantId,
};
use crate::signing::{GENERATED_SECRET_BYTES, Secret, SecretSet};
use crate::target::TargetUrl;

/// The time samples are made at: 2026-11-23 09:00:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single().unwrap_or_default()
}

/// The tenant of every sample: `acme`.
pub fn tenant() -> TenantId {
    TenantId::parse("acme").expect("a valid tenant name")
}

/// Subscription `n` of `acme` to `video.*` at `https://example.com/h` with
/// the default format, created `n` seconds after [`t0`].
pub fn subscription(n: u8) -> Subscription {
    let at = t0() + chrono::Duration::seconds(n.into());
    Subscription {
        id: SubscriptionId::generate(at, [n; 10]),
        tenant: tenant(),
        url: TargetUrl::parse("https://example.com/h").expect("a valid URL"),
        event_types: vec![EventTypePattern::parse("video.*").expect("a valid pattern")],
        channels: Vec::new(),
        filter: None,
        ordered: false,
        description: None,
        active: true,
        disabled_reason: None,
        settings: DeliverySettings::default(),
        retry_schedules: Default::default(),
        secrets: SecretSet::new(Secret::generate([n; GENERATED_SECRET_BYTES])),
        rate_limit: None,
        paused_until: None,
        failing_since: None,
        failing_announced: false,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

/// Event `n` of `acme` (`video.encoded`), created `n` seconds after
/// [`t0`], with a payload whose bytes must survive exactly (a quoted quote).
pub fn event(n: u8, idempotency_key: Option<&str>) -> Event {
    let at = t0() + chrono::Duration::seconds(n.into());
    Event {
        id: EventId::for_tenant(at, tenant().as_str(), [n; 10]),
        tenant: tenant(),
        event_type: EventType::parse("video.encoded").expect("a valid type"),
        payload: RawValue::from_string(format!(r#"{{"n": {n}, "quote": "\"q\""}}"#)).expect("JSON"),
        // Every other one on channels, so each store keeps them.
        channels: if n.is_multiple_of(2) { vec!["shop-eu".into(), "team:ops".into()] } else { Vec::new() },
        // Every third one keyed, so each store keeps the key too.
        ordering_key: n.is_multiple_of(3).then(|| format!("order \"{n}\" ü")),
        idempotency_key: idempotency_key.map(str::to_owned),
        webhook_url: None,
        created_at: at,
        last_attempt_by: None,
        fingerprint: idempotency_key.map(|k| format!("request-{n}-{k}")),
    }
}

/// Delivery `n` of `event` to `subscription` (its id the event's `n`-th),
/// pending, never attempted, due at `due` (the scheduler's safety net) if
/// given.
pub fn delivery(n: u8, event: &Event, subscription: &SubscriptionId, due: Option<DateTime<Utc>>) -> Delivery {
    Delivery {
        id: event.id.delivery(n.into()).expect("an event's delivery"),
        event_id: event.id.clone(),
        tenant: event.tenant.clone(),
        event_type: event.event_type.clone(),
        target: DeliveryTarget::Subscription { subscription_id: subscription.clone() },
        // A keyed event's deliveries in its key's order, so each store
        // keeps that too.
        ordering: event.ordering_key.as_deref().map(|k| crate::model::order_group(subscription, k)),
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

/// Attempt `number` of delivery `id` at [`t0`]: a 500 after 12 ms.
pub fn attempt(id: &DeliveryId, number: u32) -> Attempt {
    Attempt {
        delivery_id: id.clone(),
        number,
        started_at: t0(),
        duration_ms: 12,
        url: "https://example.com/h".into(),
        status_code: Some(500),
        error: None,
        error_message: None,
        response_excerpt: Some("oops".into()),
        signature: None,
    }
}

/// The update of a failed attempt with a retry due at `at`.
pub fn retry_at(at: DateTime<Utc>) -> AttemptUpdate {
    AttemptUpdate {
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(at),
        due_at: Some(at),
        give_up_reason: None,
        queued: false,
    }
}

/// The update of a successful attempt.
pub fn succeeded() -> AttemptUpdate {
    AttemptUpdate {
        status: DeliveryStatus::Succeeded,
        next_attempt_at: None,
        due_at: None,
        give_up_reason: None,
        queued: false,
    }
}

/// Records `attempt` with `update` as the deliver handler does when no
/// queue shares the store's transaction; whether it applied.
pub async fn record(
    store: &dyn crate::ports::DeliveryStore,
    attempt: Attempt,
    update: AttemptUpdate,
) -> Result<bool, crate::ports::StoreError> {
    let recording = crate::ports::Recording {
        attempt: &attempt,
        delivery: None,
        update: &update,
        follow_up: None,
        ack: None,
        keep_until: None,
    };
    Ok(store.record_attempt(&recording).await?.applied)
}
