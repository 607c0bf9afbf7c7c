//! What the three Lambda functions share: their configuration, validated
//! once ([`AwsConfig`]), building the clients once per process, JSON logs,
//! and the deliver function's batch handling with partial batch responses.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures_util::StreamExt;
use tracing::{error, warn};

use hookline::Context;
use hookline::api::access::ApiKeys;
use hookline::config::{Config, ConfigError, required};
use hookline::ports::{OsEntropy, QueueMessage, Received, Sender, SystemClock};

use super::{DynamoStore, SqsQueue};

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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .without_time() // CloudWatch stamps every line
        .init();
}

/// How long initialisation waits for the clients' first calls.
const WARM_UP_LIMIT: Duration = Duration::from_secs(2);

/// The handlers' context over DynamoDB and SQS, from `config`. The SDK
/// reads credentials, region and `AWS_ENDPOINT_URL` (a local emulator) from
/// the environment. Both clients make one cheap call before the function
/// takes its first event, so credentials, DNS and the TLS connections are
/// ready and the first event does not pay for them.
pub async fn context(config: &AwsConfig) -> Context {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.table,
        config.common.retention,
    ));
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.queue_url));
    warm_up(&store, &queue).await;
    Context::new(store, queue, Arc::new(SystemClock), Arc::new(OsEntropy), config.common.settings.clone())
}

/// One call through each client, bounded by [`WARM_UP_LIMIT`]. A failure
/// is only logged: the function still starts, and its first event makes
/// the connection instead (or reports the real error).
async fn warm_up(store: &DynamoStore, queue: &SqsQueue) {
    let both = async { tokio::join!(store.warm_up(), queue.warm_up()) };
    match tokio::time::timeout(WARM_UP_LIMIT, both).await {
        Ok((Ok(()), Ok(()))) => {}
        Ok((store, queue)) => {
            for e in
                [store.err().map(|e| e.to_string()), queue.err().map(|e| e.to_string())].into_iter().flatten()
            {
                warn!(error = %e, "warming up an AWS client failed; the first event will connect");
            }
        }
        Err(_) => warn!("warming up the AWS clients took too long; the first event will connect"),
    }
}

/// Handles one SQS batch, `concurrency` messages at a time. A message that
/// cannot be read, or whose handling hit a store or queue failure, is
/// reported as a batch item failure: SQS hands it out again and, after the
/// queue's receive limit, moves it to the DLQ. Endpoint failures are not
/// failures here — they are retries the handler already scheduled.
pub async fn deliver_batch(
    ctx: &Context,
    sender: &dyn Sender,
    event: SqsEvent,
    concurrency: usize,
) -> SqsBatchResponse {
    let results = futures_util::stream::iter(event.records)
        .map(|record| async move {
            let id = record.message_id.clone();
            let parsed = record.body.as_deref().map(serde_json::from_str::<QueueMessage>);
            // Above 1, an earlier handling of this message died or failed.
            let receives = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let ok = match parsed {
                Some(Ok(message)) => match ctx.handle_message(sender, &Received { message, receives, ack: None }).await {
                    Ok(_) => true,
                    Err(e) if e.is_retryable() => {
                        warn!(message_id = ?id, error = %e, "the store or queue failed; the message will come back");
                        false
                    }
                    Err(e) => {
                        error!(message_id = ?id, error = %e,
                            "the store or queue refused; the message will come back and, if this lasts, end in the DLQ");
                        false
                    }
                },
                Some(Err(e)) => {
                    error!(message_id = ?id, error = %e, "unreadable message; it will end in the DLQ");
                    false
                }
                None => {
                    error!(message_id = ?id, "message without a body; it will end in the DLQ");
                    false
                }
            };
            (id, ok)
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut response = SqsBatchResponse::default();
    for (id, ok) in results {
        match (ok, id) {
            (true, _) => {}
            (false, Some(id)) => response.add_failure(id),
            // Without an id SQS cannot be told which one failed; it is
            // redelivered after its visibility timeout all the same.
            (false, None) => error!("a failed message has no message id"),
        }
    }
    response
}
