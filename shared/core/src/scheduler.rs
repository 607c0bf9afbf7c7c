//! The retry scheduler: deliveries whose due time has passed go back onto
//! the queue. Claiming moves a delivery's due time forward by a lease, so a
//! concurrent or repeated run does not enqueue it again, and a run that
//! dies before enqueueing only delays it by the lease.

use std::time::Duration;

use tracing::info;

use crate::context::Context;
use crate::ports::{QueueError, QueueMessage, Queued, StoreError};

/// Deliveries claimed per store call.
pub const CLAIM_BATCH: usize = 100;

/// Why a scheduler run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RetryRunError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed (claimed deliveries come back after their lease).
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl Context {
    /// Enqueues every delivery due now, in batches, up to `max` of them.
    /// Returns how many were enqueued.
    pub async fn enqueue_due(&self, max: usize) -> Result<usize, RetryRunError> {
        let mut total = 0;
        while total < max {
            let now = self.clock.now();
            let claimed = self
                .deliveries
                .claim_due(now, self.settings.queue_grace, CLAIM_BATCH.min(max - total))
                .await?;
            if claimed.is_empty() {
                break;
            }
            let messages: Vec<Queued> = claimed
                .iter()
                .map(|d| {
                    // A delivery claimed as a safety net may not be due yet
                    // by its schedule; hold it back until it is.
                    let wait = d
                        .next_attempt_at
                        .and_then(|t| (t - now).to_std().ok())
                        .unwrap_or(Duration::ZERO)
                        .min(self.queue.max_delay());
                    Queued { message: QueueMessage::next_for(d), delay: wait }
                })
                .collect();
            self.queue.enqueue(&messages).await?;
            total += claimed.len();
            if claimed.len() < CLAIM_BATCH {
                break;
            }
        }
        if total > 0 {
            info!(enqueued = total, "due deliveries enqueued");
            crate::telemetry::scheduler_enqueued(total);
        }
        Ok(total)
    }
}
