//! A tenant's own record: the secret that signs its one-off `webhook_url`
//! deliveries, and how those deliveries are made (its one-off profile: the
//! same delivery fields as a subscription, so a per-job URL can speak any
//! provider's format). A secret exists only once created or imported by an
//! explicit call; reading it is an explicit call too, and each is logged
//! for audit (`hookline::audit`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::info;

use super::delivery_settings::{DeliverySettingsInput, DeliverySettingsView, check_secret_fits};
use super::subscriptions::nullable;
use super::{ApiError, reserved};
use crate::auth::Caller;
use crate::context::Context;
use crate::model::{DeliverySettings, Tenant, TenantId};
use crate::ports::{Written, span};
use crate::signing::{Secret, SecretSet};

/// How many times a change is made again after losing a race.
const TRIES: usize = 5;

/// A tenant's secret, as creating, reading and rotating it show it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSecret {
    /// The tenant.
    pub tenant: TenantId,
    /// Its current secret.
    pub secret: String,
}

/// `PUT /v1/tenants/{tenant}/one-off`: how the tenant's one-off
/// `webhook_url` deliveries are made. A field left out takes its default
/// (Standard Webhooks, 15 s, the service's schedule), as a PUT replaces the
/// whole profile; `secret` imports a secret (a platform moving onto hookline
/// keeps the one its customers verify with).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneOffRequest {
    /// A provider's preset.
    #[serde(default)]
    pub preset: Option<String>,
    /// `"standard"`, a preset name, or a format object.
    #[serde(default)]
    pub signature: Option<serde_json::Value>,
    /// A body format object.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Extra headers.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Per-attempt timeout, 1000–30000 ms.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Delays such as `["1m", "5m"]`.
    #[serde(default, deserialize_with = "nullable")]
    pub retry_schedule: Option<Option<serde_json::Value>>,
    /// A wait before the first attempt.
    #[serde(default, deserialize_with = "nullable")]
    pub initial_delay: Option<Option<serde_json::Value>>,
    /// A secret to import; absent: the tenant's secret stays as it is.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A tenant's one-off profile as reads show it: no secret, no header value.
#[derive(Debug, Clone, Serialize)]
pub struct OneOffView {
    /// The tenant.
    pub tenant: TenantId,
    /// How one-off deliveries are made.
    #[serde(flatten)]
    pub settings: DeliverySettingsView,
    /// Whether the tenant has a secret to sign them with (shown masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'static str>,
}

impl OneOffView {
    fn new(t: &Tenant) -> Self {
        Self {
            tenant: t.id.clone(),
            settings: DeliverySettingsView::from(&t.one_off),
            secret: t.secrets.as_ref().map(|_| super::delivery_settings::MASKED),
        }
    }
}

impl Context {
    /// The tenant's record as stored, or a new one (version 0).
    async fn tenant_record(&self, tenant: &TenantId) -> Result<Tenant, ApiError> {
        Ok(self
            .tenants
            .get_tenant(tenant)
            .await?
            .unwrap_or_else(|| Tenant::new(tenant.clone(), self.clock.now())))
    }

    /// Reads the tenant's record, makes its next version with `change`,
    /// and writes it conditioned on the version read, again from a fresh
    /// read when it lost a race.
    async fn revise_tenant<T, F>(
        &self,
        caller: &Caller,
        tenant: &TenantId,
        mut change: F,
    ) -> Result<(Tenant, T), ApiError>
    where
        F: FnMut(&mut Tenant) -> Result<T, ApiError>,
    {
        reserved("tenant", tenant)?;
        caller.check(tenant, "tenant")?;
        for _ in 0..TRIES {
            let read = self.tenant_record(tenant).await?;
            let mut next = read.clone();
            let out = change(&mut next)?;
            next.version = read.version + 1;
            next.updated_at = self.clock.now();
            match self.tenants.put_tenant(&next).await? {
                Written::Done => return Ok((next, out)),
                Written::Stale | Written::Missing => continue,
            }
        }
        Err(ApiError::Conflict(format!(
            "tenant {tenant} kept changing while this change was made; try again"
        )))
    }

