//! The embedded server's HTTP/1 connections, bounded in number and time, so
//! that no client — slow, idle or hostile, with or without a key — can hold
//! the process's file descriptors (docs/security.md, "Connections").
//!
//! - **Head:** a request's head must arrive within `header_timeout` of its
//!   first byte (a new connection's: of when it opened).
//! - **Body:** a request's body must arrive within `body_timeout` of the end
//!   of its head; the route then answers 408 and the connection closes.
//! - **Idle:** a connection may wait `idle_timeout` for its next request.
//! - **Cap:** at most `max_connections` are open. At the cap a new
//!   connection takes the place of the one that has waited on its client
//!   longest (idle, or still sending a head); when every open connection is
//!   serving a request, the new one is answered 503 at once and closed.
//!
//! Each limit that acts is counted (`hookline_http_connections_closed_total`
//! by reason, `hookline_http_connections_refused_total`) and logged, at most
//! once per [`LOG_EVERY`] and reason, with how many acted since.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hookline::config::HttpLimits;
use hookline::telemetry;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// Most connections hookline keeps open when the file limit allows more.
pub const MAX_CONNECTIONS: usize = 4096;
/// File descriptors kept for everything but client connections, beside one
/// per attempt in flight: the database, the listeners, DNS.
const OTHER_FILES: usize = 64;
/// The longest a request's head may be (its line and headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How often one reason's log line may be written.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The limits a server applies, with the connection cap settled.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Timeouts (the cap in it is ignored; see `max_connections`).
    pub limits: HttpLimits,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Bounds {
    /// Settles the connection cap: the configured one, which must fit the
    /// process's file limit, or the most the limit leaves room for beside
    /// `attempts` connections to receivers (at most [`MAX_CONNECTIONS`]).
    /// The soft file limit is raised to the hard one first, as Go's runtime
    /// does: the soft default (often 1,024) is a guard for programs that
    /// do not bound themselves.
    pub fn settle(limits: HttpLimits, attempts: usize) -> anyhow::Result<Self> {
        let files = raise_file_limit();
        let room = files.saturating_sub(attempts + OTHER_FILES);
        let max_connections = match limits.max_connections {
            Some(n) if n > room => anyhow::bail!(
                "HOOKLINE_HTTP_MAX_CONNECTIONS={n} does not fit this process's file limit of {files} \
                 (ulimit -n) beside HOOKLINE_CONCURRENCY={attempts} attempts and {OTHER_FILES} other \
                 files: raise the limit or lower one of the two"
            ),
            Some(n) => n,
            None if room < 16 => anyhow::bail!(
                "this process may open only {files} files (ulimit -n): too few to serve clients beside \
                 HOOKLINE_CONCURRENCY={attempts} attempts; raise the limit or lower HOOKLINE_CONCURRENCY"
            ),
            None => room.min(MAX_CONNECTIONS),
        };
        Ok(Self { limits, max_connections })
    }
}

/// Raises the soft limit on open files to the hard one; returns the soft
/// limit now in force (unlimited counts as `usize::MAX`).
fn raise_file_limit() -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if limit.current != limit.maximum
        && setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum },
        )
        .is_ok()
    {
        soft = limit.maximum;
    }
    soft.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// What a connection is doing, for its timeouts and for eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Waiting for a request (a new connection, or between requests).
    Idle = 0,
    /// A request's head has begun to arrive.
    Head = 1,
    /// Serving a request (its body is bounded by the body deadline).
    Serving = 2,
}

/// One open connection, as the server watches it.
struct Watch {
    phase: AtomicU8,
    /// Milliseconds since the server's start when the phase began.
    since: AtomicU64,
    evict: Notify,
    evicted: AtomicBool,
}

impl Watch {
    fn new(now: u64) -> Self {
        Self {
            phase: AtomicU8::new(Phase::Idle as u8),
            since: AtomicU64::new(now),
            evict: Notify::new(),
            evicted: AtomicBool::new(false),
        }
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Idle,
            1 => Phase::Head,
            _ => Phase::Serving,
        }
    }

    fn enter(&self, phase: Phase, now: u64) {
        self.since.store(now, Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
    }
}

/// Every open connection, and the clock they are timed by.
struct Table {
    started: Instant,
    open: Mutex<HashMap<u64, Arc<Watch>>>,
    next: AtomicU64,
    emptied: Notify,
    logs: Logs,
}

impl Table {
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Watch>>> {
        // A panic while holding the lock leaves the map as it was: usable.
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a connection: a place under the cap, or the place of the one
    /// that has waited on its client longest. `None`: every place is
    /// serving a request.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Watch>)> {
        let mut open = self.lock();
        if open.len() >= cap {
            let oldest = open
                .values()
                .filter(|w| w.phase() != Phase::Serving && !w.evicted.load(Ordering::Acquire))
                .min_by_key(|w| w.since.load(Ordering::Acquire))?;
            oldest.evicted.store(true, Ordering::Release);
            oldest.evict.notify_one();
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch::new(self.now()));
        open.insert(id, watch.clone());
        telemetry::http_connections_open(open.len());
        Some((id, watch))
    }

