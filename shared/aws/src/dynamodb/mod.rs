//! The store on one DynamoDB table (single-table design), at the floor of
//! what its promises cost: a first try writes two items — the event, which
//! carries its deliveries' pending stubs, and the delivery's outcome record,
//! which is also its subscription's listing entry. Keys (the schema's
//! version, [`SCHEMA_VERSION`], is in item `META`/`SCHEMA`):
//!
//! | item | pk | sk | when written |
//! |---|---|---|---|
//! | event, with a stub per delivery | `E#<tenant hash>#<k>` | `<event id>` | at publish (the stream's `INSERT` is the outbox); `rx` added to by a cancel or redelivery before a first attempt |
//! | a delivery's outcome (state, latest attempt) | `D#<subscription>#<k>`, or `D#*<tenant>#<k>` for a one-off URL | `<delivery id>` | at its first attempt, and each one after; a cancel or redelivery |
//! | an older attempt | `A#<delivery id>` | `<nnnnn>` | when the next attempt replaces it in the outcome |
//! | idempotency key of a keyed API publish | `IDEM#<tenant>#<key>` | `IDEM` | before its event |
//! | subscription | `SUB#<id>` | `SUB` | g1: `SUBS#<tenant>` / id |
//! | tenant record (secret, one-off profile) | `TENANT#<t>` | `TENANT` | |
//! | a tenant's subscription count | `TENANT#<t>` | `SUBS` | |
//! | a rate-limited subscription's slots | `RATE#<subscription>` | `RATE` | |
//! | where the sweep of each `due` shard starts | `SCHED` | `DUE` | |
//! | a declared event type | `CATALOG` | `ETYPE#<name>` | |
//! | a name taken once (a portal link's nonce) | `CLAIM#<name>` | `CLAIM` | when the link is opened; TTL a day after it expires |
//! | attempts in an hour (the charts) | `COUNT#<subscription or *>#<shard>` | `H#<unix hour>` | |
//! | the schema's version | `META` | `SCHEMA` | once, by the first function to start |
//!
//! **Ids lead to items.** An event id carries its tenant's hash and its
//! deliveries' ids carry the event's (`hookline::model::EventId`): the event
//! item's key is computed from either, and a delivery's stub inside it (its
//! target, and the wait before its first attempt) names the partition of its
//! outcome record. So a delivery is visible, pending, the moment its publish
//! returns, and every read by id is a `GetItem`.
//!
//! **What a first try costs.** The publish: one `PutItem` of the event
//! (payload compressed with raw deflate when that makes it smaller by a
//! quarter — a 1 KB JSON payload becomes ~600 B, so the event with a stub
//! fits one write unit; an incompressible one is stored as sent). The
//! table's stream (`NEW_IMAGE`, free to write and, from Lambda, to read)
//! carries the new event to the outbox function, which queues each
//! delivery's first attempt: nothing stored is left unsent, with no
//! per-delivery index entry, packed ten to an SQS message. The attempt: an
//! eventually consistent read of the event (the deliver handler's second
//! read of it is served from this process's memory) and of the
//! subscription (once per deliver batch), and one `PutItem` of the outcome
//! record, conditioned on the attempt count it replaces
//! (`attribute_not_exists` for the first). No record is read for a first
//! attempt: it has none, unless a cancel or a redelivery wrote one before
//! any attempt — which first adds the stub's index to the event's `rx`
//! set (one update, off the first try's path), so a first attempt of such
//! a stub reads its record. A retry reads the record
//! consistently, moves the attempt it held to its own item, and writes the
//! record again.
//!
//! **Listings without indexes.** A subscription's deliveries are its
//! outcome records, [`SUBSCRIPTION_SHARDS`] partitions merged newest first
//! (the ids are ULIDs, so by time); a tenant's are read from its events,
//! [`EVENT_SHARDS`] partitions named by its hash, each event's stubs matched
//! to their outcome records by key (`BatchGetItem`). Both list every
//! delivery once attempted; the tenant's listing shows unattempted ones too.
//! Only subscriptions keep an index (`gsi1`, written when a subscription
//! is), and the `due` index is sparse: an entry only where a retry waits in
//! the store past the queue's longest delay, or a redelivery's safety net.
//! A first attempt whose message dies in the delivery DLQ is brought back
//! by the retry function's redriver (`SqsDeadLetters::redrive_all`).
//! The scheduler sweeps each `due` shard onward from where its last run
//! stopped (item `SCHED`); a finished delivery keeps the entry it had until
//! TTL removes it (removing it would be one more index write).
//!
//! **No hot partition.** Every key a delivery writes is its own (`A#<id>`,
//! the event) or one of several shards, chosen by a hash of the id
//! ([`spread`](items::spread)): one endpoint at 10,000 deliveries a second
//! puts 312 writes a second on each of its 32 outcome partitions, one tenant
//! at 20,000 events a second 312 on each of its 64 event partitions
//! (DynamoDB allows 1,000); `hookline-load hot` measures it.
//!
//! **Conditions.** Subscriptions and tenant records carry their version
//! (`ver`) and every rewrite is conditioned on the one it read; a
//! subscription is created in one transaction with its tenant's count. An
//! outcome record is written only over the status and attempt count it was
//! read with, so an attempt is counted once and a finished delivery never
//! comes back but by a redelivery. A keyed publish from the ingest queue has
//! its id derived from its message (id and sent time): the event is put only
//! if absent, and a second receive finds it. A keyed API publish takes its
//! key's item first, then puts the event; a repeat finds the key and the
//! event (or, past [`PUBLISH_IN_FLIGHT`], writes the event the first one
//! did not).
//!
//! **TTL** (`expires_at`) follows the work: an event the retention after
//! `last_by`, the latest any of its deliveries can be attempted (moved later
//! by an `UpdateItem` only when a retry, redelivery or replay goes past it);
//! an outcome record and its older attempts the retention after the
//! delivery finishes (pending: never); a key item the retention after its
//! publish.
//!
//! A rate-limited subscription's schedule is one item holding its TAT
//! (`tat`, unix microseconds): a lease moves it with one `UpdateItem`
//! conditioned on the value it was computed from. Hourly attempt counts are
//! sums a process adds at once, over [`COUNT_SHARDS`] partitions a scope.

