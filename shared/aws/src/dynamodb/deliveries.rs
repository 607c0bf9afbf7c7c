//! Deliveries: reads, listings, attempts recorded under their condition, cancellations.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use hookline::model::{Attempt, Delivery, DeliveryId, DeliveryStatus, EventId, SubscriptionId};
use hookline::ports::{DeliveryFilter, DeliveryStore, Page, PageRequest, Recorded, Recording, StoreError};

use super::items::{
    get_s, last_attempt, n, record, s, subscription_listing, subscription_partitions, tenant_partitions,
};
use super::listing::LoadDeliveries;
use super::{DynamoStore, GSI1, GSI2};

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        Ok(self.delivery_and_item(id).await?.map(|(d, _)| d))
    }

    async fn peek_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.read(format!("DLV#{id}"), "DLV", false).await?.map(|i| record(&i)).transpose()
    }

    async fn event_deliveries(&self, event_id: &EventId) -> Result<Vec<Delivery>, StoreError> {
        let Some(item) = self.get(format!("EVT#{event_id}"), "EVT").await? else { return Ok(Vec::new()) };
        let ids: Vec<String> = match item.get("dlv") {
            Some(AttributeValue::L(list)) => list.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            _ => Vec::new(),
        };
        self.deliveries_by_id(&ids).await
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let cursor = page.cursor.clone();
        if let Some(sub) = &filter.subscription_id {
            return self
                .page_index(
                    GSI1,
                    ("g1pk", "g1sk"),
                    subscription_partitions(&subscription_listing(sub)),
                    cursor,
                    page.limit,
                    LoadDeliveries(filter),
                )
                .await;
        }
        if let Some(tenant) = &filter.tenant {
            return self
                .page_index(
                    GSI2,
                    ("g2pk", "g2sk"),
                    tenant_partitions(tenant),
                    cursor,
                    page.limit,
                    LoadDeliveries(filter),
                )
                .await;
        }
        if let Some(event) = &filter.event_id {
            let mut all = self.event_deliveries(event).await?;
            all.retain(|d| filter.matches(d) && cursor.as_deref().is_none_or(|c| d.id.as_str() < c));
            all.sort_by(|a, b| b.id.cmp(&a.id));
            let more = all.len() > page.limit;
            all.truncate(page.limit);
            let next_cursor = if more { all.last().map(|d| d.id.to_string()) } else { None };
            return Ok(Page { items: all, next_cursor });
        }
        Err(StoreError::Internal("listing deliveries needs a tenant, subscription or event".into()))
    }

    async fn attempts(&self, id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        // The delivery's partition: its item (with the latest attempt) and
        // the older attempts' items. An attempt found in both places (a crash
        // between the two writes of `record_attempt`) is listed once.
        let mut by_number = std::collections::BTreeMap::new();
        for item in self.partition(format!("DLV#{id}")).await? {
            let attempt: Option<Attempt> = match get_s(&item, "sk")? {
                "DLV" => last_attempt(&item)?,
                sk if sk.starts_with("ATT#") => Some(record(&item)?),
                _ => None,
            };
            if let Some(a) = attempt {
                by_number.insert(a.number, a);
            }
        }
        Ok(by_number.into_values().collect())
    }

    async fn record_attempt(&self, r: &Recording<'_>) -> Result<Recorded, StoreError> {
        // SQS is not in this store's transactions: the follow-up and the
        // acknowledgement are the caller's and the event source mapping's.
        let applied = self.record(r.attempt, r.update, r.keep_until, r.delivery).await?;
        Ok(Recorded { applied, follow_up_queued: false, acknowledged: false })
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
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
            let Some((mut d, item)) = self.delivery_and_item(id).await? else { return Ok(None) };
            let (status, attempts) = (d.status, d.attempts);
            d.reopen(at, due_at);
            let done = self
                .rewrite_delivery(
                    &d,
                    &item,
                    "#status = :s AND attempts = :a",
                    &[(":s", s(status.as_str())), (":a", n(attempts.into()))],
                )
                .await?;
            if done {
                return Ok(Some(d));
            }
        }
        Err(StoreError::Contended("the delivery kept changing; not reopened".into()))
    }

    async fn cancel_delivery(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        for _ in 0..5 {
            let Some((mut d, item)) = self.delivery_and_item(id).await? else { return Ok(false) };
            let attempts = d.attempts;
            if !d.cancel(now) {
                return Ok(false);
            }
            let done = self
                .rewrite_delivery(
                    &d,
                    &item,
                    "#status = :pending AND attempts = :a",
                    &[(":pending", s("pending")), (":a", n(attempts.into()))],
                )
                .await?;
            if done {
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
        let filter = DeliveryFilter {
            subscription_id: Some(id.clone()),
            status: Some(DeliveryStatus::Pending),
            ..Default::default()
        };
        let mut n = 0;
        let mut cursor = None;
        loop {
            let p = self.list_deliveries(&filter, &PageRequest { cursor, limit: 100 }).await?;
            for d in &p.items {
                if self.cancel_delivery(&d.id, now).await? {
                    n += 1;
                }
            }
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(n),
            }
        }
    }
}
