//! Events at publish (one item, its deliveries' stubs inside), idempotent repeats, reads.
//!
//! DRAFT for data model v2 (issue #27): written against the design in
//! `mod.rs`, not compiled yet. What is left: see the branch's notes.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use hookline::model::{Delivery, Event, EventId};
use hookline::ports::{EventStore, Inserted, Queued, StoreError};

use super::items::{corrupt, event_of, event_partition, get_n, get_s, key, millis, n, parse_id, s};
use super::{DynamoStore, Item, PUBLISH_IN_FLIGHT};

#[async_trait]
impl EventStore for DynamoStore {
    /// The table's stream queues every new event's first attempts (the
    /// outbox function): a publish sends none itself.
    fn queues_messages(&self) -> bool {
        true
    }

    /// The stream's order holds per event, not across them.
    fn queues_in_publish_order(&self) -> bool {
        false
    }

    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        _messages: &[Queued],
    ) -> Result<Inserted, StoreError> {
        // One item: the event and a stub per delivery. The table's stream
        // carries its INSERT to the outbox, which queues the first attempts.
        let item = self.event_item(event, deliveries)?;
        let Some(idem) = &event.idempotency_key else {
            self.put(item).await?;
            return Ok(Inserted::New);
        };
        if event.id.is_keyed(event.tenant.as_str(), idem) {
            // An id derived from the key and the message's sent time: every
            // receive of the message computes it, and the first put wins.
            // No key item, no read.
            if self.put_if(item, "attribute_not_exists(pk)", &[]).await? {
                return Ok(Inserted::New);
            }
            return Ok(Inserted::Duplicate {
                event_id: event.id.clone(),
                fingerprint: event.fingerprint.clone(),
            });
        }
        // A key a client chose: its item first (the tenant's key, pointing
        // at the event), then the event. A repeat finds the key.
        let idem_pk = format!("IDEM#{}#{idem}", event.tenant);
        let mut key_item = key(idem_pk.clone(), "IDEM");
        key_item.insert("event_id".into(), s(event.id.as_str()));
        if let Some(fp) = &event.fingerprint {
            key_item.insert("fp".into(), s(fp.as_str()));
        }
        key_item.insert("created_at".into(), n(millis(event.created_at)));
        key_item.insert("expires_at".into(), self.expiry(event.created_at));
        if !self.put_if(key_item, "attribute_not_exists(pk)", &[]).await? {
            return self.repeat(idem_pk, event, deliveries).await;
        }
        self.put(item).await?;
        Ok(Inserted::New)
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        // The deliver handler reads a delivery, then its event: the event
        // that read fetched is used once.
        if let Some(e) = self.take_remembered_event(id) {
            return Ok(Some(e));
        }
        Ok(self.event_item_of(id).await?.map(|(e, _)| e))
    }

    async fn keep_event(&self, id: &EventId, until: DateTime<Utc>) -> Result<(), StoreError> {
        // Only ever later: a condition, not a read, so racing extensions
        // keep the latest. The copy this process keeps is forgotten.
        self.forget_event(id);
        self.update_if(
            key(event_partition(id), id.as_str()),
            "SET lb = :by, expires_at = :exp",
            "attribute_exists(pk) AND (attribute_not_exists(lb) OR lb < :by)",
            &[(":by", n(millis(until))), (":exp", self.expiry(until))],
        )
        .await?;
        Ok(())
    }
}

impl DynamoStore {
    /// Event `id` and its item. An event never changes but for `lb`, which
    /// only grows: an eventually consistent read (half a unit), asked again
    /// consistently when it does not show one written a moment ago.
    pub(super) async fn event_item_of(&self, id: &EventId) -> Result<Option<(Event, Item)>, StoreError> {
        let pk = event_partition(id);
        let item = match self.read(pk.clone(), id.as_str(), false).await? {
            Some(item) => item,
            None => match self.get(pk, id.as_str()).await? {
                Some(item) => item,
                None => return Ok(None),
            },
        };
        Ok(Some((event_of(id, &item)?, item)))
    }

    /// Whether event `id` is stored, looking a few times over about a
    /// second and a half: a concurrent publish with the same key writes it
    /// milliseconds after taking the key.
    async fn wait_for_event(&self, id: &EventId) -> Result<bool, StoreError> {
        for pause_ms in [0, 25, 50, 100, 200, 400, 700] {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            if self.get(event_partition(id), id.as_str()).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A keyed API publish whose key is taken: the earlier publish — written
    /// here under its id and time if it stopped between its key and its
    /// event, and this is the same request.
    async fn repeat(
        &self,
        idem_pk: String,
        event: &Event,
        deliveries: &[Delivery],
    ) -> Result<Inserted, StoreError> {
        let item = self.get(idem_pk, "IDEM").await?.ok_or_else(|| corrupt("idempotency record vanished"))?;
        let event_id: EventId = parse_id(get_s(&item, "event_id")?)?;
        let fingerprint = get_s(&item, "fp").ok().map(str::to_owned);
        let same_request = fingerprint.is_none() || fingerprint == event.fingerprint;
        if !same_request || self.wait_for_event(&event_id).await? {
            return Ok(Inserted::Duplicate { event_id, fingerprint });
        }
        let first_at = super::items::time(get_n(&item, "created_at")?)?;
        // Still no event. While the first publish may still be running,
        // writing it here would race it: the caller tries again later (503
        // with Retry-After). Past that, it stopped for good: its event is
        // written now, its deliveries under its id (they derive from it),
        // only if absent.
        if event.created_at < first_at + hookline::ports::span(PUBLISH_IN_FLIGHT) {
            return Err(StoreError::Contended(
                "an earlier publish with this idempotency key is still being stored; retry".into(),
            ));
        }
        let mut first = event.clone();
        first.id = event_id.clone();
        first.created_at = first_at;
        let theirs: Vec<Delivery> = deliveries
            .iter()
            .filter_map(|d| {
                let id = event_id.delivery(d.id.index()?)?;
                Some(Delivery { id, event_id: event_id.clone(), created_at: first_at, ..d.clone() })
            })
            .collect();
        self.put_if(self.event_item(&first, &theirs)?, "attribute_not_exists(pk)", &[]).await?;
        Ok(Inserted::Resumed { event_id })
    }
}