mod counts;
mod deliveries;
mod events;
mod items;
mod listing;
mod outbox;
mod rate_slots;
mod subscriptions;
mod sweep;
mod table;

pub use items::{due_shard, event_partition, outcome_partition};
pub use outbox::{first_attempts, is_event_item};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use hookline::model::{Event, EventId};
use hookline::ports::StoreError;

use crate::error::store_error;
use items::{get_n, key, n};

/// The data model this code reads and writes (item `META`/`SCHEMA`). A
/// table without it that holds anything was written by an earlier version:
/// [`DynamoStore::check_schema`] refuses it.
pub const SCHEMA_VERSION: i64 = 2;

/// Shards of the `due` index: an entry for each retry that waits in the
/// store, so even every delivery of an endpoint failing at 10,000 a second
/// puts 78 writes a second on each (DynamoDB's limit is 1,000).
pub const DUE_SHARDS: u32 = 128;

/// How far behind the clock a `due` shard's sweep position stays: an entry
/// can appear behind a sweep only if the index lagged, or its writer's
/// clock was behind the scheduler's, by more than this.
pub const SWEEP_SETTLE: Duration = Duration::from_secs(10);

/// The partition key of the item holding the sweep's positions (sort key
/// `DUE`).
pub const SWEEP_POSITIONS_PK: &str = "SCHED";

/// `due` entries read per shard per query in a sweep.
pub(super) const SWEEP_PAGE: i32 = 100;

/// Partitions of a subscription's outcome records: 312 writes a second
/// each at 10,000 deliveries a second to one endpoint.
pub const SUBSCRIPTION_SHARDS: u32 = 32;

/// Partitions of a tenant's events: 312 writes a second each at 20,000
/// events a second for one tenant.
pub const EVENT_SHARDS: u32 = 64;

