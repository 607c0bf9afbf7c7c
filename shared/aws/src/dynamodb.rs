//! The store on one DynamoDB table (single-table design). Keys:
//!
//! | item | pk | sk | index keys |
//! |---|---|---|---|
//! | subscription | `SUB#<id>` | `SUB` | g1: `SUBS#<tenant>` / id |
//! | tenant record (secret, one-off profile) | `TENANT#<t>` | `TENANT` | |
//! | a tenant's subscription count | `TENANT#<t>` | `SUBS` | |
//! | event | `EVT#<id>` | `EVT` | |
//! | idempotency key (event id, request fingerprint, `<target>=<delivery id>` per delivery) | `IDEM#<t>#<key>` | `IDEM` | |
//! | delivery | `DLV#<id>` | `DLV` | g1: `DLVS#<subscription>#<k>` / id; g2: `DLVT#<tenant>#<k>` / id; due: shard / due_at |
//! | attempt | `DLV#<id>` | `ATT#<nnnnn>` | |
//! | a rate-limited subscription's slots | `RATE#<subscription>` | `RATE` | |
//! | where the scheduler's sweep of each `due` shard starts | `SCHED` | `DUE` | |
//! | a declared event type | `CATALOG` | `ETYPE#<name>` | |
//! | attempts in an hour (the portal's charts) | `COUNT#<subscription or *>#<shard>` | `H#<unix hour start>` | |
//!
//! A delivery's latest attempt rides in the delivery item itself (attribute
//! `att`): recording attempt *n* writes attempt *n − 1* out to its own item,
//! then the delivery with attempt *n* under its condition. A first-try
//! success is one write, not two, and a crash between the two writes loses
//! nothing (the older attempt is in both places until the second lands).
//!
//! Indexes project keys only, so rewriting a delivery's state writes to an
//! index only when that index's keys change. `due` is sparse: a pending
//! delivery's entry is its due time; a finished delivery keeps the entry
//! it had (taking it out would be one more index write on every delivery)
//! until TTL removes the item. The scheduler therefore sweeps each shard
//! from where its last run left it (item `SCHED`, at most one write a run)
//! rather than from the beginning: every entry is read about once, a
//! finished delivery's by an eventually consistent `BatchGetItem` (half a
//! read unit) that shows it finished, and skipped. Nothing is passed over:
//! every writer sets a due time at least its own now plus the queue grace,
//! and a sweep position stays [`SWEEP_SETTLE`] behind the run's clock.
//!
//! No partition key takes more than DynamoDB's 1,000 writes a second from
//! one busy endpoint or tenant: every key a delivery writes is either its
//! own (`DLV#<id>`, `EVT#<id>`) or one of several shards, chosen by a hash
//! of the delivery id (`k`, [`spread`]). A subscription's listing has
//! [`SUBSCRIPTION_SHARDS`] partitions (one `gsi1` entry per delivery:
//! 32,000 deliveries a second before one passes 1,000), a tenant's
//! [`TENANT_SHARDS`], the `due` index [`DUE_SHARDS`] (an entry added at
//! publish, and moved by each retry: 128,000 first tries a second). A
//! listing reads all its shards newest first and merges them by id (the
//! ids are ULIDs, so by time): one query per shard per page, each read only
//! when the merge reaches it ([`DynamoStore::page_index`]); the scheduler
//! queries every `due` shard each run. `scripts/bench-cost` measures the
//! busiest key of each. Writes that must not race carry condition expressions:
//! subscriptions and tenant records carry their version (`ver`) and every
//! rewrite is conditioned on the one it read; a subscription is created in
//! one transaction with its tenant's count, conditioned on the limit.
//! Reads are eventually consistent (half a read unit) where a stale answer
//! is caught: an event (asked again when missing), the sweep's reads, and
//! the deliver handler's `peek_delivery` / `peek_subscription` (see
//! `hookline::deliver`); the rest are strongly consistent.
//!
//! TTL (`expires_at`) follows the work. An event carries `last_by`, the
//! latest its deliveries can be attempted (set at publish from the longest
//! its targets' schedules can run; moved later by an `UpdateItem` only when
//! a retry, redelivery or replay goes past it) and expires the retention
//! after that; an attempt item, the retention past the later of its start
//! and its event's `last_by`; a delivery, the retention after it finishes
//! (a pending one never); an idempotency key, the retention after its
//! publish.
//!
//! A rate-limited subscription's schedule is one item holding its TAT
//! (`tat`, unix microseconds; see `hookline::policy::rate`): a lease moves
//! it with one `UpdateItem` conditioned on the value it was computed from
//! — no read when the schedule is idle (condition `tat <= now`), and when
//! it is busy the failed condition returns the item, so the second try is
//! the last. One lease serves up to ten deliveries.
//!
//! Hourly attempt counts are sums a process adds at once (a deliver
//! function at the end of its batch: one `UpdateItem` with `ADD` per scope
//! and hour, not per attempt). Each flush picks one of [`COUNT_SHARDS`]
//! partitions per scope, so one busy endpoint — or the service-wide count
//! every flush touches — spreads its writes over eight partition keys; a
//! chart queries the eight and sums them by hour. Counts expire
//! [`COUNT_RETENTION`] after their hour.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, TimeZone, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use hookline::model::{
    Attempt, AttemptUpdate, Delivery, DeliveryId, DeliveryStatus, Event, EventId, EventType, EventTypeInfo,
    Health, Subscription, SubscriptionId, Tenant, TenantId,
};
use hookline::policy::rate::{self, Grant, RateLimit};
use hookline::ports::{
    COUNT_RETENTION, CatalogStore, CountScope, CountStore, DeliveryFilter, DeliveryStore, EventStore,
    HourCount, Inserted, Page, PageRequest, Queued, RateSlots, Recorded, Recording, StoreError,
    SubscriptionStore, TenantStore, Written,
};
use hookline::target::TargetUrl;

use super::error::store_error;
use super::size::{WRITE_UNIT, item_size};

