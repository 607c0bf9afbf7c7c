//! Each tenant's routes — its subscriptions, the candidates of a fan-out —
//! kept by the process between publishes, so a publish reads one small
//! record (the tenant's routing version) instead of every subscription the
//! tenant has. A tenant with a thousand endpoints then publishes for what a
//! tenant with one does.
//!
//! A publish asks the store for the tenant's routes *unless the routing
//! version is still the one kept* ([`SubscriptionStore::tenant_routes`]).
//! Every write that changes where or how a tenant's events go moves that
//! version in the same atomic write, so a publish never routes on
//! subscriptions older than the last such write that finished before it.
//! What is kept is also forgotten after [`ROUTES_KEPT_FOR`], so a writer
//! that did not move the version (an older release still running during a
//! deploy) is seen within that time all the same.
//!
//! Bounded: at most [`ROUTES_CACHE_WEIGHT`] subscriptions kept in all (the
//! least recently used tenants are forgotten first); a tenant weighing
//! nearly all of that is read afresh at each publish, as without the cache.
//!
//! The subscriptions kept are for routing only (which events, with what
//! settings): their health fields may be behind, since a health update that
//! disables nothing leaves the version where it was.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Subscription, TenantId};
use crate::ports::{Clock, Routes, StoreError, SubscriptionStore, span};

/// How long a tenant's routes are kept at most, whatever their version.
pub const ROUTES_KEPT_FOR: Duration = Duration::from_secs(5 * 60);

/// The most subscriptions kept in all (each tenant weighs one more than its
/// subscriptions): about 10 MB for subscriptions of 1 KB.
pub const ROUTES_CACHE_WEIGHT: u64 = 10_000;

/// One tenant's routes, as read at one routing version.
struct Kept {
    version: u64,
    read_at: DateTime<Utc>,
    subscriptions: Arc<[Subscription]>,
}

#[derive(Clone)]
struct ByCount;

impl quick_cache::Weighter<TenantId, Arc<Kept>> for ByCount {
    fn weight(&self, _: &TenantId, kept: &Arc<Kept>) -> u64 {
        1 + kept.subscriptions.len() as u64
    }
}

/// The routes this process keeps.
pub struct RouteCache {
    kept: Mutex<quick_cache::unsync::Cache<TenantId, Arc<Kept>, ByCount>>,
}

impl Default for RouteCache {
    fn default() -> Self {
        Self::with_weight(ROUTES_CACHE_WEIGHT)
    }
}

impl RouteCache {
    /// A cache keeping at most `weight` subscriptions in all.
    pub fn with_weight(weight: u64) -> Self {
        let tenants = usize::try_from(weight / 4).unwrap_or(usize::MAX).max(1);
        Self { kept: Mutex::new(quick_cache::unsync::Cache::with_weighter(tenants, weight, ByCount)) }
    }

