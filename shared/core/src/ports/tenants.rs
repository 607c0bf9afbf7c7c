//! Tenants: their secrets and one-off delivery profiles.

use async_trait::async_trait;

use super::error::StoreError;
use super::subscriptions::Written;
use crate::model::{Tenant, TenantId};

/// Tenants' own records: the secret and settings of one-off deliveries.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// The tenant's record, if it has one.
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError>;
    /// Stores `next` if the stored record is still the version `next` was
    /// made from (`next.version - 1`; 0: none stored yet).
    async fn put_tenant(&self, next: &Tenant) -> Result<Written, StoreError>;
}
