//! The HTTP API's operations, independent of HTTP: one module per resource
//! — [`subscriptions`], [`tenants`], [`events`], [`deliveries`] — each with
//! its request and response types beside the operations that use them, as
//! methods on the [`Context`](crate::Context). The `hookline-http` crate
//! maps routes onto these; nothing here knows a status code but [`ApiError`].

pub mod catalog;
pub mod dead_letters;
pub mod deliveries;
pub mod delivery_settings;
mod error;
pub mod events;
pub mod json;
pub mod operator;
pub mod page;
pub mod portal;
pub mod sent;
pub mod stats;
pub mod subscriptions;
pub mod tenants;

use std::time::Duration;

use serde::Deserialize;

pub use error::{ApiError, ErrorBody, ErrorDetail};

use crate::context::OPS_TENANT;
use crate::model::TenantId;
use crate::policy::retry::parse_duration;
use crate::validation::ValidationError;

/// Refuses the tenant hookline's own events belong to: no API caller
/// publishes to it, subscribes to it or touches its secret.
pub fn reserved(field: &'static str, tenant: &TenantId) -> Result<(), ValidationError> {
    if tenant.as_str() == OPS_TENANT {
        return Err(ValidationError::invalid(
            field,
            format!("{OPS_TENANT} is reserved for hookline's own events"),
        ));
    }
    Ok(())
}

/// Longest grace period a rotation may ask for.
pub const MAX_ROTATION_GRACE: Duration = Duration::from_secs(30 * 86_400);

/// `{"grace_period": "1h"}`, the optional body of a secret rotation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the replaced secret keeps signing beside the new one
    /// (`0s` for not at all; absent: the service's default).
    #[serde(default)]
    pub grace_period: Option<String>,
}

impl RotateSecretRequest {
    /// The checked grace period, if one was asked for.
    pub fn grace(&self) -> Result<Option<Duration>, ValidationError> {
        let Some(text) = &self.grace_period else { return Ok(None) };
        let bad =
            || ValidationError::invalid("grace_period", "must be a duration like 0s, 1h or 7d, at most 30d");
        let grace = parse_duration(text).map_err(|_| bad())?;
        if grace > MAX_ROTATION_GRACE {
            return Err(bad());
        }
        Ok(Some(grace))
    }
}
