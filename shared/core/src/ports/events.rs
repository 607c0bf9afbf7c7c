//! Events, stored with their deliveries at publish.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::StoreError;
use super::queue::Queued;
use crate::model::{Delivery, Event, EventId};

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The event and its deliveries are stored.
    New,
    /// The tenant already published this idempotency key: nothing stored.
    Duplicate {
        /// The earlier event.
        event_id: EventId,
        /// What the earlier event's request was ([`Event::fingerprint`]).
        fingerprint: Option<String>,
    },
    /// The tenant already published this idempotency key (with this same
    /// request), but that publish stopped before storing everything — a
    /// store that writes a keyed publish in several steps finishes it on
    /// the repeat, under the earlier ids. Nothing says the earlier publish
    /// queued its deliveries: the repeat queues every one not yet attempted.
    Resumed {
        /// The earlier event, now stored whole.
        event_id: EventId,
    },
}

/// Events.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores an event with its deliveries, unless its tenant already used
    /// its idempotency key. A store that holds the delivery queue
    /// ([`EventStore::queues_messages`]) queues `messages` — the ones that
    /// start the deliveries — in the same transaction; others ignore them.
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        messages: &[Queued],
    ) -> Result<Inserted, StoreError>;
    /// Whether this store holds the delivery queue and queues a
    /// publication's messages with it (then a crash cannot store an event
    /// whose deliveries were never queued).
    fn queues_messages(&self) -> bool {
        false
    }
    /// Whether it queues ordered deliveries' messages in publish order too
    /// (in the transaction that stores their event). A store whose queueing
    /// follows on later (a stream, in its own order across events) answers
    /// `false`: the publish then sends those itself before it answers, and
    /// the store's queueing is the safety net (one copy is a duplicate,
    /// which the queue drops or the handler skips).
    fn queues_in_publish_order(&self) -> bool {
        self.queues_messages()
    }
    /// One event.
    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError>;
    /// Moves the event's `last_attempt_by` to `until` if that is later, so
    /// it is kept at least the retention past it (a redelivery, a replay or
    /// a longer schedule needs it longer than its publish foresaw). Nothing
    /// for an event that does not exist.
    async fn keep_event(&self, id: &EventId, until: DateTime<Utc>) -> Result<(), StoreError>;
}
