//! Subscriptions, with writes conditioned on the version read.

use async_trait::async_trait;

use super::error::StoreError;
use super::page::{Page, PageRequest};
use crate::model::{Health, Subscription, SubscriptionId, TenantId};

/// What a write conditioned on the version it read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored.
    Done,
    /// The record changed since it was read: nothing stored; read again.
    Stale,
    /// The record does not exist (any more): nothing stored.
    Missing,
}

/// A tenant that has (or had) subscriptions, and how many it has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCount {
    /// The tenant.
    pub tenant: TenantId,
    /// Its subscriptions.
    pub subscriptions: u64,
}

/// The subscriptions of every tenant an operator should look at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watched {
    /// Active and failing (every attempt since `failing_since` failed),
    /// the longest failing first.
    pub failing: Vec<Subscription>,
    /// Disabled for their failures (`disabled_reason`), the most recent
    /// run of failures first.
    pub disabled: Vec<Subscription>,
}

impl Watched {
    /// Whether `s` is failing now.
    pub fn is_failing(s: &Subscription) -> bool {
        s.active && s.failing_since.is_some()
    }

    /// Whether `s` was disabled for its failures.
    pub fn is_disabled(s: &Subscription) -> bool {
        !s.active && s.disabled_reason.is_some()
    }

    /// The watched among `all`, `limit` of each, in their orders.
    pub fn of<'a>(all: impl Iterator<Item = &'a Subscription>, limit: usize) -> Self {
        let (mut failing, mut disabled) = (Vec::new(), Vec::new());
        for s in all {
            if Self::is_failing(s) {
                failing.push(s.clone());
            } else if Self::is_disabled(s) {
                disabled.push(s.clone());
            }
        }
        failing.sort_by_key(|s| (s.failing_since, s.id.clone()));
        disabled.sort_by_key(|s| std::cmp::Reverse((s.failing_since, s.id.clone())));
        failing.truncate(limit);
        disabled.truncate(limit);
        Self { failing, disabled }
    }
}

/// Subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Up to `limit` each of the subscriptions failing now and of those
    /// disabled for their failures, of every tenant ([`Watched`]): from
    /// what each store keeps of them apart, never a scan of every
    /// subscription.
    async fn watched(&self, limit: usize) -> Result<Watched, StoreError>;
    /// A page of the tenants that have had subscriptions, by name from
    /// after `page.cursor` (a tenant's name), those whose name starts with
    /// `prefix`: read in name order from what each store keeps per tenant,
    /// never a scan of every subscription.
    async fn list_tenants(&self, prefix: &str, page: &PageRequest) -> Result<Page<TenantCount>, StoreError>;
    /// Stores a new subscription (version 1) unless its tenant already has
    /// `max_per_tenant`; `false` when it has, whatever else is being created
    /// at the same time.
    async fn insert_subscription(
        &self,
        sub: &Subscription,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError>;
    /// One subscription.
    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError>;
    /// One subscription as a cheaper read shows it: possibly a moment
    /// behind the latest write (DynamoDB's eventually consistent read, half
    /// the price). For callers that read it again with
    /// [`get_subscription`](Self::get_subscription) whenever a stale answer
    /// could do harm; a store without a cheaper read answers as that does.
    async fn peek_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.get_subscription(id).await
    }
    /// Replaces a subscription with `next` if the stored one is still the
    /// version `next` was made from (`next.version - 1`).
    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError>;
    /// Removes a subscription; `false` if it did not exist.
    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError>;
    /// A page of a tenant's subscriptions, newest first.
    async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;
    /// Sets only the health fields ([`Subscription::set_health`]), on the
    /// record as it is at that moment: a concurrent change is neither lost
    /// nor overwritten. Nothing happens to a subscription that is gone.
    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError>;
    /// A tenant's routes — every subscription it has, the candidates of a
    /// fan-out — unless its routing version is still `known`.
    ///
    /// The routing version is a number per tenant that every write changing
    /// where or how its events go moves on, in the same atomic write:
    /// inserting, updating and deleting a subscription, and a health update
    /// that disables one (other health updates leave it). So a caller that
    /// keeps the subscriptions it read with their version may use them for
    /// as long as the version stays (see [`crate::routes::RouteCache`]).
    /// Routes read for version `v` are what was stored at some moment while
    /// the version was `v`, or later.
    async fn tenant_routes(&self, tenant: &TenantId, known: Option<u64>) -> Result<Routes, StoreError>;
}

/// What [`SubscriptionStore::tenant_routes`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Routes {
    /// The tenant's routing version is still the one the caller knows.
    Unchanged,
    /// Read in full.
    Read {
        /// The routing version they are as of (`None`: the store could not
        /// pin one down while it read — use them for this fan-out only,
        /// keep nothing).
        version: Option<u64>,
        /// Every subscription of the tenant.
        subscriptions: Vec<Subscription>,
    },
}

impl Routes {
    /// The subscriptions read, whatever the version (none if unchanged).
    pub fn into_subscriptions(self) -> Vec<Subscription> {
        match self {
            Routes::Unchanged => Vec::new(),
            Routes::Read { subscriptions, .. } => subscriptions,
        }
    }
}

/// A subscription store whose cheaper reads ([`SubscriptionStore::peek_subscription`])
/// are made once per subscription for as long as this value lives — one
/// deliver batch — however many of the batch's deliveries go to it and
/// however many ask at once (the first asks, the rest wait for its answer).
/// A write through it forgets what it read of that subscription. The
/// consistent read is never memoised: a caller that needs it still gets it.
pub struct ReadOnce {
    inner: std::sync::Arc<dyn SubscriptionStore>,
    peeked: std::sync::Mutex<std::collections::HashMap<SubscriptionId, std::sync::Arc<Peeked>>>,
}

