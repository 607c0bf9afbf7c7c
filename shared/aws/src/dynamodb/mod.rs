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

mod counts;
mod deliveries;
mod events;
mod items;
mod listing;
mod rate_slots;
mod subscriptions;
mod sweep;
mod table;

pub use items::{due_shard, listing_shard};

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use items::key;

use hookline::ports::StoreError;

use crate::error::store_error;

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
pub(super) const SWEEP_PAGE: i32 = 100;

/// Shards of a subscription's deliveries listing (index `gsi1`): one entry
/// per delivery, 312 writes a second a partition at 10,000 deliveries a
/// second to one endpoint.
pub const SUBSCRIPTION_SHARDS: u32 = 32;

/// Shards of a tenant's deliveries listing (index `gsi2`): 312 writes a
/// second a partition at 20,000 deliveries a second for one tenant.
pub const TENANT_SHARDS: u32 = 64;

/// Requests one store call has in flight at once (a listing's or a
/// scheduler run's shard queries, a keyed publish's puts).
pub(super) const REQUESTS_IN_FLIGHT: usize = 16;

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
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) retention: chrono::Duration,
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
}

#[cfg(test)]
mod tests {
    use super::items::{key, n, sweep_positions_list};
    use super::*;
    use crate::size::{WRITE_UNIT, item_size};

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
