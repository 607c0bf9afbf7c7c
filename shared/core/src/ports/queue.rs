//! The delivery queue: its messages, how one is received and acknowledged, and its dead letters.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::QueueError;
use crate::model::DeliveryId;

/// What travels on the delivery queue: versioned and tagged, so old
/// messages stay readable after a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QueueMessage {
    /// Make attempt number `attempt` of a delivery.
    #[serde(rename = "deliver.v1")]
    Deliver {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The attempt this message is for (1-based).
        attempt: u32,
    },
    /// Make the next attempts of a delivery in its key's order: the
    /// message stays on the queue (hidden until each retry is due) until
    /// the delivery is finished, so the deliveries behind it in `group`
    /// wait ([`crate::model::Delivery::ordering`]).
    #[serde(rename = "deliver.ordered.v1")]
    DeliverInOrder {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The attempt it was queued for (what tells two queueings of one
        /// delivery apart; the attempt made is whichever is next).
        attempt: u32,
        /// Its message group: one delivery of a group at a time, in order.
        group: String,
    },
}

impl QueueMessage {
    /// The message for delivery `d`'s next attempt: in its key's message
    /// group when it is ordered.
    pub fn next_for(d: &crate::model::Delivery) -> Self {
        let (delivery_id, attempt) = (d.id.clone(), d.attempts.saturating_add(1));
        match &d.ordering {
            Some(group) => Self::DeliverInOrder { delivery_id, attempt, group: group.clone() },
            None => Self::Deliver { delivery_id, attempt },
        }
    }

    /// The delivery it is for.
    pub fn delivery_id(&self) -> &DeliveryId {
        match self {
            Self::Deliver { delivery_id, .. } | Self::DeliverInOrder { delivery_id, .. } => delivery_id,
        }
    }

    /// Its message group, when it is delivered in order.
    pub fn group(&self) -> Option<&str> {
        match self {
            Self::Deliver { .. } => None,
            Self::DeliverInOrder { group, .. } => Some(group),
        }
    }

    /// The messages a queue body carries: one (a JSON object), or several
    /// packed into one body (a JSON array of them; see [`Self::packed`]).
    pub fn all_in(body: &str) -> Result<Vec<Self>, serde_json::Error> {
        match body.trim_start().starts_with('[') {
            true => serde_json::from_str(body),
            false => serde_json::from_str(body).map(|m| vec![m]),
        }
    }

    /// One body for `messages` ([`Self::all_in`] reads it back): a lone
    /// message as itself, several as a JSON array.
    pub fn packed(messages: &[&Self]) -> Result<String, serde_json::Error> {
        match messages {
            [one] => serde_json::to_string(one),
            many => serde_json::to_string(many),
        }
    }
}

/// How a queue that lives in the store names a message it handed out, so
/// the store can acknowledge it in the transaction that records its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack(pub i64);

/// A message as a consumer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message.
    pub message: QueueMessage,
    /// How many times it has been handed out, this time included: above 1,
    /// an earlier handling died or failed before it was acknowledged.
    pub receives: u32,
    /// Its acknowledgement handle, when the store can acknowledge it.
    pub ack: Option<Ack>,
}

/// A message and how long the queue should hold it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The message.
    pub message: QueueMessage,
    /// Delay before it becomes visible (at most the queue's `max_delay`).
    pub delay: Duration,
}

/// What a queue holds now, for the operator's Service page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages ready to be received now.
    pub waiting: u64,
    /// Messages received and not yet acknowledged, or held back (a delay,
    /// a retry kept hidden).
    pub held: u64,
    /// How long the oldest ready message has waited, where the queue can
    /// tell (SQS tells it only to CloudWatch, as `ApproximateAgeOfOldestMessage`).
    pub oldest_wait: Option<Duration>,
}

/// The delivery queue (the sending side; each mode consumes it its own way).
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// The longest delay the queue can hold a message back (15 min on SQS).
    fn max_delay(&self) -> Duration;
    /// Sends messages, in batches as the queue allows.
    async fn enqueue(&self, messages: &[Queued]) -> Result<(), QueueError>;

    /// What the queue holds now, where it can tell (none: it cannot).
    async fn depth(&self) -> Result<Option<QueueDepth>, QueueError> {
        Ok(None)
    }

    /// Keeps a message received from the ordered queue hidden for `wait`,
    /// by its receipt (SQS's `ChangeMessageVisibility`), so it holds its
    /// group until then ([`crate::deliver::Handled::Waits`]). A queue that
    /// lives in the store keeps such messages its own way and hides none
    /// by receipt.
    async fn hide(&self, _receipt: &str, _wait: Duration) -> Result<(), QueueError> {
        Err(QueueError::refused("this queue hides no message by receipt"))
    }
}

/// A message the delivery queue gave up on: received too often without
/// being handled (the store or queue kept failing for it, or it could not
/// be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The queue's id for it (what redriving names).
    pub id: String,
    /// The message as it was queued.
    pub body: String,
    /// How many times it was received.
    pub receives: u32,
    /// Why its handling failed, where the queue kept it (the embedded queue
    /// keeps the last error; SQS keeps none: the deliver function's log has
    /// it, under the delivery's id).
    pub reason: Option<String>,
    /// When it was given up on, where the queue knows.
    pub died_at: Option<DateTime<Utc>>,
}

/// The delivery queue's dead letters: the embedded `dead_letters` table or
/// the SQS dead-letter queue.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Up to `limit` of them, newest first where the queue can tell.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Puts the dead letter `id` back on the queue, to be handled now as if
    /// new; whether there was one.
    async fn redrive(&self, id: &str) -> Result<bool, QueueError>;
    /// How many there are, where the queue can count them without
    /// receiving them (none: it cannot).
    async fn count(&self) -> Result<Option<u64>, QueueError> {
        Ok(None)
    }
}

/// No dead letters to show (a context without access to them).
pub struct NoDeadLetters;

#[async_trait]
impl DeadLetters for NoDeadLetters {
    async fn dead_letters(&self, _limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(Vec::new())
    }

    async fn redrive(&self, _id: &str) -> Result<bool, QueueError> {
        Ok(false)
    }
}
