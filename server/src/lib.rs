//! The embedded hookline: the HTTP API, the delivery workers and the retry
//! scheduler in one process, over one SQLite file, on the same handlers as
//! the Lambda functions.

pub mod connections;
pub mod demo;
pub mod metrics;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hookline::Context;
use hookline::auth::ApiKeys;
use hookline::config::Config;
use hookline::ports::{OsEntropy, SystemClock};
use hookline_sender::HttpSender;
use hookline_sqlite::{SqliteQueue, SqliteStore, worker};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the embedded scheduler looks for due deliveries.
pub const SCHEDULER_TICK: Duration = Duration::from_secs(1);
/// How often attempt counts are written for the portal's charts.
pub const COUNTS_EVERY: Duration = Duration::from_secs(5);
/// How often expired events and deliveries are purged (`HOOKLINE_RETENTION`).
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long a shutdown waits for attempts in flight (longest timeout + margin).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(35);

/// Where the service listens.
pub struct Listen {
    /// The API.
    pub api: SocketAddr,
    /// `/metrics`, with the recorder's handle ([`metrics::install`]); none
    /// serves no metrics.
    pub metrics: Option<(SocketAddr, metrics_exporter_prometheus::PrometheusHandle)>,
}

/// A running service.
pub struct Running {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where `/metrics` is served, if it is.
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    ctx: Context,
}

/// Starts the service: opens the store at `db`, hands out again what an
/// earlier process left in flight, and serves the API (and the metrics) on
/// `listen`.
pub async fn start(config: Config, keys: ApiKeys, listen: Listen, db: &Path) -> anyhow::Result<Running> {
    let clock = Arc::new(SystemClock);
    let store =
        Arc::new(SqliteStore::open(db, clock.clone()).with_context(|| format!("opening {}", db.display()))?);
    let queue = SqliteQueue::new((*store).clone());
    let purge_store = (*store).clone();
    let released = queue.release_leases().await?;
    if released > 0 {
        tracing::info!(released, "deliveries in flight at the last stop are queued again");
    }
    let mut config = config;
    if config.settings.portal_key.is_none() {
        // No key configured: one for this process; portal links and
        // sessions then last until it stops.
        use hookline::ports::Entropy;
        let mut key = vec![0u8; 32];
        OsEntropy.fill(&mut key);
        config.settings.portal_key = hookline::auth::PortalKey::from_bytes(key).ok();
    }
    let sender = Arc::new(HttpSender::with_proxy(
        config.settings.guard.clone(),
        config.settings.egress_proxy.as_ref(),
    )?);
    let ctx =
        Context::new(store, Arc::new(queue.clone()), clock, Arc::new(OsEntropy), config.settings.clone())
            .with_dead_letters(Arc::new(queue.clone()));

    let bounds = connections::Bounds::settle(config.http, config.concurrency)?;
    let api = listen.api;
    let listener = tokio::net::TcpListener::bind(api).await.with_context(|| format!("listening on {api}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let mut metrics_addr = None;
    let mut workers = Vec::new();
    if let Some((at, handle)) = listen.metrics {
        let listener = metrics::bind(at).await?;
        metrics_addr = Some(listener.local_addr()?);
        workers.push(tokio::spawn(metrics::serve(listener, handle, queue.clone(), bounds, stopped.clone())));
    }
    let app = hookline_http::router(ctx.clone(), keys);
    let server = tokio::spawn(connections::serve(listener, app, bounds, stopped.clone()));
    workers.extend([
        tokio::spawn(worker::run_deliver(ctx.clone(), queue, sender, config.concurrency, stopped.clone())),
        tokio::spawn(worker::run_purge(purge_store, config.retention, PURGE_EVERY, stopped.clone())),
        tokio::spawn(worker::run_counts(ctx.clone(), COUNTS_EVERY, stopped.clone())),
        tokio::spawn(worker::run_scheduler(ctx.clone(), SCHEDULER_TICK, stopped)),
    ]);
    Ok(Running { addr, metrics_addr, stop, server, workers, ctx })
}

impl Running {
    /// Stops taking requests and messages, lets attempts in flight finish
    /// (up to [`SHUTDOWN_GRACE`]; unfinished ones are delivered after the
    /// next start), and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let all = async {
            let _ = self.server.await;
            for w in self.workers {
                let _ = w.await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            tracing::warn!("attempts still in flight at shutdown are delivered after the next start");
        }
        // The counts of the last attempts, after every worker stopped.
        if let Err(e) = self.ctx.flush_counts().await {
            tracing::warn!(error = %e, "the last attempt counts could not be written");
        }
    }
}

/// The API keys of `config`; with none configured, one is generated and
/// returned so the caller can show it.
pub fn api_keys(config: &Config) -> (ApiKeys, Option<String>) {
    if !config.api_keys.is_empty() {
        return (config.api_keys.clone(), None);
    }
    use hookline::ports::Entropy;
    let mut raw = [0u8; 24];
    OsEntropy.fill(&mut raw);
    let key = format!("hk_{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    (ApiKeys::from_keys([key.as_str()]), Some(key))
}
