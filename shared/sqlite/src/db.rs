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

use crate::sql::classify;

/// Most writes one transaction takes.
pub const MAX_BATCH: usize = 512;
/// Intake a batch takes at least, however busy delivering is (in
/// deliveries created; see [`Db::write_intake`]).
pub const MIN_INTAKE: usize = 16;
/// Most read connections.
pub const READERS: usize = 4;

/// What a batch's commit came to, told to each write of it.
type Reply = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A write: run on the writer's connection (or, `None`, told it could not
/// run), it returns what to answer once the commit is known.
type Run = Box<dyn FnOnce(Option<&Connection>) -> Reply + Send>;

/// A write and its class: intake (new events, weighed by the deliveries
/// they create) or the work of delivering what is already accepted.
struct Job {
    run: Run,
    intake: Option<usize>,
}

/// The writer thread and the read pool of one database file.
pub struct Db {
    writer: mpsc::Sender<Job>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

fn busy(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5)).map_err(classify)
}

impl Db {
    /// Opens the file with `setup` run once on the writing connection
    /// (schema, migrations) before anything else, and starts the writer.
    pub fn open(
        path: &Path,
        setup: impl FnOnce(&Connection) -> Result<(), StoreError>,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(classify)?;
        busy(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(classify)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(classify)?;
        // Each write of a group runs in its own savepoint, and SQLite keeps
        // the pages a savepoint changes in a sub-journal — spilled to a
        // temporary file past 64 KiB unless temporary storage is memory.
        // The profile showed that file's writes at ~38 % of the writer
        // thread. It is never needed after a crash (the WAL is the log).
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(classify)?;
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
        self.submit(None, f).await
    }

    /// Runs `f`, a write that accepts new work creating `weight`
    /// deliveries, as intake: when the writer is behind, the work of
    /// delivering goes first and intake may create at most as many
    /// deliveries as there are delivering writes in the batch (at least
    /// [`MIN_INTAKE`]) — a pace the backlog can keep — so a flood of
    /// publishes slows publishing (each publish answers later) and never
    /// starves delivering.
    pub async fn write_intake<T, F>(&self, weight: usize, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Some(weight.max(1)), f).await
    }

    async fn submit<T, F>(&self, intake: Option<usize>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let run: Run = Box::new(move |conn: Option<&Connection>| {
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
        let sent = self.writer.send(Job { run, intake });
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
                let c = Connection::open(&self.path).map_err(classify)?;
                busy(&c)?;
                c.pragma_update(None, "query_only", true).map_err(classify)?;
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
    let step = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(classify);
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

/// The writer: a batch at a time until every sender is gone. Intake that
/// did not fit a batch waits, in order, for the next.
fn write_loop(conn: &Connection, jobs: &mpsc::Receiver<Job>) {
    let mut waiting_intake: std::collections::VecDeque<(Run, usize)> = std::collections::VecDeque::new();
    loop {
        let mut delivering = Vec::new();
        let take =
            |job: Job, delivering: &mut Vec<Run>, intake: &mut std::collections::VecDeque<(Run, usize)>| {
                match job.intake {
                    None => delivering.push(job.run),
                    Some(weight) => intake.push_back((job.run, weight)),
                }
            };
        if waiting_intake.is_empty() {
            match jobs.recv() {
                Ok(job) => take(job, &mut delivering, &mut waiting_intake),
                Err(_) => return,
            }
        }
        while delivering.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => take(job, &mut delivering, &mut waiting_intake),
                Err(_) => break,
            }
        }
        // Nothing to deliver: intake may fill the batch.
        let quota = if delivering.is_empty() { MAX_BATCH } else { delivering.len().max(MIN_INTAKE) };
        let mut batch = delivering;
        let mut taken = 0;
        while let Some((_, weight)) = waiting_intake.front() {
            if taken > 0 && (taken + weight > quota || batch.len() >= MAX_BATCH) {
                break;
            }
            taken += weight;
            if let Some((run, _)) = waiting_intake.pop_front() {
                batch.push(run);
            }
        }
        commit(conn, batch);
    }
}

/// Runs `batch` in one transaction and answers each write.
fn commit(conn: &Connection, batch: Vec<Run>) {
    let step =
        |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(classify);
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

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    type Pending = Pin<Box<dyn Future<Output = Result<(bool, i64), StoreError>>>>;

    /// Polls a write once: enough to hand it to the writer.
    fn send(f: &mut Pending) {
        assert!(matches!(f.as_mut().poll(&mut Context::from_waker(Waker::noop())), Poll::Pending));
    }

    #[tokio::test]
    async fn waiting_intake_creates_no_more_deliveries_than_a_batch_delivers() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let db = Arc::new(
            Db::open(&path, |c| c.execute_batch("CREATE TABLE t (k INTEGER)").map_err(classify))
                .expect("open"),
        );
        // Each write notes the rows committed when it ran (seen from
        // another connection): writes of one batch see the same number.
        let committed = {
            let path = path.clone();
            move || -> i64 {
                let c = Connection::open(&path).expect("reader");
                c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).expect("count")
            }
        };
        let write = |intake: bool| -> Pending {
            let (db, committed) = (db.clone(), committed.clone());
            Box::pin(async move {
                let f = move |c: &Connection| {
                    let seen = committed();
                    c.execute("INSERT INTO t VALUES (1)", []).map_err(classify)?;
                    Ok((intake, seen))
                };
                if intake { db.write_intake(1, f).await } else { db.write(f).await }
            })
        };
        // A first write holds the writer until everything else waits.
        let (started, running) = std::sync::mpsc::channel();
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let mut first: Pin<Box<dyn Future<Output = Result<(), StoreError>>>> =
            Box::pin(db.write(move |_| {
                let _ = started.send(());
                let _ = gate.recv();
                Ok(())
            }));
        assert!(matches!(first.as_mut().poll(&mut Context::from_waker(Waker::noop())), Poll::Pending));
        running.recv().expect("the first write runs");
        let mut waiting: Vec<Pending> =
            (0..60).map(|_| write(true)).chain((0..20).map(|_| write(false))).collect();
        waiting.iter_mut().for_each(send);
        go.send(()).expect("release");
        first.await.expect("first");
        let mut seen = Vec::new();
        for w in waiting {
            seen.push(w.await.expect("write"));
        }
        let batch = seen.iter().filter(|(intake, _)| !intake).map(|(_, n)| *n).min().expect("delivering");
        assert!(
            seen.iter().filter(|(intake, _)| !intake).all(|(_, n)| *n == batch),
            "delivering work in one batch"
        );
        let intake_beside = seen.iter().filter(|(intake, n)| *intake && *n == batch).count();
        assert_eq!(intake_beside, 20, "intake created as many deliveries as delivering writes in that batch");
        let later =
            seen.iter().filter(|(intake, n)| *intake && *n > batch).map(|(_, n)| *n).collect::<Vec<_>>();
        assert_eq!(later.len(), 40);
        assert!(later.iter().all(|n| *n == later[0]), "the rest of the intake in the next batch, whole");
    }
}
