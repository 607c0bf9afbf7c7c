//! The delivery queue on Amazon SQS: messages sent in batches of ten, each
//! with its own delay (SQS holds a message back at most 15 minutes), those
//! queued together for the same second packed up to [`PACK`] to a message
//! body (SQS bills a request per 64 KB: ten first attempts cost what one
//! does to send, receive and delete; `QueueMessage::all_in` reads a body). And
//! the ingest queue's dead-letter queue, where a publish request that can
//! never succeed is set aside with why ([`RejectQueue`]).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use hookline::ports::{DeadLetter, DeadLetters, DeliveryQueue, QueueDepth, QueueError, QueueMessage, Queued};

use super::error::queue_error;

/// SQS's longest `DelaySeconds`.
pub const SQS_MAX_DELAY: Duration = Duration::from_secs(900);
/// Entries SQS takes in one `SendMessageBatch`.
const BATCH: usize = 10;
/// Sends of the entries a batch reported as failed.
const TRIES: usize = 3;
/// Most queue messages one SQS message body carries (a JSON array of
/// them; one alone is sent as itself). Ten keep a body near 1 KB, and a
/// body that comes back (its handling failed) brings back few.
pub const PACK: usize = 10;

/// The bodies `messages` are sent as, each with its delay in seconds:
/// those of one delay packed [`PACK`] to a body, in their order.
fn bodies<'a>(messages: impl IntoIterator<Item = &'a Queued>) -> Result<Vec<(String, i32)>, QueueError> {
    let delay = |q: &Queued| i32::try_from(q.delay.min(SQS_MAX_DELAY).as_secs()).unwrap_or(900);
    let mut by_delay: Vec<(i32, Vec<&QueueMessage>)> = Vec::new();
    for q in messages {
        let d = delay(q);
        match by_delay.iter_mut().find(|(at, group)| *at == d && group.len() < PACK) {
            Some((_, group)) => group.push(&q.message),
            None => by_delay.push((d, vec![&q.message])),
        }
    }
    by_delay
        .into_iter()
        .map(|(d, group)| QueueMessage::packed(&group).map(|b| (b, d)).map_err(QueueError::refused))
        .collect()
}

/// The longest an ordered message is hidden at once: SQS's limit is 12
/// hours from its receipt; a longer wait is hidden again when it comes back.
pub const MAX_HIDE: Duration = Duration::from_secs(11 * 3600);

