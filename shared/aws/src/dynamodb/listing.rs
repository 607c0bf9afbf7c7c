//! Listings across shards: each shard read a page at a time, only when the
//! merge, newest first, reaches it. Subscriptions from `gsi1`; a
//! subscription's deliveries from its outcome partitions (the records
//! themselves, no second read); a tenant's from its event partitions, each
//! event's stubs matched to their records by key.

use std::collections::{HashMap, VecDeque};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{StreamExt, TryStreamExt};

use hookline::model::{Delivery, DeliveryId, Subscription, TenantId};
use hookline::ports::{DeliveryFilter, Page, PageRequest, StoreError};

use super::items::{
    get_s, key, outcome_group, outcome_partition, parse_id, pending_delivery, record, s, stubs,
    subscription_partitions, tenant_event_partitions,
};
use super::{DynamoStore, GSI1, Item, REQUESTS_IN_FLIGHT};
use crate::error::store_error;

/// Where a merged listing reads, and from below which sort key.
pub(super) struct Source<'a> {
    /// An index, or the table itself.
    pub(super) index: Option<&'a str>,
    /// The key attributes' names there.
    pub(super) keys: (&'a str, &'a str),
    /// Sort keys below this (or up to it, when the flag says so).
    pub(super) below: Option<(String, bool)>,
    /// Only items whose attribute has this value (a filter on the query).
    pub(super) only: Option<(&'a str, AttributeValue)>,
}

/// The shards of one listing, merged newest first by sort key.
pub(super) struct Merge<'a> {
    store: &'a DynamoStore,
    source: Source<'a>,
    shards: Vec<ShardReader>,
    page: usize,
}

impl<'a> Merge<'a> {
    pub(super) fn new(
        store: &'a DynamoStore,
        source: Source<'a>,
        partitions: Vec<String>,
        page: usize,
    ) -> Self {
        let shards = partitions.into_iter().map(ShardReader::new).collect();
        Self { store, source, shards, page: page.clamp(1, 100) }
    }

    /// Up to `want` more entries (sort key, item) in merged order; none
    /// when every shard is read out.
    pub(super) async fn next(&mut self, want: usize) -> Result<Vec<(String, Item)>, StoreError> {
        let mut out = Vec::new();
        loop {
            let (store, source, page) = (self.store, &self.source, self.page);
            let reads: Vec<_> = self
                .shards
                .iter_mut()
                .filter(|r| r.needs_read())
                .map(|r| r.read(store, source, page))
                .collect();
            futures_util::stream::iter(reads)
                .buffer_unordered(REQUESTS_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await?;
            // Take entries in merged order while every shard that may hold a
            // newer one has it buffered.
            while out.len() < want && !self.shards.iter().any(ShardReader::needs_read) {
                let Some(newest) = self
                    .shards
                    .iter_mut()
                    .filter(|r| !r.entries.is_empty())
                    .max_by(|a, b| a.entries[0].0.cmp(&b.entries[0].0))
                else {
                    return Ok(out);
                };
                out.extend(newest.entries.pop_front());
            }
            if out.len() >= want || !self.shards.iter().any(ShardReader::needs_read) {
                return Ok(out);
            }
        }
    }

    /// Whether any shard may still hold an entry not returned.
    pub(super) fn has_more(&self) -> bool {
        self.shards.iter().any(ShardReader::has_more)
    }
}

/// One partition of a sharded listing, read newest first a page at a time.
struct ShardReader {
    pk: String,
    /// Entries read and not yet merged, newest first.
    entries: VecDeque<(String, Item)>,
    /// Where the next page starts: `None` before the first read, then the
    /// last evaluated key (`Some(None)` once the partition is read out).
    next: Option<Option<Item>>,
}

impl ShardReader {
    fn new(pk: String) -> Self {
        Self { pk, entries: VecDeque::new(), next: None }
    }

    fn needs_read(&self) -> bool {
        self.entries.is_empty() && !matches!(self.next, Some(None))
    }

    fn has_more(&self) -> bool {
        !self.entries.is_empty() || !matches!(self.next, Some(None))
    }

    async fn read(
        &mut self,
        store: &DynamoStore,
        source: &Source<'_>,
        page: usize,
    ) -> Result<(), StoreError> {
        let (pk_name, sk_name) = source.keys;
        let mut query = store
            .client
            .query()
            .table_name(&store.table)
            .set_index_name(source.index.map(str::to_owned))
            .expression_attribute_values(":p", s(self.pk.clone()))
            .scan_index_forward(false)
            .limit(i32::try_from(page).unwrap_or(100))
            .set_exclusive_start_key(self.next.take().flatten());
        query = match &source.below {
            Some((c, inclusive)) => query
                .key_condition_expression(format!(
                    "{pk_name} = :p AND {sk_name} {} :c",
                    if *inclusive { "<=" } else { "<" }
                ))
                .expression_attribute_values(":c", s(c.clone())),
            None => query.key_condition_expression(format!("{pk_name} = :p")),
        };
        if let Some((name, value)) = &source.only {
            query = query
                .filter_expression("#only = :only")
                .expression_attribute_names("#only", *name)
                .expression_attribute_values(":only", value.clone());
        }
        let out = query.send().await.map_err(store_error)?;
        for item in out.items() {
            self.entries.push_back((get_s(item, sk_name)?.to_owned(), item.clone()));
        }
        self.next = Some(out.last_evaluated_key().cloned());
        Ok(())
    }
}

impl DynamoStore {
    /// A tenant's subscriptions, a page from before `cursor`.
    pub(super) async fn page_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let source = Source {
            index: Some(GSI1),
            keys: ("g1pk", "g1sk"),
            below: page.cursor.clone().map(|c| (c, false)),
            only: None,
        };
        let mut merge = Merge::new(self, source, vec![format!("SUBS#{tenant}")], page.limit);
        let mut items = Vec::new();
        loop {
            let batch = merge.next(page.limit - items.len()).await?;
            if batch.is_empty() {
                return Ok(Page { items, next_cursor: None });
            }
            // The records of this batch of ids, read together; an id whose
            // subscription is gone (the index a moment behind) is skipped.
            let ids: Vec<String> = batch.into_iter().map(|(id, _)| id).collect();
            let found = self.subscriptions_by_id(&ids).await?;
            let (last, more) = (ids.last().cloned(), merge.has_more());
            for sub in found {
                items.push(sub);
                if items.len() == page.limit {
                    let id = items.last().map(|s| s.id.to_string());
                    let more = more || id != last;
                    return Ok(Page { items, next_cursor: more.then_some(id).flatten() });
                }
            }
        }
    }

