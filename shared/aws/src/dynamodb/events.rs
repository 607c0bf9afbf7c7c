//! Events and their deliveries at publish; idempotent repeats.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use futures_util::{StreamExt, TryStreamExt};

use hookline::model::{
    Attempt, AttemptUpdate, Delivery, DeliveryId, DeliveryStatus, Event, EventId, EventType, TenantId,
};
use hookline::ports::{EventStore, Inserted, Queued, StoreError};
use hookline::target::TargetUrl;

use super::items::{
    corrupt, get_n, get_s, key, last_attempt, millis, n, parse_id, payload_of, s, target_key, to_json,
};
use super::{DynamoStore, Item, PUBLISH_IN_FLIGHT, REQUESTS_IN_FLIGHT};
use crate::error::store_error;
use crate::size::{WRITE_UNIT, item_size};

#[async_trait]
impl EventStore for DynamoStore {
    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
        _messages: &[Queued],
    ) -> Result<Inserted, StoreError> {
        let Some(idem) = &event.idempotency_key else {
            // Without an idempotency key nothing can collide: plain batch
            // writes, billed once per item (a transaction bills twice). A
            // failure part-way leaves some deliveries stored with their due
            // time; the publisher got an error, and the scheduler may still
            // deliver them — at least once, as for any unacknowledged publish.
            let mut items = Vec::with_capacity(deliveries.len() + 1);
            items.push(self.event_item(event, deliveries));
            for d in deliveries {
                items.push(self.delivery_item(d, None, None)?);
            }
            self.batch_put(items).await?;
            return Ok(Inserted::New);
        };
        // With a key: plain conditional writes in order — the key, then the
        // deliveries, then the event — not one transaction, which bills
        // every item twice (a keyed publish cost 13 write units against 6
        // without a key; every ingest-queue message is keyed). The key's
        // item names each delivery's id by target, so a repeat of the
        // request (a client's retry after a crash anywhere between the
        // writes, a second receive of an SQS message) finishes what the
        // first left, under the same ids; every write is "only if absent",
        // so none replaces a delivery that has moved on. The event is
        // written last: once it exists, every delivery does.
        let idem_pk = format!("IDEM#{}#{idem}", event.tenant);
        let mut item = key(idem_pk.clone(), "IDEM");
        item.insert("event_id".into(), s(event.id.as_str()));
        if let Some(fp) = &event.fingerprint {
            item.insert("fp".into(), s(fp.as_str()));
        }
        item.insert("created_at".into(), n(millis(event.created_at)));
        item.insert(
            "dlv".into(),
            AttributeValue::L(deliveries.iter().map(|d| s(format!("{}={}", target_key(d), d.id))).collect()),
        );
        item.insert("expires_at".into(), self.expiry(event.created_at));
        if !self.put_if(item, "attribute_not_exists(pk)", &[]).await? {
            return self.repeat(idem_pk, event, deliveries).await;
        }
        self.put_absent(
            deliveries.iter().map(|d| self.delivery_item(d, None, None)).collect::<Result<_, _>>()?,
        )
        .await?;
        self.put_absent(vec![self.event_item(event, deliveries)]).await?;
        Ok(Inserted::New)
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        // An event never changes but for `last_by`, which only grows (a
        // stale value costs at most a conditional write that finds it
        // already later): an eventually consistent read, half the price.
        // One a second old may not show yet: asked again, consistently.
        let pk = format!("EVT#{id}");
        let item = match self.read(pk.clone(), "EVT", false).await? {
            Some(item) => item,
            None => match self.get(pk, "EVT").await? {
                Some(item) => item,
                None => return Ok(None),
            },
        };
        let created = get_n(&item, "created_at")?;
        Ok(Some(Event {
            id: id.clone(),
            tenant: TenantId::parse(get_s(&item, "tenant")?).map_err(corrupt)?,
            event_type: EventType::parse(get_s(&item, "type")?).map_err(corrupt)?,
            payload: payload_of(&item)?,
            idempotency_key: get_s(&item, "idem").ok().map(str::to_owned),
            webhook_url: get_s(&item, "webhook_url")
                .ok()
                .map(TargetUrl::stored)
                .transpose()
                .map_err(corrupt)?,
            created_at: Utc
                .timestamp_millis_opt(created)
                .single()
                .ok_or_else(|| corrupt("bad created_at"))?,
            last_attempt_by: match item.get("last_by") {
                None => None,
                Some(_) => Some(
                    Utc.timestamp_millis_opt(get_n(&item, "last_by")?)
                        .single()
                        .ok_or_else(|| corrupt("bad last_by"))?,
                ),
            },
            fingerprint: get_s(&item, "fp").ok().map(str::to_owned),
        }))
    }

    async fn keep_event(&self, id: &EventId, until: DateTime<Utc>) -> Result<(), StoreError> {
        // Only ever later: a condition, not a read, so racing extensions
        // keep the latest.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("EVT#{id}"), "EVT")))
            .update_expression("SET last_by = :by, expires_at = :exp")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(last_by) OR last_by < :by)")
            .expression_attribute_values(":by", n(millis(until)))
            .expression_attribute_values(":exp", self.expiry(until))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(store_error(e)),
        }
    }
}

impl DynamoStore {
    /// Puts each item unless one with its key exists (16 at a time).
    pub(super) async fn put_absent(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let puts: Vec<_> =
            items.into_iter().map(|item| self.put_if(item, "attribute_not_exists(pk)", &[])).collect();
        futures_util::stream::iter(puts)
            .buffer_unordered(REQUESTS_IN_FLIGHT)
            .try_collect::<Vec<bool>>()
            .await?;
        Ok(())
    }

