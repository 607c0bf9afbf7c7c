//! The delivery queue on Amazon SQS: messages sent in batches of ten, each
//! with its own delay (SQS holds a message back at most 15 minutes). And
//! the ingest queue's dead-letter queue, where a publish request that can
//! never succeed is set aside with why ([`RejectQueue`]).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use hookline::ports::{DeliveryQueue, QueueError, Queued};

use super::error::queue_error;

/// SQS's longest `DelaySeconds`.
pub const SQS_MAX_DELAY: Duration = Duration::from_secs(900);
/// Entries SQS takes in one `SendMessageBatch`.
const BATCH: usize = 10;
/// Sends of the entries a batch reported as failed.
const TRIES: usize = 3;

/// The SQS delivery queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// One cheap call (the queue's ARN), so the client's credentials and
    /// connection are ready before the first message is sent.
    pub async fn warm_up(&self) -> Result<(), QueueError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}

/// The message attribute of a rejected publish request naming its error
/// code (`invalid_field`, `malformed_request`, …).
pub const REJECT_CODE_ATTRIBUTE: &str = "hookline-error-code";
/// The message attribute of a rejected publish request saying why.
pub const REJECT_REASON_ATTRIBUTE: &str = "hookline-error";

/// The ingest queue's dead-letter queue: a message that can never be
/// published as sent goes there at once, its body unchanged, with the error
/// in two message attributes, rather than being received again and again.
#[derive(Clone)]
pub struct RejectQueue {
    client: Client,
    url: String,
}

impl RejectQueue {
    /// The dead-letter queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// Sets `body` aside with its error `code` and `reason`.
    pub async fn reject(&self, body: &str, code: &str, reason: &str) -> Result<(), QueueError> {
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(QueueError::refused)
        };
        // SQS takes no empty body; the reason says there was none.
        let body = if body.is_empty() { "(no body)" } else { body };
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_attributes(REJECT_CODE_ATTRIBUTE, attribute(code)?)
            .message_attributes(REJECT_REASON_ATTRIBUTE, attribute(reason)?)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryQueue for SqsQueue {
    fn max_delay(&self) -> Duration {
        SQS_MAX_DELAY
    }

    async fn enqueue(&self, messages: &[Queued]) -> Result<(), QueueError> {
        for chunk in messages.chunks(BATCH) {
            let mut entries = chunk
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    let body = serde_json::to_string(&q.message).map_err(QueueError::refused)?;
                    let delay = i32::try_from(q.delay.min(SQS_MAX_DELAY).as_secs()).unwrap_or(900);
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(delay)
                        .build()
                        .map_err(QueueError::refused)
                })
                .collect::<Result<Vec<_>, _>>()?;
            for attempt in 1..=TRIES {
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(queue_error)?;
                let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                if failed.is_empty() {
                    break;
                }
                // A sender's fault (a message SQS will never take) does not
                // pass by sending it again; anything else may.
                if let Some(f) = out.failed().iter().find(|f| f.sender_fault()) {
                    return Err(QueueError::refused(format!(
                        "SQS refused a message: {} {}",
                        f.code(),
                        f.message().unwrap_or_default()
                    )));
                }
                if attempt == TRIES {
                    return Err(QueueError::unavailable(format!(
                        "SQS did not take {} messages of a batch after {TRIES} sends",
                        failed.len()
                    )));
                }
                entries.retain(|e| failed.contains(&e.id()));
            }
        }
        Ok(())
    }
}
