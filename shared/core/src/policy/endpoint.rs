//! When an endpoint is disabled: after a 410 Gone (see `retry`), or when
//! every delivery to it has failed for a whole period (default 5 days), the
//! rule Svix and Stripe apply. Pure functions over `failing_since`.

use chrono::{DateTime, Duration, Utc};

/// Default period of unbroken failure after which an endpoint is disabled.
pub const DEFAULT_DISABLE_AFTER_DAYS: i64 = 5;

/// The endpoint-disable rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisablePolicy {
    /// How long an endpoint may fail without a single success.
    pub after: Duration,
}

impl Default for DisablePolicy {
    fn default() -> Self {
        Self { after: Duration::days(DEFAULT_DISABLE_AFTER_DAYS) }
    }
}

/// What an attempt changes in an endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthUpdate {
    /// The new start of the current run of failures (`None`: healthy).
    pub failing_since: Option<DateTime<Utc>>,
    /// Whether the endpoint must now be disabled.
    pub disable: bool,
}

impl DisablePolicy {
    /// The endpoint's health after an attempt at `now`: a success clears the
    /// failure run; a failure starts one or extends it, and disables the
    /// endpoint once it has lasted `after`.
    pub fn after_attempt(
        &self,
        failing_since: Option<DateTime<Utc>>,
        succeeded: bool,
        now: DateTime<Utc>,
    ) -> HealthUpdate {
        if succeeded {
            return HealthUpdate { failing_since: None, disable: false };
        }
        let since = failing_since.unwrap_or(now);
        HealthUpdate { failing_since: Some(since), disable: now - since >= self.after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_failure_starts_the_clock_without_disabling() {
        let now = Utc::now();
        let u = DisablePolicy::default().after_attempt(None, false, now);
        assert_eq!(u, HealthUpdate { failing_since: Some(now), disable: false });
    }

    #[test]
    fn failing_for_the_whole_period_disables() {
        let start = Utc::now();
        let p = DisablePolicy::default();
        let almost = p.after_attempt(Some(start), false, start + Duration::days(5) - Duration::seconds(1));
        assert!(!almost.disable);
        let due = p.after_attempt(Some(start), false, start + Duration::days(5));
        assert_eq!(due, HealthUpdate { failing_since: Some(start), disable: true });
    }

    #[test]
    fn one_success_resets_the_clock() {
        let start = Utc::now();
        let u = DisablePolicy::default().after_attempt(Some(start), true, start + Duration::days(9));
        assert_eq!(u, HealthUpdate { failing_since: None, disable: false });
    }
}
