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

/// Subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
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
    /// Every subscription of a tenant (the candidates of a fan-out).
    async fn tenant_subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError>;
}
