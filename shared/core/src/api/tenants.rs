//! Tenants' secrets, which sign the one-off `webhook_url` deliveries of a
//! tenant's events (and, for the reserved ops tenant, hookline's own events).

use serde::Serialize;

use super::ApiError;
use crate::context::Context;
use crate::model::TenantId;
use crate::ports::span;
use crate::signing::{Secret, SecretSet};

/// A tenant's secret, as `GET /v1/tenants/{tenant}/secret` and its rotation
/// show it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSecret {
    /// The tenant.
    pub tenant: TenantId,
    /// Its current secret.
    pub secret: String,
}

impl Context {
    /// The tenant's secrets, created on first use.
    pub async fn tenant_secrets(&self, tenant: &TenantId) -> Result<SecretSet, ApiError> {
        if let Some(s) = self.tenants.tenant_secrets(tenant).await? {
            return Ok(s);
        }
        Ok(self.tenants.init_tenant_secrets(tenant, &SecretSet::new(self.new_secret())).await?)
    }

    /// `POST /v1/tenants/{tenant}/rotate-secret`: returns the new secret.
    pub async fn rotate_tenant_secret(
        &self,
        tenant: &TenantId,
        grace: Option<std::time::Duration>,
    ) -> Result<Secret, ApiError> {
        let mut set = self.tenant_secrets(tenant).await?;
        let now = self.clock.now();
        let next = self.new_secret();
        set.rotate(next.clone(), now, now + span(grace.unwrap_or(self.settings.rotation_grace)));
        self.tenants.put_tenant_secrets(tenant, &set).await?;
        Ok(next)
    }
}