/// Shards of the `due` index: every delivery adds an entry at publish (and
/// each retry moves it), so 128 shards keep each partition at 156 writes a
/// second at 20,000 first tries a second (DynamoDB's limit is 1,000 a
/// partition), with room for retries and an unlucky spread.
pub const DUE_SHARDS: u32 = 128;
/// How far behind the clock a `due` shard's sweep position stays. Every
/// writer sets a due time at least its own now (a first try's or a retry's
/// plus the 15-minute queue grace, a claim's lease end), so an entry can
/// appear behind a sweep only if the index lagged, or its writer's clock
/// was behind the scheduler's, by more than this as well as that grace.
/// Entries due within it of a run are read again by the next.
pub const SWEEP_SETTLE: Duration = Duration::from_secs(10);
/// The partition key of the item holding the sweep's positions (sort key
/// `DUE`).
pub const SWEEP_POSITIONS_PK: &str = "SCHED";
/// `due` entries read per shard per query in a sweep: a round of every
/// shard's page holds at most 12,800 delivery items (~13 MB) in memory.
const SWEEP_PAGE: i32 = 100;
/// Shards of a subscription's deliveries listing (index `gsi1`): one entry
/// per delivery, 312 writes a second a partition at 10,000 deliveries a
/// second to one endpoint.
pub const SUBSCRIPTION_SHARDS: u32 = 32;
/// Shards of a tenant's deliveries listing (index `gsi2`): 312 writes a
/// second a partition at 20,000 deliveries a second for one tenant.
pub const TENANT_SHARDS: u32 = 64;
/// Requests one store call has in flight at once (a listing's or a
/// scheduler run's shard queries, a keyed publish's puts).
const REQUESTS_IN_FLIGHT: usize = 16;
/// Shards of each scope's hourly counts: a flush adds to one of them, a
/// chart reads and sums them all.
pub const COUNT_SHARDS: u32 = 8;
/// The longest a publish can still be writing after it took its
/// idempotency key: more than the publishing functions' timeout (30 s in
/// template.yaml). A repeat finds a part-written publish finished only
/// after this, so it never races one that is still running.
pub const PUBLISH_IN_FLIGHT: Duration = Duration::from_secs(120);
/// Name of the subscriptions-by-tenant / deliveries-by-subscription index.
pub const GSI1: &str = "gsi1";
/// Name of the deliveries-by-tenant index.
pub const GSI2: &str = "gsi2";
/// Name of the sparse, sharded index of due deliveries.
pub const DUE_INDEX: &str = "due";

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: chrono::Duration,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(format!("attribute {name} missing or not a string"))),
    }
}

fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    number(item.get(name), name)
}

/// `value` as a whole number (`what` names it in the error).
fn number(value: Option<&AttributeValue>, what: &str) -> Result<i64, StoreError> {
    match value {
        Some(AttributeValue::N(v)) => {
            v.parse().map_err(|_| corrupt(format!("attribute {what} is not a number")))
        }
        _ => Err(corrupt(format!("attribute {what} missing or not a number"))),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

fn record<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, "rec")?).map_err(corrupt)
}

fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| corrupt(format!("{s:?} is not an id")))
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The latest attempt a delivery item carries, if any.
fn last_attempt(item: &Item) -> Result<Option<Attempt>, StoreError> {
    match item.get("att") {
        Some(AttributeValue::S(json)) => serde_json::from_str(json).map(Some).map_err(corrupt),
        Some(_) => Err(corrupt("attribute att is not a string")),
        None => Ok(None),
    }
}

