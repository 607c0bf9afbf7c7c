//! Prefixed, time-sortable identifiers: `evt_…`, `sub_…`, `dlv_…`.
//!
//! The suffix is a ULID in lowercase Crockford base32 (48 bits of milliseconds
//! then 80 random bits), so ids sort by creation time — pagination cursors and
//! replay order rely on that — and a reader can tell an id's kind at a glance.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::ValidationError;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Length of the ULID part of every id.
pub const SUFFIX_LEN: usize = 26;

/// Encodes a millisecond timestamp and 10 random bytes as a 26-character ULID.
pub fn ulid(at: DateTime<Utc>, random: [u8; 10]) -> String {
    let millis = u128::from(u64::try_from(at.timestamp_millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF);
    let mut value = millis << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (72 - 8 * i);
    }
    let mut out = [0u8; SUFFIX_LEN];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (SUFFIX_LEN - 1 - i);
        *slot = ALPHABET[((value >> shift) & 0x1F) as usize];
    }
    // Only ASCII from ALPHABET was written.
    out.iter().map(|&b| b as char).collect()
}

fn is_suffix(s: &str) -> bool {
    s.len() == SUFFIX_LEN
        && s.bytes().all(|b| ALPHABET.contains(&b))
        // 26 base32 digits hold 130 bits; a ULID's first digit is at most 7.
        && s.as_bytes()[0] <= b'7'
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Builds an id from a creation time and 10 random bytes.
            pub fn generate(at: DateTime<Utc>, random: [u8; 10]) -> Self {
                Self(format!("{}{}", $prefix, ulid(at, random)))
            }

            /// The id as text, prefix included.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.strip_prefix($prefix) {
                    Some(rest) if is_suffix(rest) => Ok(Self(s.to_owned())),
                    _ => Err(ValidationError::invalid(
                        $field,
                        concat!("must be an id like ", $prefix, "01j9z3k8q4r5s6t7v8w9x0y1z2"),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// Identifies an event published by the platform.
    EventId, "evt_", "event_id"
);
prefixed_id!(
    /// Identifies a subscription (an endpoint and what it wants).
    SubscriptionId, "sub_", "subscription_id"
);
prefixed_id!(
    /// Identifies one event's delivery to one target; stable across retries,
    /// so it is what receivers de-duplicate on (`webhook-id`).
    DeliveryId, "dlv_", "delivery_id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn generated_ids_parse_back_and_carry_their_prefix() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let id = DeliveryId::generate(at, [7; 10]);
        assert!(id.as_str().starts_with("dlv_"));
        assert_eq!(id.as_str().len(), 4 + SUFFIX_LEN);
        assert_eq!(id.as_str().parse::<DeliveryId>().unwrap(), id);
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let early = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let late = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();
        assert!(EventId::generate(early, [0xff; 10]) < EventId::generate(late, [0; 10]));
    }

    #[test]
    fn ulid_matches_the_reference_encoding() {
        // The ULID specification's example id 01ARYZ6S41TSV4RRFFQ69G5FAV
        // decodes to this time; its randomness part is ours.
        let at = Utc.timestamp_millis_opt(1_469_918_176_385).unwrap();
        assert_eq!(ulid(at, [0; 10]), "01aryz6s410000000000000000");
    }

    #[test]
    fn ids_of_another_kind_or_malformed_are_refused() {
        for bad in [
            "",
            "sub_01j9z3k8q4r5s6t7v8w9x0y1z2",
            "dlv_",
            "dlv_01J9Z3K8Q4R5S6T7V8W9X0Y1Z2",
            "dlv_01j9z3k8q4r5s6t7v8w9x0y1z",
            "dlv_81j9z3k8q4r5s6t7v8w9x0y1z2",
            "dlv_01j9z3k8q4r5s6t7v8w9x0y1zu",
        ] {
            assert!(bad.parse::<DeliveryId>().is_err(), "{bad} was accepted");
        }
    }
}