    fn remove(&self, id: u64) {
        let mut open = self.lock();
        open.remove(&id);
        telemetry::http_connections_open(open.len());
        if open.is_empty() {
            self.emptied.notify_waiters();
        }
    }
}

/// Log lines about limits, at most one per reason and [`LOG_EVERY`].
#[derive(Default)]
struct Logs {
    lines: Mutex<HashMap<&'static str, (Option<Instant>, u64)>>,
}

impl Logs {
    fn acted(&self, reason: &'static str) {
        let mut lines = self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (last, count) = lines.entry(reason).or_insert((None, 0));
        *count += 1;
        if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            tracing::warn!(reason, connections = *count, "a connection limit acted");
            *last = Some(Instant::now());
            *count = 0;
        }
    }
}

/// Serves `app` on `listener` within `bounds` until `stop` turns true,
/// then lets each connection finish the request it serves, and returns
/// when all are closed.
pub async fn serve(listener: TcpListener, app: Router, bounds: Bounds, mut stop: watch::Receiver<bool>) {
    let table = Arc::new(Table {
        started: Instant::now(),
        open: Mutex::new(HashMap::new()),
        next: AtomicU64::new(0),
        emptied: Notify::new(),
        logs: Logs::default(),
    });
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, or the like: it passes as
                // connections close. Not one line per try.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Some((id, watch)) = table.admit(bounds.max_connections) else {
            refuse(&stream);
            telemetry::http_connection_refused();
            table.logs.acted("refused");
            continue;
        };
        let (table, app, stop) = (table.clone(), app.clone(), stop.clone());
        tokio::spawn(async move {
            connection(stream, app, bounds.limits, watch, &table, stop).await;
            table.remove(id);
        });
    }
    // Stopped: wait for the connections, which were told to finish.
    loop {
        let emptied = table.emptied.notified();
        if table.lock().is_empty() {
            return;
        }
        emptied.await;
    }
}

/// The answer to a connection over the cap, written without waiting (a
/// fresh socket's buffer takes it), before it is closed.
fn refuse(stream: &TcpStream) {
    const BODY: &str =
        r#"{"error":{"code":"unavailable","message":"too many connections; try again shortly"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Serves one connection until it closes, a limit closes it, or the server
/// stops (then it finishes the request it is serving).
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: HttpLimits,
    watch: Arc<Watch>,
    table: &Arc<Table>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched { io: stream, watch: watch.clone(), table: table.clone() });
    let service = {
        let (watch, table) = (watch.clone(), table.clone());
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let (watch, table, app) = (watch.clone(), table.clone(), app.clone());
            async move {
                watch.enter(Phase::Serving, table.now());
                let deadline = tokio::time::Instant::now() + limits.body_timeout;
                let request = request.map(|body| Body::new(Deadline::new(body, deadline, table.clone())));
                let response: Response<Body> = match app.oneshot(request).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                watch.enter(Phase::Idle, table.now());
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn =
        hyper::server::conn::http1::Builder::new().max_buf_size(MAX_HEAD_BYTES).serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let wait = match watch.phase() {
            Phase::Idle => limits.idle_timeout,
            Phase::Head => limits.header_timeout,
            // Its body has a deadline of its own; look again later.
            Phase::Serving => limits.header_timeout,
        };
        let since = watch.since.load(Ordering::Acquire);
        let due = since.saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        let sleep = Duration::from_millis(due.saturating_sub(table.now()));
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = watch.evict.notified() => {
                telemetry::http_connection_closed("evicted");
                table.logs.acted("evicted");
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
            _ = tokio::time::sleep(sleep) => {
                // Still in the phase it was timed for: its time is up.
                let phase = watch.phase();
                if phase != Phase::Serving && watch.since.load(Ordering::Acquire) == since {
                    let reason = if phase == Phase::Idle { "idle_timeout" } else { "header_timeout" };
                    telemetry::http_connection_closed(reason);
                    table.logs.acted(reason);
                    return;
                }
            }
        }
    }
}

/// The connection's socket, telling its watch when a request's first byte
/// arrives.
struct Watched {
    io: TcpStream,
    watch: Arc<Watch>,
    table: Arc<Table>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before && this.watch.phase() == Phase::Idle {
            this.watch.enter(Phase::Head, this.table.now());
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A request body that must arrive by a deadline.
struct Deadline {
    body: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    table: Arc<Table>,
    expired: bool,
}

impl Deadline {
    fn new(body: Incoming, at: tokio::time::Instant, table: Arc<Table>) -> Self {
        Self { body, sleep: Box::pin(tokio::time::sleep_until(at)), table, expired: false }
    }
}

/// A body that did not arrive by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl HttpBody for Deadline {
    type Data = bytes::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Pending => {}
            ready => return ready.map(|f| f.map(|r| r.map_err(Into::into))),
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.expired = true;
            telemetry::http_connection_closed("body_timeout");
            this.table.logs.acted("body_timeout");
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
