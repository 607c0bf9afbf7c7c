//! A tenant: whose subscriptions and events they are. hookline keeps one
//! record per tenant for what is the tenant's own rather than a
//! subscription's: the secret and the settings of its one-off `webhook_url`
//! deliveries (the per-job webhook URLs of the seed providers).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::delivery_settings::DeliverySettings;
use super::names::TenantId;
use crate::signing::SecretSet;

/// A tenant's own record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant.
    pub id: TenantId,
    /// The secrets that sign its one-off deliveries; none until one is
    /// created or imported (never as a side effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretSet>,
    /// How its one-off deliveries are made.
    #[serde(default)]
    pub one_off: DeliverySettings,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Bumped by every write; a write is conditioned on the version it read.
    pub version: u64,
}

impl Tenant {
    /// A tenant with nothing of its own yet (version 0: not stored).
    pub fn new(id: TenantId, now: DateTime<Utc>) -> Self {
        Self { id, secrets: None, one_off: DeliverySettings::default(), updated_at: now, version: 0 }
    }
}
