//! The outbox: what a new event item on the table's stream asks to queue.
//! Its `INSERT` carries the event's stubs; each becomes the message of its
//! delivery's first attempt, held back until that attempt is due. So a
//! delivery stored is a delivery queued — whoever wrote it, whenever it
//! stopped — with no per-delivery index entry.

use chrono::{DateTime, Utc};

use hookline::model::EventId;
use hookline::ports::{QueueMessage, Queued, StoreError};

use super::Item;
use super::items::{corrupt, get_n, get_s, ordering_key, parse_id, stubs, time};

/// Whether an item on the stream is an event's (the outbox's only concern).
pub fn is_event_item(item: &Item) -> bool {
    get_s(item, "pk").is_ok_and(|pk| pk.starts_with("E#"))
}

/// The first attempts event item `item` stands for, each delayed until it
/// is due at `now` (at most `max_delay`). An error names what is wrong with
/// an item that is not an event's.
pub fn first_attempts(
    item: &Item,
    now: DateTime<Utc>,
    max_delay: std::time::Duration,
) -> Result<Vec<Queued>, StoreError> {
    if !is_event_item(item) {
        return Err(corrupt("not an event's item"));
    }
    let event_id: EventId = parse_id(get_s(item, "sk")?)?;
    let created = time(get_n(item, "c")?)?;
    let key = ordering_key(item)?;
    stubs(item)?
        .into_iter()
        .map(|stub| {
            let delivery_id =
                event_id.delivery(stub.index).ok_or_else(|| corrupt("a stub's index is out of range"))?;
            let due = created + chrono::Duration::milliseconds(stub.first_in);
            let delay = (due - now).to_std().unwrap_or_default().min(max_delay);
            let message = match (&key, stub.ordered) {
                (Some(key), true) => QueueMessage::DeliverInOrder {
                    delivery_id,
                    attempt: 1,
                    group: hookline::model::order_group(&parse_id(&stub.target)?, key),
                },
                _ => QueueMessage::Deliver { delivery_id, attempt: 1 },
            };
            Ok(Queued { message, delay })
        })
        .collect()
}
