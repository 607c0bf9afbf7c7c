//! The embedded delivery queue, durable in the same SQLite file: a message
//! taken is leased (hidden) rather than removed, and deleted only once
//! handled, so a crash mid-delivery hands it out again — the SQS contract.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use hookline::ports::{
    DeadLetter, DeadLetters, DeliveryQueue, QueueDepth, QueueError, QueueMessage, Queued, StoreError,
};

use crate::sql::{PARKED, classify, dequeue, enqueue_in, exec, millis};
use crate::store::SqliteStore;

/// Receives of one message before it is moved to `dead_letters`.
pub const MAX_RECEIVES: u32 = 5;

/// A message taken from the queue.
#[derive(Debug)]
pub struct Lease {
    /// Its position, to acknowledge it.
    pub seq: i64,
    /// How many times it has been taken, this time included.
    pub receives: u32,
    /// The message; `Err` holds the text of one that cannot be read.
    pub message: Result<QueueMessage, String>,
}

/// How full the queue is, for an operator's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages visible now, waiting for a worker.
    pub ready: u64,
    /// Messages taken by a worker and not yet acknowledged.
    pub in_flight: u64,
    /// Messages waiting for their delay (a retry's wait) to end.
    pub delayed: u64,
    /// Ordered deliveries' messages waiting behind an earlier one of their
    /// key.
    pub behind_in_order: u64,
    /// How long the oldest ready message has been visible: how far behind
    /// the workers are.
    pub oldest_ready_age: Duration,
    /// Messages set aside in `dead_letters`.
    pub dead_letters: u64,
}

/// The queue over the store's database.
#[derive(Clone)]
pub struct SqliteQueue {
    store: SqliteStore,
}

impl SqliteQueue {
    /// The queue in `store`'s database.
    pub fn new(store: SqliteStore) -> Self {
        Self { store }
    }