/// The SQS delivery queue, and its FIFO twin for ordered deliveries (one
/// message group per subscription and key).
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    ordered_url: Option<String>,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into(), ordered_url: None }
    }

    /// With the FIFO queue at `url` for ordered deliveries (without one,
    /// queueing an ordered delivery is refused: it is never sent out of
    /// order).
    pub fn with_ordered(mut self, url: impl Into<String>) -> Self {
        self.ordered_url = Some(url.into());
        self
    }

    fn ordered_url(&self) -> Result<&str, QueueError> {
        self.ordered_url.as_deref().ok_or_else(|| {
            QueueError::refused("no ordered (FIFO) delivery queue is configured (HOOKLINE_ORDERED_QUEUE_URL)")
        })
    }

    /// Sends ordered messages to the FIFO queue, up to ten to a request but
    /// never two of one group (so an entry that failed and is sent again
    /// cannot land after a later one of its group), each in its group and
    /// at once (a FIFO queue delays no single message; the handler hides
    /// one that is not due yet). The deduplication id is the delivery and
    /// the attempt it was queued for: the outbox and the publish queueing
    /// one first attempt send it once, and a redelivery is never taken for
    /// a repeat.
    async fn enqueue_ordered(&self, messages: &[&Queued]) -> Result<(), QueueError> {
        let url = self.ordered_url()?;
        let mut entries: Vec<SendMessageBatchRequestEntry> = Vec::with_capacity(BATCH);
        let mut groups: Vec<&str> = Vec::with_capacity(BATCH);
        for q in messages {
            let group = q.message.group().unwrap_or_default();
            if entries.len() == BATCH || groups.contains(&group) {
                self.send_batch(url, std::mem::take(&mut entries)).await?;
                groups.clear();
            }
            let (QueueMessage::DeliverInOrder { delivery_id, attempt, .. }
            | QueueMessage::Deliver { delivery_id, attempt }) = &q.message;
            let entry = SendMessageBatchRequestEntry::builder()
                .id(entries.len().to_string())
                .message_body(serde_json::to_string(&q.message).map_err(QueueError::refused)?)
                .message_group_id(group)
                .message_deduplication_id(format!("{delivery_id}.{attempt}"))
                .build()
                .map_err(QueueError::refused)?;
            entries.push(entry);
            groups.push(group);
        }
        if !entries.is_empty() {
            self.send_batch(url, entries).await?;
        }
        Ok(())
    }

    /// One `SendMessageBatch`, its failed entries sent again up to
    /// [`TRIES`] times.
    async fn send_batch(
        &self,
        url: &str,
        mut entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<(), QueueError> {
        for attempt in 1..=TRIES {
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(queue_error)?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                return Ok(());
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
        Ok(())
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

/// Approximate message counts of a queue, one `GetQueueAttributes`: each
/// of the attributes named, in their order (0 where SQS gave none).
async fn approximate<const N: usize>(
    client: &Client,
    url: &str,
    names: [QueueAttributeName; N],
) -> Result<[u64; N], QueueError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(queue_error)?;
    let attributes = out.attributes();
    Ok(names.map(|n| attributes.and_then(|a| a.get(&n)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)))
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

/// The delivery queue's dead-letter queue — and the ordered (FIFO) queue's,
/// when given ([`SqsDeadLetters::with_ordered`]) — read and redriven through
/// the API. SQS lists nothing: a listing receives messages with a visibility
/// timeout of zero (they stay visible, and each look counts as a receive),
/// up to [`LOOKS`] calls a queue; a redrive looks the same way for the
/// message, sends its body back to its queue (an ordered one to its group)
/// and deletes it.
#[derive(Clone)]
pub struct SqsDeadLetters {
    client: Client,
    standard: DeadQueue,
    ordered: Option<DeadQueue>,
}

/// A dead-letter queue and the queue its messages go back to.
#[derive(Clone)]
struct DeadQueue {
    dlq_url: String,
    queue_url: String,
    fifo: bool,
}

/// Receive calls one listing or redrive makes at most (ten messages each).
const LOOKS: usize = 10;

impl SqsDeadLetters {
    /// The dead-letter queue at `dlq_url` of the queue at `queue_url`.
    pub fn new(client: Client, dlq_url: impl Into<String>, queue_url: impl Into<String>) -> Self {
        let standard = DeadQueue { dlq_url: dlq_url.into(), queue_url: queue_url.into(), fifo: false };
        Self { client, standard, ordered: None }
    }

    /// Also the ordered (FIFO) delivery queue's dead letters, at `dlq_url`.
    pub fn with_ordered(mut self, dlq_url: impl Into<String>, queue_url: impl Into<String>) -> Self {
        self.ordered = Some(DeadQueue { dlq_url: dlq_url.into(), queue_url: queue_url.into(), fifo: true });
        self
    }

    fn queues(&self) -> impl Iterator<Item = &DeadQueue> {
        std::iter::once(&self.standard).chain(&self.ordered)
    }

    /// One look: up to ten messages, left visible; with receipt handles.
    async fn look(&self, q: &DeadQueue) -> Result<Vec<(DeadLetter, String)>, QueueError> {
        use aws_sdk_sqs::types::MessageSystemAttributeName as A;
        let out = self
            .client
            .receive_message()
            .queue_url(&q.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(A::ApproximateReceiveCount)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                let receives = m
                    .attributes()
                    .and_then(|a| a.get(&A::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let dead = DeadLetter {
                    id: m.message_id()?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receives,
                    reason: None,
                    died_at: None,
                };
                Some((dead, m.receipt_handle()?.to_owned()))
            })
            .collect())
    }
}

/// How many times the retry function moves one dead message back onto
/// the delivery queue by itself; after that it waits in the DLQ for an
/// operator (`GET /v1/dead-letters`, and the DLQ's alarm).
pub const MAX_REDRIVES: u32 = 3;

/// The message attribute counting a message's redrives.
pub const REDRIVES_ATTRIBUTE: &str = "hookline-redrives";

impl SqsDeadLetters {
    /// Sends dead message `id`'s `body` back to its queue (with its redrive
    /// count, if given; an ordered one to its message group, deduplicated by
    /// its id and that count), then deletes it from the DLQ.
    async fn move_back(
        &self,
        q: &DeadQueue,
        (id, body, receipt): (&str, &str, &str),
        redrives: Option<u32>,
    ) -> Result<(), QueueError> {
        use aws_sdk_sqs::types::MessageAttributeValue;
        let mut send = self.client.send_message().queue_url(&q.queue_url).message_body(body);
        if let Some(count) = redrives {
            let count = MessageAttributeValue::builder()
                .data_type("Number")
                .string_value(count.to_string())
                .build()
                .map_err(QueueError::refused)?;
            send = send.message_attributes(REDRIVES_ATTRIBUTE, count);
        }
        if q.fifo {
            let messages = QueueMessage::all_in(body).map_err(|e| QueueError::refused(e.to_string()))?;
            let group = messages.first().and_then(QueueMessage::group).ok_or_else(|| {
                QueueError::refused(format!("dead letter {id} of the ordered queue names no message group"))
            })?;
            send = send
                .message_group_id(group)
                .message_deduplication_id(format!("{id}.{}", redrives.unwrap_or(0)));
        }
        send.send().await.map_err(queue_error)?;
        self.client
            .delete_message()
            .queue_url(&q.dlq_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    /// Moves what waits in the DLQs back onto their queues, each message at
    /// most [`MAX_REDRIVES`] times, in up to `rounds` receives of ten a
    /// queue; how many moved. A message is hidden for a minute while it
    /// moves (one past its redrives stays, visible again after that minute).
    pub async fn redrive_all(&self, rounds: usize) -> Result<usize, QueueError> {
        let mut moved = 0;
        for q in self.queues() {
            for _ in 0..rounds {
                let out = self
                    .client
                    .receive_message()
                    .queue_url(&q.dlq_url)
                    .max_number_of_messages(10)
                    .visibility_timeout(60)
                    .message_attribute_names(REDRIVES_ATTRIBUTE)
                    .send()
                    .await
                    .map_err(queue_error)?;
                if out.messages().is_empty() {
                    break;
                }
                for m in out.messages() {
                    let redrives = m
                        .message_attributes()
                        .and_then(|a| a.get(REDRIVES_ATTRIBUTE))
                        .and_then(|v| v.string_value())
                        .and_then(|n| n.parse::<u32>().ok())
                        .unwrap_or(0);
                    let (Some(id), Some(body), Some(receipt)) =
                        (m.message_id(), m.body(), m.receipt_handle())
                    else {
                        continue;
                    };
                    if redrives >= MAX_REDRIVES {
                        continue;
                    }
                    self.move_back(q, (id, body, receipt), Some(redrives + 1)).await?;
                    moved += 1;
                }
            }
        }
        Ok(moved)
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn count(&self) -> Result<Option<u64>, QueueError> {
        let mut all = 0;
        for q in self.queues() {
            let [n] =
                approximate(&self.client, &q.dlq_url, [QueueAttributeName::ApproximateNumberOfMessages])
                    .await?;
            all += n;
        }
        Ok(Some(all))
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut found: Vec<DeadLetter> = Vec::new();
        for q in self.queues() {
            for _ in 0..LOOKS {
                let seen = found.len();
                for (dead, _) in self.look(q).await? {
                    if found.len() < limit && !found.iter().any(|f| f.id == dead.id) {
                        found.push(dead);
                    }
                }
                if found.len() >= limit || found.len() == seen {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn redrive(&self, id: &str) -> Result<bool, QueueError> {
        for q in self.queues() {
            for _ in 0..LOOKS {
                let looked = self.look(q).await?;
                if looked.is_empty() {
                    break;
                }
                if let Some((dead, receipt)) = looked.into_iter().find(|(d, _)| d.id == id) {
                    self.move_back(q, (id, &dead.body, &receipt), None).await?;
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

#[async_trait]
impl DeliveryQueue for SqsQueue {
    fn max_delay(&self) -> Duration {
        SQS_MAX_DELAY
    }

    async fn enqueue(&self, messages: &[Queued]) -> Result<(), QueueError> {
        let (ordered, standard): (Vec<&Queued>, Vec<&Queued>) =
            messages.iter().partition(|q| q.message.group().is_some());
        if !ordered.is_empty() {
            self.enqueue_ordered(&ordered).await?;
        }
        for chunk in bodies(standard)?.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (body, delay))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(*delay)
                        .build()
                        .map_err(QueueError::refused)
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.send_batch(&self.url, entries).await?;
        }
        Ok(())
    }

    async fn depth(&self) -> Result<Option<QueueDepth>, QueueError> {
        use QueueAttributeName as A;
        let mut depth = QueueDepth::default();
        for url in std::iter::once(&self.url).chain(&self.ordered_url) {
            let names = [
                A::ApproximateNumberOfMessages,
                A::ApproximateNumberOfMessagesNotVisible,
                A::ApproximateNumberOfMessagesDelayed,
            ];
            let [waiting, in_flight, delayed] = approximate(&self.client, url, names).await?;
            depth.waiting += waiting;
            depth.held += in_flight + delayed;
        }
        Ok(Some(depth))
    }

    async fn hide(&self, receipt: &str, wait: Duration) -> Result<(), QueueError> {
        // Whole seconds, rounded up: never visible before it is due.
        let secs = wait.min(MAX_HIDE).as_millis().div_ceil(1000);
        self.client
            .change_message_visibility()
            .queue_url(self.ordered_url()?)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(secs).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline::model::DeliveryId;

    fn queued(n: u8, delay: u64) -> Queued {
        let id = DeliveryId::generate(chrono::DateTime::UNIX_EPOCH, [n; 10]);
        Queued {
            message: QueueMessage::Deliver { delivery_id: id, attempt: 1 },
            delay: Duration::from_secs(delay),
        }
    }

    #[test]
    fn messages_of_one_second_are_packed_ten_to_a_body_and_read_back_in_order() {
        let messages_of = QueueMessage::all_in;
        let mut all: Vec<Queued> = (0..23).map(|n| queued(n, 0)).collect();
        all.insert(5, queued(90, 30));
        all.push(queued(91, 5000)); // past SQS's longest delay: held 900 s
        let sent = bodies(&all).expect("bodies");
        let shape: Vec<(usize, i32)> =
            sent.iter().map(|(b, d)| (messages_of(b).expect("reads").len(), *d)).collect();
        assert_eq!(shape, [(10, 0), (1, 30), (10, 0), (3, 0), (1, 900)]);
        let now: Vec<QueueMessage> =
            sent.iter().filter(|(_, d)| *d == 0).flat_map(|(b, _)| messages_of(b).expect("reads")).collect();
        let want: Vec<QueueMessage> = (0..23).map(|n| queued(n, 0).message).collect();
        assert_eq!(now, want, "each once, in the order queued");
        // One alone is sent as itself: what a deployment before packing
        // sent, and still reads.
        assert!(sent[1].0.starts_with('{'), "{}", sent[1].0);
        assert!(messages_of("not json").is_err() && messages_of("[{}]").is_err());
    }
}