/// Which of `shards` partitions `id` lives in: FNV-1a of its bytes, the
/// same on every build and machine (the key must not move between reads).
fn spread(id: &str, shards: u32) -> u32 {
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
fn sweep_positions_list(from: &[i64]) -> AttributeValue {
    AttributeValue::L(from.iter().map(|&at| n(at.div_euclid(1000))).collect())
}

/// Which of the [`DUE_SHARDS`] `due` partitions a delivery's entry lands in.
pub fn due_shard(id: &DeliveryId) -> u32 {
    spread(id.as_str(), DUE_SHARDS)
}

/// The `gsi1` partitions of a subscription's deliveries (or a tenant's
/// one-off deliveries), in shard order.
fn subscription_partitions(group: &str) -> Vec<String> {
    (0..SUBSCRIPTION_SHARDS).map(|k| format!("{group}#{k}")).collect()
}

/// The `gsi2` partitions of a tenant's deliveries, in shard order.
fn tenant_partitions(tenant: &TenantId) -> Vec<String> {
    (0..TENANT_SHARDS).map(|k| format!("DLVT#{tenant}#{k}")).collect()
}

fn subscription_item(sub: &Subscription) -> Result<Item, StoreError> {
    let mut item = key(format!("SUB#{}", sub.id), "SUB");
    item.insert("g1pk".into(), s(format!("SUBS#{}", sub.tenant)));
    item.insert("g1sk".into(), s(sub.id.as_str()));
    item.insert("ver".into(), version(sub.version));
    item.insert("rec".into(), s(to_json(sub)?));
    Ok(item)
}

fn version(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The condition that the item was stored at version `expected` (0: never
/// stored, or stored before versions existed).
fn at_version(expected: u64) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    if expected == 0 {
        ("attribute_not_exists(ver) OR ver = :v", vec![(":v", version(0))])
    } else {
        ("ver = :v", vec![(":v", version(expected))])
    }
}

fn count_key(tenant: &TenantId) -> Item {
    key(format!("TENANT#{tenant}"), "SUBS")
}

/// What a delivery goes to, as a keyed publish's record names it: its
/// subscription, or `*` for the event's one-off URL (an event has one).
fn target_key(d: &Delivery) -> String {
    d.subscription_id().map_or_else(|| "*".to_owned(), |sub| sub.to_string())
}

/// A subscription's deliveries listing in `gsi1` (before its shard).
fn subscription_listing(sub: &SubscriptionId) -> String {
    format!("DLVS#{sub}")
}

impl DynamoStore {
    /// A store on `table`; records expire `retention` after their last use
    /// (DynamoDB TTL on `expires_at`; see the module's notes).
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
        Self { client, table: table.into(), retention }
    }

    /// One cheap call (an eventually consistent read of a key that never
    /// exists: half a read unit), so the client's credentials and connection
    /// are ready before the first real request.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("WARM-UP".into(), "WARM-UP")))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    fn expiry(&self, from: DateTime<Utc>) -> AttributeValue {
        n((from + self.retention).timestamp())
    }

    /// The item for `d`, carrying its latest attempt's record (`att`, JSON)
    /// when it has one: every rewrite of a delivery passes on what it read.
    /// A finished delivery keeps the `due` entry it had (`kept_due`, its
    /// `due_at` in ms): dropping it would be one more index write per
    /// delivery; the scheduler's sweep reads past it once instead.
    fn delivery_item(
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

    fn event_item(&self, e: &Event, deliveries: &[Delivery]) -> Item {
        let mut item = key(format!("EVT#{}", e.id), "EVT");
        item.insert("tenant".into(), s(e.tenant.as_str()));
        item.insert("type".into(), s(e.event_type.as_str()));
        item.insert("payload".into(), s(e.payload.get()));
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

    /// Puts `attempt` in its own item, kept the retention past the later of
    /// its start and `keep_until` (the latest its event can be used, so no
    /// attempt of a pending delivery expires before the delivery).
    async fn put_attempt(
        &self,
        attempt: &Attempt,
        keep_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut item = key(format!("DLV#{}", attempt.delivery_id), &format!("ATT#{:05}", attempt.number));
        item.insert("rec".into(), s(to_json(attempt)?));
        item.insert("expires_at".into(), self.expiry(keep_until.unwrap_or_default().max(attempt.started_at)));
        self.put(item).await
    }

    /// Puts `item`, replacing what has its key.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// A delivery and the item it was read from (to carry its `att` over).
    async fn delivery_and_item(&self, id: &DeliveryId) -> Result<Option<(Delivery, Item)>, StoreError> {
        let Some(item) = self.get(format!("DLV#{id}"), "DLV").await? else { return Ok(None) };
        Ok(Some((record(&item)?, item)))
    }

    /// Every item of partition `pk`, strongly consistent, every page.
    async fn partition(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        self.partition_from(pk, None, true).await
    }

    /// Every item of partition `pk` whose sort key is `from` or later
    /// (all, without one), every page; eventually consistent (half the
    /// price) unless `consistent`.
    async fn partition_from(
        &self,
        pk: String,
        from: Option<String>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        let condition = if from.is_some() { "pk = :p AND sk >= :from" } else { "pk = :p" };
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .expression_attribute_values(":p", s(pk.clone()))
                .consistent_read(consistent)
                .set_exclusive_start_key(start);
            let resp = match &from {
                Some(f) => resp.expression_attribute_values(":from", s(f.clone())),
                None => resp,
            };
            let resp = resp.send().await.map_err(store_error)?;
            out.extend(resp.items().iter().cloned());
            match resp.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }

    /// The item with this key, strongly consistent.
    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read(pk, sk, true).await
    }

    /// The item with this key; eventually consistent (half the price, and
    /// possibly a second behind) unless `consistent`.
    async fn read(&self, pk: String, sk: &str, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(store_error)?;
        Ok(out.item().cloned())
    }

    /// Writes `d` back over the item it was read from (`read`, whose latest
    /// attempt it keeps), only if `condition` still holds there.
    async fn rewrite_delivery(
        &self,
        d: &Delivery,
        read: &Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        self.put_if(self.delivery_item(d, read.get("att"), get_n(read, "due_at").ok())?, condition, values)
            .await
    }

    /// Puts `item` if `condition` holds; `Ok(false)` when it does not.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if condition.contains("#status") {
            req = req.expression_attribute_names("#status", "status");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Writes items with BatchWriteItem (25 per call), sending again what
    /// DynamoDB leaves unprocessed under throttling, a bounded number of times.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for chunk in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|i| {
                    let put = PutRequest::builder().set_item(Some(i.clone())).build().map_err(corrupt)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StoreError>>()?;
            for _ in 0..5 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(store_error)?;
                requests =
                    out.unprocessed_items().and_then(|u| u.get(&self.table)).cloned().unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
            }
            if !requests.is_empty() {
                return Err(StoreError::unavailable("DynamoDB left writes unprocessed (throttled)"));
            }
        }
        Ok(())
    }

    /// Reads deliveries by id, in the order given (missing ones skipped).
    async fn deliveries_by_id(&self, ids: &[String]) -> Result<Vec<Delivery>, StoreError> {
        let pks: Vec<String> = ids.iter().map(|id| format!("DLV#{id}")).collect();
        let mut found = self.items_by_pk(&pks, "DLV", true).await?;
        pks.iter().filter_map(|pk| found.remove(pk)).map(|item| record(&item)).collect()
    }

    /// The items with sort key `sk` under each of `pks` (missing ones
    /// absent), by partition key: `BatchGetItem`s of 100, several in
    /// flight; eventually consistent (half the price) unless `consistent`.
    async fn items_by_pk(
        &self,
        pks: &[String],
        sk: &str,
        consistent: bool,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let chunks: Vec<Vec<Item>> =
            pks.chunks(100).map(|chunk| chunk.iter().map(|pk| key(pk.clone(), sk)).collect()).collect();
        let batches = chunks.into_iter().map(|keys| self.batch_get(keys, consistent));
        let batches: Vec<Vec<Item>> =
            futures_util::stream::iter(batches).buffered(REQUESTS_IN_FLIGHT).try_collect().await?;
        let mut out = HashMap::new();
        for item in batches.into_iter().flatten() {
            out.insert(get_s(&item, "pk")?.to_owned(), item);
        }
        Ok(out)
    }

    /// Where each `due` shard's sweep starts (a `due_at`, ms): every entry
    /// before it was seen by an earlier run. One small item, read
    /// consistently; none yet (a new table, or one from before sweeps):
    /// from the beginning.
    async fn sweep_positions(&self) -> Result<Vec<i64>, StoreError> {
        let mut from = vec![0; DUE_SHARDS as usize];
        if let Some(item) = self.get(SWEEP_POSITIONS_PK.into(), "DUE").await?
            && let Some(AttributeValue::L(list)) = item.get("pos")
        {
            for (slot, v) in from.iter_mut().zip(list) {
                *slot = number(Some(v), "pos (a sweep position)")? * 1000;
            }
        }
        Ok(from)
    }

    /// Stores the sweep's positions (whole seconds, rounded down: 128 of
    /// them fit one write unit). Unconditional: two runs at once each
    /// write positions every entry before which they saw themselves, so
    /// either one's is right, and the later run's at worst re-reads some.
    async fn save_sweep_positions(&self, from: &[i64]) -> Result<(), StoreError> {
        let mut item = key(SWEEP_POSITIONS_PK.into(), "DUE");
        item.insert("pos".into(), sweep_positions_list(from));
        self.put(item).await
    }

    /// Claims the delivery behind one `due` entry (`pk`, due at `at`) if it
    /// is pending and due, from `read` (the item as an eventually
    /// consistent read found it) — read again consistently when that item
    /// does not hold this entry (it lags the index, or moved on). A
    /// finished delivery keeps its last entry; it is passed here once.
    async fn claim_entry(
        &self,
        pk: &str,
        at: i64,
        read: Option<Item>,
        now: DateTime<Utc>,
        lease_end: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let item = match read.filter(|item| get_n(item, "due_at").ok() == Some(at)) {
            Some(item) => item,
            None => match self.get(pk.to_owned(), "DLV").await? {
                Some(item) => item,
                None => return Ok(None),
            },
        };
        let Ok(old_due) = get_n(&item, "due_at") else { return Ok(None) };
        let mut d: Delivery = record(&item)?;
        if d.status != DeliveryStatus::Pending || d.due_at.is_none_or(|t| t > now) {
            return Ok(None);
        }
        d.due_at = Some(lease_end);
        // The condition holds only for the state read, whichever read it was.
        let taken = self
            .rewrite_delivery(
                &d,
                &item,
                "#status = :pending AND due_at = :old AND attempts = :a",
                &[(":pending", s("pending")), (":old", n(old_due)), (":a", n(d.attempts.into()))],
            )
            .await?;
        Ok(taken.then_some(d))
    }

    /// One `BatchGetItem` of up to 100 `keys`, asked again (bounded) for
    /// what throttling leaves unprocessed.
    async fn batch_get(&self, mut keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for _ in 0..5 {
            if keys.is_empty() {
                return Ok(found);
            }
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(corrupt)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, ka)
                .send()
                .await
                .map_err(store_error)?;
            found.extend(out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten().cloned());
            keys = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
        }
        if keys.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::unavailable("DynamoDB left keys unprocessed (throttled)"))
        }
    }

    /// Walks the index partitions `partitions` (the shards of one listing)
    /// newest first, merged by sort key, from before `cursor`, keeping the
    /// items that pass `load`'s filter until `limit` are kept. Each shard is
    /// read a page at a time and only when the merge reaches it; a listing
    /// with one partition reads as a plain query.
    async fn page_index<T, F>(
        &self,
        index: &str,
        (pk_name, sk_name): (&str, &str),
        partitions: Vec<String>,
        cursor: Option<String>,
        limit: usize,
        mut load: F,
    ) -> Result<Page<T>, StoreError>
    where
        F: AsyncLoad<T>,
    {
        let mut shards: Vec<ShardReader> = partitions.into_iter().map(ShardReader::new).collect();
        let page = limit.clamp(1, 100);
        let mut items: Vec<T> = Vec::new();
        loop {
            let mut reads = Vec::new();
            for r in shards.iter_mut().filter(|r| r.needs_read()) {
                reads.push(r.read(self, index, (pk_name, sk_name), cursor.as_deref(), page));
            }
            futures_util::stream::iter(reads)
                .buffer_unordered(REQUESTS_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await?;
            // Take ids in merged order while every shard that may hold a
            // newer one has it buffered.
            let mut ids = Vec::new();
            while items.len() + ids.len() < limit {
                if shards.iter().any(ShardReader::needs_read) {
                    break;
                }
                let Some(newest) =
                    shards.iter_mut().filter(|r| !r.ids.is_empty()).max_by(|a, b| a.ids[0].cmp(&b.ids[0]))
                else {
                    break;
                };
                ids.extend(newest.ids.pop_front());
            }
            if ids.is_empty() && !shards.iter().any(ShardReader::needs_read) {
                return Ok(Page { items, next_cursor: None });
            }
            for (i, loaded) in load.load(self, &ids).await?.into_iter().enumerate() {
                if let Some(item) = loaded {
                    items.push(item);
                    if items.len() == limit {
                        let more = i + 1 < ids.len() || shards.iter().any(ShardReader::has_more);
                        return Ok(Page { items, next_cursor: more.then(|| ids[i].clone()) });
                    }
                }
            }
        }
    }
}