    /// Resolves when a message may have become available.
    pub async fn wait_for_messages(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.store.wake.notified()).await;
    }

    /// Counts the queue's messages by state, in one read.
    pub async fn stats(&self) -> Result<QueueStats, StoreError> {
        let now = millis(self.store.clock.now());
        self.store
            .with(move |c| {
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                c.query_row(
                    "SELECT
                       (SELECT COUNT(*) FROM queue WHERE visible_at <= ?1),
                       (SELECT COUNT(*) FROM queue WHERE visible_at > ?1 AND visible_at < ?2 AND receives > 0),
                       (SELECT COUNT(*) FROM queue WHERE visible_at > ?1 AND visible_at < ?2 AND receives = 0),
                       (SELECT MIN(visible_at) FROM queue WHERE visible_at <= ?1),
                       (SELECT COUNT(*) FROM dead_letters),
                       (SELECT COUNT(*) FROM queue WHERE visible_at = ?2)",
                    params![now, PARKED],
                    |r| {
                        let oldest: Option<i64> = r.get(3)?;
                        Ok(QueueStats {
                            ready: count(r.get(0)?),
                            in_flight: count(r.get(1)?),
                            delayed: count(r.get(2)?),
                            oldest_ready_age: Duration::from_millis(
                                oldest.map_or(0, |t| u64::try_from(now - t).unwrap_or(0)),
                            ),
                            dead_letters: count(r.get(4)?),
                            behind_in_order: count(r.get(5)?),
                        })
                    },
                )
                .map_err(classify)
            })
            .await
    }

    /// Makes every message taken by an earlier process visible again. Call
    /// once at start-up, before any worker runs: the messages in flight when
    /// the last process died are delivered now rather than after their lease.
    pub async fn release_leases(&self) -> Result<u64, StoreError> {
        let now = millis(self.store.clock.now());
        self.store
            .write(move |tx| {
                let n = exec(
                    tx,
                    "UPDATE queue SET visible_at = ?1 WHERE receives > 0 AND visible_at > ?1 AND visible_at < ?2",
                    params![now, PARKED],
                )
                .map_err(classify)?;
                Ok(n as u64)
            })
            .await
    }

    /// Takes up to `limit` visible messages, hiding them for `lease`.
    /// Messages received [`MAX_RECEIVES`] times already go to `dead_letters`.
    pub async fn take(&self, limit: usize, lease: Duration) -> Result<Vec<Lease>, StoreError> {
        let now = millis(self.store.clock.now());
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        self.store
            .write(move |tx| {
                let rows: Vec<(i64, String, u32, Option<String>)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT seq, message, receives, last_error FROM queue WHERE visible_at <= ?1 ORDER BY visible_at, seq LIMIT ?2",
                        )
                        .map_err(classify)?;
                    stmt.query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                        .map_err(classify)?
                        .collect::<Result<_, _>>()
                        .map_err(classify)?
                };
                let mut out = Vec::with_capacity(rows.len());
                for (seq, text, receives, last_error) in rows {
                    if receives >= MAX_RECEIVES {
                        bury(tx, seq, &text, receives, now, last_error.as_deref())?;
                        tracing::error!(seq, "message moved to dead_letters after {receives} receives");
                        continue;
                    }
                    exec(tx, "UPDATE queue SET visible_at = ?2, receives = receives + 1 WHERE seq = ?1", params![seq, until])
                        .map_err(classify)?;
                    let message = serde_json::from_str(&text).map_err(|_| text);
                    out.push(Lease { seq, receives: receives + 1, message });
                }
                Ok(out)
            })
            .await
    }

    /// Notes why handling a message failed and lets it come back after a
    /// short wait (its receive count in seconds) rather than its whole lease.
    pub async fn fail(&self, seq: i64, receives: u32, error: String) -> Result<(), StoreError> {
        let now = millis(self.store.clock.now());
        let back = now.saturating_add(1000 * i64::from(receives.max(1)));
        self.store
            .write(move |tx| {
                exec(
                    tx,
                    "UPDATE queue SET last_error = ?2, visible_at = ?3 WHERE seq = ?1",
                    params![seq, error, back],
                )
                .map_err(classify)?;
                Ok(())
            })
            .await?;
        self.store.wake.notify_waiters();
        Ok(())
    }

    /// Keeps an ordered delivery's message, hidden until `until` (its
    /// retry's time), holding its key: a fresh message then, its receives
    /// counting again from none.
    pub async fn hold(&self, seq: i64, until: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        let until = millis(until);
        self.store
            .write(move |tx| {
                exec(
                    tx,
                    "UPDATE queue SET visible_at = ?2, receives = 0, last_error = NULL WHERE seq = ?1",
                    params![seq, until],
                )
                .map_err(classify)?;
                Ok(())
            })
            .await?;
        self.store.wake.notify_waiters();
        Ok(())
    }

    /// Moves a message that can never be handled (it cannot be read) to the
    /// dead letters at once, with why.
    pub async fn give_up(&self, seq: i64, reason: String) -> Result<(), StoreError> {
        let now = millis(self.store.clock.now());
        self.store
            .write(move |tx| {
                let found: Option<(String, u32)> = tx
                    .query_row("SELECT message, receives FROM queue WHERE seq = ?1", [seq], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map_err(classify)?;
                if let Some((text, receives)) = found {
                    bury(tx, seq, &text, receives, now, Some(&reason))?;
                }
                Ok(())
            })
            .await
    }

    /// Deletes a handled message.
    pub async fn ack(&self, seq: i64) -> Result<(), StoreError> {
        self.ack_all(vec![seq]).await
    }

    /// Deletes handled messages, in one transaction (each ordered one
    /// lets the next of its key through).
    pub async fn ack_all(&self, seqs: Vec<i64>) -> Result<(), StoreError> {
        let now = millis(self.store.clock.now());
        let promoted = self
            .store
            .write(move |tx| {
                let mut promoted = false;
                for seq in &seqs {
                    promoted |= dequeue(tx, *seq, now)?;
                }
                Ok(promoted)
            })
            .await?;
        if promoted {
            self.store.wake.notify_waiters();
        }
        Ok(())
    }

    /// How long until the next message becomes visible (`None`: empty).
    pub async fn next_visible_in(&self) -> Result<Option<Duration>, StoreError> {
        let now = millis(self.store.clock.now());
        self.store
            .with(move |c| {
                let next: Option<i64> = c
                    .query_row("SELECT MIN(visible_at) FROM queue WHERE visible_at < ?1", [PARKED], |r| {
                        r.get(0)
                    })
                    .map_err(classify)?;
                Ok(next.map(|t| Duration::from_millis(u64::try_from(t - now).unwrap_or(0))))
            })
            .await
    }

    /// Messages in the queue and in `dead_letters`.
    pub async fn depth(&self) -> Result<(u64, u64), StoreError> {
        let s = self.stats().await?;
        Ok((s.ready + s.in_flight + s.delayed, s.dead_letters))
    }
}

