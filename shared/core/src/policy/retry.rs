//! "What happens after attempt N": one pure function of the policy, the
//! attempt number, what the receiver did and a jitter sample. The handlers
//! only apply its [`Decision`].

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::ValidationError;

/// The response header a receiver sends back to stop retries of one
/// delivery (`hookline-stop-retries: true`).
pub const STOP_RETRIES_HEADER: &str = "hookline-stop-retries";

/// Most retries a schedule may hold.
pub const MAX_SCHEDULE_LEN: usize = 20;
/// Longest single delay in a schedule.
pub const MAX_DELAY: Duration = Duration::from_secs(48 * 3600);
/// Least wait after a 429 or a timeout: a struggling receiver gets air.
pub const BACKOFF_FLOOR: Duration = Duration::from_secs(60);
/// Default jitter: each delay is moved by up to ±10 %.
pub const DEFAULT_JITTER: f64 = 0.1;

/// Delays between attempts: entry `i` is the wait after attempt `i + 1`
/// fails. A schedule of n delays allows n + 1 attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    /// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over ~27.6 h.
    fn default() -> Self {
        let m = 60;
        let h = 3600;
        Self([5, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h].into_iter().map(Duration::from_secs).collect())
    }
}

impl RetrySchedule {
    /// Checks a list of delays: at most 20, each from 1 s to 48 h. An empty
    /// list means a single attempt.
    pub fn new(delays: Vec<Duration>) -> Result<Self, ValidationError> {
        const FIELD: &str = "retry_schedule";
        if delays.len() > MAX_SCHEDULE_LEN {
            return Err(ValidationError::too_long(FIELD, MAX_SCHEDULE_LEN, "entries"));
        }
        if delays.iter().any(|d| *d < Duration::from_secs(1) || *d > MAX_DELAY) {
            return Err(ValidationError::invalid(FIELD, "each delay must be from 1s to 48h"));
        }
        Ok(Self(delays))
    }

    /// Parses `5s,5m,2h,1d` (the `HOOKLINE_RETRY_SCHEDULE` form).
    pub fn parse_list(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if s.is_empty() {
            return Self::new(Vec::new());
        }
        s.split(',').map(|d| parse_duration(d.trim())).collect::<Result<_, _>>().and_then(Self::new)
    }

    /// The delays.
    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// How many attempts the schedule allows in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// The scheduled wait after attempt number `attempt` (1-based), or `None`
    /// when that was the last attempt.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.0.get(index).copied()
    }
}

/// Parses `90s`, `5m`, `2h` or `1d` (also a bare number of seconds).
pub fn parse_duration(s: &str) -> Result<Duration, ValidationError> {
    let bad =
        || ValidationError::invalid("retry_schedule", format!("{s:?} is not a delay like 30s, 5m, 2h or 1d"));
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

/// Writes a delay in the largest unit that divides it (`5m`, `90s`).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|d| format_duration(*d)).collect();
        f.write_str(&parts.join(","))
    }
}

impl Serialize for RetrySchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|d| format_duration(*d)))
    }
}

impl<'de> Deserialize<'de> for RetrySchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Delay {
            Secs(u64),
            Text(String),
        }
        let raw = Vec::<Delay>::deserialize(d)?;
        let delays = raw
            .into_iter()
            .map(|x| match x {
                Delay::Secs(n) => Ok(Duration::from_secs(n)),
                Delay::Text(t) => parse_duration(&t),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::de::Error::custom)?;
        Self::new(delays).map_err(serde::de::Error::custom)
    }
}

/// Why an attempt got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No complete response within the timeout.
    Timeout,
    /// The target refused the connection.
    ConnectionRefused,
    /// The connection broke mid-request.
    ConnectionReset,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed.
    Tls,
    /// The target guard refused the address; nothing was sent.
    Blocked,
    /// Anything else on the way.
    Other,
    /// Nothing was sent: the publisher's payload does not fit the target's
    /// format (a body that merges fields, given a payload that is not an
    /// object). The publisher's fault, never held against the endpoint.
    Payload,
}

