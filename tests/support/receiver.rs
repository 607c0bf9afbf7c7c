//! A real HTTP receiver on 127.0.0.1 for end-to-end tests: records every
//! request, answers from a script (200 once the script runs out), and
//! verifies Standard Webhooks signatures with its own HMAC code — not
//! hookline's — so a bug in hookline's signing cannot hide itself.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

/// A receiver's own check of a request: `Err` says why it is refused.
pub type Check = Arc<dyn Fn(&Received) -> Result<(), String> + Send + Sync>;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// What the receiver's check said, if it has one.
    pub verdict: Option<Result<(), String>>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The most requests of `received` that arrived within any one
    /// second.
    pub fn busiest_second(received: &[Received]) -> usize {
        let mut times: Vec<std::time::Instant> = received.iter().map(|r| r.at).collect();
        times.sort();
        (0..times.len())
            .map(|i| times[i..].iter().take_while(|t| **t - times[i] < Duration::from_secs(1)).count())
            .max()
            .unwrap_or(0)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How to answer one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// This status at once.
    Status(u16),
    /// This status after a wait.
    Slow(Duration, u16),
    /// This status with one response header.
    WithHeader(u16, &'static str, &'static str),
    /// This status with the request's body as the response's.
    Echo(u16),
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    arrived: Notify,
    check: Option<Check>,
    /// Past the script, every n-th request answers 500.
    failing_every: Option<usize>,
    /// Past the script, this percentage of requests answers 500, drawn
    /// from a seeded generator (its state beside it).
    failing_randomly: Option<(u64, Mutex<u64>)>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// Its address.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: Serving,
}

/// Where a receiver's server runs, stopped when the receiver is dropped.
enum Serving {
    /// A task on the test's runtime.
    Task(tokio::task::JoinHandle<()>),
    /// A thread of its own; the sender stops it.
    Thread(Option<tokio::sync::oneshot::Sender<()>>),
}

async fn handle(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let mut received = Received {
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
        verdict: None,
        at: std::time::Instant::now(),
    };
    received.verdict = inner.check.as_ref().map(|check| check(&received));
    let refused = matches!(received.verdict, Some(Err(_)));
    let count = {
        let mut all = inner.received.lock().expect("lock");
        all.push(received);
        all.len()
    };
    inner.arrived.notify_waiters();
    if refused {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let unlucky = inner.failing_randomly.as_ref().is_some_and(|(percent, state)| {
        let mut x = state.lock().expect("lock");
        // xorshift64: enough to scatter failures, reproducible by seed.
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x % 100 < *percent
    });
    let fallback = match inner.failing_every {
        Some(n) if count % n == 0 => Reply::Status(500),
        _ if unlucky => Reply::Status(500),
        _ => Reply::Status(200),
    };
    let reply = inner.script.lock().expect("lock").pop_front().unwrap_or(fallback);
    let (status, header) = match reply {
        Reply::Echo(s) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, body).into_response();
        }
        Reply::Status(s) => (s, None),
        Reply::Slow(wait, s) => {
            tokio::time::sleep(wait).await;
            (s, None)
        }
        Reply::WithHeader(s, name, value) => (s, Some((name, value))),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match header {
        Some((name, value)) => (status, [(name, value)]).into_response(),
        None => status.into_response(),
    }
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Self {
        Self::serve(Inner::default()).await
    }

    /// Starts a receiver that answers 401 to every request `check` refuses,
    /// as a provider's customer's endpoint would.
    pub async fn start_checking(check: Check) -> Self {
        Self::serve(Inner { check: Some(check), ..Inner::default() }).await
    }

    /// Starts a receiver that answers 500 to every `n`-th request.
    pub async fn start_failing_every(n: usize) -> Self {
        Self::serve(Inner { failing_every: Some(n.max(1)), ..Inner::default() }).await
    }

    /// Starts a receiver that answers 500 to `percent` % of requests at
    /// random (seeded by `seed`, never 0).
    pub async fn start_failing_randomly(percent: u64, seed: u64) -> Self {
        let state = Mutex::new(seed.max(1));
        Self::serve(Inner { failing_randomly: Some((percent, state)), ..Inner::default() }).await
    }

    async fn serve(inner: Inner) -> Self {
        let inner = Arc::new(inner);
        let app = axum::Router::new().fallback(any(handle)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner, task: Serving::Task(task) }
    }

    /// Starts a receiver on a thread and runtime of its own, so the times
    /// it records are not those of a busy test runtime getting round to it
    /// (rate measurements).
    pub fn start_isolated() -> Self {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new().fallback(any(handle)).with_state(inner.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self { addr, inner, task: Serving::Thread(Some(stop)) }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answers the next requests with these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().expect("lock").extend(replies);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests have arrived; panics with what did
    /// arrive after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let got = self.received();
                assert!(got.len() >= n, "expected {n} requests within {timeout:?}, got {}", got.len());
                return got;
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        match &mut self.task {
            Serving::Task(task) => task.abort(),
            Serving::Thread(stop) => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
        }
    }
}

/// Verifies a Standard Webhooks request the way the specification says,
/// with this file's own code: key = base64 after `whsec_`; signed content
/// `{webhook-id}.{webhook-timestamp}.{body}`; any `v1,` signature matching.
pub fn verify_standard(secret: &str, r: &Received, now: i64) -> Result<(), String> {
    let key =
        B64.decode(secret.strip_prefix("whsec_").ok_or("secret lacks whsec_")?).map_err(|e| e.to_string())?;
    let id = r.header("webhook-id").ok_or("no webhook-id")?;
    let ts = r.header("webhook-timestamp").ok_or("no webhook-timestamp")?;
    let sigs = r.header("webhook-signature").ok_or("no webhook-signature")?;
    let ts_num: i64 = ts.parse().map_err(|_| "timestamp is not a number")?;
    if (now - ts_num).abs() > 300 {
        return Err(format!("timestamp {ts_num} is more than 5 minutes from {now}"));
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = B64.encode(mac.finalize().into_bytes());
    if sigs.split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str())) {
        Ok(())
    } else {
        Err("no signature matches".into())
    }
}