/// Moves queue message `seq` to the dead letters.
fn bury(
    tx: &rusqlite::Connection,
    seq: i64,
    text: &str,
    receives: u32,
    now: i64,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    exec(tx,
        "INSERT OR REPLACE INTO dead_letters (seq, message, receives, died_at, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![seq, text, receives, now, reason],
    )
    .map_err(classify)?;
    // A dead letter is no longer in its key's way: SQS's FIFO queues let
    // the next message of a group through once one moves to the DLQ too.
    dequeue(tx, seq, now)?;
    Ok(())
}

#[async_trait]
impl DeadLetters for SqliteQueue {
    async fn count(&self) -> Result<Option<u64>, QueueError> {
        Ok(Some(self.stats().await.map_err(QueueError::unavailable)?.dead_letters))
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.store
            .with(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT seq, message, receives, died_at, reason FROM dead_letters ORDER BY died_at DESC, seq DESC LIMIT ?1",
                    )
                    .map_err(classify)?;
                let rows = stmt
                    .query_map([limit], |r| {
                        let died_at: i64 = r.get(3)?;
                        Ok(DeadLetter {
                            id: r.get::<_, i64>(0)?.to_string(),
                            body: r.get(1)?,
                            receives: r.get(2)?,
                            died_at: chrono::DateTime::from_timestamp_millis(died_at),
                            reason: r.get(4)?,
                        })
                    })
                    .map_err(classify)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(classify)?;
                Ok(rows)
            })
            .await
            .map_err(QueueError::unavailable)
    }

    async fn redrive(&self, id: &str) -> Result<bool, QueueError> {
        // Only ids this queue gave out: a number.
        let Ok(seq) = id.parse::<i64>() else { return Ok(false) };
        let now = millis(self.store.clock.now());
        let found = self
            .store
            .write(move |tx| {
                let text: Option<String> = tx
                    .query_row("SELECT message FROM dead_letters WHERE seq = ?1", [seq], |r| r.get(0))
                    .optional()
                    .map_err(classify)?;
                let Some(text) = text else { return Ok(false) };
                match serde_json::from_str::<QueueMessage>(&text) {
                    // Back at the end of its key's line, if it has one.
                    Ok(message) => enqueue_in(tx, &[Queued { message, delay: Duration::ZERO }], now)?,
                    Err(_) => {
                        exec(
                            tx,
                            "INSERT INTO queue (message, visible_at) VALUES (?1, ?2)",
                            params![text, now],
                        )
                        .map_err(classify)?;
                    }
                }
                exec(tx, "DELETE FROM dead_letters WHERE seq = ?1", [seq]).map_err(classify)?;
                Ok(true)
            })
            .await
            .map_err(QueueError::unavailable)?;
        if found {
            self.store.wake.notify_waiters();
        }
        Ok(found)
    }
}

#[async_trait]
impl DeliveryQueue for SqliteQueue {
    fn max_delay(&self) -> Duration {
        // The same bound as SQS, so both modes take the same paths (long
        // delays wait in the store for the scheduler).
        Duration::from_secs(15 * 60)
    }

    async fn depth(&self) -> Result<Option<QueueDepth>, QueueError> {
        let s = self.stats().await.map_err(QueueError::unavailable)?;
        let held = s.in_flight + s.delayed + s.behind_in_order;
        Ok(Some(QueueDepth { waiting: s.ready, held, oldest_wait: Some(s.oldest_ready_age) }))
    }

    async fn enqueue(&self, messages: &[Queued]) -> Result<(), QueueError> {
        let now = millis(self.store.clock.now());
        let messages = messages.to_vec();
        self.store.write(move |tx| crate::sql::enqueue_in(tx, &messages, now)).await.map_err(|e| {
            if e.is_retryable() { QueueError::unavailable(e) } else { QueueError::refused(e) }
        })?;
        self.store.wake.notify_waiters();
        self.store.wake.notify_one();
        Ok(())
    }
}
