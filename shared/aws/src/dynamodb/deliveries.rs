//! Deliveries: a stub in its event until its first attempt, then its
//! outcome record; attempts recorded under their condition; cancellations
//! and redeliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use hookline::model::{Attempt, Delivery, DeliveryId, DeliveryStatus, EventId, SubscriptionId};
use hookline::ports::{DeliveryFilter, DeliveryStore, Page, PageRequest, Recorded, Recording, StoreError};

use super::items::{
    event_partition, get_s, key, last_attempt, millis, n, outcome_group, outcome_partition, pending_delivery,
    record, recorded_early, s, stubs, to_json,
};
use super::{DynamoStore, Item};
use crate::size::{WRITE_UNIT, item_size};

/// A delivery as the store last wrote it: from its outcome record (with
/// the item, whose latest attempt a rewrite carries over), or from its
/// event's stub before any (no item).
pub(super) struct Found {
    pub(super) delivery: Delivery,
    pub(super) record: Option<Item>,
}

impl Found {
    /// The `due` entry its record has (ms), which a rewrite that finishes
    /// it keeps rather than pay an index write to remove.
    fn kept_due(&self) -> Option<i64> {
        self.record.as_ref().and_then(|i| super::items::get_n(i, "due_at").ok())
    }
}

impl DynamoStore {
    /// Delivery `id`: its event (and so its stub, which names the
    /// partition of its record), then its record, `consistent` or not.
    pub(super) async fn find(&self, id: &DeliveryId, consistent: bool) -> Result<Option<Found>, StoreError> {
        let Some((pending, _)) = self.stub_of(id).await? else { return Ok(None) };
        self.with_record(pending, consistent).await.map(Some)
    }

    /// Delivery `id` as its event's stub has it (pending, never attempted),
    /// and whether a record may exist before its first attempt
    /// ([`recorded_early`]). The event is remembered for the attempt.
    async fn stub_of(&self, id: &DeliveryId) -> Result<Option<(Delivery, bool)>, StoreError> {
        let (Some(event_id), Some(index)) = (id.event_id(), id.index()) else { return Ok(None) };
        let Some((event, item)) = self.event_item_of(&event_id).await? else { return Ok(None) };
        let Some(stub) = stubs(&item)?.into_iter().find(|s| s.index == index) else { return Ok(None) };
        let pending = pending_delivery(&event, &stub)?;
        self.remember_event(&event);
        Ok(Some((pending, recorded_early(&item)?.contains(&index))))
    }

    /// The delivery its outcome record shows, `consistent` or not, or the
    /// stub's `pending` when it has none.
    async fn with_record(&self, pending: Delivery, consistent: bool) -> Result<Found, StoreError> {
        let id = &pending.id;
        let pk = outcome_partition(&outcome_group(&pending.target, &pending.tenant), id);
        match self.read(pk, id.as_str(), consistent).await? {
            Some(item) => Ok(Found { delivery: record(&item)?, record: Some(item) }),
            None => Ok(Found { delivery: pending, record: None }),
        }
    }

    /// Delivery `id` as a first attempt's handling reads it: its event
    /// (eventually consistent), and its outcome record only where the event
    /// says a cancel or a redelivery may have written one before any
    /// attempt ([`recorded_early`]); otherwise it has none, and the stub is
    /// the delivery.
    async fn find_for_first_attempt(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        match self.stub_of(id).await? {
            Some((pending, true)) => Ok(Some(self.with_record(pending, false).await?.delivery)),
            other => Ok(other.map(|(pending, _)| pending)),
        }
    }

    /// Notes in delivery `id`'s event that its outcome record is about to
    /// be written before any attempt (see [`recorded_early`]): one update
    /// of the event item, on a cancel or redelivery of a delivery never
    /// attempted.
    async fn note_recorded_early(&self, id: &DeliveryId) -> Result<(), StoreError> {
        let (Some(event_id), Some(index)) = (id.event_id(), id.index()) else { return Ok(()) };
        self.forget_event(&event_id);
        // No event (the condition fails): its record has no first attempt
        // to confuse.
        let index = aws_sdk_dynamodb::types::AttributeValue::Ns(vec![index.to_string()]);
        self.update_if(
            key(event_partition(&event_id), event_id.as_str()),
            "ADD rx :i",
            "attribute_exists(pk)",
            &[(":i", index)],
        )
        .await?;
        Ok(())
    }

