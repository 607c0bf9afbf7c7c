//! The database's connections: one writer that commits concurrent writes
//! together, and a small pool of readers beside it.
//!
//! **Group commit.** Every write is a closure sent to one writer thread,
//! which owns the only writing connection. The thread takes every write
//! waiting (up to [`MAX_BATCH`]), runs them one after another in one
//! `BEGIN IMMEDIATE` transaction — each inside its own savepoint, so one
//! that fails is rolled back alone and answers its own error — commits once,
//! and only then answers each caller. A caller is never told a write is done
//! before the commit that holds it is durable; if the commit fails, every
//! write of the batch answers that failure (and none of them happened).
//! Writes see each other in order, exactly as if they had run one by one.
//!
//! **Durability.** WAL with `synchronous = FULL`: every commit syncs the
//! log to disk before it returns, so an acknowledged publish survives a power
//! cut, not only a process crash. One sync serves a whole batch, which is
//! what makes FULL affordable under load.
//!
//! **Readers.** Reads run on the blocking pool against up to [`READERS`]
//! read-only connections, concurrently with the writer (WAL readers see the
//! last commit and never block it).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use hookline::ports::StoreError;

use crate::store::unavailable;

/// Most writes one transaction takes.
pub const MAX_BATCH: usize = 512;
/// Most read connections.
pub const READERS: usize = 4;

/// What a batch's commit came to, told to each write of it.
type Reply = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A write: run on the writer's connection (or, `None`, told it could not
/// run), it returns what to answer once the commit is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Reply + Send>;

/// The writer thread and the read pool of one database file.
pub struct Db {
    writer: mpsc::Sender<Job>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

fn busy(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5)).map_err(unavailable)
}

impl Db {
    /// Opens the file with `setup` run once on the writing connection
    /// (schema, migrations) before anything else, and starts the writer.
    pub fn open(
        path: &Path,
        setup: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        busy(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(unavailable)?;
        setup(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(&conn, &rx))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            writer: tx,
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            permits: Semaphore::new(READERS),
        })
    }

    /// Runs `f` as one write of the next batch (see the module).
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let out = conn.map(|c| in_savepoint(c, f));
            Box::new(move |committed: Result<(), &StoreError>| {
                let result = match (committed, out) {
                    (Ok(()), Some(out)) => out,
                    (Err(e), _) => Err(e.again()),
                    (Ok(()), None) => Err(StoreError::Internal("a write was not run".into())),
                };
                let _ = answer.send(result);
            })
        });
        let sent = self.writer.send(job);
        if sent.is_err() {
            return Err(StoreError::Internal("the database's writer has stopped".into()));
        }
        answered.await.map_err(|_| StoreError::Internal("the database's writer dropped a write".into()))?
    }

    /// Runs `f` on a read connection on the blocking pool: for reads that
    /// may scan (lists, filters, counts).
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("the read pool is closed".into()))?;
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.read_now(f))
            .await
            .map_err(|e| StoreError::Internal(format!("a read panicked: {e}")))?
    }

    /// Runs `f` on a read connection in the calling thread: for lookups by
    /// key, a few microseconds, where handing the call to another thread
    /// and back costs more than the read (the profile showed thread
    /// switches as the embedded mode's largest cost).
    pub fn read_now<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path).map_err(unavailable)?;
                busy(&c)?;
                c.pragma_update(None, "query_only", true).map_err(unavailable)?;
                c.set_prepared_statement_cache_capacity(64);
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < 2 * READERS {
            pool.push(conn);
        }
        out
    }
}

/// Runs `f` inside a savepoint: kept if it succeeds, undone if it fails
/// or panics (the writer thread lives on).
fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let step = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(unavailable);
    step("SAVEPOINT w")?;
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a write panicked".into())));
    match out {
        Ok(v) => {
            step("RELEASE w")?;
            Ok(v)
        }
        Err(e) => {
            let _ = step("ROLLBACK TO w").and_then(|_| step("RELEASE w"));
            Err(e)
        }
    }
}

/// The writer: a batch at a time until every sender is gone.
fn write_loop(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let step = |sql: &str| {
            conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(unavailable)
        };
        match step("BEGIN IMMEDIATE") {
            Ok(()) => {
                let replies: Vec<Reply> = batch.into_iter().map(|job| job(Some(conn))).collect();
                let committed = step("COMMIT");
                if committed.is_err() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                for reply in replies {
                    reply(committed.as_ref().map(|_| ()));
                }
            }
            Err(e) => {
                for job in batch {
                    job(None)(Err(&e));
                }
            }
        }
    }
}