/// One partition of a sharded listing, read newest first a page at a time.
struct ShardReader {
    pk: String,
    /// Sort keys read and not yet merged, newest first.
    ids: std::collections::VecDeque<String>,
    /// Where the next page starts: `None` before the first read, then the
    /// last evaluated key (`Some(None)` once the partition is read out).
    next: Option<Option<Item>>,
}

impl ShardReader {
    fn new(pk: String) -> Self {
        Self { pk, ids: std::collections::VecDeque::new(), next: None }
    }

    /// Whether the merge must read this shard before it can go on.
    fn needs_read(&self) -> bool {
        self.ids.is_empty() && !matches!(self.next, Some(None))
    }

    fn has_more(&self) -> bool {
        !self.ids.is_empty() || !matches!(self.next, Some(None))
    }

    async fn read(
        &mut self,
        store: &DynamoStore,
        index: &str,
        (pk_name, sk_name): (&str, &str),
        cursor: Option<&str>,
        page: usize,
    ) -> Result<(), StoreError> {
        let mut query = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(index)
            .expression_attribute_values(":p", s(self.pk.clone()))
            .scan_index_forward(false)
            .limit(i32::try_from(page).unwrap_or(100))
            .set_exclusive_start_key(self.next.take().flatten());
        query = match cursor {
            Some(c) => query
                .key_condition_expression(format!("{pk_name} = :p AND {sk_name} < :c"))
                .expression_attribute_values(":c", s(c)),
            None => query.key_condition_expression(format!("{pk_name} = :p")),
        };
        let out = query.send().await.map_err(store_error)?;
        for item in out.items() {
            self.ids.push_back(get_s(item, sk_name)?.to_owned());
        }
        self.next = Some(out.last_evaluated_key().cloned());
        Ok(())
    }
}

/// Loads the records behind a page of ids, `None` for one filtered out.
#[async_trait]
trait AsyncLoad<T>: Send {
    async fn load(&mut self, store: &DynamoStore, ids: &[String]) -> Result<Vec<Option<T>>, StoreError>;
}

struct LoadSubscriptions;

#[async_trait]
impl AsyncLoad<Subscription> for LoadSubscriptions {
    async fn load(
        &mut self,
        store: &DynamoStore,
        ids: &[String],
    ) -> Result<Vec<Option<Subscription>>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(match store.get(format!("SUB#{id}"), "SUB").await? {
                Some(item) => Some(record(&item)?),
                None => None,
            });
        }
        Ok(out)
    }
}

struct LoadDeliveries<'f>(&'f DeliveryFilter);

