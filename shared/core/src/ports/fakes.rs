//! In-memory fakes of every port, for unit tests of the handlers. They keep
//! the same conditional rules as the real adapters (idempotency keys,
//! attempt numbers, claims), so handler tests exercise real semantics.

// Test code (feature `fakes`): a broken fixture panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::model::{
    Attempt, Delivery, DeliveryId, DeliveryStatus, Event, EventId, EventType, EventTypeInfo, Health,
    Subscription, SubscriptionId, Tenant, TenantId,
};
use crate::policy::AttemptOutcome;
use crate::wire::OutgoingRequest;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock already failed; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn page<T: Clone>(mut items: Vec<(String, T)>, req: &PageRequest) -> Page<T> {
    items.sort_by(|a, b| b.0.cmp(&a.0));
    let start = match &req.cursor {
        Some(c) => items.iter().position(|(id, _)| id < c).unwrap_or(items.len()),
        None => 0,
    };
    let limit = req.limit.max(1);
    let slice: Vec<(String, T)> = items[start..].iter().take(limit).cloned().collect();
    let more = items.len() > start + slice.len();
    Page {
        next_cursor: if more { slice.last().map(|(id, _)| id.clone()) } else { None },
        items: slice.into_iter().map(|(_, t)| t).collect(),
    }
}

#[derive(Default)]
struct State {
    subscriptions: BTreeMap<SubscriptionId, Subscription>,
    tenants: BTreeMap<TenantId, Tenant>,
    events: BTreeMap<EventId, Event>,
    idempotency: BTreeMap<(TenantId, String), EventId>,
    deliveries: BTreeMap<DeliveryId, Delivery>,
    attempts: BTreeMap<DeliveryId, Vec<Attempt>>,
    event_types: BTreeMap<String, EventTypeInfo>,
    counts: BTreeMap<(CountScope, DateTime<Utc>), (u64, u64, u64)>,
    claims: BTreeMap<String, DateTime<Utc>>,
    /// Each tenant's routing version.
    routing: BTreeMap<TenantId, u64>,
}

impl State {
    fn reroute(&mut self, tenant: &TenantId) {
        *self.routing.entry(tenant.clone()).or_default() += 1;
    }
}

/// What the cheaper reads show while they lag ([`MemoryStore::lag_peeks`]).
#[derive(Default)]
struct Lagging {
    subscriptions: BTreeMap<SubscriptionId, Subscription>,
    deliveries: BTreeMap<DeliveryId, Delivery>,
}

