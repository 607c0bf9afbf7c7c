//! The real [`Sender`]: one pooled HTTP client (rustls) reused across
//! attempts. Redirects are never followed; every attempt — connect, TLS,
//! request and the kept part of the response — ends within its timeout;
//! names resolve only to addresses the guard accepts, and the address
//! connected is one of those (so DNS rebinding cannot slip through).

mod classify;
mod resolver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use hookline::guard::TargetGuard;
use hookline::policy::STOP_RETRIES_HEADER;
use hookline::policy::{AttemptOutcome, FailureKind};
use hookline::ports::{SendResult, Sender};
use hookline::wire::OutgoingRequest;

/// Response bytes kept for the attempt log.
pub const EXCERPT_BYTES: usize = 4 * 1024;
/// Response bytes read at most (past the excerpt they are read only so the
/// connection can be reused, then dropped).
pub const DRAIN_BYTES: usize = 64 * 1024;
/// Idle connections kept per host: as many as the embedded mode sends at
/// once by default (`HOOKLINE_CONCURRENCY`). A connection handed back to a
/// full pool is closed and the next request to that host pays a new
/// connection; at 64, a busy endpoint churned connections under load (the
/// server spent ~15 % more CPU a delivery; BENCHMARKS.md). Idle ones close
/// after a minute.
const MAX_IDLE_PER_HOST: usize = 256;
/// Longest `Retry-After` taken into account.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Sends attempts over HTTP(S).
#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    guard: Arc<TargetGuard>,
    /// Every request goes through this HTTP proxy; its host is resolved
    /// unguarded (a proxy is usually a private address), every target's
    /// name is still checked before sending ([`Self::send`]).
    proxied: bool,
    /// Names answered without DNS (tests).
    table: Option<Arc<std::collections::HashMap<String, Vec<std::net::IpAddr>>>>,
}

/// The client could not be built (TLS roots unavailable).
#[derive(Debug, thiserror::Error)]
#[error("the HTTP client could not be built: {0}")]
pub struct SenderInitError(String);

impl HttpSender {
    /// Builds the client once; share it across invocations.
    pub fn new(guard: TargetGuard) -> Result<Self, SenderInitError> {
        Self::build(guard, None, None)
    }

    /// A sender whose every request goes through the HTTP proxy `proxy`
    /// (`HOOKLINE_EGRESS_PROXY`; none: straight to the receiver, as
    /// [`Self::new`]).
    pub fn with_proxy(guard: TargetGuard, proxy: Option<&url::Url>) -> Result<Self, SenderInitError> {
        Self::build(guard, None, proxy)
    }

    /// A sender whose names resolve from `table` instead of DNS: for tests
    /// of what happens when a name turns into a refused address at send
    /// time (DNS rebinding), with no DNS server. Names not in the table are
    /// looked up as usual. Through `proxy`, if given.
    pub fn with_static_dns(
        guard: TargetGuard,
        table: std::collections::HashMap<String, Vec<std::net::IpAddr>>,
        proxy: Option<&url::Url>,
    ) -> Result<Self, SenderInitError> {
        Self::build(guard, Some(table), proxy)
    }

    fn build(
        guard: TargetGuard,
        table: Option<std::collections::HashMap<String, Vec<std::net::IpAddr>>>,
        proxy: Option<&url::Url>,
    ) -> Result<Self, SenderInitError> {
        let (guard, table) = (Arc::new(guard), table.map(Arc::new));
        let proxy_host = proxy.and_then(|p| p.host_str()).map(str::to_owned);
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver::GuardedResolver::new(guard.clone(), table.clone(), proxy_host)));
        let builder = match proxy {
            // Never the environment's HTTP_PROXY: only the proxy configured.
            None => builder.no_proxy(),
            Some(p) => builder.proxy(
                reqwest::Proxy::all(p.as_str())
                    .map_err(|e| SenderInitError(format!("the egress proxy: {e}")))?,
            ),
        };
        let client = builder
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| SenderInitError(e.to_string()))?;
        Ok(Self { client, guard, proxied: proxy.is_some(), table })
    }

    async fn exchange(
        &self,
        request: &OutgoingRequest,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), reqwest::Error> {
        let mut builder = self.client.post(request.url.url().clone()).timeout(request.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_ref(), value.as_ref());
        }
        let mut response = builder.body(request.body.clone()).send().await?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let mut kept = Vec::new();
        let mut read = 0usize;
        while read < DRAIN_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = EXCERPT_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                // The status is what counts; a body cut short does not
                // change it.
                Ok(None) | Err(_) => break,
            }
        }
        Ok((status, headers, kept))
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: u64 = v.parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

fn stop_requested(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(STOP_RETRIES_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

#[async_trait]
impl Sender for HttpSender {
    async fn wait(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    async fn send(&self, request: &OutgoingRequest) -> SendResult {
        let started = Instant::now();
        let checked = match self.guard.check_url(&request.url) {
            // Through a proxy the connector resolves only the proxy's name:
            // the target's is resolved and checked here, and the proxy
            // resolves it again under its own rules (docs/security.md).
            Ok(()) if self.proxied => {
                resolver::check_host(&self.guard, self.table.as_deref(), &request.url).await
            }
            checked => checked,
        };
        if let Err(blocked) = checked {
            return SendResult {
                outcome: AttemptOutcome::Failed(FailureKind::Blocked),
                duration: started.elapsed(),
                response_excerpt: None,
                error_message: Some(format!("not sent: {blocked}")),
            };
        }
        // reqwest's timeout covers the whole exchange; the outer one also
        // bounds the body drain should a receiver trickle bytes.
        let result = tokio::time::timeout(request.timeout, self.exchange(request)).await;
        let duration = started.elapsed();
        match result {
            Ok(Ok((status, headers, body))) => SendResult {
                outcome: AttemptOutcome::Response {
                    status,
                    retry_after: retry_after(&headers),
                    stop_retries: stop_requested(&headers),
                },
                duration,
                response_excerpt: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
                error_message: None,
            },
            Ok(Err(e)) => {
                let (kind, message) = classify::classify(&e);
                SendResult {
                    outcome: AttemptOutcome::Failed(kind),
                    duration,
                    response_excerpt: None,
                    error_message: Some(message),
                }
            }
            Err(_) => SendResult {
                outcome: AttemptOutcome::Failed(FailureKind::Timeout),
                duration,
                response_excerpt: None,
                error_message: Some(format!(
                    "no complete response within {} ms",
                    request.timeout.as_millis()
                )),
            },
        }
    }
}
