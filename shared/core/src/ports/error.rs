//! Adapter failures as the logic sees them: whether a retry can help.

/// The cause of an adapter's failure, kept for logs and error chains.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of the store itself (not of the data a client sent). Each says
/// whether trying the same call again can help ([`StoreError::is_retryable`]):
/// the API answers 503 for those and 500 for the rest; the deliver path
/// leaves the message to come back either way, and a message that keeps
/// failing ends in the dead-letter queue for an operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached, timed out or throttled the call.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// A conditional write kept losing to concurrent changes of the record.
    #[error("store contended: {0}")]
    Contended(String),
    /// The store refused the call for a reason a retry does not change: a
    /// missing permission or table, a request it considers invalid.
    #[error("store refused the call: {0}")]
    Refused(#[source] Cause),
    /// A stored record could not be read back.
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The caller asked for something no store does (a bug, not an outage).
    #[error("store misused: {0}")]
    Internal(String),
}

impl StoreError {
    /// An unreachable, slow or throttling store (retryable).
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// A refusal a retry does not change.
    pub fn refused(cause: impl Into<Cause>) -> Self {
        Self::Refused(cause.into())
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Contended(_))
    }

    /// The same failure again, for each of several requests that shared
    /// the one call that failed (the cause kept as its text).
    pub fn again(&self) -> Self {
        match self {
            Self::Unavailable(c) => Self::Unavailable(c.to_string().into()),
            Self::Contended(s) => Self::Contended(s.clone()),
            Self::Refused(c) => Self::Refused(c.to_string().into()),
            Self::Corrupt(s) => Self::Corrupt(s.clone()),
            Self::Internal(s) => Self::Internal(s.clone()),
        }
    }
}

/// A failure of the delivery queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached, timed out or throttled the call.
    #[error("queue unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The queue refused the call for a reason a retry does not change (a
    /// missing permission or queue, a message it cannot carry).
    #[error("queue refused the call: {0}")]
    Refused(#[source] Cause),
}

impl QueueError {
    /// An unreachable, slow or throttling queue (retryable).
    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// A refusal a retry does not change.
    pub fn refused(cause: impl Into<Cause>) -> Self {
        Self::Refused(cause.into())
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
