//! A delivery's life: `pending` until an attempt succeeds, the schedule
//! gives up, or it is canceled; a redelivery makes any delivery pending
//! again. Every legal move is in [`DeliveryStatus::apply`], so a late or
//! repeated message cannot resurrect a finished delivery.

use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (queued, or due later).
    Pending,
    /// A 2xx was received.
    Succeeded,
    /// Given up: schedule exhausted, receiver said stop, or 410 Gone.
    Failed,
    /// Stopped by the platform (subscription deleted or disabled).
    Canceled,
}

/// What happens to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// An attempt got a 2xx.
    Succeed,
    /// An attempt failed and another is scheduled.
    Retry,
    /// An attempt failed and no other will follow.
    Fail,
    /// The platform stopped it.
    Cancel,
    /// An operator asked for a fresh attempt (redeliver or replay).
    Redeliver,
}

/// A move the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} delivery cannot take {transition:?}")]
pub struct IllegalTransition {
    /// The state it was in.
    pub from: DeliveryStatus,
    /// What was attempted.
    pub transition: Transition,
}

impl DeliveryStatus {
    /// The state after `t`, if `t` is legal from here.
    pub fn apply(self, t: Transition) -> Result<Self, IllegalTransition> {
        use DeliveryStatus::*;
        use Transition as T;
        match (self, t) {
            (Pending, T::Succeed) => Ok(Succeeded),
            (Pending, T::Retry) => Ok(Pending),
            (Pending, T::Fail) => Ok(Failed),
            (Pending, T::Cancel) => Ok(Canceled),
            (_, T::Redeliver) => Ok(Pending),
            (from, transition) => Err(IllegalTransition { from, transition }),
        }
    }

    /// Whether no further attempt happens unless an operator asks.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }

    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Parses the API spelling (for query parameters).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "pending" => Ok(Self::Pending),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            "canceled" => Ok(Self::Canceled),
            _ => Err(ValidationError::invalid("status", "must be pending, succeeded, failed or canceled")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;
    use super::Transition as T;
    use super::*;

    #[test]
    fn pending_moves_anywhere() {
        assert_eq!(Pending.apply(T::Succeed), Ok(Succeeded));
        assert_eq!(Pending.apply(T::Retry), Ok(Pending));
        assert_eq!(Pending.apply(T::Fail), Ok(Failed));
        assert_eq!(Pending.apply(T::Cancel), Ok(Canceled));
    }

    #[test]
    fn finished_deliveries_only_come_back_by_redelivery() {
        for from in [Succeeded, Failed, Canceled] {
            for t in [T::Succeed, T::Retry, T::Fail, T::Cancel] {
                assert_eq!(from.apply(t), Err(IllegalTransition { from, transition: t }));
            }
            assert_eq!(from.apply(T::Redeliver), Ok(Pending));
        }
    }

    #[test]
    fn statuses_parse_as_spelled() {
        for s in [Pending, Succeeded, Failed, Canceled] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Ok(s));
        }
        assert!(DeliveryStatus::parse("done").is_err());
    }
}
