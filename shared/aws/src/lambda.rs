//! What the Lambda functions share: their configuration, validated once
//! ([`AwsConfig`]), building the clients once per process, JSON logs, and
//! the batch handling of the two SQS-fed functions with partial batch
//! responses: deliver (the delivery queue) and ingest-queue (publish
//! requests from the ingest queue).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures_util::StreamExt;
use tracing::{error, info, warn};

use hookline::Context;
use hookline::api::events::{PublishBatchRequest, PublishEventRequest};
use hookline::api::json::{MAX_JSON_DEPTH, parse_json};
use hookline::auth::{ApiKeys, Caller};
use hookline::config::{Config, ConfigError, required};
use hookline::ports::{OsEntropy, QueueMessage, Received, Sender, SystemClock};

use super::{DynamoStore, RejectQueue, SqsDeadLetters, SqsQueue};

/// A function's configuration: the service's, plus the table and the queue
/// no function can run without.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// Everything the embedded binary reads too.
    pub common: Config,
    /// The DynamoDB table (`HOOKLINE_TABLE`).
    pub table: String,
    /// The SQS delivery queue's URL (`HOOKLINE_QUEUE_URL`).
    pub queue_url: String,
    /// The ingest queue's dead-letter queue (`HOOKLINE_INGEST_DLQ_URL`),
    /// which only the ingest-queue function needs.
    pub ingest_dlq_url: Option<String>,
    /// The delivery queue's dead-letter queue (`HOOKLINE_DLQ_URL`), which
    /// the API (the ingest function) lists and redrives.
    pub dlq_url: Option<String>,
    /// The FIFO delivery queue of ordered deliveries
    /// (`HOOKLINE_ORDERED_QUEUE_URL`); without it, an ordered delivery
    /// cannot be queued.
    pub ordered_queue_url: Option<String>,
    /// The FIFO queue's dead-letter queue (`HOOKLINE_ORDERED_DLQ_URL`),
    /// listed and redriven beside the standard one.
    pub ordered_dlq_url: Option<String>,
    /// The CloudWatch namespace of the functions' metrics
    /// (`HOOKLINE_METRICS_NAMESPACE`, default `hookline`); `None` writes no
    /// metrics (`HOOKLINE_METRICS=0`).
    pub metrics_namespace: Option<String>,
}

impl AwsConfig {
    /// Reads the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `var`; a missing table or queue is an
    /// error naming its variable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Config::from_env(&var)?,
            table: required(&var, "HOOKLINE_TABLE")?,
            queue_url: required(&var, "HOOKLINE_QUEUE_URL")?,
            ingest_dlq_url: var("HOOKLINE_INGEST_DLQ_URL").filter(|u| !u.is_empty()),
            dlq_url: var("HOOKLINE_DLQ_URL").filter(|u| !u.is_empty()),
            ordered_queue_url: var("HOOKLINE_ORDERED_QUEUE_URL").filter(|u| !u.is_empty()),
            ordered_dlq_url: var("HOOKLINE_ORDERED_DLQ_URL").filter(|u| !u.is_empty()),
            metrics_namespace: match var("HOOKLINE_METRICS").as_deref().map(str::trim) {
                None | Some("" | "1") => Some(
                    var("HOOKLINE_METRICS_NAMESPACE")
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| "hookline".to_owned()),
                ),
                Some("0") => None,
                Some(other) => {
                    return Err(ConfigError {
                        name: "HOOKLINE_METRICS",
                        problem: format!("{other:?} is not 0 or 1"),
                    });
                }
            },
        })
    }

    /// The delivery queues' dead letters (`HOOKLINE_DLQ_URL`, and the
    /// ordered queue's too when both its URLs are set), if configured.
    pub fn dead_letters(&self, sqs: aws_sdk_sqs::Client) -> Option<SqsDeadLetters> {
        let dead = SqsDeadLetters::new(sqs, self.dlq_url.as_deref()?, &self.queue_url);
        Some(match (&self.ordered_dlq_url, &self.ordered_queue_url) {
            (Some(dlq), Some(queue)) => dead.with_ordered(dlq, queue),
            _ => dead,
        })
    }

    /// Where the ingest-queue function sets aside what can never be
    /// published; it does not start without one.
    pub fn ingest_dlq_url(&self) -> Result<&str, ConfigError> {
        self.ingest_dlq_url.as_deref().ok_or(ConfigError {
            name: "HOOKLINE_INGEST_DLQ_URL",
            problem: "is not set: a request that can never be published would have nowhere to go".into(),
        })
    }

    /// The API keys the ingest function accepts; with none configured it
    /// would refuse every request, so it does not start.
    pub fn api_keys(&self) -> Result<ApiKeys, ConfigError> {
        if self.common.api_keys.is_empty() {
            return Err(ConfigError {
                name: "HOOKLINE_API_KEY_SHA256",
                problem: "is not set: the API would accept no request".into(),
            });
        }
        Ok(self.common.api_keys.clone())
    }
}