/// Every store port in memory. `set_unavailable(true)` makes every call
/// fail as an unreachable store would.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    lagging: Mutex<Option<Lagging>>,
    unavailable: std::sync::atomic::AtomicBool,
    failing_records: std::sync::atomic::AtomicU32,
    route_reads: AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following call fail (or work again).
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    /// From now on the cheaper reads (`peek_subscription`, `peek_delivery`)
    /// show subscriptions and deliveries as they are now, whatever is
    /// written after: an eventually consistent read at its stalest.
    pub fn lag_peeks(&self) {
        let s = lock(&self.state);
        *lock(&self.lagging) =
            Some(Lagging { subscriptions: s.subscriptions.clone(), deliveries: s.deliveries.clone() });
    }

    /// Makes the next `n` attempt records fail before they change anything,
    /// as a process dying just before that write would leave it.
    pub fn fail_records(&self, n: u32) {
        self.failing_records.store(n, Ordering::SeqCst);
    }

    /// How many times a tenant's subscriptions were read in full
    /// ([`SubscriptionStore::tenant_routes`] answering `Read`).
    pub fn route_reads(&self) -> u64 {
        self.route_reads.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("memory store switched off"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn watched(&self, limit: usize) -> Result<crate::ports::Watched, StoreError> {
        self.check()?;
        Ok(crate::ports::Watched::of(lock(&self.state).subscriptions.values(), limit))
    }

    async fn list_tenants(
        &self,
        prefix: &str,
        req: &PageRequest,
    ) -> Result<Page<crate::ports::TenantCount>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let items: Vec<_> = s
            .routing
            .keys()
            .filter(|t| t.as_str().starts_with(prefix))
            .filter(|t| req.cursor.as_deref().is_none_or(|c| t.as_str() > c))
            .map(|t| crate::ports::TenantCount {
                tenant: t.clone(),
                subscriptions: s.subscriptions.values().filter(|x| x.tenant == *t).count() as u64,
            })
            .take(req.limit + 1)
            .collect();
        Ok(Page::of_one_more(items, req.limit, |t| t.tenant.to_string()))
    }

    async fn insert_subscription(
        &self,
        sub: &Subscription,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        if s.subscriptions.contains_key(&sub.id) {
            return Err(StoreError::Internal(format!("subscription {} already exists", sub.id)));
        }
        if s.subscriptions.values().filter(|x| x.tenant == sub.tenant).count() >= max_per_tenant {
            return Ok(false);
        }
        s.subscriptions.insert(sub.id.clone(), sub.clone());
        s.reroute(&sub.tenant);
        Ok(true)
    }

    async fn peek_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.check()?;
        if let Some(lagging) = &*lock(&self.lagging) {
            return Ok(lagging.subscriptions.get(id).cloned());
        }
        Ok(lock(&self.state).subscriptions.get(id).cloned())
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).subscriptions.get(id).cloned())
    }

    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        match s.subscriptions.get_mut(&next.id) {
            Some(slot) if slot.version.checked_add(1) == Some(next.version) => {
                *slot = next.clone();
                s.reroute(&next.tenant);
                Ok(Written::Done)
            }
            Some(_) => Ok(Written::Stale),
            None => Ok(Written::Missing),
        }
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let Some(gone) = s.subscriptions.remove(id) else { return Ok(false) };
        s.reroute(&gone.tenant);
        Ok(true)
    }

    async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        req: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let items = s
            .subscriptions
            .values()
            .filter(|sub| sub.tenant == *tenant)
            .map(|sub| (sub.id.to_string(), sub.clone()))
            .collect();
        Ok(page(items, req))
    }

    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let Some(sub) = s.subscriptions.get_mut(id) else { return Ok(()) };
        sub.set_health(health);
        let tenant = sub.tenant.clone();
        if health.disabled_reason.is_some() {
            s.reroute(&tenant);
        }
        Ok(())
    }

    async fn tenant_routes(&self, tenant: &TenantId, known: Option<u64>) -> Result<Routes, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let version = s.routing.get(tenant).copied().unwrap_or(0);
        if known == Some(version) {
            return Ok(Routes::Unchanged);
        }
        self.route_reads.fetch_add(1, Ordering::SeqCst);
        let subscriptions = s.subscriptions.values().filter(|s| s.tenant == *tenant).cloned().collect();
        Ok(Routes::Read { version: Some(version), subscriptions })
    }
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).tenants.get(tenant).cloned())
    }

    async fn put_tenant(&self, next: &Tenant) -> Result<Written, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let stored = s.tenants.get(&next.id).map_or(0, |t| t.version);
        if stored.checked_add(1) != Some(next.version) {
            return Ok(Written::Stale);
        }
        s.tenants.insert(next.id.clone(), next.clone());
        Ok(Written::Done)
    }
}

#[async_trait]
impl CountStore for MemoryStore {
    async fn add_counts(&self, counts: &[(CountScope, HourCount)]) -> Result<(), StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        for (scope, c) in counts {
            let sum = s.counts.entry((scope.clone(), c.hour)).or_default();
            sum.0 += c.succeeded;
            sum.1 += c.failed;
            sum.2 += c.gave_up;
        }
        Ok(())
    }

    async fn hourly_counts(
        &self,
        scope: &CountScope,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourCount>, StoreError> {
        self.check()?;
        Ok(lock(&self.state)
            .counts
            .range((scope.clone(), since)..)
            .take_while(|((s, _), _)| s == scope)
            .map(|((_, hour), sums)| HourCount::new(*hour, *sums))
            .collect())
    }
}

