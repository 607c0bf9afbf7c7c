//! Prefixed, time-sortable identifiers: `evt_…`, `sub_…`, `dlv_…`.
//!
//! The suffix is a ULID in lowercase Crockford base32 (48 bits of milliseconds
//! then 80 random bits), so ids sort by creation time — pagination cursors and
//! replay order rely on that — and a reader can tell an id's kind at a glance.
//!
//! An event's and its deliveries' ids are related, so that a store can find
//! an event, and a delivery's stub inside it, from an id alone: an event's
//! 80 bits are 30 bits of its tenant's hash ([`tenant_hash`]), 40 random
//! bits (or, for a keyed publish, bits of its key's hash) and 10 zero bits;
//! its `n`-th delivery's id is the same with `n + 1` in those 10 bits
//! ([`EventId::delivery`], [`DeliveryId::event_id`]). An event has at most
//! [`MAX_DELIVERIES_PER_EVENT`] deliveries.

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
    encode(value)
}

/// The 128-bit value of a ULID written by [`ulid`] (`None` if it is not one).
fn decode(s: &str) -> Option<u128> {
    if !is_suffix(s) {
        return None;
    }
    s.bytes().try_fold(0u128, |v, b| {
        let digit = ALPHABET.iter().position(|&a| a == b)?;
        Some((v << 5) | digit as u128)
    })
}

/// Writes a 128-bit ULID value as 26 characters.
fn encode(value: u128) -> String {
    let mut out = [0u8; SUFFIX_LEN];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (SUFFIX_LEN - 1 - i);
        *slot = ALPHABET[((value >> shift) & 0x1F) as usize];
    }
    out.iter().map(|&b| b as char).collect()
}

/// Most deliveries one event can have (the 10 low bits of their ids).
pub const MAX_DELIVERIES_PER_EVENT: usize = 1023;
/// The bits of an event id below its tenant's hash (40 random, 10 for its
/// deliveries).
const TENANT_SHIFT: u32 = 50;
/// The bits that number an event's deliveries.
const DELIVERY_BITS: u128 = 0x3FF;

/// A tenant's 30-bit hash, as event ids carry it: the first bits of the
/// SHA-256 of its name (the same on every build and machine).
pub fn tenant_hash(tenant: &str) -> u32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(tenant.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) >> 2
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

impl EventId {
    /// A new event's id for `tenant`: its hash, 40 random bits, and room for
    /// the event's deliveries (see the module).
    pub fn for_tenant(at: DateTime<Utc>, tenant: &str, random: [u8; 10]) -> Self {
        let mut r = [0u8; 16];
        r[6..].copy_from_slice(&random);
        let bits = u128::from_be_bytes(r) & ((1u128 << TENANT_SHIFT) - 1) & !DELIVERY_BITS;
        Self::with_bits(at, tenant, bits)
    }

    /// The id of a keyed publish whose time is known on every repeat (an
    /// SQS message's sent time): the same tenant, key and time give the
    /// same id, so storing it only if absent makes the publish idempotent.
    pub fn keyed(at: DateTime<Utc>, tenant: &str, key: &str) -> Self {
        Self::with_bits(at, tenant, key_bits(tenant, key))
    }

    /// Whether this is the id [`Self::keyed`] gives for `tenant` and `key`
    /// (at whatever time).
    pub fn is_keyed(&self, tenant: &str, key: &str) -> bool {
        self.value().is_some_and(|v| v & ((1u128 << TENANT_SHIFT) - 1) == key_bits(tenant, key))
    }

    fn with_bits(at: DateTime<Utc>, tenant: &str, low: u128) -> Self {
        let time = decode(&ulid(at, [0; 10])).unwrap_or(0);
        let value = time | (u128::from(tenant_hash(tenant)) << TENANT_SHIFT) | low;
        Self(format!("{}{}", Self::PREFIX, encode(value)))
    }

    fn value(&self) -> Option<u128> {
        decode(self.0.strip_prefix(Self::PREFIX)?)
    }

