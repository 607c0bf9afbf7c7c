//! Delivery rules as pure code: retry schedules and the decision after each
//! attempt, per-attempt timeouts, and when an endpoint is disabled.

pub mod endpoint;
pub mod retry;
pub mod timeout;

pub use endpoint::{DisablePolicy, HealthUpdate};
pub use retry::{
    AttemptOutcome, Decision, FailureKind, GiveUpReason, RetryPolicy, RetrySchedule, STOP_RETRIES_HEADER,
    decide,
};
pub use timeout::{AttemptTimeout, MAX_TIMEOUT_MS};