    /// Whether event `id` is stored, looking a few times over about a
    /// second and a half: a concurrent publish with the same key writes it
    /// last, milliseconds after taking the key.
    pub(super) async fn wait_for_event(&self, id: &EventId) -> Result<bool, StoreError> {
        for pause_ms in [0, 25, 50, 100, 200, 400, 700] {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            if self.get(format!("EVT#{id}"), "EVT").await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A keyed publish whose key is taken: the earlier publish, finished
    /// first if it stopped before its last write (its event is missing) and
    /// this is the same request.
    pub(super) async fn repeat(
        &self,
        idem_pk: String,
        event: &Event,
        deliveries: &[Delivery],
    ) -> Result<Inserted, StoreError> {
        let item = self.get(idem_pk, "IDEM").await?.ok_or_else(|| corrupt("idempotency record vanished"))?;
        let event_id: EventId = parse_id(get_s(&item, "event_id")?)?;
        let fingerprint = get_s(&item, "fp").ok().map(str::to_owned);
        let same_request = fingerprint.is_none() || fingerprint == event.fingerprint;
        // Records from before keyed publishes were split carry no delivery
        // ids: their event was stored in one transaction with them.
        let Some(AttributeValue::L(ids)) = item.get("dlv") else {
            return Ok(Inserted::Duplicate { event_id, fingerprint });
        };
        if !same_request || self.wait_for_event(&event_id).await? {
            return Ok(Inserted::Duplicate { event_id, fingerprint });
        }
        let first_at = Utc
            .timestamp_millis_opt(get_n(&item, "created_at")?)
            .single()
            .ok_or_else(|| corrupt("bad created_at"))?;
        // Still no event. While the first publish may still be running,
        // finishing it here would race it and send its deliveries twice:
        // the caller tries again later (503 with Retry-After; an ingest-queue
        // message comes back). Past that, it stopped for good: finished here
        // under its ids (each write only if absent), its messages sent now.
        if event.created_at < first_at + hookline::ports::span(PUBLISH_IN_FLIGHT) {
            return Err(StoreError::Contended(
                "an earlier publish with this idempotency key is still being stored; retry".into(),
            ));
        }
        let ids: HashMap<String, DeliveryId> = ids
            .iter()
            .filter_map(|v| v.as_s().ok())
            .filter_map(|v| v.split_once('='))
            .map(|(target, id)| Ok((target.to_owned(), parse_id(id)?)))
            .collect::<Result<_, StoreError>>()?;
        let mut first = event.clone();
        first.id = event_id.clone();
        first.created_at = first_at;
        let theirs: Vec<Delivery> = deliveries
            .iter()
            .filter_map(|d| {
                let id = ids.get(&target_key(d))?;
                Some(Delivery { id: id.clone(), event_id: event_id.clone(), ..d.clone() })
            })
            .collect();
        self.put_absent(theirs.iter().map(|d| self.delivery_item(d, None, None)).collect::<Result<_, _>>()?)
            .await?;
        // The event lists every delivery the first publish made, matched
        // again here or not.
        let mut event_item = self.event_item(&first, &theirs);
        event_item.insert("dlv".into(), AttributeValue::L(ids.values().map(|id| s(id.as_str())).collect()));
        self.put_absent(vec![event_item]).await?;
        Ok(Inserted::Resumed { event_id })
    }

    /// Records `attempt` on its delivery if the delivery is still pending
    /// with one attempt fewer; whether it did. A never-attempted delivery
    /// the caller has read (`known`) is not read again: its item holds no
    /// earlier attempt to carry over, and the write's condition checks the
    /// state it was read in (a read unit saved on every first try).
    pub(super) async fn record(
        &self,
        attempt: &Attempt,
        update: &AttemptUpdate,
        keep_until: Option<DateTime<Utc>>,
        known: Option<&Delivery>,
    ) -> Result<bool, StoreError> {
        let read = match known.filter(|d| d.attempts == 0 && d.id == attempt.delivery_id) {
            Some(d) => Some((d.clone(), Item::new())),
            None => self.delivery_and_item(&attempt.delivery_id).await?,
        };
        let Some((mut d, old)) = read else {
            return Ok(false);
        };
        let (previous, due) = (d.attempts, d.due_at.map(millis));
        if !d.record(attempt, update) {
            return Ok(false);
        }

        // Plain writes, not a transaction (which bills every item twice).
        // First the attempt the delivery item carried until now goes to its
        // own item (idempotent: the same record under the same key), then the
        // delivery under its condition — the write that decides — carrying
        // this attempt. A crash between the two leaves the older attempt in
        // both places, never in neither. An attempt record too large to ride
        // along without making the delivery cost more than one write unit
        // goes to its own item after the delivery, as before: a crash in
        // between loses that record's detail (the delivery keeps its status
        // code and outcome) but never records an attempt it does not count.
        if let Some(older) = last_attempt(&old)?
            && older.number < attempt.number
        {
            self.put_attempt(&older, keep_until).await?;
        }
        let mut item = self.delivery_item(&d, Some(&s(to_json(attempt)?)), due)?;
        let separately = item_size(&item) > WRITE_UNIT;
        if separately {
            item.remove("att");
        }
        let applied = self
            .put_if(
                item,
                "#status = :pending AND attempts = :prev",
                &[(":pending", s(DeliveryStatus::Pending.as_str())), (":prev", n(previous.into()))],
            )
            .await?;
        if applied && separately {
            self.put_attempt(attempt, keep_until).await?;
        }
        Ok(applied)
    }
}
