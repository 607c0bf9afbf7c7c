//! Items and their attributes: reading and writing each field, the keys and shards every item uses, and the items of subscriptions, events, deliveries and attempts.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use hookline::model::{
    Attempt, Delivery, DeliveryId, DeliveryStatus, Event, Subscription, SubscriptionId, TenantId,
};
use hookline::ports::StoreError;

use super::{DUE_SHARDS, DynamoStore, Item, SUBSCRIPTION_SHARDS, TENANT_SHARDS};

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(format!("attribute {name} missing or not a string"))),
    }
}

pub(super) fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    number(item.get(name), name)
}

/// `value` as a whole number (`what` names it in the error).
pub(super) fn number(value: Option<&AttributeValue>, what: &str) -> Result<i64, StoreError> {
    match value {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| corrupt(format!("attribute {what} is not a number")))
        }
        _ => Err(corrupt(format!("attribute {what} missing or not a number"))),
    }
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

pub(super) fn record<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, "rec")?).map_err(corrupt)
}

pub(super) fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| corrupt(format!("{s:?} is not an id")))
}

pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The latest attempt a delivery item carries, if any.
pub(super) fn last_attempt(item: &Item) -> Result<Option<Attempt>, StoreError> {
    match item.get("att") {
        Some(AttributeValue::S(json)) => serde_json::from_str(json).map(Some).map_err(corrupt),
        Some(_) => Err(corrupt("attribute att is not a string")),
        None => Ok(None),
    }
}

/// Which of `shards` partitions `id` lives in: FNV-1a of its bytes, the
/// same on every build and machine (the key must not move between reads).
pub(super) fn spread(id: &str, shards: u32) -> u32 {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % shards
}

/// Which of its subscription's [`SUBSCRIPTION_SHARDS`] listing partitions
/// a delivery's `gsi1` entry lands in (tests build listings across them).
pub fn listing_shard(id: &DeliveryId) -> u32 {
    spread(id.as_str(), SUBSCRIPTION_SHARDS)
}

/// Sweep positions as stored: whole seconds, rounded down (so a sweep
/// may read up to a second again, never less).
pub(super) fn sweep_positions_list(from: &[i64]) -> AttributeValue {
    AttributeValue::L(from.iter().map(|&at| n(at.div_euclid(1000))).collect())
}

/// Which of the [`DUE_SHARDS`] `due` partitions a delivery's entry lands in.
pub fn due_shard(id: &DeliveryId) -> u32 {
    spread(id.as_str(), DUE_SHARDS)
}

/// The `gsi1` partitions of a subscription's deliveries (or a tenant's
/// one-off deliveries), in shard order.
pub(super) fn subscription_partitions(group: &str) -> Vec<String> {
    (0..SUBSCRIPTION_SHARDS).map(|k| format!("{group}#{k}")).collect()
}

/// The `gsi2` partitions of a tenant's deliveries, in shard order.
pub(super) fn tenant_partitions(tenant: &TenantId) -> Vec<String> {
    (0..TENANT_SHARDS).map(|k| format!("DLVT#{tenant}#{k}")).collect()
}

pub(super) fn subscription_item(sub: &Subscription) -> Result<Item, StoreError> {
    let mut item = key(format!("SUB#{}", sub.id), "SUB");
    item.insert("g1pk".into(), s(format!("SUBS#{}", sub.tenant)));
    item.insert("g1sk".into(), s(sub.id.as_str()));
    item.insert("ver".into(), version(sub.version));
    item.insert("rec".into(), s(to_json(sub)?));
    Ok(item)
}