/// One subscription's cheaper read: made by whoever locks it first.
type Peeked = futures_util::lock::Mutex<Option<Option<Subscription>>>;

impl ReadOnce {
    /// Over `inner`, remembering nothing yet.
    pub fn new(inner: std::sync::Arc<dyn SubscriptionStore>) -> Self {
        Self { inner, peeked: std::sync::Mutex::default() }
    }

    fn slot(&self, id: &SubscriptionId) -> std::sync::Arc<Peeked> {
        let mut peeked = self.peeked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        peeked.entry(id.clone()).or_default().clone()
    }

    fn forget(&self, id: &SubscriptionId) {
        self.peeked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
    }
}

#[async_trait]
impl SubscriptionStore for ReadOnce {
    async fn watched(&self, limit: usize) -> Result<Watched, StoreError> {
        self.inner.watched(limit).await
    }
    async fn list_tenants(&self, prefix: &str, page: &PageRequest) -> Result<Page<TenantCount>, StoreError> {
        self.inner.list_tenants(prefix, page).await
    }

    async fn insert_subscription(&self, sub: &Subscription, max: usize) -> Result<bool, StoreError> {
        self.inner.insert_subscription(sub, max).await
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.inner.get_subscription(id).await
    }

    async fn peek_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        let slot = self.slot(id);
        let mut read = slot.lock().await;
        if let Some(sub) = read.as_ref() {
            return Ok(sub.clone());
        }
        let sub = self.inner.peek_subscription(id).await?;
        *read = Some(sub.clone());
        Ok(sub)
    }

    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError> {
        self.forget(&next.id);
        self.inner.update_subscription(next).await
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError> {
        self.forget(id);
        self.inner.delete_subscription(id).await
    }

    async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.inner.list_subscriptions(tenant, page).await
    }

    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError> {
        self.forget(id);
        self.inner.update_health(id, health).await
    }

    async fn tenant_routes(&self, tenant: &TenantId, known: Option<u64>) -> Result<Routes, StoreError> {
        self.inner.tenant_routes(tenant, known).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ports::fakes::MemoryStore;
    use crate::ports::samples::subscription;

    /// A store that counts its cheaper reads.
    struct Counting {
        store: MemoryStore,
        peeks: AtomicUsize,
    }

    #[async_trait]
    impl SubscriptionStore for Counting {
        async fn watched(&self, limit: usize) -> Result<super::Watched, StoreError> {
            self.store.watched(limit).await
        }
        async fn list_tenants(
            &self,
            prefix: &str,
            page: &PageRequest,
        ) -> Result<Page<TenantCount>, StoreError> {
            self.store.list_tenants(prefix, page).await
        }
        async fn insert_subscription(&self, sub: &Subscription, max: usize) -> Result<bool, StoreError> {
            self.store.insert_subscription(sub, max).await
        }
        async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
            self.store.get_subscription(id).await
        }
        async fn peek_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
            self.peeks.fetch_add(1, Ordering::SeqCst);
            // A read that takes a moment, so the batch's asks overlap it.
            let mut yielded = false;
            futures_util::future::poll_fn(|cx| {
                if std::mem::replace(&mut yielded, true) {
                    std::task::Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            self.store.get_subscription(id).await
        }
        async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError> {
            self.store.update_subscription(next).await
        }
        async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError> {
            self.store.delete_subscription(id).await
        }
        async fn list_subscriptions(
            &self,
            tenant: &TenantId,
            page: &PageRequest,
        ) -> Result<Page<Subscription>, StoreError> {
            self.store.list_subscriptions(tenant, page).await
        }
        async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError> {
            self.store.update_health(id, health).await
        }
        async fn tenant_routes(&self, tenant: &TenantId, known: Option<u64>) -> Result<Routes, StoreError> {
            self.store.tenant_routes(tenant, known).await
        }
    }

    #[tokio::test]
    async fn a_batch_reads_each_subscription_once_until_it_writes_it() {
        let inner = Arc::new(Counting { store: MemoryStore::new(), peeks: AtomicUsize::new(0) });
        let (a, b) = (subscription(1), subscription(2));
        for sub in [&a, &b] {
            assert!(inner.insert_subscription(sub, 50).await.expect("insert"));
        }
        let once = ReadOnce::new(inner.clone());
        let asks = (0..20).map(|n| once.peek_subscription(if n % 2 == 0 { &a.id } else { &b.id }));
        let read = futures_util::future::join_all(asks).await;
        assert!(read.iter().all(|r| matches!(r, Ok(Some(_)))));
        assert_eq!(inner.peeks.load(Ordering::SeqCst), 2, "twenty asks at once, one read each");

        // A write through it: the next ask reads again, and sees it.
        let health = Health { failing_since: Some(crate::ports::samples::t0()), ..a.health() };
        once.update_health(&a.id, &health).await.expect("health");
        let again = once.peek_subscription(&a.id).await.expect("read").expect("there");
        assert_eq!(again.failing_since, Some(crate::ports::samples::t0()));
        assert_eq!(inner.peeks.load(Ordering::SeqCst), 3);
        once.get_subscription(&b.id).await.expect("read");
        assert_eq!(inner.peeks.load(Ordering::SeqCst), 3, "the consistent read is the store's own");

        // A new batch reads afresh.
        ReadOnce::new(inner.clone()).peek_subscription(&b.id).await.expect("read");
        assert_eq!(inner.peeks.load(Ordering::SeqCst), 4);
    }
}