#[async_trait]
impl AsyncLoad<Delivery> for LoadDeliveries<'_> {
    async fn load(
        &mut self,
        store: &DynamoStore,
        ids: &[String],
    ) -> Result<Vec<Option<Delivery>>, StoreError> {
        let mut by_id: HashMap<String, Delivery> =
            store.deliveries_by_id(ids).await?.into_iter().map(|d| (d.id.to_string(), d)).collect();
        Ok(ids.iter().map(|id| by_id.remove(id).filter(|d| self.0.matches(d))).collect())
    }
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn insert_subscription(
        &self,
        sub: &Subscription,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError> {
        // The tenant's count and the subscription in one transaction: the
        // count moves only when the subscription is stored, and never past
        // the limit, however many creates race.
        let max = i64::try_from(max_per_tenant).unwrap_or(i64::MAX);
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(count_key(&sub.tenant)))
            .update_expression("SET n = if_not_exists(n, :zero) + :one")
            .condition_expression("attribute_not_exists(n) OR n < :max")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .build()
            .map_err(corrupt)?;
        let writes = vec![
            TransactWriteItem::builder().update(count).build(),
            put(&self.table, subscription_item(sub)?, Some("attribute_not_exists(pk)"))?,
        ];
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(true),
            Err(e) => match failed_conditions(&e).as_deref() {
                Some([true, _]) => Ok(false),
                Some([_, true]) => {
                    Err(StoreError::Internal(format!("subscription {} already exists", sub.id)))
                }
                _ => Err(store_error(e)),
            },
        }
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.get(format!("SUB#{id}"), "SUB").await?.map(|i| record(&i)).transpose()
    }

    async fn peek_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.read(format!("SUB#{id}"), "SUB", false).await?.map(|i| record(&i)).transpose()
    }

    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError> {
        let (condition, values) = at_version(next.version.saturating_sub(1));
        let condition = format!("attribute_exists(pk) AND ({condition})");
        if self.put_if(subscription_item(next)?, &condition, &values).await? {
            return Ok(Written::Done);
        }
        // Which it was costs a read, on this rare path only.
        Ok(match self.get(format!("SUB#{}", next.id), "SUB").await? {
            Some(_) => Written::Stale,
            None => Written::Missing,
        })
    }

    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError> {
        // Read-modify-write conditioned on the version read, again on a race,
        // so a concurrent PATCH is neither lost nor overwritten.
        for _ in 0..5 {
            let Some(mut sub) = self.get_subscription(id).await? else { return Ok(()) };
            let (condition, values) = at_version(sub.version);
            sub.set_health(health);
            if self.put_if(subscription_item(&sub)?, condition, &values).await? {
                return Ok(());
            }
        }
        Err(StoreError::Contended("the subscription kept changing; health not updated".into()))
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError> {
        let Some(sub) = self.get_subscription(id).await? else { return Ok(false) };
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("SUB#{id}"), "SUB")))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(count_key(&sub.tenant)))
            .update_expression("SET n = if_not_exists(n, :one) - :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(corrupt)?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(true),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.page_index(
            GSI1,
            ("g1pk", "g1sk"),
            vec![format!("SUBS#{tenant}")],
            page.cursor.clone(),
            page.limit,
            LoadSubscriptions,
        )
        .await
    }

    async fn tenant_subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let p = self.list_subscriptions(tenant, &PageRequest { cursor, limit: 100 }).await?;
            all.extend(p.items);
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }
}

#[async_trait]
impl TenantStore for DynamoStore {
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(format!("TENANT#{tenant}"), "TENANT").await?.map(|i| record(&i)).transpose()
    }

    async fn put_tenant(&self, next: &Tenant) -> Result<Written, StoreError> {
        let mut item = key(format!("TENANT#{}", next.id), "TENANT");
        item.insert("ver".into(), version(next.version));
        item.insert("rec".into(), s(to_json(next)?));
        let expected = next.version.saturating_sub(1);
        let done = if expected == 0 {
            self.put_if(item, "attribute_not_exists(pk)", &[]).await?
        } else {
            self.put_if(item, "ver = :v", &[(":v", version(expected))]).await?
        };
        Ok(if done { Written::Done } else { Written::Stale })
    }
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned));
    Ok(TransactWriteItem::builder().put(p.build().map_err(corrupt)?).build())
}

/// Which items of a canceled transaction failed their condition.
fn failed_conditions(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> Option<Vec<bool>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => Some(
            t.cancellation_reasons().iter().map(|r| r.code() == Some("ConditionalCheckFailed")).collect(),
        ),
        _ => None,
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        _messages: &[Queued],
    ) -> Result<Inserted, StoreError> {
        let Some(idem) = &event.idempotency_key else {
            // Without an idempotency key nothing can collide: plain batch
            // writes, billed once per item (a transaction bills twice). A
            // failure part-way leaves some deliveries stored with their due
            // time; the publisher got an error, and the scheduler may still
            // deliver them — at least once, as for any unacknowledged publish.
            let mut items = Vec::with_capacity(deliveries.len() + 1);
            items.push(self.event_item(event, deliveries));
            for d in deliveries {
                items.push(self.delivery_item(d, None, None)?);
            }
            self.batch_put(items).await?;
            return Ok(Inserted::New);
        };
        // With a key: plain conditional writes in order — the key, then the
        // deliveries, then the event — not one transaction, which bills
        // every item twice (a keyed publish cost 13 write units against 6
        // without a key; every ingest-queue message is keyed). The key's
        // item names each delivery's id by target, so a repeat of the
        // request (a client's retry after a crash anywhere between the
        // writes, a second receive of an SQS message) finishes what the
        // first left, under the same ids; every write is "only if absent",
        // so none replaces a delivery that has moved on. The event is
        // written last: once it exists, every delivery does.
        let idem_pk = format!("IDEM#{}#{idem}", event.tenant);
        let mut item = key(idem_pk.clone(), "IDEM");
        item.insert("event_id".into(), s(event.id.as_str()));
        if let Some(fp) = &event.fingerprint {
            item.insert("fp".into(), s(fp.as_str()));
        }
        item.insert("created_at".into(), n(millis(event.created_at)));
        item.insert(
            "dlv".into(),
            AttributeValue::L(deliveries.iter().map(|d| s(format!("{}={}", target_key(d), d.id))).collect()),
        );
        item.insert("expires_at".into(), self.expiry(event.created_at));
        if !self.put_if(item, "attribute_not_exists(pk)", &[]).await? {
            return self.repeat(idem_pk, event, deliveries).await;
        }
        self.put_absent(
            deliveries.iter().map(|d| self.delivery_item(d, None, None)).collect::<Result<_, _>>()?,
        )
        .await?;
        self.put_absent(vec![self.event_item(event, deliveries)]).await?;
        Ok(Inserted::New)
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        // An event never changes but for `last_by`, which only grows (a
        // stale value costs at most a conditional write that finds it
        // already later): an eventually consistent read, half the price.
        // One a second old may not show yet: asked again, consistently.
        let pk = format!("EVT#{id}");
        let item = match self.read(pk.clone(), "EVT", false).await? {
            Some(item) => item,
            None => match self.get(pk, "EVT").await? {
                Some(item) => item,
                None => return Ok(None),
            },
        };
        let created = get_n(&item, "created_at")?;
        Ok(Some(Event {
            id: id.clone(),
            tenant: TenantId::parse(get_s(&item, "tenant")?).map_err(corrupt)?,
            event_type: EventType::parse(get_s(&item, "type")?).map_err(corrupt)?,
            payload: RawValue::from_string(get_s(&item, "payload")?.to_owned()).map_err(corrupt)?,
            idempotency_key: get_s(&item, "idem").ok().map(str::to_owned),
            webhook_url: get_s(&item, "webhook_url")
                .ok()
                .map(TargetUrl::stored)
                .transpose()
                .map_err(corrupt)?,
            created_at: Utc
                .timestamp_millis_opt(created)
                .single()
                .ok_or_else(|| corrupt("bad created_at"))?,
            last_attempt_by: match item.get("last_by") {
                None => None,
                Some(_) => Some(
                    Utc.timestamp_millis_opt(get_n(&item, "last_by")?)
                        .single()
                        .ok_or_else(|| corrupt("bad last_by"))?,
                ),
            },
            fingerprint: get_s(&item, "fp").ok().map(str::to_owned),
        }))
    }

    async fn keep_event(&self, id: &EventId, until: DateTime<Utc>) -> Result<(), StoreError> {
        // Only ever later: a condition, not a read, so racing extensions
        // keep the latest.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("EVT#{id}"), "EVT")))
            .update_expression("SET last_by = :by, expires_at = :exp")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(last_by) OR last_by < :by)")
            .expression_attribute_values(":by", n(millis(until)))
            .expression_attribute_values(":exp", self.expiry(until))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(store_error(e)),
        }
    }
}