pub(super) fn version(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The condition that the item was stored at version `expected` (0: never
/// stored, or stored before versions existed).
pub(super) fn at_version(expected: u64) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    if expected == 0 {
        ("attribute_not_exists(ver) OR ver = :v", vec![(":v", version(0))])
    } else {
        ("ver = :v", vec![(":v", version(expected))])
    }
}

pub(super) fn count_key(tenant: &TenantId) -> Item {
    key(format!("TENANT#{tenant}"), "SUBS")
}

/// What a delivery goes to, as a keyed publish's record names it: its
/// subscription, or `*` for the event's one-off URL (an event has one).
pub(super) fn target_key(d: &Delivery) -> String {
    d.subscription_id().map_or_else(|| "*".to_owned(), |sub| sub.to_string())
}

/// A subscription's deliveries listing in `gsi1` (before its shard).
pub(super) fn subscription_listing(sub: &SubscriptionId) -> String {
    format!("DLVS#{sub}")
}

/// The attribute a payload is stored in: `z` (deflated bytes) when that
/// pays, `payload` (the text as published) otherwise.
pub(super) fn payload_attribute(payload: &str) -> (&'static str, AttributeValue) {
    if let Some(z) = crate::payload::compress(payload) {
        return ("z", AttributeValue::B(Blob::new(z)));
    }
    ("payload", s(payload))
}

/// The payload of an event item, byte for byte as published.
pub(super) fn payload_of(item: &Item) -> Result<Box<RawValue>, StoreError> {
    let text = match (item.get("payload"), item.get("z")) {
        (Some(AttributeValue::S(p)), _) => p.clone(),
        (_, Some(AttributeValue::B(z))) => {
            // No payload is larger than an item.
            crate::payload::decompress(z.as_ref(), 400 * 1024).map_err(corrupt)?
        }
        _ => return Err(corrupt("an event without its payload")),
    };
    RawValue::from_string(text).map_err(corrupt)
}

impl DynamoStore {
    pub(super) fn expiry(&self, from: DateTime<Utc>) -> AttributeValue {
        n((from + self.retention).timestamp())
    }

    /// The item for `d`, carrying its latest attempt's record (`att`, JSON)
    /// when it has one: every rewrite of a delivery passes on what it read.
    /// A finished delivery keeps the `due` entry it had (`kept_due`, its
    /// `due_at` in ms): dropping it would be one more index write per
    /// delivery; the scheduler's sweep reads past it once instead.
    pub(super) fn delivery_item(
        &self,
        d: &Delivery,
        last_attempt: Option<&AttributeValue>,
        kept_due: Option<i64>,
    ) -> Result<Item, StoreError> {
        let mut item = key(format!("DLV#{}", d.id), "DLV");
        if let Some(att) = last_attempt {
            item.insert("att".into(), att.clone());
        }
        let group = match d.subscription_id() {
            Some(sub) => subscription_listing(sub),
            None => format!("DLVS#ONEOFF#{}", d.tenant),
        };
        item.insert("g1pk".into(), s(format!("{group}#{}", listing_shard(&d.id))));
        item.insert("g1sk".into(), s(d.id.as_str()));
        item.insert("g2pk".into(), s(format!("DLVT#{}#{}", d.tenant, spread(d.id.as_str(), TENANT_SHARDS))));
        item.insert("g2sk".into(), s(d.id.as_str()));
        item.insert("status".into(), s(d.status.as_str()));
        item.insert("attempts".into(), n(d.attempts.into()));
        let due = match (d.status, d.due_at) {
            (DeliveryStatus::Pending, Some(due)) => Some(millis(due)),
            (status, _) if status.is_final() => kept_due,
            _ => None,
        };
        if let Some(due) = due {
            item.insert("due_shard".into(), s(due_shard(&d.id).to_string()));
            item.insert("due_at".into(), n(due));
        }
        if d.status.is_final() {
            item.insert("expires_at".into(), self.expiry(d.updated_at));
        }
        item.insert("rec".into(), s(to_json(d)?));
        Ok(item)
    }

    pub(super) fn event_item(&self, e: &Event, deliveries: &[Delivery]) -> Item {
        let mut item = key(format!("EVT#{}", e.id), "EVT");
        item.insert("tenant".into(), s(e.tenant.as_str()));
        item.insert("type".into(), s(e.event_type.as_str()));
        let (name, payload) = payload_attribute(e.payload.get());
        item.insert(name.into(), payload);
        item.insert("created_at".into(), n(millis(e.created_at)));
        if let Some(k) = &e.idempotency_key {
            item.insert("idem".into(), s(k.as_str()));
        }
        if let Some(fp) = &e.fingerprint {
            item.insert("fp".into(), s(fp.as_str()));
        }
        if let Some(u) = &e.webhook_url {
            item.insert("webhook_url".into(), s(u.as_str()));
        }
        item.insert("dlv".into(), AttributeValue::L(deliveries.iter().map(|d| s(d.id.as_str())).collect()));
        // Kept the retention past the last moment a delivery can use it.
        let last_use = e.last_attempt_by.unwrap_or(e.created_at).max(e.created_at);
        if e.last_attempt_by.is_some() {
            item.insert("last_by".into(), n(millis(last_use)));
        }
        item.insert("expires_at".into(), self.expiry(last_use));
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_compressed_only_when_that_pays_and_comes_back_byte_for_byte() {
        let json = serde_json::json!({
            "id": "ord_0123456789abcdef", "status": "shipped", "customer": {"region": "eu", "name": "Jane Doe"},
            "items": [{"sku": "SKU-48213", "name": "Merino wool sweater, navy", "quantity": 1}],
            "note": "Please leave the parcel with the concierge if nobody answers the door.",
        })
        .to_string();
        let text = format!("[{json},{json}]");
        let (name, stored) = payload_attribute(&text);
        assert_eq!(name, "z", "JSON compresses");
        let item = HashMap::from([(name.to_owned(), stored)]);
        assert_eq!(payload_of(&item).unwrap().get(), text);
        // Random-looking text does not shrink by a quarter: kept as sent.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: String = (0..200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'#' + (x % 90) as u8)
            })
            .filter(|&c| c != '\\')
            .collect();
        let noise = format!("\"{noise}\"");
        assert_eq!(payload_attribute(&noise).0, "payload");
        assert_eq!(payload_attribute("{\"a\":1}").0, "payload", "too small to bother");
    }
}
