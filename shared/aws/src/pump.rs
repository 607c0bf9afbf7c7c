//! The SQS event source mapping, played where AWS does not run it: receive
//! up to ten visible messages, hand them to the deliver function as one
//! `SqsEvent`, then delete every message the answer does not report failed
//! (one `DeleteMessageBatch`), leaving those to come back after their
//! visibility timeout. The tests call the deliver handler with the event,
//! `tools/aws-local` invokes the function under `cargo lambda watch`, and
//! the load harness meters each step.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use hookline::ports::QueueError;

use super::error::queue_error;

/// A queue's consumer, as Lambda's event source mapping consumes it.
#[derive(Clone, Debug)]
pub struct Pump {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

/// One batch as received: the event a function is given, and what settling
/// it needs.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The event, as Lambda sends it.
    pub event: SqsEvent,
    receipts: Vec<(String, String)>,
}

impl Batch {
    /// Messages in the batch.
    pub fn len(&self) -> usize {
        self.event.records.len()
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.event.records.is_empty()
    }
}

impl Pump {
    /// The consumer of the queue at `queue_url`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    /// Receives up to `max` (at most 10) visible messages, waiting up to
    /// `wait` (whole seconds, at most 20) for the first.
    pub async fn receive(&self, max: usize, wait: Duration) -> Result<Batch, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            // What Lambda's event source mapping passes on: the receive count
            // and the sent time.
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            // And, from a FIFO queue, each message's group.
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(queue_error)?;
        let mut batch = Batch::default();
        for m in out.messages() {
            let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else { continue };
            let mut record = SqsMessage::default();
            record.message_id = Some(id.to_owned());
            record.receipt_handle = Some(receipt.to_owned());
            record.body = m.body().map(str::to_owned);
            record.event_source = Some("aws:sqs".to_owned());
            // As Lambda does: how many times the message has been received.
            for (name, value) in m.attributes().into_iter().flatten() {
                record.attributes.insert(name.as_str().to_owned(), value.clone());
            }
            batch.event.records.push(record);
            batch.receipts.push((id.to_owned(), receipt.to_owned()));
        }
        Ok(batch)
    }

    /// Deletes the messages of `batch` that `response` does not report
    /// failed; returns how many were deleted.
    pub async fn settle(&self, batch: &Batch, response: &SqsBatchResponse) -> Result<usize, QueueError> {
        let failed: Vec<&str> =
            response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = batch
            .receipts
            .iter()
            .filter(|(id, _)| !failed.contains(&id.as_str()))
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .map_err(QueueError::refused)
            })
            .collect::<Result<_, _>>()?;
        if done.is_empty() {
            return Ok(0);
        }
        let n = done.len();
        self.client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(done))
            .send()
            .await
            .map_err(queue_error)?;
        Ok(n)
    }
}
