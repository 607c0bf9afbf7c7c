//! The HTTP client of an attempt.

use std::time::Duration;

use async_trait::async_trait;

use crate::policy::AttemptOutcome;
use crate::wire::OutgoingRequest;

/// What came of sending one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The outcome the policy decides on.
    pub outcome: AttemptOutcome,
    /// Time from start to the end of the attempt.
    pub duration: Duration,
    /// The first bytes of the response body.
    pub response_excerpt: Option<String>,
    /// Why it failed, for humans, when no response came.
    pub error_message: Option<String>,
}

/// Sends one attempt's HTTP request. Never follows redirects; enforces the
/// request's timeout; checks the target address before connecting.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Sends the request and reports what happened (never an `Err`: every
    /// failure is an outcome to record).
    async fn send(&self, request: &OutgoingRequest) -> SendResult;
    /// Waits `d` before a request is sent (a rate-limited endpoint's slot).
    async fn wait(&self, d: Duration);
}