#[async_trait]
impl ClaimStore for MemoryStore {
    async fn claim(&self, name: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        self.check()?;
        let mut state = lock(&self.state);
        if state.claims.contains_key(name) {
            return Ok(false);
        }
        state.claims.insert(name.to_owned(), until);
        Ok(true)
    }
}

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn put_event_type(&self, info: &EventTypeInfo) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.state).event_types.insert(info.name.as_str().to_owned(), info.clone());
        Ok(())
    }

    async fn event_types(&self) -> Result<Vec<EventTypeInfo>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).event_types.values().cloned().collect())
    }

    async fn delete_event_type(&self, name: &EventType) -> Result<bool, StoreError> {
        self.check()?;
        Ok(lock(&self.state).event_types.remove(name.as_str()).is_some())
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        _messages: &[Queued],
    ) -> Result<Inserted, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        if let Some(key) = &event.idempotency_key {
            let k = (event.tenant.clone(), key.clone());
            if let Some(existing) = s.idempotency.get(&k) {
                let fingerprint = s.events.get(existing).and_then(|e| e.fingerprint.clone());
                return Ok(Inserted::Duplicate { event_id: existing.clone(), fingerprint });
            }
            s.idempotency.insert(k, event.id.clone());
        }
        s.events.insert(event.id.clone(), event.clone());
        for d in deliveries {
            s.deliveries.insert(d.id.clone(), d.clone());
        }
        Ok(Inserted::New)
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).events.get(id).cloned())
    }

    async fn keep_event(&self, id: &EventId, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.check()?;
        if let Some(event) = lock(&self.state).events.get_mut(id) {
            event.last_attempt_by = event.last_attempt_by.max(Some(until));
        }
        Ok(())
    }
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).deliveries.get(id).cloned())
    }

    async fn peek_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.check()?;
        if let Some(lagging) = &*lock(&self.lagging) {
            return Ok(lagging.deliveries.get(id).cloned());
        }
        Ok(lock(&self.state).deliveries.get(id).cloned())
    }

    async fn event_deliveries(&self, event_id: &EventId) -> Result<Vec<Delivery>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).deliveries.values().filter(|d| d.event_id == *event_id).cloned().collect())
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        req: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        self.check()?;
        let s = lock(&self.state);
        let items = s
            .deliveries
            .values()
            .filter(|d| filter.matches(d))
            .map(|d| (d.id.to_string(), d.clone()))
            .collect();
        Ok(page(items, req))
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        self.check()?;
        Ok(lock(&self.state).attempts.get(id).cloned().unwrap_or_default())
    }

    async fn record_attempt(&self, r: &Recording<'_>) -> Result<Recorded, StoreError> {
        self.check()?;
        if self.failing_records.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            return Err(StoreError::unavailable("memory store failing this record"));
        }
        let mut s = lock(&self.state);
        let Some(d) = s.deliveries.get_mut(&r.attempt.delivery_id) else {
            return Ok(Recorded::default());
        };
        if !d.record(r.attempt, r.update) {
            return Ok(Recorded::default());
        }
        s.attempts.entry(r.attempt.delivery_id.clone()).or_default().push(r.attempt.clone());
        // The queue is another object here: the follow-up is the caller's.
        Ok(Recorded { applied: true, follow_up_queued: false, acknowledged: false })
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.check()?;
        let lease = super::span(lease);
        let mut s = lock(&self.state);
        let mut taken = Vec::new();
        for d in s.deliveries.values_mut() {
            if taken.len() >= limit {
                break;
            }
            if d.status == DeliveryStatus::Pending && d.due_at.is_some_and(|t| t <= now) {
                d.due_at = Some(now + lease);
                taken.push(d.clone());
            }
        }
        Ok(taken)
    }

    async fn reopen_delivery(
        &self,
        id: &DeliveryId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        Ok(s.deliveries.get_mut(id).map(|d| {
            d.reopen(at, due_at);
            d.clone()
        }))
    }

    async fn cancel_delivery(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        Ok(s.deliveries.get_mut(id).is_some_and(|d| d.cancel(now)))
    }

    async fn cancel_subscription_deliveries(
        &self,
        id: &SubscriptionId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.check()?;
        let mut s = lock(&self.state);
        let mut n = 0;
        for d in s.deliveries.values_mut() {
            if d.subscription_id() == Some(id) && d.cancel(now) {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A queue that keeps what it was given, in order.
#[derive(Default)]
pub struct MemoryQueue {
    sent: Mutex<VecDeque<Queued>>,
    unavailable: std::sync::atomic::AtomicBool,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every message sent so far.
    pub fn drain(&self) -> Vec<Queued> {
        lock(&self.sent).drain(..).collect()
    }

    /// Makes every following send fail (or work again).
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl DeliveryQueue for MemoryQueue {
    fn max_delay(&self) -> Duration {
        Duration::from_secs(15 * 60)
    }

    async fn enqueue(&self, messages: &[Queued]) -> Result<(), QueueError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(QueueError::unavailable("memory queue switched off"));
        }
        lock(&self.sent).extend(messages.iter().cloned());
        Ok(())
    }
}

/// A clock that moves only when told.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut t = lock(&self.0);
        *t += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
    }

    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *lock(&self.0) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

/// Deterministic, non-cryptographic randomness for tests (splitmix64).
pub struct SeededEntropy(AtomicU64);

impl SeededEntropy {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut z = self
                .0
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// A sender that answers from a script and keeps every request.
#[derive(Default)]
pub struct ScriptedSender {
    script: Mutex<VecDeque<AttemptOutcome>>,
    requests: Mutex<Vec<OutgoingRequest>>,
    waits: Mutex<Vec<Duration>>,
}

impl ScriptedSender {
    /// A sender that answers 200 once its script runs out.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues outcomes for the next sends, in order.
    pub fn then(&self, outcomes: impl IntoIterator<Item = AttemptOutcome>) -> &Self {
        lock(&self.script).extend(outcomes);
        self
    }

    /// Every request sent so far.
    pub fn requests(&self) -> Vec<OutgoingRequest> {
        lock(&self.requests).clone()
    }

    /// Every wait before a send so far (a rate-limited endpoint's slots);
    /// the fake does not sleep.
    pub fn waits(&self) -> Vec<Duration> {
        lock(&self.waits).clone()
    }
}

#[async_trait]
impl Sender for ScriptedSender {
    async fn send(&self, request: &OutgoingRequest) -> SendResult {
        lock(&self.requests).push(request.clone());
        let outcome = lock(&self.script).pop_front().unwrap_or(AttemptOutcome::Response {
            status: 200,
            retry_after: None,
            stop_retries: false,
        });
        let error_message = match &outcome {
            AttemptOutcome::Failed(kind) => Some(format!("scripted {kind:?}")),
            AttemptOutcome::Response { .. } => None,
        };
        SendResult { outcome, duration: Duration::from_millis(1), response_excerpt: None, error_message }
    }

    async fn wait(&self, d: Duration) {
        lock(&self.waits).push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_entropy_is_reproducible_and_units_are_in_range() {
        let a = SeededEntropy::new(7);
        let b = SeededEntropy::new(7);
        assert_eq!(a.id_bytes(), b.id_bytes());
        for _ in 0..1000 {
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn pages_walk_newest_first_without_gaps() {
        let items: Vec<(String, u32)> = (0..7).map(|i| (format!("id{i}"), i)).collect();
        let mut req = PageRequest { cursor: None, limit: 3 };
        let mut seen = Vec::new();
        loop {
            let p = page(items.clone(), &req);
            seen.extend(p.items);
            match p.next_cursor {
                Some(c) => req.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, vec![6, 5, 4, 3, 2, 1, 0]);
    }
}
