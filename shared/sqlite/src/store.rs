//! The embedded store: every store port on one SQLite file (bundled SQLite,
//! WAL mode), so state survives restarts. One connection serialises writes;
//! calls run on tokio's blocking pool so they never stall the runtime.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use hookline::model::{
    Attempt, Delivery, DeliveryId, Event, EventId, EventType, EventTypeInfo, SubscriptionId, Tenant, TenantId,
};
use hookline::ports::{
    Ack, CatalogStore, ClaimStore, Clock, CountScope, CountStore, DeliveryFilter, DeliveryStore, EventStore,
    HourCount, Inserted, Page, PageRequest, Queued, Recorded, Recording, StoreError, TenantStore, Written,
};
use tokio::sync::Notify;

use crate::sql::{classify, exec, millis};

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<crate::db::Db>,
    pub(super) clock: Arc<dyn Clock>,
    /// Told when a message may have become available (the queue's workers
    /// wait on it).
    pub(super) wake: Arc<Notify>,
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` (see
    /// [`crate::db`] for how it is written and read).
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let db = crate::db::Db::open(path, |conn| {
            conn.execute_batch(include_str!("schema.sql")).map_err(classify)?;
            migrate(conn)
        })?;
        Ok(Self { db: Arc::new(db), clock, wake: Arc::new(Notify::new()) })
    }

    /// Runs `f` on a read connection.
    pub(super) async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.read(f).await
    }

    /// Runs `f` on a read connection in this thread: lookups by key only.
    pub(super) fn lookup<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.read_now(f)
    }

    /// Runs `f`, a write accepting new work that creates `weight`
    /// deliveries, as intake (see [`crate::db::Db::write_intake`]).
    pub(super) async fn write_intake<T, F>(&self, weight: usize, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.write_intake(weight, f).await
    }

    /// Runs `f` as one write, committed (durably) before this returns.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.db.write(f).await
    }
}

/// The record (first column, JSON) of the one row `sql` selects, if any.
pub(crate) fn one<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Option<T>, StoreError> {
    let rec: Option<String> =
        c.prepare_cached(sql).and_then(|mut s| s.query_row(p, |r| r.get(0)).optional()).map_err(classify)?;
    rec.map(|r| from_json(&r)).transpose()
}

/// The records (first column, JSON) of every row `sql` selects.
pub(crate) fn all<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(classify)?;
    let recs = stmt
        .query_map(p, |r| r.get::<_, String>(0))
        .map_err(classify)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(classify)?;
    recs.iter().map(|r| from_json(r)).collect()
}

/// Brings a database made by an earlier version up to the schema.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, kind) in [
        ("deliveries", "finished_at", "INTEGER"),
        ("queue", "last_error", "TEXT"),
        ("queue", "grp", "TEXT"),
        ("dead_letters", "reason", "TEXT"),
        ("hourly_counts", "gave_up", "INTEGER NOT NULL DEFAULT 0"),
    ] {
        let has: bool = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'"),
                [],
                |r| r.get(0),
            )
            .map_err(classify)?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                .map_err(classify)?;
        }
    }
    // Tenants with subscriptions from before the routing table, listed by
    // it (version 0 reads as no row does).
    conn.execute_batch(
        "INSERT OR IGNORE INTO routing (tenant, version) SELECT DISTINCT tenant, 0 FROM subscriptions;",
    )
    .map_err(classify)?;
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (finished_at) WHERE finished_at IS NOT NULL;
         CREATE INDEX IF NOT EXISTS queue_by_group ON queue (grp, seq) WHERE grp IS NOT NULL;",
    )
    .map_err(classify)?;
    // Tenants kept only their secrets before they had a record of their own.
    let legacy_tenants: bool = conn
        .query_row("SELECT COUNT(*) FROM pragma_table_info('tenants') WHERE name = 'secrets'", [], |r| {
            r.get(0)
        })
        .map_err(classify)?;
    if legacy_tenants {
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TABLE tenants_record (tenant TEXT PRIMARY KEY, record TEXT NOT NULL);
             INSERT INTO tenants_record (tenant, record)
               SELECT tenant, json_object('id', tenant, 'secrets', json(secrets),
                                          'updated_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'version', 1)
               FROM tenants;
             DROP TABLE tenants;
             ALTER TABLE tenants_record RENAME TO tenants;
             COMMIT;",
        )
        .map_err(classify)?;
    }
    Ok(())
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Events removed.
    pub events: u64,
    /// Finished deliveries removed (with their attempts).
    pub deliveries: u64,
}

impl SqliteStore {
    /// Removes deliveries that finished before `cutoff` (with their
    /// attempts) and events created before it that no delivery refers to
    /// any more: the embedded counterpart of DynamoDB's TTL. Pending
    /// deliveries and their events are never removed.
    pub async fn purge(&self, cutoff: DateTime<Utc>) -> Result<Purged, StoreError> {
        let cutoff = millis(cutoff);
        self.write(move |tx| {
            exec(
                tx,
                "DELETE FROM attempts WHERE delivery_id IN
                   (SELECT id FROM deliveries WHERE finished_at IS NOT NULL AND finished_at < ?1)",
                [cutoff],
            )
            .map_err(classify)?;
            let deliveries = exec(
                tx,
                "DELETE FROM deliveries WHERE finished_at IS NOT NULL AND finished_at < ?1",
                [cutoff],
            )
            .map_err(classify)?;
            let events = exec(
                tx,
                "DELETE FROM events WHERE created_at < ?1
                       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
                [cutoff],
            )
            .map_err(classify)?;
            exec(tx, "DELETE FROM claims WHERE until < ?1", [cutoff]).map_err(classify)?;
            Ok(Purged { events: events as u64, deliveries: deliveries as u64 })
        })
        .await
    }
}

fn read_delivery(tx: &Connection, id: &str) -> Result<Option<Delivery>, StoreError> {
    one(tx, "SELECT record FROM deliveries WHERE id = ?1", [id])
}

fn write_delivery(tx: &Connection, d: &Delivery) -> Result<(), StoreError> {
    exec(tx,
        "INSERT INTO deliveries (id, event_id, tenant, subscription_id, status, attempts, due_at, created_at, record, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET status = ?5, attempts = ?6, due_at = ?7, record = ?9, finished_at = ?10",
        params![
            d.id.as_str(),
            d.event_id.as_str(),
            d.tenant.as_str(),
            d.subscription_id().map(|s| s.as_str().to_owned()),
            d.status.as_str(),
            d.attempts,
            d.due_at.map(millis),
            millis(d.created_at),
            to_json(d)?,
            d.status.is_final().then(|| millis(d.updated_at)),
        ],
    )
    .map_err(classify)?;
    Ok(())
}

/// A page of records from `sql`, which selects `id, record` newest first
/// with one row more than `limit` (to tell whether another page follows).
pub(crate) fn paged<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    limit: usize,
) -> Result<Page<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(classify)?;
    let rows = stmt
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(classify)?
        .collect::<Result<Vec<(String, String)>, _>>()
        .map_err(classify)?;
    page_of(rows, limit)
}

fn page_of<T: DeserializeOwned>(rows: Vec<(String, String)>, limit: usize) -> Result<Page<T>, StoreError> {
    let more = rows.len() > limit;
    let rows = &rows[..rows.len().min(limit)];
    let next_cursor = if more { rows.last().map(|(id, _)| id.clone()) } else { None };
    let items = rows.iter().map(|(_, rec)| from_json(rec)).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

/// The version of the record (JSON) of the row `sql` selects, if any.
pub(crate) fn stored_version(c: &Connection, sql: &str, key: &str) -> Result<Option<u64>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        #[serde(default)]
        version: u64,
    }
    Ok(one::<Versioned>(c, sql, [key])?.map(|v| v.version))
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let tenant = tenant.to_string();
        self.lookup(move |c| one(c, "SELECT record FROM tenants WHERE tenant = ?1", [tenant]))
    }

    async fn put_tenant(&self, next: &Tenant) -> Result<Written, StoreError> {
        let (tenant, rec, version) = (next.id.to_string(), to_json(next)?, next.version);
        self.write(move |tx| {
            let stored = stored_version(tx, "SELECT record FROM tenants WHERE tenant = ?1", &tenant)?.unwrap_or(0);
            if stored.checked_add(1) != Some(version) {
                return Ok(Written::Stale);
            }
            exec(tx,
                "INSERT INTO tenants (tenant, record) VALUES (?1, ?2) ON CONFLICT (tenant) DO UPDATE SET record = ?2",
                params![tenant, rec],
            )
            .map_err(classify)?;
            Ok(Written::Done)
        })
        .await
    }
}

fn scope_key(scope: &CountScope) -> String {
    match scope {
        CountScope::Service => "*".to_owned(),
        CountScope::Subscription(id) => id.to_string(),
        CountScope::Tenant(t) => format!("tenant:{t}"),
    }
}

#[async_trait]
impl CountStore for SqliteStore {
    async fn add_counts(&self, counts: &[(CountScope, HourCount)]) -> Result<(), StoreError> {
        let rows: Vec<(String, i64, (u64, u64, u64))> =
            counts.iter().map(|(s, c)| (scope_key(s), c.hour.timestamp(), c.sums())).collect();
        let Some(newest) = rows.iter().map(|r| r.1).max() else { return Ok(()) };
        let horizon = newest - i64::try_from(hookline::ports::COUNT_RETENTION.as_secs()).unwrap_or(i64::MAX);
        self.write(move |tx| {
            let mut add = tx
                .prepare_cached(
                    "INSERT INTO hourly_counts (scope, hour, succeeded, failed, gave_up) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (scope, hour) DO UPDATE
                     SET succeeded = succeeded + ?3, failed = failed + ?4, gave_up = gave_up + ?5",
                )
                .map_err(classify)?;
            for (scope, hour, (succeeded, failed, gave_up)) in &rows {
                add.execute(params![scope, hour, succeeded, failed, gave_up]).map_err(classify)?;
            }
            exec(tx, "DELETE FROM hourly_counts WHERE hour < ?1", [horizon]).map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn hourly_counts(
        &self,
        scope: &CountScope,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourCount>, StoreError> {
        let (scope, since) = (scope_key(scope), since.timestamp());
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT hour, succeeded, failed, gave_up FROM hourly_counts WHERE scope = ?1 AND hour >= ?2 ORDER BY hour",
                )
                .map_err(classify)?;
            let rows = stmt
                .query_map(params![scope, since], |r| {
                    Ok((r.get::<_, i64>(0)?, (r.get::<_, u64>(1)?, r.get::<_, u64>(2)?, r.get::<_, u64>(3)?)))
                })
                .map_err(classify)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(classify)?;
            rows.into_iter()
                .map(|(hour, sums)| {
                    let hour = DateTime::from_timestamp(hour, 0)
                        .ok_or_else(|| StoreError::Corrupt(format!("hour {hour} is not a time")))?;
                    Ok(HourCount::new(hour, sums))
                })
                .collect()
        })
        .await
    }
}

#[async_trait]
impl ClaimStore for SqliteStore {
    async fn claim(&self, name: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let (name, until) = (name.to_owned(), millis(until));
        self.write(move |tx| {
            let taken =
                exec(tx, "INSERT OR IGNORE INTO claims (name, until) VALUES (?1, ?2)", params![name, until])
                    .map_err(classify)?;
            Ok(taken == 1)
        })
        .await
    }
}

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn put_event_type(&self, info: &EventTypeInfo) -> Result<(), StoreError> {
        let (name, rec) = (info.name.to_string(), to_json(info)?);
        self.write(move |tx| {
            exec(tx,
                "INSERT INTO event_types (name, record) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET record = ?2",
                params![name, rec],
            )
            .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn event_types(&self) -> Result<Vec<EventTypeInfo>, StoreError> {
        self.with(|c| all(c, "SELECT record FROM event_types ORDER BY name", [])).await
    }

    async fn delete_event_type(&self, name: &EventType) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.write(move |tx| {
            Ok(exec(tx, "DELETE FROM event_types WHERE name = ?1", [name]).map_err(classify)? > 0)
        })
        .await
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        messages: &[Queued],
    ) -> Result<Inserted, StoreError> {
        let event = event.clone();
        let deliveries = deliveries.to_vec();
        let messages = messages.to_vec();
        let now = millis(self.clock.now());
        let weight = deliveries.len();
        // The event, its deliveries and the messages that start them, in one
        // transaction: a crash cannot store an event nothing will deliver.
        let inserted = self.write_intake(weight, move |tx| {
            if let Some(key) = &event.idempotency_key {
                let existing: Option<Event> = one(
                    tx,
                    "SELECT record FROM events WHERE tenant = ?1 AND idempotency_key = ?2",
                    params![event.tenant.as_str(), key],
                )?;
                if let Some(earlier) = existing {
                    return Ok(Inserted::Duplicate { event_id: earlier.id, fingerprint: earlier.fingerprint });
                }
            }
            exec(tx,
                "INSERT INTO events (id, tenant, idempotency_key, created_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    event.id.as_str(),
                    event.tenant.as_str(),
                    event.idempotency_key,
                    millis(event.created_at),
                    to_json(&event)?
                ],
            )
            .map_err(classify)?;
            for d in &deliveries {
                write_delivery(tx, d)?;
            }
            crate::sql::enqueue_in(tx, &messages, now)?;
            Ok(Inserted::New)
        })
        .await?;
        self.wake.notify_waiters();
        Ok(inserted)
    }

    fn queues_messages(&self) -> bool {
        true
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        let id = id.to_string();
        self.lookup(move |c| one(c, "SELECT record FROM events WHERE id = ?1", [id]))
    }

    async fn keep_event(&self, id: &EventId, until: DateTime<Utc>) -> Result<(), StoreError> {
        // The purge keeps every event a delivery refers to; the field is kept
        // true all the same, for whoever reads it.
        let id = id.to_string();
        self.write(move |tx| {
            let Some(mut event) = one::<Event>(tx, "SELECT record FROM events WHERE id = ?1", [&id])? else {
                return Ok(());
            };
            if event.last_attempt_by.is_some_and(|by| by >= until) {
                return Ok(());
            }
            event.last_attempt_by = Some(until);
            exec(tx, "UPDATE events SET record = ?2 WHERE id = ?1", params![id, to_json(&event)?])
                .map_err(classify)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        let id = id.to_string();
        self.lookup(move |c| read_delivery(c, &id))
    }

    async fn event_deliveries(&self, event_id: &EventId) -> Result<Vec<Delivery>, StoreError> {
        let id = event_id.to_string();
        self.with(move |c| all(c, "SELECT record FROM deliveries WHERE event_id = ?1 ORDER BY id", [id]))
            .await
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let f = filter.clone();
        let (cursor, limit) = (page.cursor.clone(), page.limit);
        self.with(move |c| {
            let sql = "SELECT id, record FROM deliveries
                     WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR subscription_id = ?2)
                       AND (?3 IS NULL OR event_id = ?3) AND (?4 IS NULL OR status = ?4)
                       AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at < ?6)
                       AND (?7 IS NULL OR id < ?7)
                       AND (?9 IS NULL OR json_extract(record, '$.event_type') = ?9)
                     ORDER BY id DESC LIMIT ?8";
            paged(
                c,
                sql,
                params![
                    f.tenant.map(|t| t.to_string()),
                    f.subscription_id.map(|s| s.to_string()),
                    f.event_id.map(|e| e.to_string()),
                    f.status.map(|s| s.as_str()),
                    f.since.map(millis),
                    f.until.map(millis),
                    cursor,
                    limit + 1,
                    f.event_type.map(|t| t.to_string())
                ],
                limit,
            )
        })
        .await
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        let id = id.to_string();
        self.with(move |c| all(c, "SELECT record FROM attempts WHERE delivery_id = ?1 ORDER BY number", [id]))
            .await
    }

    async fn record_attempt(&self, r: &Recording<'_>) -> Result<Recorded, StoreError> {
        let (attempt, update) = (r.attempt.clone(), r.update.clone());
        let follow_up = r.follow_up.cloned();
        let ack = r.ack;
        let now = millis(self.clock.now());
        // The attempt, its follow-up and the acknowledgement of the message
        // that made it commit together: a crash leaves all or none.
        let recorded = self
            .write(move |tx| {
                let Some(mut d) = read_delivery(tx, attempt.delivery_id.as_str())? else {
                    return Ok(Recorded::default());
                };
                if !d.record(&attempt, &update) {
                    return Ok(Recorded::default());
                }
                write_delivery(tx, &d)?;
                exec(
                    tx,
                    "INSERT INTO attempts (delivery_id, number, record) VALUES (?1, ?2, ?3)",
                    params![attempt.delivery_id.as_str(), attempt.number, to_json(&attempt)?],
                )
                .map_err(classify)?;
                if let Some(next) = &follow_up {
                    crate::sql::enqueue_in(tx, std::slice::from_ref(next), now)?;
                }
                if let Some(Ack(seq)) = ack {
                    crate::sql::dequeue(tx, seq, now)?;
                }
                Ok(Recorded {
                    applied: true,
                    follow_up_queued: follow_up.is_some(),
                    acknowledged: ack.is_some(),
                })
            })
            .await?;
        if recorded.follow_up_queued {
            self.wake.notify_waiters();
        }
        Ok(recorded)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let lease_end = now + hookline::ports::span(lease);
        self.write(move |tx| {
            let ids: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT id FROM deliveries WHERE status = 'pending' AND due_at IS NOT NULL AND due_at <= ?1
                         ORDER BY due_at LIMIT ?2",
                    )
                    .map_err(classify)?;
                stmt.query_map(params![millis(now), limit], |r| r.get(0))
                    .map_err(classify)?
                    .collect::<Result<_, _>>()
                    .map_err(classify)?
            };
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(mut d) = read_delivery(tx, &id)? {
                    d.due_at = Some(lease_end);
                    write_delivery(tx, &d)?;
                    claimed.push(d);
                }
            }
            Ok(claimed)
        })
        .await
    }

    async fn reopen_delivery(
        &self,
        id: &DeliveryId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let Some(mut d) = read_delivery(tx, &id)? else { return Ok(None) };
            d.reopen(at, due_at);
            write_delivery(tx, &d)?;
            Ok(Some(d))
        })
        .await
    }

    async fn cancel_delivery(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let Some(mut d) = read_delivery(tx, &id)? else { return Ok(false) };
            if !d.cancel(now) {
                return Ok(false);
            }
            write_delivery(tx, &d)?;
            Ok(true)
        })
        .await
    }

    async fn cancel_subscription_deliveries(
        &self,
        id: &SubscriptionId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let recs: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT record FROM deliveries WHERE subscription_id = ?1 AND status = 'pending'",
                    )
                    .map_err(classify)?;
                stmt.query_map([id], |r| r.get(0))
                    .map_err(classify)?
                    .collect::<Result<_, _>>()
                    .map_err(classify)?
            };
            for rec in &recs {
                let mut d: Delivery = from_json(rec)?;
                d.cancel(now);
                write_delivery(tx, &d)?;
            }
            Ok(recs.len() as u64)
        })
        .await
    }
}
