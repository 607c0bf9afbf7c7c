//! Items and their attributes: reading and writing each field, the keys and
//! shards every item lives under, and the items of events (with their
//! deliveries' stubs), outcome records and attempts.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use hookline::model::{
    Attempt, Delivery, DeliveryId, DeliveryTarget, Event, EventId, EventType, Subscription, SubscriptionId,
    TenantId, tenant_hash,
};
use hookline::ports::StoreError;
use hookline::target::TargetUrl;

use super::{DUE_SHARDS, DynamoStore, EVENT_SHARDS, Item, SUBSCRIPTION_SHARDS};

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

pub(super) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms).single().ok_or_else(|| corrupt(format!("{ms} is not a time")))
}

/// The latest attempt an outcome record carries, if any.
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

/// The partition of event `id`'s item: its tenant's hash (from the id) and
/// one of [`EVENT_SHARDS`].
pub fn event_partition(id: &EventId) -> String {
    format!("E#{:08x}#{}", id.tenant_hash(), spread(id.as_str(), EVENT_SHARDS))
}

/// Every partition a tenant's events live in, in shard order.
pub(super) fn tenant_event_partitions(tenant: &TenantId) -> Vec<String> {
    let hash = tenant_hash(tenant.as_str());
    (0..EVENT_SHARDS).map(|k| format!("E#{hash:08x}#{k}")).collect()
}

/// The group a delivery's outcome record is listed in: its subscription,
/// or its tenant's one-off deliveries.
pub(super) fn outcome_group(target: &DeliveryTarget, tenant: &TenantId) -> String {
    match target {
        DeliveryTarget::Subscription { subscription_id } => format!("D#{subscription_id}"),
        DeliveryTarget::OneOff { .. } => format!("D#*{tenant}"),
    }
}

/// The partition of delivery `id`'s outcome record, in `group`
/// ([`outcome_group`]): one of [`SUBSCRIPTION_SHARDS`].
pub fn outcome_partition(group: &str, id: &DeliveryId) -> String {
    format!("{group}#{}", spread(id.as_str(), SUBSCRIPTION_SHARDS))
}

/// Every partition of a subscription's outcome records, in shard order.
pub(super) fn subscription_partitions(sub: &SubscriptionId) -> Vec<String> {
    (0..SUBSCRIPTION_SHARDS).map(|k| format!("D#{sub}#{k}")).collect()
}

/// The key of delivery `d`'s outcome record.
pub(super) fn outcome_key(d: &Delivery) -> Item {
    key(outcome_partition(&outcome_group(&d.target, &d.tenant), &d.id), d.id.as_str())
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

/// What a delivery goes to, as a stub and a keyed publish's record name it:
/// its subscription, or `*` for the event's one-off URL (an event has one).
pub(super) fn target_key(d: &Delivery) -> String {
    d.subscription_id().map_or_else(|| "*".to_owned(), |sub| sub.to_string())
}

/// The attribute a payload is stored in: `z` (deflated bytes) when that
/// pays, `p` (the text as published) otherwise.
pub(super) fn payload_attribute(payload: &str) -> (&'static str, AttributeValue) {
    if let Some(z) = crate::payload::compress(payload) {
        return ("z", AttributeValue::B(Blob::new(z)));
    }
    ("p", s(payload))
}

/// The payload of an event item, byte for byte as published.
fn payload_of(item: &Item) -> Result<Box<RawValue>, StoreError> {
    let text = match (item.get("p"), item.get("z")) {
        (Some(AttributeValue::S(p)), _) => p.clone(),
        (_, Some(AttributeValue::B(z))) => {
            // No payload is larger than an item.
            crate::payload::decompress(z.as_ref(), 400 * 1024).map_err(corrupt)?
        }
        _ => return Err(corrupt("an event without its payload")),
    };
    RawValue::from_string(text).map_err(corrupt)
}

/// One delivery as its event item holds it until its first attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stub {
    /// Its place among the event's deliveries (the low bits of its id).
    pub(super) index: usize,
    /// Its subscription's id, or `*` for the event's one-off URL.
    pub(super) target: String,
    /// When its first attempt is due, after the event's creation (ms).
    pub(super) first_in: i64,
    /// Its due time, after the event's creation (ms), if it has one.
    pub(super) due_in: Option<i64>,
    /// Delivered in the order of the event's `ordering_key` (attribute `ok`).
    pub(super) ordered: bool,
}