/// JSON logs for CloudWatch, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    init_logging_to(std::io::stdout);
}

/// The same logs, written where `writer` says (the cost harness counts
/// their bytes: CloudWatch Logs bills each one ingested).
pub fn init_logging_to<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .without_time() // CloudWatch stamps every line
        .init();
}

/// The function's metrics as CloudWatch Embedded Metric Format: what the
/// core counts ([`hookline::telemetry`]) is gathered in the process and
/// printed by [`flush_metrics`] as JSON log lines, which CloudWatch Logs
/// turns into metrics in `namespace` — no API call, nothing billed per
/// request but the log bytes. Each label is a dimension. `None` when
/// metrics are off, or (logged) if a recorder is already installed: the
/// function then runs without metrics rather than not at all.
pub fn init_metrics(config: &AwsConfig) -> Option<&'static metrics_cloudwatch_embedded::Collector> {
    let namespace = config.metrics_namespace.clone()?;
    match metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace(namespace).init() {
        Ok(collector) => {
            hookline::telemetry::describe();
            Some(collector)
        }
        Err(e) => {
            error!(error = %e, "metrics are off: the recorder could not be installed");
            None
        }
    }
}

/// Prints what was counted since the last flush (call after each
/// invocation). One line per label set; nothing when nothing was counted.
pub fn flush_metrics(collector: Option<&metrics_cloudwatch_embedded::Collector>) {
    if let Some(c) = collector
        && let Err(e) = c.flush(std::io::stdout().lock())
    {
        warn!(error = %e, "metrics could not be written");
    }
}

/// How long initialisation waits for the clients' first calls.
const WARM_UP_LIMIT: Duration = Duration::from_secs(2);

/// The handlers' context over DynamoDB and SQS, from `config`. The SDK
/// reads credentials, region and `AWS_ENDPOINT_URL` (a local emulator) from
/// the environment. Both clients make one cheap call before the function
/// takes its first event, so credentials, DNS and the TLS connections are
/// ready and the first event does not pay for them.
pub async fn context(config: &AwsConfig) -> Result<Context, WrongTable> {
    context_on(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await, config).await
}

/// The table is another data model's: the function refuses to start, and
/// says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WrongTable(String);

/// The ingest-queue function's context, and the dead-letter queue it sets
/// rejected requests aside in, over one SDK configuration.
pub async fn ingest_queue_context(
    config: &AwsConfig,
) -> Result<(Context, RejectQueue), Box<dyn std::error::Error + Send + Sync>> {
    let dlq = config.ingest_dlq_url()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let rejects = RejectQueue::new(aws_sdk_sqs::Client::new(&sdk), dlq);
    Ok((context_on(&sdk, config).await?, rejects))
}

async fn context_on(sdk: &aws_config::SdkConfig, config: &AwsConfig) -> Result<Context, WrongTable> {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &config.table,
        config.common.retention,
    ));
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queue = SqsQueue::new(sqs.clone(), &config.queue_url);
    if let Some(url) = &config.ordered_queue_url {
        queue = queue.with_ordered(url);
    }
    let queue = Arc::new(queue);
    warm_up(&store, &queue).await?;
    // Every deliver invocation takes rate-limited endpoints' slots from the
    // table, so together they keep each limit.
    let ctx = Context::new(
        store.clone(),
        queue,
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
        config.common.settings.clone(),
    )
    .with_rate_slots(store);
    Ok(match config.dead_letters(sqs) {
        Some(dead) => ctx.with_dead_letters(Arc::new(dead)),
        None => ctx,
    })
}