impl DynamoStore {
    /// Puts each item unless one with its key exists (16 at a time).
    async fn put_absent(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let puts: Vec<_> =
            items.into_iter().map(|item| self.put_if(item, "attribute_not_exists(pk)", &[])).collect();
        futures_util::stream::iter(puts)
            .buffer_unordered(REQUESTS_IN_FLIGHT)
            .try_collect::<Vec<bool>>()
            .await?;
        Ok(())
    }

    /// Whether event `id` is stored, looking a few times over about a
    /// second and a half: a concurrent publish with the same key writes it
    /// last, milliseconds after taking the key.
    async fn wait_for_event(&self, id: &EventId) -> Result<bool, StoreError> {
        for pause_ms in [0, 25, 50, 100, 200, 400, 700] {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            if self.get(format!("EVT#{id}"), "EVT").await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A keyed publish whose key is taken: the earlier publish, finished
    /// first if it stopped before its last write (its event is missing) and
    /// this is the same request.
    async fn repeat(
        &self,
        idem_pk: String,
        event: &Event,
        deliveries: &[Delivery],
    ) -> Result<Inserted, StoreError> {
        let item = self.get(idem_pk, "IDEM").await?.ok_or_else(|| corrupt("idempotency record vanished"))?;
        let event_id: EventId = parse_id(get_s(&item, "event_id")?)?;
        let fingerprint = get_s(&item, "fp").ok().map(str::to_owned);
        let same_request = fingerprint.is_none() || fingerprint == event.fingerprint;
        // Records from before keyed publishes were split carry no delivery
        // ids: their event was stored in one transaction with them.
        let Some(AttributeValue::L(ids)) = item.get("dlv") else {
            return Ok(Inserted::Duplicate { event_id, fingerprint });
        };
        if !same_request || self.wait_for_event(&event_id).await? {
            return Ok(Inserted::Duplicate { event_id, fingerprint });
        }
        let first_at = Utc
            .timestamp_millis_opt(get_n(&item, "created_at")?)
            .single()
            .ok_or_else(|| corrupt("bad created_at"))?;
        // Still no event. While the first publish may still be running,
        // finishing it here would race it and send its deliveries twice:
        // the caller tries again later (503 with Retry-After; an ingest-queue
        // message comes back). Past that, it stopped for good: finished here
        // under its ids (each write only if absent), its messages sent now.
        if event.created_at < first_at + hookline::ports::span(PUBLISH_IN_FLIGHT) {
            return Err(StoreError::Contended(
                "an earlier publish with this idempotency key is still being stored; retry".into(),
            ));
        }
        let ids: HashMap<String, DeliveryId> = ids
            .iter()
            .filter_map(|v| v.as_s().ok())
            .filter_map(|v| v.split_once('='))
            .map(|(target, id)| Ok((target.to_owned(), parse_id(id)?)))
            .collect::<Result<_, StoreError>>()?;
        let mut first = event.clone();
        first.id = event_id.clone();
        first.created_at = first_at;
        let theirs: Vec<Delivery> = deliveries
            .iter()
            .filter_map(|d| {
                let id = ids.get(&target_key(d))?;
                Some(Delivery { id: id.clone(), event_id: event_id.clone(), ..d.clone() })
            })
            .collect();
        self.put_absent(theirs.iter().map(|d| self.delivery_item(d, None, None)).collect::<Result<_, _>>()?)
            .await?;
        // The event lists every delivery the first publish made, matched
        // again here or not.
        let mut event_item = self.event_item(&first, &theirs);
        event_item.insert("dlv".into(), AttributeValue::L(ids.values().map(|id| s(id.as_str())).collect()));
        self.put_absent(vec![event_item]).await?;
        Ok(Inserted::Resumed { event_id })
    }

    /// Records `attempt` on its delivery if the delivery is still pending
    /// with one attempt fewer; whether it did. A never-attempted delivery
    /// the caller has read (`known`) is not read again: its item holds no
    /// earlier attempt to carry over, and the write's condition checks the
    /// state it was read in (a read unit saved on every first try).
    async fn record(
        &self,
        attempt: &Attempt,
        update: &AttemptUpdate,
        keep_until: Option<DateTime<Utc>>,
        known: Option<&Delivery>,
    ) -> Result<bool, StoreError> {
        let read = match known.filter(|d| d.attempts == 0 && d.id == attempt.delivery_id) {
            Some(d) => Some((d.clone(), Item::new())),
            None => self.delivery_and_item(&attempt.delivery_id).await?,
        };
        let Some((mut d, old)) = read else {
            return Ok(false);
        };
        let (previous, due) = (d.attempts, d.due_at.map(millis));
        if !d.record(attempt, update) {
            return Ok(false);
        }

        // Plain writes, not a transaction (which bills every item twice).
        // First the attempt the delivery item carried until now goes to its
        // own item (idempotent: the same record under the same key), then the
        // delivery under its condition — the write that decides — carrying
        // this attempt. A crash between the two leaves the older attempt in
        // both places, never in neither. An attempt record too large to ride
        // along without making the delivery cost more than one write unit
        // goes to its own item after the delivery, as before: a crash in
        // between loses that record's detail (the delivery keeps its status
        // code and outcome) but never records an attempt it does not count.
        if let Some(older) = last_attempt(&old)?
            && older.number < attempt.number
        {
            self.put_attempt(&older, keep_until).await?;
        }
        let mut item = self.delivery_item(&d, Some(&s(to_json(attempt)?)), due)?;
        let separately = item_size(&item) > WRITE_UNIT;
        if separately {
            item.remove("att");
        }
        let applied = self
            .put_if(
                item,
                "#status = :pending AND attempts = :prev",
                &[(":pending", s(DeliveryStatus::Pending.as_str())), (":prev", n(previous.into()))],
            )
            .await?;
        if applied && separately {
            self.put_attempt(attempt, keep_until).await?;
        }
        Ok(applied)
    }
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.delivery_and_item(id).await?.map(|(d, _)| d))
    }

