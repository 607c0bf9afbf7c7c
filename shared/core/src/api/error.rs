//! The API's errors: each maps to one HTTP status and a snake_case code,
//! and a message that helps the client without exposing internals.

use serde::{Deserialize, Serialize};

use crate::ports::{QueueError, StoreError};
use crate::validation::ValidationError;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not the expected shape.
    #[error("{0}")]
    Malformed(String),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Missing or wrong API key (never says which).
    #[error("a valid API key is required: Authorization: Bearer <key>")]
    Unauthorized,
    /// A tenant's key on a route for the operator's keys alone.
    #[error("this route needs an operator's API key")]
    Forbidden,
    /// No such resource.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No such route.
    #[error("no such route")]
    NoRoute,
    /// Wrong method on a route.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// An idempotency key was used before for a different request.
    #[error("this Idempotency-Key was used for a different request; use a new key for a new event")]
    IdempotencyKeyReused,
    /// The body or payload is too large.
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The body is not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// The body did not arrive in full in time (a slow client, or a
    /// connection lost while sending it).
    #[error("the request body did not arrive in full in time")]
    BodyTimeout,
    /// The store failed (our fault; whether a retry can help is in
    /// [`StoreError::is_retryable`]).
    #[error("{}", if .0.is_retryable() { "the store is unavailable; retry later" } else { "the service failed; it has been logged" })]
    Store(#[from] StoreError),
    /// The queue failed (our fault; see [`QueueError::is_retryable`]).
    #[error("{}", if .0.is_retryable() { "the queue is unavailable; retry later" } else { "the service failed; it has been logged" })]
    Queue(#[from] QueueError),
}

impl From<crate::auth::Denied> for ApiError {
    fn from(d: crate::auth::Denied) -> Self {
        match d {
            crate::auth::Denied::NotFound(what) => Self::NotFound(what),
            crate::auth::Denied::OperatorsOnly => Self::Forbidden,
        }
    }
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound(_) | Self::NoRoute => 404,
            Self::MethodNotAllowed => 405,
            Self::BodyTimeout => 408,
            Self::Conflict(_) => 409,
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Invalid(_) | Self::IdempotencyKeyReused => 422,
            Self::Store(e) if e.is_retryable() => 503,
            Self::Queue(e) if e.is_retryable() => 503,
            Self::Store(_) | Self::Queue(_) => 500,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_request",
            Self::Invalid(_) => "invalid_field",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::NoRoute => "no_such_route",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::TooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTimeout => "request_timeout",
            Self::Store(e) if e.is_retryable() => "store_unavailable",
            Self::Queue(e) if e.is_retryable() => "queue_unavailable",
            Self::Store(_) | Self::Queue(_) => "internal_error",
        }
    }

    /// Logs a failure of hookline's own (status 5xx) with the chain that
    /// says why (throttled, access denied, …); the client is told only the
    /// code and a message without internals.
    pub fn log_if_ours(&self) {
        if self.status() >= 500 {
            let cause = std::iter::successors(std::error::Error::source(self), |c| c.source())
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            tracing::error!(error = %self, cause, "request failed");
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: self.code().to_owned(), message: self.to_string() } }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable, snake_case.
    pub code: String,
    /// For a human.
    pub message: String,
}
