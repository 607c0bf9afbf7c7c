//! `/metrics` in the Prometheus text format, on a listen address of its own
//! (`hookline serve --metrics ADDR`).
//!
//! A separate address rather than a key on the API's: the API faces the
//! platform (and, through it, the internet), the scraper lives on the
//! operator's network; the numbers name tenants and rates no API caller
//! should read; and a Prometheus scrape config needs no secret to keep.
//! Bind it to loopback or a private interface.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hookline::telemetry;
use hookline_sqlite::SqliteQueue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

/// Bucket bounds (seconds) of the duration histograms: from a fast local
/// receiver to the longest timeout.
const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Installs the process's Prometheus recorder (once per process) and
/// returns the handle that renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    telemetry::describe();
    Ok(handle)
}

/// Serves `/metrics` on `listener` until `stop` turns true. Each scrape
/// first samples the queue's gauges.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    queue: SqliteQueue,
    bounds: crate::connections::Bounds,
    stop: watch::Receiver<bool>,
) {
    let upkeep = handle.clone();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let (handle, queue) = (handle.clone(), queue.clone());
            async move {
                match queue.stats().await {
                    Ok(s) => {
                        let state =
                            |name: &'static str| metrics::gauge!(telemetry::QUEUE_MESSAGES, "state" => name);
                        state("ready").set(s.ready as f64);
                        state("in_flight").set(s.in_flight as f64);
                        state("delayed").set(s.delayed as f64);
                        metrics::gauge!(telemetry::QUEUE_OLDEST_AGE).set(s.oldest_ready_age.as_secs_f64());
                        metrics::gauge!(telemetry::DEAD_LETTERS).set(s.dead_letters as f64);
                    }
                    // The counters are still worth a scrape; the gauges keep
                    // their last values.
                    Err(e) => tracing::warn!(error = %e, "metrics: the queue could not be read"),
                }
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
                    .into_response()
            }
        }),
    );
    // Upkeep drains histogram samples into their buckets between scrapes,
    // so memory stays bounded whether or not anyone scrapes.
    let mut upkeep_stop = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => upkeep.run_upkeep(),
                _ = upkeep_stop.wait_for(|s| *s) => break,
            }
        }
    });
    crate::connections::serve(listener, app, bounds, stop).await;
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics: listening on {addr}"))
}