/// The delivery DLQ's redriver (the retry function's second job), when
/// the function is told its URL (`HOOKLINE_DLQ_URL`).
pub async fn dead_letter_redriver(config: &AwsConfig) -> Option<SqsDeadLetters> {
    config.dlq_url.as_ref()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    config.dead_letters(aws_sdk_sqs::Client::new(&sdk))
}

/// One call through each client, bounded by [`WARM_UP_LIMIT`]. A failure
/// is only logged: the function still starts, and its first event makes
/// the connection instead (or reports the real error).
async fn warm_up(store: &DynamoStore, queue: &SqsQueue) -> Result<(), WrongTable> {
    let both = async { tokio::join!(store.check_schema(), queue.warm_up()) };
    let failed = match tokio::time::timeout(WARM_UP_LIMIT, both).await {
        Ok((Ok(Err(wrong)), _)) => {
            error!(error = %wrong, "this table holds another data model: not starting");
            return Err(WrongTable(wrong));
        }
        Ok((store, queue)) => [store.err().map(|e| e.to_string()), queue.err().map(|e| e.to_string())],
        Err(_) => [Some("warming up the AWS clients took too long".to_owned()), None],
    };
    for e in failed.into_iter().flatten() {
        warn!(error = %e, "warming up an AWS client failed; the first event will connect");
    }
    Ok(())
}