impl Stub {
    /// `<index>=<target>`, then `;n=<ms>` for a first attempt later than the
    /// event, `;d=<ms>` for a due time, `;o=1` in its key's order: one such
    /// string per delivery.
    fn text(&self) -> String {
        let mut t = format!("{}={}", self.index, self.target);
        if self.first_in != 0 {
            t.push_str(&format!(";n={}", self.first_in));
        }
        if let Some(d) = self.due_in {
            t.push_str(&format!(";d={d}"));
        }
        if self.ordered {
            t.push_str(";o=1");
        }
        t
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = || corrupt(format!("{text:?} is not a delivery's stub"));
        let mut parts = text.split(';');
        let (index, target) = parts.next().and_then(|p| p.split_once('=')).ok_or_else(bad)?;
        let mut stub = Stub {
            index: index.parse().map_err(|_| bad())?,
            target: target.to_owned(),
            first_in: 0,
            due_in: None,
            ordered: false,
        };
        for part in parts {
            match part.split_once('=') {
                Some(("n", v)) => stub.first_in = v.parse().map_err(|_| bad())?,
                Some(("d", v)) => stub.due_in = Some(v.parse().map_err(|_| bad())?),
                Some(("o", "1")) => stub.ordered = true,
                _ => return Err(bad()),
            }
        }
        Ok(stub)
    }

    fn of(d: &Delivery, created: DateTime<Utc>) -> Option<Self> {
        let offset = |t: DateTime<Utc>| (t - created).num_milliseconds();
        Some(Self {
            index: d.id.index()?,
            target: target_key(d),
            first_in: d.next_attempt_at.map_or(0, offset),
            due_in: d.due_at.map(offset),
            ordered: d.ordering.is_some(),
        })
    }
}

/// The stubs an event item holds.
pub(super) fn stubs(item: &Item) -> Result<Vec<Stub>, StoreError> {
    match item.get("d") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| {
                v.as_s().map_err(|_| corrupt("a stub that is not a string")).and_then(|t| Stub::parse(t))
            })
            .collect(),
        None => Ok(Vec::new()),
        Some(_) => Err(corrupt("attribute d is not a list")),
    }
}

/// The places of the stubs (their indexes) whose outcome record may exist
/// before their first attempt: a cancel or a redelivery wrote one
/// (attribute `rx`, a number set added to before that record is written).
/// A first attempt of any other stub reads no record: it has none.
pub(super) fn recorded_early(item: &Item) -> Result<Vec<usize>, StoreError> {
    match item.get("rx") {
        Some(AttributeValue::Ns(set)) => {
            set.iter().map(|i| i.parse().map_err(|_| corrupt("attribute rx holds a non-index"))).collect()
        }
        None => Ok(Vec::new()),
        Some(_) => Err(corrupt("attribute rx is not a number set")),
    }
}

