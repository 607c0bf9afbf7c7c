//! What every part of the SQLite crate shares: how a SQLite failure is
//! classified, running a cached statement, times as stored, and queueing
//! messages inside a transaction (the store queues a follow-up in the same
//! transaction that records its attempt). A leaf: it imports no other
//! module of the crate.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use hookline::ports::{Queued, StoreError};

/// A SQLite failure as a store error: a busy or locked database, an I/O
/// error or a full disk may pass; a file that cannot be opened or written,
/// or is corrupt, needs an operator; anything else is a bug of ours.
pub(crate) fn classify(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked | C::SystemIoFailure | C::DiskFull | C::OutOfMemory) => {
            StoreError::unavailable(e)
        }
        Some(C::DatabaseCorrupt | C::NotADatabase) => StoreError::Corrupt(e.to_string()),
        Some(C::CannotOpen | C::ReadOnly | C::PermissionDenied | C::FileLockingProtocolFailed) => {
            StoreError::refused(e)
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Runs one statement from the connection's statement cache (parsing SQL
/// showed in the profile of the embedded mode).
pub(crate) fn exec(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

/// `visible_at` of a message waiting behind the head of its group (an
/// ordered delivery's key): never visible until [`dequeue`] promotes it.
pub(crate) const PARKED: i64 = i64::MAX;

/// Inserts messages into the queue table, visible after their delays from
/// `now` (unix milliseconds) — a message of a group that already has one
/// parked behind it. The queue's `enqueue` and the store's `record_attempt`
/// (for a follow-up) both write through here.
pub(crate) fn enqueue_in(tx: &rusqlite::Connection, messages: &[Queued], now: i64) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO queue (message, visible_at, grp) VALUES (?1,
               CASE WHEN ?3 IS NOT NULL AND EXISTS (SELECT 1 FROM queue WHERE grp = ?3) THEN ?4 ELSE ?2 END, ?3)",
        )
        .map_err(classify)?;
    for q in messages {
        let text = serde_json::to_string(&q.message).map_err(|e| StoreError::Internal(e.to_string()))?;
        let delay = i64::try_from(q.delay.as_millis()).unwrap_or(i64::MAX);
        stmt.execute(params![text, now.saturating_add(delay), q.message.group(), PARKED])
            .map_err(classify)?;
    }
    Ok(())
}

/// Deletes queue message `seq` (handled, or moved to the dead letters) and
/// makes the next of its group visible at `now`; whether it did.
pub(crate) fn dequeue(tx: &rusqlite::Connection, seq: i64, now: i64) -> Result<bool, StoreError> {
    let group: Option<Option<String>> = tx
        .prepare_cached("DELETE FROM queue WHERE seq = ?1 RETURNING grp")
        .and_then(|mut stmt| stmt.query_row([seq], |r| r.get(0)).optional())
        .map_err(classify)?;
    let Some(Some(group)) = group else { return Ok(false) };
    let promoted = exec(
        tx,
        "UPDATE queue SET visible_at = ?2 WHERE visible_at = ?3
           AND seq = (SELECT MIN(seq) FROM queue WHERE grp = ?1)",
        params![group, now, PARKED],
    )
    .map_err(classify)?;
    Ok(promoted > 0)
}