/// Handles one SQS batch: every queue message its bodies carry (a body
/// packs up to [`crate::sqs::PACK`]), `concurrency` at a time — with the
/// default (256) and the template's largest batch (25 bodies), the whole
/// batch at once, so a batch takes one attempt's longest time. A body that
/// cannot be read, or one of whose messages hit a store or queue failure,
/// is reported as a batch item failure: SQS hands it out again (what it
/// carried that was handled is skipped then) and, after the queue's receive
/// limit, moves it to the DLQ. Endpoint failures are not failures here —
/// they are retries the handler already scheduled. Each subscription is
/// read once for the batch ([`Context::for_one_batch`]).
///
/// A batch of the ordered (FIFO) queue is handled one message group at a
/// time in order, the groups side by side: a message that must wait (its
/// delivery's retry, [`hookline::deliver::Handled::Waits`]) is hidden
/// until then and reported failed, so it keeps its group, and the rest of
/// its group in the batch is reported failed unhandled — as AWS asks of a
/// FIFO consumer — to come back after it.
pub async fn deliver_batch(
    ctx: &Context,
    sender: &dyn Sender,
    event: SqsEvent,
    concurrency: usize,
) -> SqsBatchResponse {
    // Each subscription read once for the batch, however many of its
    // deliveries the batch holds.
    let ctx = &ctx.for_one_batch();
    // What is handled in turn: a FIFO group's messages, or one message of
    // a standard body.
    let mut runs: Vec<Vec<(usize, Received)>> = Vec::new();
    let mut group_runs: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut failed = vec![false; event.records.len()];
    for (i, record) in event.records.iter().enumerate() {
        let id = &record.message_id;
        // Above 1, an earlier handling of this body died or failed.
        let receives =
            record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
        match record.body.as_deref().map(QueueMessage::all_in) {
            Some(Ok(messages)) => {
                let parts =
                    messages.into_iter().map(|message| (i, Received { message, receives, ack: None }));
                match record.attributes.get("MessageGroupId") {
                    Some(group) => {
                        let run = *group_runs.entry(group.as_str()).or_insert_with(|| {
                            runs.push(Vec::new());
                            runs.len() - 1
                        });
                        runs[run].extend(parts);
                    }
                    None => runs.extend(parts.map(|p| vec![p])),
                }
            }
            Some(Err(e)) => {
                error!(message_id = ?id, error = %e, "unreadable message; it will end in the DLQ");
                failed[i] = true;
            }
            None => {
                error!(message_id = ?id, "message without a body; it will end in the DLQ");
                failed[i] = true;
            }
        }
    }
    let records = &event.records;
    let results = futures_util::stream::iter(runs)
        .map(|run| async move {
            let mut failed = Vec::new();
            for (i, received) in run {
                if !failed.is_empty() {
                    // Behind a message of its group that comes back: back on
                    // the queue at once, unhandled, rather than in flight
                    // for the visibility timeout (which would hold the whole
                    // group that long); the one before it still holds it.
                    let receipt = records[i].receipt_handle.as_deref().unwrap_or_default();
                    if let Err(e) = ctx.queue.hide(receipt, Duration::ZERO).await {
                        warn!(message_id = ?records[i].message_id, error = %e,
                            "could not put an ordered message back; it comes back after its visibility timeout");
                    }
                    failed.push(i);
                    continue;
                }
                let id = &records[i].message_id;
                let got = ctx.handle_message(sender, &received).await;
                if got.is_err() && records[i].attributes.contains_key("MessageGroupId") {
                    // Its whole group waits for it: back in as many seconds
                    // as it was received (as the embedded queue does), not
                    // after the visibility timeout.
                    let receipt = records[i].receipt_handle.as_deref().unwrap_or_default();
                    let soon = Duration::from_secs(u64::from(received.receives.clamp(1, 60)));
                    if let Err(e) = ctx.queue.hide(receipt, soon).await {
                        warn!(message_id = ?records[i].message_id, error = %e, "could not bring an ordered message back sooner");
                    }
                }
                match got {
                    Ok(handled) => {
                        if let Some(until) = handled.waits_until() {
                            let wait = (until - ctx.clock.now()).to_std().unwrap_or_default();
                            let receipt = records[i].receipt_handle.as_deref().unwrap_or_default();
                            if let Err(e) = ctx.queue.hide(receipt, wait).await {
                                warn!(message_id = ?id, error = %e,
                                    "could not keep an ordered message hidden; it comes back after its visibility timeout");
                            }
                            failed.push(i);
                        }
                    }
                    Err(e) if e.is_retryable() => {
                        warn!(message_id = ?id, error = %e, "the store or queue failed; the message will come back");
                        failed.push(i);
                    }
                    Err(e) => {
                        error!(message_id = ?id, error = %e,
                            "the store or queue refused; the message will come back and, if this lasts, end in the DLQ");
                        failed.push(i);
                    }
                }
            }
            failed
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for i in results.into_iter().flatten() {
        failed[i] = true;
    }
    // The batch's attempts in the charts: one write per endpoint and hour.
    if let Err(e) = ctx.flush_counts().await {
        warn!(error = %e, "writing attempt counts failed; they are written with the next batch");
    }
    let mut response = SqsBatchResponse::default();
    for (record, failed) in event.records.iter().zip(failed) {
        match (failed, &record.message_id) {
            (false, _) => {}
            (true, Some(id)) => response.add_failure(id.clone()),
            // Without an id SQS cannot be told which one failed; it is
            // redelivered after its visibility timeout all the same.
            (true, None) => error!("a failed message has no message id"),
        }
    }
    response
}

/// Handles one batch of the ingest queue: each message a publish request,
/// the body `POST /v1/events` takes, or up to 100 of them, the body
/// `POST /v1/events/batch` takes (`{"events": [...]}`: ten events a message
/// cost SQS a tenth of ten messages) — published with the operator's scope
/// (IAM on the queue is the authorisation; no API key). An event without
/// an `idempotency_key` gets one from its SQS message id (and its place in
/// the message), so a message handed out twice publishes each event once.
/// What fails for hookline's own reasons (store or queue unavailable or
/// refusing) is reported as a batch item failure: the message comes back
/// (what it published is found again then), and after the queue's receive
/// limit moves to the dead-letter queue. What can never be published as
/// sent (malformed, invalid, too large, a key reused for a different
/// request, a one-off URL for a tenant without a secret) goes to the
/// dead-letter queue at once — the message, or the one event of a batch
/// that cannot be — with its error logged and attached.
pub async fn ingest_batch(ctx: &Context, rejects: &RejectQueue, event: SqsEvent) -> SqsBatchResponse {
    let mut requests = Vec::with_capacity(event.records.len());
    // Per request: its message, its place in a batch body, and its JSON.
    let mut parts: Vec<(usize, Option<usize>, String)> = Vec::with_capacity(event.records.len());
    for (i, record) in event.records.iter().enumerate() {
        let body = record.body.as_deref().unwrap_or_default();
        // The message's sent time is the same on every receive: with its
        // id as the key, the event id is derived from both, and a second
        // receive finds the event it stored (no key item to write).
        let sent_at = record
            .attributes
            .get("SentTimestamp")
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis);
        let keyed = |req: Result<PublishEventRequest, hookline::api::ApiError>, key: Option<String>| {
            req.map(|mut req| {
                if req.idempotency_key.is_none() && key.is_some() {
                    req.idempotency_key = key;
                    req.keyed_at = sent_at;
                }
                req
            })
        };
        let id = record.message_id.as_deref();
        match batch_items(body) {
            Some(Ok(items)) => {
                for (n, raw) in items.into_iter().enumerate() {
                    let req = parse_json::<PublishEventRequest>(raw.as_bytes(), MAX_JSON_DEPTH);
                    requests.push(keyed(req, id.map(|id| format!("sqs-{id}-{n}"))));
                    parts.push((i, Some(n), raw));
                }
            }
            Some(Err(e)) => {
                requests.push(Err(e));
                parts.push((i, None, body.to_owned()));
            }
            None => {
                let req = parse_json::<PublishEventRequest>(body.as_bytes(), MAX_JSON_DEPTH);
                requests.push(keyed(req, id.map(|id| format!("sqs-{id}"))));
                parts.push((i, None, body.to_owned()));
            }
        }
    }
    let results = ctx.publish_events(&Caller::internal(), requests).await;
    let mut comes_back = vec![false; event.records.len()];
    for ((i, place, json), result) in parts.into_iter().zip(results) {
        let id = &event.records[i].message_id;
        comes_back[i] |= match result {
            Ok(published) => {
                info!(message_id = ?id, place, event_id = %published.id, "published from the ingest queue");
                false
            }
            // Logged with its cause by the publish; the message comes back.
            Err(e) if e.status() >= 500 => true,
            Err(e) => {
                let error = e.body().error;
                let reason = match place {
                    Some(n) => format!("events[{n}]: {}", error.message),
                    None => error.message,
                };
                // The reason can quote the request (a field's name): clipped.
                error!(message_id = ?id, place, code = error.code, reason = %hookline::telemetry::clip(&reason),
                    "a request on the ingest queue can never be published; set aside in its dead-letter queue");
                match rejects.reject(&json, &error.code, &reason).await {
                    Ok(()) => false,
                    Err(qe) => {
                        warn!(message_id = ?id, error = %qe, "the dead-letter queue failed; the message will come back");
                        true
                    }
                }
            }
        };
    }
    let mut response = SqsBatchResponse::default();
    for (record, comes_back) in event.records.iter().zip(comes_back) {
        match (comes_back, &record.message_id) {
            (false, _) => {}
            (true, Some(id)) => response.add_failure(id.clone()),
            (true, None) => error!("a failed message has no message id"),
        }
    }
    response
}

/// The events of a batch body (`{"events": [...]}`, as `POST
/// /v1/events/batch` takes it), each as its JSON; `None` for any other
/// body (a single publish request, or not JSON: read as one, it says
/// what is wrong).
fn batch_items(body: &str) -> Option<Result<Vec<String>, hookline::api::ApiError>> {
    let mut fields: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        parse_json(body.as_bytes(), MAX_JSON_DEPTH).ok()?;
    let events = fields.remove("events").filter(|_| fields.is_empty())?;
    // The body read once; its `events` list from the part already read.
    Some(parse_json(events.get().as_bytes(), MAX_JSON_DEPTH).and_then(|events| {
        let batch = PublishBatchRequest { events };
        batch.check_size()?;
        Ok(batch.events.into_iter().map(|raw| raw.get().to_owned()).collect())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<AwsConfig, ConfigError> {
        let mut env = vec![("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "https://q")];
        env.extend_from_slice(extra);
        AwsConfig::from_env(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn metrics_are_on_in_their_namespace_unless_switched_off() {
        assert_eq!(config(&[]).unwrap().metrics_namespace.as_deref(), Some("hookline"));
        let named = config(&[("HOOKLINE_METRICS_NAMESPACE", "hookline/prod")]).unwrap();
        assert_eq!(named.metrics_namespace.as_deref(), Some("hookline/prod"));
        assert_eq!(config(&[("HOOKLINE_METRICS", "0")]).unwrap().metrics_namespace, None);
        let bad = config(&[("HOOKLINE_METRICS", "yes")]).unwrap_err();
        assert_eq!(bad.name, "HOOKLINE_METRICS");
    }
}