impl FailureKind {
    /// Its name, as the API and the logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::ConnectionRefused => "connection_refused",
            Self::ConnectionReset => "connection_reset",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Blocked => "blocked",
            Self::Other => "other",
            Self::Payload => "payload",
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered with a status.
    Response {
        /// HTTP status code.
        status: u16,
        /// `Retry-After`, when given in seconds on a 429 or 503.
        retry_after: Option<Duration>,
        /// The receiver asked, with the documented header, that this
        /// delivery not be retried.
        stop_retries: bool,
    },
    /// No usable response.
    Failed(FailureKind),
}

impl AttemptOutcome {
    /// Whether this outcome is a successful delivery (a 2xx).
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Response { status: 200..=299, .. })
    }
}

/// Why a delivery ends without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    /// Every attempt of the schedule failed.
    Exhausted,
    /// The receiver answered with the stop-retries header.
    ReceiverStopped,
    /// The receiver answered 410 Gone: the endpoint is to be disabled too.
    Gone,
    /// No request could be built (the payload does not fit the target's
    /// body format, or the secret its signature format).
    Unsendable,
}

impl GiveUpReason {
    /// Its name, as the API and the logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exhausted => "exhausted",
            Self::ReceiverStopped => "receiver_stopped",
            Self::Gone => "gone",
            Self::Unsendable => "unsendable",
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Delivered; nothing more to do.
    Succeeded,
    /// Try again after this delay.
    Retry {
        /// Wait before the next attempt.
        delay: Duration,
    },
    /// Stop: the delivery has failed.
    GiveUp(GiveUpReason),
}

/// A retry schedule and its jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The delays.
    pub schedule: RetrySchedule,
    /// Fraction by which each delay may move either way (0.1 = ±10 %).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { schedule: RetrySchedule::default(), jitter: DEFAULT_JITTER }
    }
}

impl RetryPolicy {
    /// The longest time from a delivery's first attempt to the end of its
    /// last under this schedule, whatever its receiver answers: each delay at
    /// its longest (twice the scheduled one, the most jitter or `Retry-After`
    /// can make it, and never under [`BACKOFF_FLOOR`]), and every attempt
    /// taking its whole `timeout`. What an event must outlive.
    pub fn longest_span(&self, timeout: Duration) -> Duration {
        let delays = self.schedule.delays();
        let waits: Duration = delays.iter().map(|d| (*d * 2).max(BACKOFF_FLOOR)).sum();
        let attempts = u32::try_from(delays.len() + 1).unwrap_or(u32::MAX);
        waits.saturating_add(timeout.saturating_mul(attempts))
    }
}