/// The event an event item holds.
pub(super) fn event_of(id: &EventId, item: &Item) -> Result<Event, StoreError> {
    Ok(Event {
        id: id.clone(),
        tenant: TenantId::parse(get_s(item, "t")?).map_err(corrupt)?,
        event_type: EventType::parse(get_s(item, "y")?).map_err(corrupt)?,
        payload: payload_of(item)?,
        channels: match item.get("ch") {
            Some(AttributeValue::L(list)) => list
                .iter()
                .map(|v| v.as_s().cloned().map_err(|_| corrupt("a channel that is not a string")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(corrupt("attribute ch is not a list")),
            None => Vec::new(),
        },
        ordering_key: ordering_key(item)?,
        idempotency_key: get_s(item, "ik").ok().map(str::to_owned),
        webhook_url: get_s(item, "w").ok().map(TargetUrl::stored).transpose().map_err(corrupt)?,
        created_at: time(get_n(item, "c")?)?,
        last_attempt_by: item.get("lb").map(|_| get_n(item, "lb").and_then(time)).transpose()?,
        fingerprint: get_s(item, "fp").ok().map(str::to_owned),
    })
}

/// An event item's `ordering_key` (attribute `ok`), if it has one.
pub(super) fn ordering_key(item: &Item) -> Result<Option<String>, StoreError> {
    item.get("ok").map(|_| get_s(item, "ok").map(str::to_owned)).transpose()
}

/// The delivery a stub of `event` stands for: pending, never attempted.
pub(super) fn pending_delivery(event: &Event, stub: &Stub) -> Result<Delivery, StoreError> {
    let id = event.id.delivery(stub.index).ok_or_else(|| corrupt("a stub's index is out of range"))?;
    let target = match stub.target.as_str() {
        "*" => DeliveryTarget::OneOff {
            url: event.webhook_url.clone().ok_or_else(|| corrupt("a one-off stub without a URL"))?,
        },
        sub => DeliveryTarget::Subscription { subscription_id: parse_id(sub)? },
    };
    let at = |ms: i64| event.created_at + chrono::Duration::milliseconds(ms);
    Ok(Delivery::pending(event, id, target, at(stub.first_in), stub.due_in.map(at), stub.ordered))
}

impl DynamoStore {
    pub(super) fn expiry(&self, from: DateTime<Utc>) -> AttributeValue {
        n((from + self.retention).timestamp())
    }

    /// The item of event `e` with a stub for each of `deliveries` (each
    /// one of the event's, by its id).
    pub(super) fn event_item(&self, e: &Event, deliveries: &[Delivery]) -> Result<Item, StoreError> {
        let mut item = key(event_partition(&e.id), e.id.as_str());
        item.insert("t".into(), s(e.tenant.as_str()));
        item.insert("y".into(), s(e.event_type.as_str()));
        let (name, payload) = payload_attribute(e.payload.get());
        item.insert(name.into(), payload);
        item.insert("c".into(), n(millis(e.created_at)));
        if let Some(k) = &e.idempotency_key {
            item.insert("ik".into(), s(k.as_str()));
        }
        if let Some(fp) = &e.fingerprint {
            item.insert("fp".into(), s(fp.as_str()));
        }
        if let Some(u) = &e.webhook_url {
            item.insert("w".into(), s(u.as_str()));
        }
        if let Some(k) = &e.ordering_key {
            item.insert("ok".into(), s(k.as_str()));
        }
        if !e.channels.is_empty() {
            item.insert("ch".into(), AttributeValue::L(e.channels.iter().map(|c| s(c.as_str())).collect()));
        }
        let stubs = deliveries
            .iter()
            .map(|d| {
                (d.event_id == e.id)
                    .then(|| Stub::of(d, e.created_at))
                    .flatten()
                    .map(|stub| s(stub.text()))
                    .ok_or_else(|| corrupt(format!("delivery {} is not one of event {}'s", d.id, e.id)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !stubs.is_empty() {
            item.insert("d".into(), AttributeValue::L(stubs));
        }
        // Kept the retention past the last moment a delivery can use it.
        let last_use = e.last_attempt_by.unwrap_or(e.created_at).max(e.created_at);
        if e.last_attempt_by.is_some() {
            item.insert("lb".into(), n(millis(last_use)));
        }
        item.insert("expires_at".into(), self.expiry(last_use));
        Ok(item)
    }

    /// The outcome record of `d`, carrying its latest attempt's record
    /// (`att`, JSON) when it has one, and a `due` entry when `due` says so
    /// (the due time in ms: a retry waiting in the store, a redelivery's
    /// safety net, or the entry a finished delivery keeps).
    pub(super) fn outcome_item(
        &self,
        d: &Delivery,
        last_attempt: Option<&AttributeValue>,
        due: Option<i64>,
    ) -> Result<Item, StoreError> {
        let mut item = outcome_key(d);
        if let Some(att) = last_attempt {
            item.insert("att".into(), att.clone());
        }
        item.insert("status".into(), s(d.status.as_str()));
        item.insert("attempts".into(), n(d.attempts.into()));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_reads_back_as_written() {
        for stub in [
            Stub {
                index: 0,
                target: "sub_01jdx000000000000000000000".into(),
                first_in: 0,
                due_in: None,
                ordered: false,
            },
            Stub { index: 1022, target: "*".into(), first_in: 600_000, due_in: Some(-5), ordered: false },
            Stub {
                index: 7,
                target: "sub_01jdx000000000000000000000".into(),
                first_in: 0,
                due_in: None,
                ordered: true,
            },
        ] {
            assert_eq!(Stub::parse(&stub.text()).unwrap(), stub);
        }
        for bad in ["", "x=sub", "1", "1=sub;q=2", "1=sub;n=soon", "1=sub;o=0"] {
            assert!(Stub::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_longest_stub_weighs_no_more_than_the_core_counts_a_delivery() {
        use hookline::api::delivery_settings::MAX_INITIAL_DELAY_SECS;
        let longest = Stub {
            index: hookline::model::MAX_DELIVERIES_PER_EVENT - 1,
            target: "sub_01jdx000000000000000000000".into(),
            first_in: i64::from(MAX_INITIAL_DELAY_SECS) * 1000,
            // A due time can be a grace (15 minutes) either side of it.
            due_in: Some(-(i64::from(MAX_INITIAL_DELAY_SECS) * 1000 + 900_000)),
            ordered: true,
        };
        // In the item's list: the string and a byte of the list's own.
        let weight = crate::size::item_size(&HashMap::from([(String::new(), s(longest.text()))])) + 1;
        assert!(weight <= hookline::api::events::DELIVERY_WEIGHT, "{weight} bytes: {}", longest.text());
    }

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
        assert_eq!(payload_attribute(&noise).0, "p");
        assert_eq!(payload_attribute("{\"a\":1}").0, "p", "too small to bother");
    }
}