    /// `tenant`'s subscriptions as of its routing version now: the ones kept
    /// if the version is unchanged, else read (and kept).
    pub async fn routes(
        &self,
        store: &dyn SubscriptionStore,
        clock: &dyn Clock,
        tenant: &TenantId,
    ) -> Result<Arc<[Subscription]>, StoreError> {
        let now = clock.now();
        let kept = self.lock().get(tenant).cloned();
        let kept = kept.filter(|k| now >= k.read_at && now < k.read_at + span(ROUTES_KEPT_FOR));
        match store.tenant_routes(tenant, kept.as_ref().map(|k| k.version)).await? {
            Routes::Unchanged => match kept {
                Some(k) => Ok(k.subscriptions.clone()),
                None => {
                    Err(StoreError::Internal("the store found routes unchanged that were never read".into()))
                }
            },
            Routes::Read { version, subscriptions } => {
                let subscriptions: Arc<[Subscription]> = subscriptions.into();
                if let Some(version) = version {
                    let kept = Kept { version, read_at: now, subscriptions: subscriptions.clone() };
                    self.lock().insert(tenant.clone(), Arc::new(kept));
                }
                Ok(subscriptions)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, quick_cache::unsync::Cache<TenantId, Arc<Kept>, ByCount>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::model::Health;
    use crate::ports::Written;
    use crate::ports::fakes::ManualClock;
    use crate::ports::fakes::MemoryStore;
    use crate::ports::samples::{subscription, t0, tenant};

    async fn ids(cache: &RouteCache, store: &MemoryStore, clock: &ManualClock) -> Vec<String> {
        let mut ids: Vec<String> =
            cache.routes(store, clock, &tenant()).await.unwrap().iter().map(|s| s.id.to_string()).collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_tenants_subscriptions_are_read_again_only_when_its_routes_change() {
        let (store, clock, cache) = (MemoryStore::new(), ManualClock::new(t0()), RouteCache::default());
        let (a, b) = (subscription(1), subscription(2));
        assert!(store.insert_subscription(&a, 1000).await.unwrap());
        assert_eq!(ids(&cache, &store, &clock).await, [a.id.to_string()]);
        assert_eq!(ids(&cache, &store, &clock).await, [a.id.to_string()]);
        assert_eq!(store.route_reads(), 1, "the second publish read only the version");

        // Each routing write is seen by the next publish.
        assert!(store.insert_subscription(&b, 1000).await.unwrap());
        let mut both = vec![a.id.to_string(), b.id.to_string()];
        both.sort();
        assert_eq!(ids(&cache, &store, &clock).await, both);
        let mut off = b.clone();
        off.active = false;
        off.version += 1;
        assert_eq!(store.update_subscription(&off).await.unwrap(), Written::Done);
        let routes = cache.routes(&store, &clock, &tenant()).await.unwrap();
        assert!(routes.iter().any(|s| s.id == b.id && !s.active), "an update is seen");
        assert!(store.delete_subscription(&b.id).await.unwrap());
        assert_eq!(ids(&cache, &store, &clock).await, [a.id.to_string()]);
        assert_eq!(store.route_reads(), 4);

        // A health update that disables is a routing write; one that only
        // records a failure is not.
        let failing = Health { failing_since: Some(t0()), ..a.health() };
        store.update_health(&a.id, &failing).await.unwrap();
        cache.routes(&store, &clock, &tenant()).await.unwrap();
        assert_eq!(store.route_reads(), 4);
        let disabled = Health { disabled_reason: Some("failing"), ..failing };
        store.update_health(&a.id, &disabled).await.unwrap();
        let routes = cache.routes(&store, &clock, &tenant()).await.unwrap();
        assert!(!routes[0].active, "the disable is seen");
        assert_eq!(store.route_reads(), 5);
    }

    #[tokio::test]
    async fn routes_are_kept_for_a_while_at_most_and_within_their_weight() {
        let (store, clock) = (MemoryStore::new(), ManualClock::new(t0()));
        let cache = RouteCache::with_weight(5);
        for n in 1..=3 {
            assert!(store.insert_subscription(&subscription(n), 1000).await.unwrap());
        }
        cache.routes(&store, &clock, &tenant()).await.unwrap();
        cache.routes(&store, &clock, &tenant()).await.unwrap();
        assert_eq!(store.route_reads(), 1, "three subscriptions and the tenant weigh 4: kept in 5");
        clock.advance(ROUTES_KEPT_FOR);
        cache.routes(&store, &clock, &tenant()).await.unwrap();
        assert_eq!(store.route_reads(), 2, "read again once kept for long enough");

        assert!(store.insert_subscription(&subscription(4), 1000).await.unwrap());
        cache.routes(&store, &clock, &tenant()).await.unwrap();
        cache.routes(&store, &clock, &tenant()).await.unwrap();
        assert_eq!(store.route_reads(), 4, "a tenant weighing all the cache holds is never kept");
    }
}
