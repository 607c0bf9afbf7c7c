//! How requests to a target are made: the signature format, the body shape,
//! extra headers, the timeout, the retry schedule and the wait before a
//! first attempt. A subscription has these; so has a tenant's profile for its
//! one-off `webhook_url` deliveries.

use serde::{Deserialize, Serialize};

use crate::policy::{AttemptTimeout, RetrySchedule};
use crate::signing::SignatureFormat;
use crate::target::CustomHeaders;
use crate::wire::BodyFormat;

/// The delivery fields a subscription and a tenant's one-off profile share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverySettings {
    /// How requests are signed.
    pub signature: SignatureFormat,
    /// How the body is shaped.
    pub body: BodyFormat,
    /// Extra request headers.
    #[serde(default)]
    pub headers: CustomHeaders,
    /// Per-attempt timeout.
    pub timeout: AttemptTimeout,
    /// Its own retry schedule; `None` uses the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<RetrySchedule>,
    /// A wait before the first attempt (Targetvideo's "Timeout"), seconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub initial_delay_secs: u32,
    /// The preset these settings started from, if any (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Default for DeliverySettings {
    /// Standard Webhooks, the standard envelope, the default timeout and the
    /// service's schedule.
    fn default() -> Self {
        Self {
            signature: SignatureFormat::standard(),
            body: BodyFormat::Standard,
            headers: CustomHeaders::default(),
            timeout: AttemptTimeout::default(),
            retry_schedule: None,
            initial_delay_secs: 0,
            preset: None,
        }
    }
}

impl DeliverySettings {
    /// The wait before the first attempt of each new delivery.
    pub fn initial_delay(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.initial_delay_secs.into())
    }
}