/// Decides what follows attempt number `attempt` (1-based) given its
/// outcome. `jitter_sample` is uniform in `[0, 1)`, injected so the result
/// is reproducible.
///
/// - a 2xx succeeds; a 410 gives up and disables the endpoint; the
///   stop-retries header gives up;
/// - otherwise the next scheduled delay, jittered; none left: exhausted;
/// - `Retry-After` on a 429/503 is honoured within [delay, 2 × delay];
/// - a 429 or a timeout waits at least [`BACKOFF_FLOOR`].
pub fn decide(policy: &RetryPolicy, attempt: u32, outcome: &AttemptOutcome, jitter_sample: f64) -> Decision {
    if outcome.is_success() {
        return Decision::Succeeded;
    }
    if let AttemptOutcome::Response { status: 410, .. } = outcome {
        return Decision::GiveUp(GiveUpReason::Gone);
    }
    if let AttemptOutcome::Response { stop_retries: true, .. } = outcome {
        return Decision::GiveUp(GiveUpReason::ReceiverStopped);
    }
    let Some(base) = policy.schedule.delay_after(attempt) else {
        return Decision::GiveUp(GiveUpReason::Exhausted);
    };
    let sample = if jitter_sample.is_finite() { jitter_sample.clamp(0.0, 1.0) } else { 0.5 };
    let jitter = policy.jitter.clamp(0.0, 1.0);
    let mut delay = base.mul_f64(1.0 + jitter * (2.0 * sample - 1.0));
    if let AttemptOutcome::Response { status: 429 | 503, retry_after: Some(asked), .. } = outcome {
        delay = delay.max((*asked).min(base * 2));
    }
    let backs_off = matches!(
        outcome,
        AttemptOutcome::Response { status: 429, .. } | AttemptOutcome::Failed(FailureKind::Timeout)
    );
    if backs_off {
        delay = delay.max(BACKOFF_FLOOR);
    }
    Decision::Retry { delay }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MID: f64 = 0.5; // a jitter sample that moves nothing

    fn status(status: u16) -> AttemptOutcome {
        AttemptOutcome::Response { status, retry_after: None, stop_retries: false }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_longest_span_bounds_every_way_a_schedule_can_run() {
        let policy = RetryPolicy { schedule: RetrySchedule::parse_list("5s,2h").unwrap(), jitter: 0.1 };
        let timeout = secs(15);
        // 5 s may become a minute (a 429 or a timeout), 2 h at most 4 h.
        assert_eq!(policy.longest_span(timeout), secs(60) + secs(4 * 3600) + secs(3 * 15));
        let none = RetryPolicy { schedule: RetrySchedule::parse_list("").unwrap(), jitter: 0.1 };
        assert_eq!(none.longest_span(timeout), timeout, "one attempt");
        // No decision waits longer than the span allows for its step.
        for attempt in 1..=2 {
            for outcome in [
                status(500),
                status(429),
                AttemptOutcome::Failed(FailureKind::Timeout),
                AttemptOutcome::Response {
                    status: 503,
                    retry_after: Some(secs(86_400)),
                    stop_retries: false,
                },
            ] {
                if let Decision::Retry { delay } = decide(&policy, attempt, &outcome, 0.999) {
                    let scheduled = policy.schedule.delays()[attempt as usize - 1];
                    assert!(delay <= (scheduled * 2).max(BACKOFF_FLOOR), "{attempt} {outcome:?} {delay:?}");
                }
            }
        }
    }

    #[test]
    fn the_default_schedule_is_the_designs() {
        let s = RetrySchedule::default();
        assert_eq!(s.to_string(), "5s,5m,30m,2h,5h,10h,10h");
        assert_eq!(s.max_attempts(), 8);
    }

    #[test]
    fn every_2xx_succeeds_whatever_the_attempt() {
        let p = RetryPolicy::default();
        for code in [200, 201, 202, 204, 299] {
            for attempt in [1, 8, 100] {
                assert_eq!(decide(&p, attempt, &status(code), MID), Decision::Succeeded);
            }
        }
    }

    #[test]
    fn failures_follow_the_schedule_then_exhaust() {
        let p = RetryPolicy::default();
        for (attempt, expected) in p.schedule.delays().iter().enumerate() {
            let attempt = u32::try_from(attempt).unwrap() + 1;
            assert_eq!(decide(&p, attempt, &status(500), MID), Decision::Retry { delay: *expected });
        }
        assert_eq!(decide(&p, 8, &status(500), MID), Decision::GiveUp(GiveUpReason::Exhausted));
    }

    #[test]
    fn redirects_and_client_errors_are_failures_too() {
        let p = RetryPolicy::default();
        for code in [301, 302, 307, 400, 401, 404, 500, 502] {
            assert_eq!(decide(&p, 1, &status(code), MID), Decision::Retry { delay: secs(5) }, "{code}");
        }
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = RetryPolicy::default();
        let at = |sample| match decide(&p, 2, &status(500), sample) {
            Decision::Retry { delay } => delay,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(0.0), secs(270));
        assert_eq!(at(1.0), secs(330));
        assert!(at(0.25) > secs(270) && at(0.25) < secs(300));
        assert_eq!(at(f64::NAN), secs(300), "a bad sample is neutral");
    }

    #[test]
    fn gone_and_stop_retries_give_up_at_once() {
        let p = RetryPolicy::default();
        assert_eq!(decide(&p, 1, &status(410), MID), Decision::GiveUp(GiveUpReason::Gone));
        let stop = AttemptOutcome::Response { status: 500, retry_after: None, stop_retries: true };
        assert_eq!(decide(&p, 1, &stop, MID), Decision::GiveUp(GiveUpReason::ReceiverStopped));
        let ok_with_stop = AttemptOutcome::Response { status: 200, retry_after: None, stop_retries: true };
        assert_eq!(decide(&p, 1, &ok_with_stop, MID), Decision::Succeeded);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let p = RetryPolicy { schedule: RetrySchedule::new(vec![secs(100)]).unwrap(), jitter: 0.0 };
        let asked = |status, after| AttemptOutcome::Response {
            status,
            retry_after: Some(secs(after)),
            stop_retries: false,
        };
        assert_eq!(decide(&p, 1, &asked(503, 150), MID), Decision::Retry { delay: secs(150) });
        assert_eq!(decide(&p, 1, &asked(503, 10), MID), Decision::Retry { delay: secs(100) }, "never sooner");
        assert_eq!(
            decide(&p, 1, &asked(503, 9999), MID),
            Decision::Retry { delay: secs(200) },
            "at most twice"
        );
        assert_eq!(
            decide(&p, 1, &asked(500, 150), MID),
            Decision::Retry { delay: secs(100) },
            "only 429/503"
        );
    }

    #[test]
    fn a_429_or_a_timeout_backs_off_at_least_a_minute() {
        let p = RetryPolicy { schedule: RetrySchedule::new(vec![secs(5)]).unwrap(), jitter: 0.0 };
        assert_eq!(decide(&p, 1, &status(429), MID), Decision::Retry { delay: BACKOFF_FLOOR });
        let timeout = AttemptOutcome::Failed(FailureKind::Timeout);
        assert_eq!(decide(&p, 1, &timeout, MID), Decision::Retry { delay: BACKOFF_FLOOR });
        let refused = AttemptOutcome::Failed(FailureKind::ConnectionRefused);
        assert_eq!(decide(&p, 1, &refused, MID), Decision::Retry { delay: secs(5) });
        assert_eq!(decide(&p, 2, &timeout, MID), Decision::GiveUp(GiveUpReason::Exhausted));
    }

    #[test]
    fn an_empty_schedule_allows_one_attempt() {
        let p = RetryPolicy { schedule: RetrySchedule::new(vec![]).unwrap(), jitter: 0.1 };
        assert_eq!(p.schedule.max_attempts(), 1);
        assert_eq!(decide(&p, 1, &status(500), MID), Decision::GiveUp(GiveUpReason::Exhausted));
        assert_eq!(decide(&p, 0, &status(500), MID), Decision::GiveUp(GiveUpReason::Exhausted));
    }

    #[test]
    fn schedules_parse_from_text_and_json_and_refuse_nonsense() {
        assert_eq!(RetrySchedule::parse_list("1s, 2s,5s").unwrap().delays(), &[secs(1), secs(2), secs(5)]);
        assert_eq!(RetrySchedule::parse_list("1m,1h,1d").unwrap().to_string(), "1m,1h,1d");
        let json: RetrySchedule = serde_json::from_str(r#"["30s", 60, "2h"]"#).unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), r#"["30s","1m","2h"]"#);
        for bad in ["0s", "5x", "-1s", "s", "3d", "1s,,2s", "99999999999999999999h"] {
            assert!(RetrySchedule::parse_list(bad).is_err(), "{bad}");
        }
        let too_many = vec!["1s"; MAX_SCHEDULE_LEN + 1].join(",");
        assert!(RetrySchedule::parse_list(&too_many).is_err());
    }
}

#[cfg(test)]
mod names {
    use super::*;

    #[test]
    fn names_are_what_serde_writes() {
        use FailureKind::*;
        for kind in [Timeout, ConnectionRefused, ConnectionReset, Dns, Tls, Blocked, Other, Payload] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str(), "{kind:?}");
        }
        use GiveUpReason::*;
        for reason in [Exhausted, ReceiverStopped, Gone, Unsendable] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str(), "{reason:?}");
        }
    }
}