    async fn peek_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.read(format!("DLV#{id}"), "DLV", false).await?.map(|i| record(&i)).transpose()
    }

    async fn event_deliveries(&self, event_id: &EventId) -> Result<Vec<Delivery>, StoreError> {
        let Some(item) = self.get(format!("EVT#{event_id}"), "EVT").await? else { return Ok(Vec::new()) };
        let ids: Vec<String> = match item.get("dlv") {
            Some(AttributeValue::L(list)) => list.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            _ => Vec::new(),
        };
        self.deliveries_by_id(&ids).await
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let cursor = page.cursor.clone();
        if let Some(sub) = &filter.subscription_id {
            return self
                .page_index(
                    GSI1,
                    ("g1pk", "g1sk"),
                    subscription_partitions(&subscription_listing(sub)),
                    cursor,
                    page.limit,
                    LoadDeliveries(filter),
                )
                .await;
        }
        if let Some(tenant) = &filter.tenant {
            return self
                .page_index(
                    GSI2,
                    ("g2pk", "g2sk"),
                    tenant_partitions(tenant),
                    cursor,
                    page.limit,
                    LoadDeliveries(filter),
                )
                .await;
        }
        if let Some(event) = &filter.event_id {
            let mut all = self.event_deliveries(event).await?;
            all.retain(|d| filter.matches(d) && cursor.as_deref().is_none_or(|c| d.id.as_str() < c));
            all.sort_by(|a, b| b.id.cmp(&a.id));
            let more = all.len() > page.limit;
            all.truncate(page.limit);
            let next_cursor = if more { all.last().map(|d| d.id.to_string()) } else { None };
            return Ok(Page { items: all, next_cursor });
        }
        Err(StoreError::Internal("listing deliveries needs a tenant, subscription or event".into()))
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        // The delivery's partition: its item (with the latest attempt) and
        // the older attempts' items. An attempt found in both places (a crash
        // between the two writes of `record_attempt`) is listed once.
        let mut by_number = std::collections::BTreeMap::new();
        for item in self.partition(format!("DLV#{id}")).await? {
            let attempt: Option<Attempt> = match get_s(&item, "sk")? {
                "DLV" => last_attempt(&item)?,
                sk if sk.starts_with("ATT#") => Some(record(&item)?),
                _ => None,
            };
            if let Some(a) = attempt {
                by_number.insert(a.number, a);
            }
        }
        Ok(by_number.into_values().collect())
    }

    async fn record_attempt(&self, r: &Recording<'_>) -> Result<Recorded, StoreError> {
        // SQS is not in this store's transactions: the follow-up and the
        // acknowledgement are the caller's and the event source mapping's.
        let applied = self.record(r.attempt, r.update, r.keep_until, r.delivery).await?;
        Ok(Recorded { applied, follow_up_queued: false, acknowledged: false })
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let lease_end = now + hookline::ports::span(lease);
        let settled = millis(now - hookline::ports::span(SWEEP_SETTLE));
        // Each shard from where the last sweep left it to now, a page at a
        // time (every shard's first page at once: 128 queries, each at
        // least half a read unit, are a run's fixed cost); the deliveries
        // behind a round's entries read at once, eventually consistent.
        let read_from = self.sweep_positions().await?;
        let mut from = read_from.clone();
        let mut open: Vec<(usize, Option<Item>)> = (0..read_from.len()).map(|k| (k, None)).collect();
        let mut claimed = Vec::new();
        while !open.is_empty() && claimed.len() < limit {
            let queries: Vec<_> = open
                .iter()
                .map(|(k, start)| {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(DUE_INDEX)
                        .key_condition_expression("due_shard = :s AND due_at BETWEEN :from AND :now")
                        .expression_attribute_values(":s", s(k.to_string()))
                        .expression_attribute_values(":from", n(read_from[*k]))
                        .expression_attribute_values(":now", n(millis(now)))
                        .set_exclusive_start_key(start.clone())
                        .limit(SWEEP_PAGE)
                })
                .collect();
            let pages: Vec<_> = futures_util::stream::iter(queries.into_iter().map(|q| q.send()))
                .buffered(REQUESTS_IN_FLIGHT)
                .try_collect()
                .await
                .map_err(store_error)?;
            let pks = pages
                .iter()
                .flat_map(|p| p.items())
                .map(|e| get_s(e, "pk").map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()?;
            let mut read = self.items_by_pk(&pks, "DLV", false).await?;
            let mut still_open = Vec::new();
            'shards: for ((k, _), page) in open.iter().zip(&pages) {
                for entry in page.items() {
                    let at = get_n(entry, "due_at")?;
                    if claimed.len() >= limit {
                        // The first entry not looked at: the next run starts here.
                        from[*k] = at;
                        continue 'shards;
                    }
                    let pk = get_s(entry, "pk")?;
                    if let Some(d) = self.claim_entry(pk, at, read.remove(pk), now, lease_end).await? {
                        claimed.push(d);
                    }
                }
                match (page.last_evaluated_key(), page.items().last()) {
                    (Some(start), Some(last)) => {
                        from[*k] = get_n(last, "due_at")?;
                        still_open.push((*k, Some(start.clone())));
                    }
                    // Every entry up to now seen: later ones can still
                    // appear only after `settled` (see SWEEP_SETTLE).
                    _ if !page.items().is_empty() => from[*k] = from[*k].max(settled),
                    _ => {}
                }
            }
            open = still_open;
            if from != read_from {
                self.save_sweep_positions(&from).await?;
            }
        }
        Ok(claimed)
    }

    async fn reopen_delivery(
        &self,
        id: &DeliveryId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        for _ in 0..5 {
            let Some((mut d, item)) = self.delivery_and_item(id).await? else { return Ok(None) };
            let (status, attempts) = (d.status, d.attempts);
            d.reopen(at, due_at);
            let done = self
                .rewrite_delivery(
                    &d,
                    &item,
                    "#status = :s AND attempts = :a",
                    &[(":s", s(status.as_str())), (":a", n(attempts.into()))],
                )
                .await?;
            if done {
                return Ok(Some(d));
            }
        }
        Err(StoreError::Contended("the delivery kept changing; not reopened".into()))
    }

    async fn cancel_delivery(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        for _ in 0..5 {
            let Some((mut d, item)) = self.delivery_and_item(id).await? else { return Ok(false) };
            let attempts = d.attempts;
            if !d.cancel(now) {
                return Ok(false);
            }
            let done = self
                .rewrite_delivery(
                    &d,
                    &item,
                    "#status = :pending AND attempts = :a",
                    &[(":pending", s("pending")), (":a", n(attempts.into()))],
                )
                .await?;
            if done {
                return Ok(true);
            }
        }
        Err(StoreError::Contended("the delivery kept changing; not canceled".into()))
    }

    async fn cancel_subscription_deliveries(
        &self,
        id: &SubscriptionId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let filter = DeliveryFilter {
            subscription_id: Some(id.clone()),
            status: Some(DeliveryStatus::Pending),
            ..Default::default()
        };
        let mut n = 0;
        let mut cursor = None;
        loop {
            let p = self.list_deliveries(&filter, &PageRequest { cursor, limit: 100 }).await?;
            for d in &p.items {
                if self.cancel_delivery(&d.id, now).await? {
                    n += 1;
                }
            }
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(n),
            }
        }
    }
}

