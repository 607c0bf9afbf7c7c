//! Listings across shards: each shard read a page at a time, only when the merge, newest first, reaches it.

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};

use hookline::model::{Delivery, Subscription};
use hookline::ports::{DeliveryFilter, Page, StoreError};

use super::items::{get_s, record, s};
use super::{DynamoStore, Item, REQUESTS_IN_FLIGHT};
use crate::error::store_error;

impl DynamoStore {
    /// Walks the index partitions `partitions` (the shards of one listing)
    /// newest first, merged by sort key, from before `cursor`, keeping the
    /// items that pass `load`'s filter until `limit` are kept. Each shard is
    /// read a page at a time and only when the merge reaches it; a listing
    /// with one partition reads as a plain query.
    pub(super) async fn page_index<T, F>(
        &self,
        index: &str,
        (pk_name, sk_name): (&str, &str),
        partitions: Vec<String>,
        cursor: Option<String>,
        limit: usize,
        mut load: F,
    ) -> Result<Page<T>, StoreError>
    where
        F: AsyncLoad<T>,
    {
        let mut shards: Vec<ShardReader> = partitions.into_iter().map(ShardReader::new).collect();
        let page = limit.clamp(1, 100);
        let mut items: Vec<T> = Vec::new();
        loop {
            let mut reads = Vec::new();
            for r in shards.iter_mut().filter(|r| r.needs_read()) {
                reads.push(r.read(self, index, (pk_name, sk_name), cursor.as_deref(), page));
            }
            futures_util::stream::iter(reads)
                .buffer_unordered(REQUESTS_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await?;
            // Take ids in merged order while every shard that may hold a
            // newer one has it buffered.
            let mut ids = Vec::new();
            while items.len() + ids.len() < limit {
                if shards.iter().any(ShardReader::needs_read) {
                    break;
                }
                let Some(newest) =
                    shards.iter_mut().filter(|r| !r.ids.is_empty()).max_by(|a, b| a.ids[0].cmp(&b.ids[0]))
                else {
                    break;
                };
                ids.extend(newest.ids.pop_front());
            }
            if ids.is_empty() && !shards.iter().any(ShardReader::needs_read) {
                return Ok(Page { items, next_cursor: None });
            }
            for (i, loaded) in load.load(self, &ids).await?.into_iter().enumerate() {
                if let Some(item) = loaded {
                    items.push(item);
                    if items.len() == limit {
                        let more = i + 1 < ids.len() || shards.iter().any(ShardReader::has_more);
                        return Ok(Page { items, next_cursor: more.then(|| ids[i].clone()) });
                    }
                }
            }
        }
    }
}

/// One partition of a sharded listing, read newest first a page at a time.
pub(super) struct ShardReader {
    pk: String,
    /// Sort keys read and not yet merged, newest first.
    ids: std::collections::VecDeque<String>,
    /// Where the next page starts: `None` before the first read, then the
    /// last evaluated key (`Some(None)` once the partition is read out).
    next: Option<Option<Item>>,
}

impl ShardReader {
    fn new(pk: String) -> Self {
        Self { pk, ids: std::collections::VecDeque::new(), next: None }
    }

    /// Whether the merge must read this shard before it can go on.
    fn needs_read(&self) -> bool {
        self.ids.is_empty() && !matches!(self.next, Some(None))
    }

    fn has_more(&self) -> bool {
        !self.ids.is_empty() || !matches!(self.next, Some(None))
    }

    async fn read(
        &mut self,
        store: &DynamoStore,
        index: &str,
        (pk_name, sk_name): (&str, &str),
        cursor: Option<&str>,
        page: usize,
    ) -> Result<(), StoreError> {
        let mut query = store
            .client
            .query()
            .table_name(&store.table)
            .index_name(index)
            .expression_attribute_values(":p", s(self.pk.clone()))
            .scan_index_forward(false)
            .limit(i32::try_from(page).unwrap_or(100))
            .set_exclusive_start_key(self.next.take().flatten());
        query = match cursor {
            Some(c) => query
                .key_condition_expression(format!("{pk_name} = :p AND {sk_name} < :c"))
                .expression_attribute_values(":c", s(c)),
            None => query.key_condition_expression(format!("{pk_name} = :p")),
        };
        let out = query.send().await.map_err(store_error)?;
        for item in out.items() {
            self.ids.push_back(get_s(item, sk_name)?.to_owned());
        }
        self.next = Some(out.last_evaluated_key().cloned());
        Ok(())
    }
}

/// Loads the records behind a page of ids, `None` for one filtered out.
#[async_trait]
pub(super) trait AsyncLoad<T>: Send {
    async fn load(&mut self, store: &DynamoStore, ids: &[String]) -> Result<Vec<Option<T>>, StoreError>;
}

pub(super) struct LoadSubscriptions;

#[async_trait]
impl AsyncLoad<Subscription> for LoadSubscriptions {
    async fn load(
        &mut self,
        store: &DynamoStore,
        ids: &[String],
    ) -> Result<Vec<Option<Subscription>>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(match store.get(format!("SUB#{id}"), "SUB").await? {
                Some(item) => Some(record(&item)?),
                None => None,
            });
        }
        Ok(out)
    }
}

pub(super) struct LoadDeliveries<'f>(pub(super) &'f DeliveryFilter);

#[async_trait]
impl AsyncLoad<Delivery> for LoadDeliveries<'_> {
    async fn load(
        &mut self,
        store: &DynamoStore,
        ids: &[String],
    ) -> Result<Vec<Option<Delivery>>, StoreError> {
        let mut by_id: HashMap<String, Delivery> =
            store.deliveries_by_id(ids).await?.into_iter().map(|d| (d.id.to_string(), d)).collect();
        Ok(ids.iter().map(|id| by_id.remove(id).filter(|d| self.0.matches(d))).collect())
    }
}