    /// Writes `d` as its outcome record over what `found` read, only if
    /// that is still what the table holds (status and attempts; absent
    /// when there was no record), keeping its latest attempt and adding a
    /// `due` entry when `due` says so. A first record written before any
    /// attempt is noted in the event first.
    pub(super) async fn rewrite(
        &self,
        d: &Delivery,
        found: &Found,
        due: Option<i64>,
    ) -> Result<bool, StoreError> {
        let item = self.outcome_item(d, found.record.as_ref().and_then(|i| i.get("att")), due)?;
        match &found.record {
            // No record: never attempted, so this is a record before any.
            None => {
                self.note_recorded_early(&d.id).await?;
                self.put_if(item, "attribute_not_exists(pk)", &[]).await
            }
            Some(_) => {
                let was = &found.delivery;
                self.put_if(
                    item,
                    "#status = :s AND attempts = :a",
                    &[(":s", s(was.status.as_str())), (":a", n(was.attempts.into()))],
                )
                .await
            }
        }
    }

    /// Puts `attempt` in its own item, kept the retention past the later of
    /// its start and `keep_until`.
    pub(super) async fn put_attempt(
        &self,
        attempt: &Attempt,
        keep_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut item = key(format!("A#{}", attempt.delivery_id), &format!("{:05}", attempt.number));
        item.insert("rec".into(), s(to_json(attempt)?));
        item.insert("expires_at".into(), self.expiry(keep_until.unwrap_or_default().max(attempt.started_at)));
        self.put(item).await
    }
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.find(id, true).await?.map(|f| f.delivery))
    }

    async fn peek_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.find(id, false).await?.map(|f| f.delivery))
    }

    async fn peek_for_attempt(&self, id: &DeliveryId, attempt: u32) -> Result<Option<Delivery>, StoreError> {
        match attempt {
            1 => self.find_for_first_attempt(id).await,
            _ => self.peek_delivery(id).await,
        }
    }

    async fn event_deliveries(&self, event_id: &EventId) -> Result<Vec<Delivery>, StoreError> {
        let Some((event, item)) = self.event_item_of(event_id).await? else { return Ok(Vec::new()) };
        let pending: Vec<Delivery> =
            stubs(&item)?.iter().map(|stub| pending_delivery(&event, stub)).collect::<Result<_, _>>()?;
        let keys: Vec<Item> = pending
            .iter()
            .map(|d| key(outcome_partition(&outcome_group(&d.target, &d.tenant), &d.id), d.id.as_str()))
            .collect();
        let mut records: std::collections::HashMap<String, Item> = std::collections::HashMap::new();
        for item in self.batch_get(keys, true).await? {
            records.insert(get_s(&item, "sk")?.to_owned(), item);
        }
        pending
            .into_iter()
            .map(|d| match records.remove(d.id.as_str()) {
                Some(item) => record(&item),
                None => Ok(d),
            })
            .collect()
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        self.list_v2(filter, page).await
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        // The older attempts' items, and the latest in the record. One found
        // in both (a crash between the two writes of a retry) is listed once.
        let mut by_number = std::collections::BTreeMap::new();
        for item in self.partition(format!("A#{id}")).await? {
            let a: Attempt = record(&item)?;
            by_number.insert(a.number, a);
        }
        if let Some(Found { record: Some(item), .. }) = self.find(id, true).await?
            && let Some(a) = last_attempt(&item)?
        {
            by_number.insert(a.number, a);
        }
        Ok(by_number.into_values().collect())
    }

    async fn record_attempt(&self, r: &Recording<'_>) -> Result<Recorded, StoreError> {
        // A first attempt of a delivery the caller read pending: no read —
        // its record is written only if none exists, or if the one there is
        // pending and unattempted (a redelivery of a delivery canceled
        // before its first attempt). Later attempts read the record, move
        // the attempt it held to its own item, then write it under its
        // condition.
        let found = match r.delivery.filter(|d| d.attempts == 0 && d.id == r.attempt.delivery_id) {
            Some(d) => Some(Found { delivery: d.clone(), record: None }),
            None => self.find(&r.attempt.delivery_id, true).await?,
        };
        let Some(found) = found else {
            return Ok(Recorded { applied: false, follow_up_queued: false, acknowledged: false });
        };
        let mut d = found.delivery.clone();
        if !d.record(r.attempt, r.update) {
            return Ok(Recorded { applied: false, follow_up_queued: false, acknowledged: false });
        }
        if let Some(item) = &found.record
            && let Some(older) = last_attempt(item)?
            && older.number < r.attempt.number
        {
            self.put_attempt(&older, r.keep_until).await?;
        }
        // A due entry only where a retry waits in the store (not queued).
        let due = match (d.status, d.due_at) {
            (DeliveryStatus::Pending, Some(at)) if !r.update.queued => Some(millis(at)),
            (status, _) if status.is_final() => found.kept_due(),
            _ => None,
        };
        let mut item = self.outcome_item(&d, Some(&s(to_json(r.attempt)?)), due)?;
        let separately = item_size(&item) > WRITE_UNIT;
        if separately {
            item.remove("att");
        }
        let applied = match &found.record {
            None => {
                self.put_if(
                    item,
                    "attribute_not_exists(pk) OR (#status = :pending AND attempts = :none)",
                    &[(":pending", s(DeliveryStatus::Pending.as_str())), (":none", n(0))],
                )
                .await?
            }
            Some(_) => {
                self.put_if(
                    item,
                    "#status = :pending AND attempts = :prev",
                    &[
                        (":pending", s(DeliveryStatus::Pending.as_str())),
                        (":prev", n(found.delivery.attempts.into())),
                    ],
                )
                .await?
            }
        };
        if applied && separately {
            self.put_attempt(r.attempt, r.keep_until).await?;
        }
        Ok(Recorded { applied, follow_up_queued: false, acknowledged: false })
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.sweep_due(now, lease, limit).await
    }

    async fn reopen_delivery(
        &self,
        id: &DeliveryId,
        at: DateTime<Utc>,
        due_at: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        for _ in 0..5 {
            let Some(found) = self.find(id, true).await? else { return Ok(None) };
            let mut d = found.delivery.clone();
            d.reopen(at, due_at);
            // The redelivery's safety net: its due entry.
            if self.rewrite(&d, &found, Some(millis(due_at))).await? {
                return Ok(Some(d));
            }
        }
        Err(StoreError::Contended("the delivery kept changing; not reopened".into()))
    }

    async fn cancel_delivery(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        for _ in 0..5 {
            let Some(found) = self.find(id, true).await? else { return Ok(false) };
            let mut d = found.delivery.clone();
            if !d.cancel(now) {
                return Ok(false);
            }
            let kept = found.kept_due();
            if self.rewrite(&d, &found, kept).await? {
                return Ok(true);
            }
        }
        Err(StoreError::Contended("the delivery kept changing; not canceled".into()))
    }

    async fn cancel_subscription_deliveries(
        &self,
        id: &SubscriptionId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // The attempted ones are in the subscription's outcome partitions;
        // one never attempted is canceled when its message is handled (its
        // subscription is gone).
        let filter = DeliveryFilter {
            subscription_id: Some(id.clone()),
            status: Some(DeliveryStatus::Pending),
            ..Default::default()
        };
        let mut canceled = 0;
        let mut cursor = None;
        loop {
            let p = self.list_deliveries(&filter, &PageRequest { cursor, limit: 100 }).await?;
            for d in &p.items {
                if self.cancel_delivery(&d.id, now).await? {
                    canceled += 1;
                }
            }
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(canceled),
            }
        }
    }
}