    /// The tenant hash this id carries (see [`tenant_hash`]).
    pub fn tenant_hash(&self) -> u32 {
        self.value().map_or(0, |v| ((v >> TENANT_SHIFT) & 0x3FFF_FFFF) as u32)
    }

    /// The id of this event's delivery number `n` (0-based, below
    /// [`MAX_DELIVERIES_PER_EVENT`]).
    pub fn delivery(&self, n: usize) -> Option<DeliveryId> {
        let v = self.value()?;
        let n = u128::try_from(n).ok().filter(|n| *n < MAX_DELIVERIES_PER_EVENT as u128)?;
        Some(DeliveryId(format!("{}{}", DeliveryId::PREFIX, encode((v & !DELIVERY_BITS) | (n + 1)))))
    }
}

/// The 50 bits under the tenant hash of a keyed event's id: 40 of its key's
/// hash, then the zero delivery bits.
fn key_bits(tenant: &str, key: &str) -> u128 {
    use sha2::Digest;
    let d = sha2::Sha256::new()
        .chain_update(tenant.as_bytes())
        .chain_update([0])
        .chain_update(key.as_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b[11..].copy_from_slice(&d[..5]);
    (u128::from_be_bytes(b) << 10) & ((1u128 << TENANT_SHIFT) - 1)
}

impl DeliveryId {
    /// The event this delivery belongs to, when the id is one of an event's
    /// (see the module): its 10 low bits cleared.
    pub fn event_id(&self) -> Option<EventId> {
        let v = decode(self.0.strip_prefix(Self::PREFIX)?)?;
        (v & DELIVERY_BITS != 0)
            .then(|| EventId(format!("{}{}", EventId::PREFIX, encode(v & !DELIVERY_BITS))))
    }

    /// Which of its event's deliveries this is (0-based).
    pub fn index(&self) -> Option<usize> {
        let v = decode(self.0.strip_prefix(Self::PREFIX)?)?;
        usize::try_from(v & DELIVERY_BITS).ok()?.checked_sub(1)
    }
}

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
    fn an_events_deliveries_lead_back_to_it_and_carry_its_tenant() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let event = EventId::for_tenant(at, "acme", [0xab; 10]);
        assert_eq!(event.as_str().parse::<EventId>().unwrap(), event);
        assert_eq!(event.tenant_hash(), tenant_hash("acme"));
        assert_ne!(tenant_hash("acme"), tenant_hash("globex"));
        let first = event.delivery(0).unwrap();
        let last = event.delivery(MAX_DELIVERIES_PER_EVENT - 1).unwrap();
        assert!(event.delivery(MAX_DELIVERIES_PER_EVENT).is_none());
        for (n, d) in [(0, &first), (MAX_DELIVERIES_PER_EVENT - 1, &last)] {
            assert_eq!(d.as_str().parse::<DeliveryId>().unwrap(), *d);
            assert_eq!(d.event_id(), Some(event.clone()));
            assert_eq!(d.index(), Some(n));
        }
        assert!(first < last, "deliveries sort in their event's order");
        // Same time as the event, so ids still sort by creation.
        assert_eq!(&first.as_str()[4..14], &event.as_str()[4..14]);
        let plain = DeliveryId::generate(at, [0; 10]);
        assert_eq!(plain.event_id(), None, "not an event's");
    }

    #[test]
    fn a_keyed_id_is_the_same_for_the_same_tenant_key_and_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let id = EventId::keyed(at, "acme", "sqs-1");
        assert_eq!(id, EventId::keyed(at, "acme", "sqs-1"));
        assert_ne!(id, EventId::keyed(at, "acme", "sqs-2"));
        assert_ne!(id, EventId::keyed(at, "globex", "sqs-1"));
        assert!(id.is_keyed("acme", "sqs-1") && !id.is_keyed("acme", "sqs-2"));
        assert!(!EventId::for_tenant(at, "acme", [1; 10]).is_keyed("acme", "sqs-1"));
        assert_eq!(id.tenant_hash(), tenant_hash("acme"));
        assert_eq!(id.delivery(3).and_then(|d| d.event_id()), Some(id));
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
