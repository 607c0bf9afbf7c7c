//! Per-endpoint rate limits as pure code: a subscription's sending slots.
//!
//! A subscription limited to `r` deliveries a second owns one schedule of
//! slots, `1/r` apart (the generic cell rate algorithm): its *theoretical
//! arrival time* (TAT) is the first slot nobody holds. A sender takes a run
//! of slots at once — a lease — by moving the TAT past them, and sends its
//! k-th request at the k-th slot's time. Since every slot is handed out
//! once and slots are `1/r` apart, no one-second window holds more than `r`
//! of them, however many processes send; a sender that cannot use a slot in
//! time throws it away (fewer requests, never more). Slots are leased only
//! up to [`HORIZON`] ahead, so nothing waits long in a process; a delivery
//! further back in line goes back to the queue until its turn comes near.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::ValidationError;

/// The most deliveries a second a subscription may be limited to (above it
/// the limit no longer protects a receiver worth limiting).
pub const MAX_RATE: u32 = 1_000;
/// How far ahead slots are leased: the longest a sender waits for one.
pub const HORIZON: Duration = Duration::from_secs(1);
/// Most slots one lease takes: the store is written once per this many
/// deliveries at most (fewer for limits under 10 a second: a lease never
/// reaches past the horizon).
pub const MAX_LEASE: u32 = 10;
/// How much longer than a second `r` slots take: 2 % under the limit, so
/// that requests delayed on the way (a busy sender, the network) do not
/// put more than `r` into a second at the receiver.
pub const MARGIN: Duration = Duration::from_millis(20);
/// How late a leased slot may still be used. Later, it is thrown away: a
/// request sent late could crowd the next second.
pub const LATE: Duration = Duration::from_millis(20);

/// Deliveries per second, 1 to [`MAX_RATE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(u32);

impl RateLimit {
    /// Checks a limit.
    pub fn new(per_second: u64) -> Result<Self, ValidationError> {
        match u32::try_from(per_second) {
            Ok(n) if (1..=MAX_RATE).contains(&n) => Ok(Self(n)),
            _ => {
                Err(ValidationError::OutOfRange { field: "rate_limit".into(), min: 1, max: MAX_RATE.into() })
            }
        }
    }

    /// Deliveries per second.
    pub fn per_second(self) -> u32 {
        self.0
    }

    /// The time between two slots: a second over `r`, plus [`MARGIN`],
    /// rounded up. `r` slots never fit in a second, with 20 ms to spare
    /// for the network's jitter between the sender and the receiver.
    pub fn spacing(self) -> Duration {
        let second = 1_000_000_000u64 + MARGIN.as_nanos() as u64;
        Duration::from_nanos(second.div_ceil(u64::from(self.0)))
    }

    /// How many slots a lease takes: as many as fit in the horizon, at most
    /// [`MAX_LEASE`], at least one.
    pub fn lease_size(self) -> u32 {
        let fit = HORIZON.as_millis() as u64 * u64::from(self.0) / 1000;
        u32::try_from(fit).unwrap_or(MAX_LEASE).clamp(1, MAX_LEASE)
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What a lease came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `count` slots, the first at `first`, `spacing` apart; the TAT moves
    /// to `next`.
    Slots {
        /// The first slot.
        first: DateTime<Utc>,
        /// How many.
        count: u32,
        /// The new TAT.
        next: DateTime<Utc>,
    },
    /// The first free slot is beyond the horizon: come back at `until`.
    Wait {
        /// When the first free slot comes within the horizon.
        until: DateTime<Utc>,
    },
}

/// A lease of up to `want` slots of a schedule whose TAT is `tat` (none: an
/// idle schedule), taken at `now`.
pub fn lease(tat: Option<DateTime<Utc>>, now: DateTime<Utc>, rate: RateLimit, want: u32) -> Grant {
    let first = tat.map_or(now, |t| t.max(now));
    let horizon = now + span(HORIZON);
    if first > horizon {
        return Grant::Wait { until: first - span(HORIZON) };
    }
    let spacing = rate.spacing();
    // Slots at first, first + spacing, …, none past the horizon.
    let room = (horizon - first).to_std().unwrap_or(Duration::ZERO).as_nanos() / spacing.as_nanos().max(1);
    let count = u32::try_from(room + 1).unwrap_or(u32::MAX).min(want.max(1));
    Grant::Slots { first, count, next: first + span(spacing * count) }
}

/// The slots of a grant, in order.
pub fn slot_times(first: DateTime<Utc>, count: u32, rate: RateLimit) -> impl Iterator<Item = DateTime<Utc>> {
    let spacing = rate.spacing();
    (0..count).map(move |k| first + span(spacing * k))
}

fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn ms(n: i64) -> chrono::Duration {
        chrono::Duration::milliseconds(n)
    }

    #[test]
    fn a_limit_is_one_to_a_thousand_a_second() {
        assert!(RateLimit::new(0).is_err());
        assert!(RateLimit::new(1001).is_err());
        assert_eq!(RateLimit::new(20).unwrap().spacing(), Duration::from_millis(51), "2 % spare");
        assert_eq!(serde_json::from_str::<RateLimit>("5").unwrap().per_second(), 5);
        assert!(serde_json::from_str::<RateLimit>("0").is_err());
    }

    #[test]
    fn a_lease_never_reaches_past_the_horizon_nor_takes_more_than_ten() {
        assert_eq!(RateLimit::new(1).unwrap().lease_size(), 1);
        assert_eq!(RateLimit::new(4).unwrap().lease_size(), 4);
        assert_eq!(RateLimit::new(500).unwrap().lease_size(), MAX_LEASE);
    }

    #[test]
    fn an_idle_schedule_starts_now_and_a_busy_one_where_it_stands() {
        let rate = RateLimit::new(10).unwrap();
        // Slots 102 ms apart: 10 a second, 2 % spare.
        assert_eq!(lease(None, t0(), rate, 3), Grant::Slots { first: t0(), count: 3, next: t0() + ms(306) });
        let past = Some(t0() - ms(5000));
        assert_eq!(lease(past, t0(), rate, 1), Grant::Slots { first: t0(), count: 1, next: t0() + ms(102) });
        let busy = Some(t0() + ms(950));
        // Only the slot at 950 ms fits in the horizon (the next is at 1052).
        assert_eq!(
            lease(busy, t0(), rate, 10),
            Grant::Slots { first: t0() + ms(950), count: 1, next: t0() + ms(1052) }
        );
    }

    #[test]
    fn a_schedule_full_beyond_the_horizon_says_when_to_come_back() {
        let rate = RateLimit::new(10).unwrap();
        assert_eq!(lease(Some(t0() + ms(4000)), t0(), rate, 10), Grant::Wait { until: t0() + ms(3000) });
    }

    #[test]
    fn leases_taken_one_after_another_never_put_more_than_the_limit_in_any_second() {
        let rate = RateLimit::new(7).unwrap();
        let mut tat = None;
        let mut now = t0();
        let mut sent = Vec::new();
        while sent.len() < 100 {
            match lease(tat, now, rate, 3) {
                Grant::Slots { first, count, next } => {
                    sent.extend(slot_times(first, count, rate));
                    tat = Some(next);
                }
                Grant::Wait { until } => now = until,
            }
            now += ms(13);
        }
        for (i, a) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|b| **b < *a + ms(1000)).count();
            assert!(in_window <= 7, "{in_window} slots within a second from {a}");
        }
    }
}
