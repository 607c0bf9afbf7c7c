//! The delivery queue's dead letters, for the operator: what the queue gave
//! up on and why, beside the state of the delivery each one was for, and a
//! way to put one back once its cause is fixed. Operator keys only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use super::ApiError;
use super::page::ListResponse;
use crate::auth::Caller;
use crate::context::Context;
use crate::model::{DeliveryId, DeliveryStatus};
use crate::ports::{DeadLetter, QueueMessage};

/// Most dead letters one listing returns.
pub const MAX_DEAD_LETTERS: usize = super::page::MAX_PAGE_LIMIT;

/// A dead letter as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    /// The queue's id for it.
    pub id: String,
    /// The delivery it was for, when the message can be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<DeliveryId>,
    /// The attempt it asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The message as queued, when it cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable_body: Option<String>,
    /// How many times it was received.
    pub receives: u32,
    /// Why its handling failed, where the queue kept it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was given up on, where the queue knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub died_at: Option<DateTime<Utc>>,
    /// Its delivery as it stands now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryState>,
    /// When the message packed several (SQS: first attempts queued in the
    /// same second, up to ten a message), each of them, with its
    /// delivery's state; `delivery_id`, `attempt` and `delivery` are then
    /// absent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<PackedMessage>,
}

/// One of the messages a dead letter packed.
#[derive(Debug, Clone, Serialize)]
pub struct PackedMessage {
    /// The delivery it was for.
    pub delivery_id: DeliveryId,
    /// The attempt it asked for.
    pub attempt: u32,
    /// Its delivery as it stands now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryState>,
}

/// Where the dead letter's delivery stands.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryState {
    /// Its status.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempt_count: u32,
    /// The last attempt's status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
}

/// The answer to a redrive.
#[derive(Debug, Clone, Serialize)]
pub struct Redriven {
    /// The dead letter put back on the queue.
    pub id: String,
}

impl Context {
    /// `GET /v1/dead-letters`: up to `limit` (default and most
    /// [`MAX_DEAD_LETTERS`]), with their deliveries' state.
    pub async fn list_dead_letters(
        &self,
        caller: &Caller,
        limit: Option<usize>,
    ) -> Result<ListResponse<DeadLetterView>, ApiError> {
        caller.operator()?;
        // A limit out of range is refused as on every list, not narrowed.
        let limit = match limit {
            None => MAX_DEAD_LETTERS,
            Some(n) => super::page::page_request(None, Some(n))?.limit,
        };
        let mut data = Vec::new();
        for dead in self.dead_letters.dead_letters(limit).await? {
            data.push(self.view(dead).await);
        }
        Ok(ListResponse { data, next_cursor: None })
    }

    /// `POST /v1/dead-letters/{id}/redrive`: back on the queue, handled now.
    pub async fn redrive_dead_letter(&self, caller: &Caller, id: &str) -> Result<Redriven, ApiError> {
        caller.operator()?;
        if !self.dead_letters.redrive(id).await? {
            return Err(ApiError::NotFound("dead letter"));
        }
        info!(dead_letter = id, key = %caller.key_id, "dead letter redriven");
        Ok(Redriven { id: id.to_owned() })
    }

    async fn view(&self, dead: DeadLetter) -> DeadLetterView {
        let messages = QueueMessage::all_in(&dead.body).ok().filter(|m| !m.is_empty());
        let mut packed = Vec::new();
        for message in messages.iter().flatten() {
            let (QueueMessage::Deliver { delivery_id, attempt }
            | QueueMessage::DeliverInOrder { delivery_id, attempt, .. }) = message;
            let delivery = self.delivery_state(delivery_id).await;
            packed.push(PackedMessage { delivery_id: delivery_id.clone(), attempt: *attempt, delivery });
        }
        let one = match packed.len() {
            1 => packed.pop(),
            _ => None,
        };
        DeadLetterView {
            id: dead.id,
            unreadable_body: messages.is_none().then_some(dead.body),
            delivery_id: one.as_ref().map(|m| m.delivery_id.clone()),
            attempt: one.as_ref().map(|m| m.attempt),
            delivery: one.and_then(|m| m.delivery),
            messages: packed,
            receives: dead.receives,
            reason: dead.reason,
            died_at: dead.died_at,
        }
    }

    /// Where delivery `id` stands. Dead letters are read when something is
    /// broken: a delivery that cannot be read is shown without its state,
    /// not a failed listing.
    async fn delivery_state(&self, id: &DeliveryId) -> Option<DeliveryState> {
        match self.deliveries.get_delivery(id).await {
            Ok(d) => d.map(|d| DeliveryState {
                status: d.status,
                attempt_count: d.attempts,
                last_status_code: d.last_status_code,
            }),
            Err(e) => {
                warn!(delivery_id = %id, error = %e, "a dead letter's delivery cannot be read");
                None
            }
        }
    }
}
