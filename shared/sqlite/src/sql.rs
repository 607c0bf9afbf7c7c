//! What every part of the SQLite crate shares: how a SQLite failure is
//! classified, running a cached statement, times as stored, and queueing
//! messages inside a transaction (the store queues a follow-up in the same
//! transaction that records its attempt). A leaf: it imports no other
//! module of the crate.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

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

/// Inserts messages into the queue table, visible after their delays from
/// `now` (unix milliseconds). The queue's `enqueue` and the store's
/// `record_attempt` (for a follow-up) both write through here.
pub(crate) fn enqueue_in(tx: &rusqlite::Connection, messages: &[Queued], now: i64) -> Result<(), StoreError> {
    let mut stmt =
        tx.prepare_cached("INSERT INTO queue (message, visible_at) VALUES (?1, ?2)").map_err(classify)?;
    for q in messages {
        let text = serde_json::to_string(&q.message).map_err(|e| StoreError::Internal(e.to_string()))?;
        let delay = i64::try_from(q.delay.as_millis()).unwrap_or(i64::MAX);
        stmt.execute(params![text, now.saturating_add(delay)]).map_err(classify)?;
    }
    Ok(())
}