    /// `POST /v1/tenants/{tenant}/secret`: creates the tenant's secret, the
    /// one that signs its one-off deliveries; 409 if it has one (rotate it).
    pub async fn create_tenant_secret(
        &self,
        caller: &Caller,
        tenant: &TenantId,
    ) -> Result<TenantSecret, ApiError> {
        let fresh = self.new_secret();
        self.revise_tenant(caller, tenant, |t| {
            if t.secrets.is_some() {
                return Err(ApiError::Conflict(format!(
                    "tenant {tenant} has a secret already; rotate it (POST /v1/tenants/{tenant}/rotate-secret)"
                )));
            }
            t.secrets = Some(SecretSet::new(fresh.clone()));
            Ok(())
        })
        .await?;
        info!(target: "hookline::audit", tenant = %tenant, key = %caller.key_id, "tenant secret created");
        Ok(TenantSecret { tenant: tenant.clone(), secret: fresh.expose().to_owned() })
    }

    /// `GET /v1/tenants/{tenant}/secret`: an explicit, audited read; never
    /// creates one.
    pub async fn read_tenant_secret(
        &self,
        caller: &Caller,
        tenant: &TenantId,
    ) -> Result<TenantSecret, ApiError> {
        reserved("tenant", tenant)?;
        caller.check(tenant, "tenant secret")?;
        let t = self.tenants.get_tenant(tenant).await?;
        let secrets = t.and_then(|t| t.secrets).ok_or(ApiError::NotFound("tenant secret"))?;
        info!(target: "hookline::audit", tenant = %tenant, key = %caller.key_id, "tenant secret read");
        Ok(TenantSecret { tenant: tenant.clone(), secret: secrets.current.expose().to_owned() })
    }

    /// `POST /v1/tenants/{tenant}/rotate-secret`: a new secret; the old one
    /// keeps signing beside it for `grace`.
    pub async fn rotate_tenant_secret(
        &self,
        caller: &Caller,
        tenant: &TenantId,
        grace: Option<std::time::Duration>,
    ) -> Result<TenantSecret, ApiError> {
        let fresh = self.new_secret();
        let now = self.clock.now();
        let until = now + span(grace.unwrap_or(self.settings.rotation_grace));
        self.revise_tenant(caller, tenant, |t| {
            let set = t.secrets.as_mut().ok_or(ApiError::NotFound("tenant secret"))?;
            set.rotate(fresh.clone(), now, until);
            Ok(())
        })
        .await?;
        info!(target: "hookline::audit", tenant = %tenant, key = %caller.key_id, "tenant secret rotated");
        Ok(TenantSecret { tenant: tenant.clone(), secret: fresh.expose().to_owned() })
    }

    /// `PUT /v1/tenants/{tenant}/one-off`: replaces how the tenant's one-off
    /// deliveries are made, and imports a secret if one is given.
    pub async fn put_one_off(
        &self,
        caller: &Caller,
        tenant: &TenantId,
        req: OneOffRequest,
    ) -> Result<OneOffView, ApiError> {
        let settings = DeliverySettingsInput {
            preset: req.preset,
            signature: req.signature,
            body: req.body,
            headers: req.headers,
            timeout_ms: req.timeout_ms,
            retry_schedule: req.retry_schedule,
            initial_delay: req.initial_delay,
        }
        .apply(&DeliverySettings::default())?;
        let imported = req.secret.as_deref().map(Secret::parse).transpose()?;
        let (stored, ()) = self
            .revise_tenant(caller, tenant, |t| {
                if let Some(secret) = &imported {
                    t.secrets = Some(SecretSet::new(secret.clone()));
                }
                if let Some(set) = &t.secrets {
                    check_secret_fits(&set.current, &settings.signature)?;
                }
                t.one_off = settings.clone();
                Ok(())
            })
            .await?;
        if imported.is_some() {
            info!(target: "hookline::audit", tenant = %tenant, key = %caller.key_id, "tenant secret imported");
        }
        Ok(OneOffView::new(&stored))
    }

    /// `GET /v1/tenants/{tenant}/one-off`: the profile, secret masked.
    pub async fn get_one_off(&self, caller: &Caller, tenant: &TenantId) -> Result<OneOffView, ApiError> {
        reserved("tenant", tenant)?;
        caller.check(tenant, "tenant")?;
        Ok(OneOffView::new(&self.tenant_record(tenant).await?))
    }
}
