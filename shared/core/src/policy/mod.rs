//! Delivery rules as pure code: retry schedules and the decision after each
//! attempt, per-attempt timeouts, when an endpoint is disabled, and the
//! slots of a rate-limited one.

pub mod endpoint;
pub mod rate;
pub mod retry;
pub mod timeout;

pub use endpoint::{DisablePolicy, HealthUpdate};
pub use rate::{Grant, RateLimit};
pub use retry::{
    AttemptOutcome, Decision, FailureKind, GiveUpReason, RetryPolicy, RetrySchedule, STOP_RETRIES_HEADER,
    decide,
};
pub use timeout::{AttemptTimeout, MAX_TIMEOUT_MS};