fn count_pk(scope: &CountScope, shard: u32) -> String {
    match scope {
        CountScope::Service => format!("COUNT#*#{shard}"),
        CountScope::Subscription(id) => format!("COUNT#{id}#{shard}"),
    }
}

fn hour_sk(hour: DateTime<Utc>) -> String {
    format!("H#{:012}", hour.timestamp())
}

/// The shard this process's next flush writes: a counter from a start
/// that differs between processes, so concurrent functions spread out.
fn next_shard() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU32::new(nanos ^ std::process::id())
    });
    next.fetch_add(1, Ordering::Relaxed) % COUNT_SHARDS
}

#[async_trait]
impl CountStore for DynamoStore {
    async fn add_counts(&self, counts: &[(CountScope, HourCount)]) -> Result<(), StoreError> {
        let shard = next_shard();
        for (scope, c) in counts {
            let expires = c.hour + hookline::ports::span(COUNT_RETENTION);
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(count_pk(scope, shard), &hour_sk(c.hour))))
                .update_expression("ADD n_ok :ok, n_failed :failed SET expires_at = :exp")
                .expression_attribute_values(":ok", n(i64::try_from(c.succeeded).unwrap_or(i64::MAX)))
                .expression_attribute_values(":failed", n(i64::try_from(c.failed).unwrap_or(i64::MAX)))
                .expression_attribute_values(":exp", n(expires.timestamp()))
                .send()
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    async fn hourly_counts(
        &self,
        scope: &CountScope,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourCount>, StoreError> {
        let mut sums: std::collections::BTreeMap<i64, (u64, u64)> = std::collections::BTreeMap::new();
        for shard in 0..COUNT_SHARDS {
            // Eventually consistent: a chart may lag a flush by a second.
            for item in self.partition_from(count_pk(scope, shard), Some(hour_sk(since)), false).await? {
                let hour = get_s(&item, "sk")?
                    .strip_prefix("H#")
                    .and_then(|h| h.parse::<i64>().ok())
                    .ok_or_else(|| corrupt("a count's sort key is not an hour"))?;
                let count = |name| get_n(&item, name).map(|v| u64::try_from(v).unwrap_or(0));
                let sum = sums.entry(hour).or_default();
                sum.0 += count("n_ok")?;
                sum.1 += count("n_failed")?;
            }
        }
        sums.into_iter()
            .map(|(hour, (succeeded, failed))| {
                let hour =
                    Utc.timestamp_opt(hour, 0).single().ok_or_else(|| corrupt("an hour out of range"))?;
                Ok(HourCount { hour, succeeded, failed })
            })
            .collect()
    }
}

// The catalog is small (a platform's event types) and rarely written: one
// partition, read whole with one strongly consistent query.
#[async_trait]
impl CatalogStore for DynamoStore {
    async fn put_event_type(&self, info: &EventTypeInfo) -> Result<(), StoreError> {
        let mut item = key("CATALOG".into(), &format!("ETYPE#{}", info.name));
        item.insert("rec".into(), s(to_json(info)?));
        self.put(item).await
    }

    async fn event_types(&self) -> Result<Vec<EventTypeInfo>, StoreError> {
        self.partition("CATALOG".into()).await?.iter().map(record).collect()
    }

    async fn delete_event_type(&self, name: &EventType) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key("CATALOG".into(), &format!("ETYPE#{name}"))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(store_error)?;
        Ok(out.attributes().is_some())
    }
}

#[async_trait]
impl RateSlots for DynamoStore {
    async fn lease(
        &self,
        subscription: &SubscriptionId,
        rate: RateLimit,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        let micros = |t: DateTime<Utc>| t.timestamp_micros();
        // The TAT as last seen; unknown at first, taken as idle.
        let mut seen: Option<i64> = None;
        for _ in 0..5 {
            let tat = seen.and_then(|us| Utc.timestamp_micros(us).single());
            let grant = rate::lease(tat, now, rate, want);
            let Grant::Slots { next, .. } = grant else { return Ok(grant) };
            // Rounded up: the next lease never starts inside this one.
            let next_us = micros(next) + i64::from(next.timestamp_subsec_nanos() % 1000 != 0);
            let req = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("RATE#{subscription}"), "RATE")))
                .update_expression("SET tat = :next, expires_at = :exp")
                .expression_attribute_values(":next", n(next_us))
                .expression_attribute_values(":exp", self.expiry(next))
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let req = match seen {
                None => req
                    .condition_expression("attribute_not_exists(tat) OR tat <= :now")
                    .expression_attribute_values(":now", n(micros(now))),
                Some(old) => {
                    req.condition_expression("tat = :old").expression_attribute_values(":old", n(old))
                }
            };
            match req.send().await {
                Ok(_) => return Ok(grant),
                Err(e) => {
                    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
                    let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = e.as_service_error()
                    else {
                        return Err(store_error(e));
                    };
                    // Another sender moved it (or TTL removed it): try again
                    // from what is there now.
                    seen = failed.item().map(|item| get_n(item, "tat")).transpose()?;
                }
            }
        }
        Err(StoreError::Contended("the rate schedule kept changing; the delivery waits".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_positions_of_every_shard_fit_one_write_unit() {
        // The last second with ten digits (in the year 2286).
        let far = 9_999_999_999_999;
        let mut item = key(SWEEP_POSITIONS_PK.into(), "DUE");
        item.insert("pos".into(), sweep_positions_list(&vec![far; DUE_SHARDS as usize]));
        assert!(item_size(&item) <= WRITE_UNIT, "{} bytes", item_size(&item));
    }

    #[test]
    fn a_stored_sweep_position_is_never_later_than_the_one_given() {
        let AttributeValue::L(list) = sweep_positions_list(&[1_999, -1]) else { panic!("a list") };
        assert_eq!(list, [n(1), n(-1)]);
    }
}