    /// Deliveries by subscription, by tenant or by event, newest first.
    pub(super) async fn list_v2(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        if let Some(sub) = &filter.subscription_id {
            return self.page_subscription_deliveries(sub, filter, page).await;
        }
        if let Some(tenant) = &filter.tenant {
            return self.page_tenant_deliveries(tenant, filter, page).await;
        }
        if let Some(event) = &filter.event_id {
            let cursor = page.cursor.as_deref();
            let mut all = hookline::ports::DeliveryStore::event_deliveries(self, event).await?;
            all.retain(|d| filter.matches(d) && cursor.is_none_or(|c| d.id.as_str() < c));
            all.sort_by(|a, b| b.id.cmp(&a.id));
            let more = all.len() > page.limit;
            all.truncate(page.limit);
            let next_cursor = if more { all.last().map(|d| d.id.to_string()) } else { None };
            return Ok(Page { items: all, next_cursor });
        }
        Err(StoreError::Internal("listing deliveries needs a tenant, subscription or event".into()))
    }

    /// A subscription's deliveries: its outcome records, every shard merged.
    async fn page_subscription_deliveries(
        &self,
        sub: &hookline::model::SubscriptionId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let source = Source {
            index: None,
            keys: ("pk", "sk"),
            below: page.cursor.clone().map(|c| (c, false)),
            only: None,
        };
        let mut merge = Merge::new(self, source, subscription_partitions(sub), page.limit);
        let mut items = Vec::new();
        loop {
            let batch = merge.next(page.limit).await?;
            if batch.is_empty() {
                return Ok(Page { items, next_cursor: None });
            }
            for (i, (id, item)) in batch.iter().enumerate() {
                let d: Delivery = record(item)?;
                if filter.matches(&d) {
                    items.push(d);
                    if items.len() == page.limit {
                        let more = i + 1 < batch.len() || merge.has_more();
                        return Ok(Page { items, next_cursor: more.then(|| id.clone()) });
                    }
                }
            }
        }
    }

    /// A tenant's deliveries: its events, every shard merged, each event's
    /// deliveries (newest first) from their records or, never attempted,
    /// their stubs.
    async fn page_tenant_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        // A delivery id leads to its event: events up to it are read. A
        // cursor that is not one (the API lets through any short word) is
        // a bound on the ids as text, as every store compares them.
        let cursor = page.cursor.as_deref();
        let below = cursor.map(|c| {
            let event = c.parse::<DeliveryId>().ok().and_then(|d| d.event_id());
            (event.map_or_else(|| c.to_owned(), |e| e.to_string()), true)
        });
        let source = Source { index: None, keys: ("pk", "sk"), below, only: Some(("t", s(tenant.as_str()))) };
        let mut merge = Merge::new(self, source, tenant_event_partitions(tenant), page.limit);
        let mut items = Vec::new();
        loop {
            let batch = merge.next(page.limit).await?;
            if batch.is_empty() {
                return Ok(Page { items, next_cursor: None });
            }
            let mut pending = Vec::new();
            for (id, item) in &batch {
                let event = super::items::event_of(&parse_id(id)?, item)?;
                let mut of_event = Vec::new();
                for stub in stubs(item)? {
                    let d = pending_delivery(&event, &stub)?;
                    if cursor.is_none_or(|c| d.id.as_str() < c) {
                        of_event.push(d);
                    }
                }
                of_event.sort_by(|a, b| b.id.cmp(&a.id));
                pending.extend(of_event);
            }
            let keys = pending
                .iter()
                .map(|d| key(outcome_partition(&outcome_group(&d.target, &d.tenant), &d.id), d.id.as_str()))
                .collect();
            let mut records: HashMap<String, Item> = HashMap::new();
            for item in self.batch_get(keys, true).await? {
                records.insert(get_s(&item, "sk")?.to_owned(), item);
            }
            let count = pending.len();
            for (i, d) in pending.into_iter().enumerate() {
                let d = match records.remove(d.id.as_str()) {
                    Some(item) => record(&item)?,
                    None => d,
                };
                if filter.matches(&d) {
                    let id = d.id.to_string();
                    items.push(d);
                    if items.len() == page.limit {
                        let more = i + 1 < count || merge.has_more();
                        return Ok(Page { items, next_cursor: more.then_some(id) });
                    }
                }
            }
        }
    }
}