/// Requests one store call has in flight at once.
pub(super) const REQUESTS_IN_FLIGHT: usize = 16;

/// Shards of each scope's hourly counts.
pub const COUNT_SHARDS: u32 = 8;

/// The longest a publish can still be writing after it took its
/// idempotency key: more than the publishing functions' timeout (30 s in
/// template.yaml). A repeat finishes a part-written publish only after this,
/// so it never races one still running.
pub const PUBLISH_IN_FLIGHT: Duration = Duration::from_secs(120);

/// Name of the subscriptions-by-tenant index.
pub const GSI1: &str = "gsi1";

/// Name of the sparse, sharded index of retries waiting in the store.
pub const DUE_INDEX: &str = "due";

/// Events the process keeps, at most.
const CACHE_ENTRIES: usize = 1024;

pub(super) type Item = HashMap<String, AttributeValue>;

/// What the process read a moment ago, kept for its next use: the event a
/// delivery's peek read (the deliver handler asks for it straight after;
/// an event never changes but by `keep_event`, which forgets it here).
#[derive(Default)]
pub(super) struct Seen {
    events: HashMap<EventId, Event>,
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) retention: chrono::Duration,
    pub(super) seen: Arc<Mutex<Seen>>,
}

impl DynamoStore {
    /// A store on `table`; records expire `retention` after their last use
    /// (DynamoDB TTL on `expires_at`; see the module's notes).
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
        Self { client, table: table.into(), retention, seen: Arc::default() }
    }

    pub(super) fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A panic while holding it leaves plain maps: usable.
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `event` for the next [`hookline::ports::EventStore::get_event`] of it.
    pub(super) fn remember_event(&self, event: &Event) {
        let mut seen = self.seen();
        if seen.events.len() >= CACHE_ENTRIES {
            seen.events.clear();
        }
        seen.events.insert(event.id.clone(), event.clone());
    }

    pub(super) fn forget_event(&self, id: &EventId) {
        self.seen().events.remove(id);
    }

    /// Event `id`, if this process read it a moment ago for a delivery
    /// (once: the next read of it goes to the table).
    pub(super) fn take_remembered_event(&self, id: &EventId) -> Option<Event> {
        self.seen().events.remove(id)
    }

    /// Reads the schema marker (one consistent read of a small item), so the
    /// client's credentials and connection are ready before the first real
    /// request, and [`Self::check_schema`]'s answer with it: a table of
    /// another data model is an error here.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        self.check_schema().await?.map_err(StoreError::refused)
    }

    /// Whether this code can use the table: `Ok(Err(what to do))` for a
    /// table another version of hookline wrote (its data model is not this
    /// one); a new, empty table is marked as this version's. `Err` when the
    /// table could not be asked.
    pub async fn check_schema(&self) -> Result<Result<(), String>, StoreError> {
        if let Some(item) = self.get("META".into(), "SCHEMA").await? {
            return Ok(match get_n(&item, "v")? {
                SCHEMA_VERSION => Ok(()),
                v => Err(format!(
                    "table {} holds data model v{v}; this hookline reads v{SCHEMA_VERSION}: deploy the \
                     version that wrote it, or a new stack beside it (docs/deploy.md, \"Moving to a new \
                     data model\")",
                    self.table
                )),
            });
        }
        let any = self.client.scan().table_name(&self.table).limit(1).send().await.map_err(store_error)?;
        if any.count() > 0 {
            return Ok(Err(format!(
                "table {} was written by hookline before data model v{SCHEMA_VERSION} (events, \
                 deliveries and indexes kept another way), which this version cannot read: deploy a \
                 new stack beside it and let the old one finish its deliveries (docs/deploy.md, \
                 \"Moving to a new data model\")",
                self.table
            )));
        }
        let mut marker = key("META".into(), "SCHEMA");
        marker.insert("v".into(), n(SCHEMA_VERSION));
        // Two first starts at once: either one's marker is the same.
        self.put_if(marker, "attribute_not_exists(pk)", &[]).await?;
        Ok(Ok(()))
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
