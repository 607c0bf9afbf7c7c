//! The table's operations every part uses: get, put (plain, conditional, batched), query a partition, batch get.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use futures_util::{StreamExt, TryStreamExt};

use hookline::ports::StoreError;

use super::items::{corrupt, key, s};
use super::{DynamoStore, Item, REQUESTS_IN_FLIGHT};
use crate::error::store_error;

impl DynamoStore {
    /// Puts `item`, replacing what has its key.
    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Every item of partition `pk`, strongly consistent, every page.
    pub(super) async fn partition(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        self.partition_from(pk, None, true).await
    }

    /// Every item of partition `pk` whose sort key is `from` or later
    /// (all, without one), every page; eventually consistent (half the
    /// price) unless `consistent`.
    pub(super) async fn partition_from(
        &self,
        pk: String,
        from: Option<String>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_all(None, ("pk", "sk"), pk, from, consistent).await
    }

    /// Every item of `index` (the table itself when `None`) whose partition
    /// key (`keys.0`) is `pk` and whose sort key (`keys.1`) is `from` or
    /// later, every page; an index is read eventually consistently.
    pub(super) async fn query_all(
        &self,
        index: Option<&str>,
        (pk_name, sk_name): (&str, &str),
        pk: String,
        from: Option<String>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        let condition = match from {
            Some(_) => format!("{pk_name} = :p AND {sk_name} >= :from"),
            None => format!("{pk_name} = :p"),
        };
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(&condition)
                .expression_attribute_values(":p", s(pk.clone()))
                .consistent_read(consistent && index.is_none())
                .set_exclusive_start_key(start);
            let resp = match &from {
                Some(f) => resp.expression_attribute_values(":from", s(f.clone())),
                None => resp,
            };
            let resp = resp.send().await.map_err(store_error)?;
            out.extend(resp.items().iter().cloned());
            match resp.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }

    /// The item with this key, strongly consistent.
    pub(super) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read(pk, sk, true).await
    }

    /// The item with this key; eventually consistent (half the price, and
    /// possibly a second behind) unless `consistent`.
    pub(super) async fn read(
        &self,
        pk: String,
        sk: &str,
        consistent: bool,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(store_error)?;
        Ok(out.item().cloned())
    }

    /// Applies `update` to the item at `key` if `condition` holds;
    /// `Ok(false)` when it does not.
    pub(super) async fn update_if(
        &self,
        key: Item,
        update: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition);
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// Puts `item` if `condition` holds; `Ok(false)` when it does not.
    pub(super) async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if condition.contains("#status") {
            req = req.expression_attribute_names("#status", "status");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// The items with these keys (missing ones absent; any number of
    /// keys): `BatchGetItem`s of 100, several in flight; eventually
    /// consistent (half the price) unless `consistent`.
    pub(super) async fn batch_get(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let chunks: Vec<Vec<Item>> = keys.chunks(100).map(<[Item]>::to_vec).collect();
        let batches = chunks.into_iter().map(|keys| self.batch_get_100(keys, consistent));
        let batches: Vec<Vec<Item>> =
            futures_util::stream::iter(batches).buffered(REQUESTS_IN_FLIGHT).try_collect().await?;
        Ok(batches.into_iter().flatten().collect())
    }

    /// One `BatchGetItem` of up to 100 `keys`, asked again (bounded) for
    /// what throttling leaves unprocessed.
    async fn batch_get_100(&self, mut keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for _ in 0..5 {
            if keys.is_empty() {
                return Ok(found);
            }
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .build()
                .map_err(corrupt)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, ka)
                .send()
                .await
                .map_err(store_error)?;
            found.extend(out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten().cloned());
            keys = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
        }
        if keys.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::unavailable("DynamoDB left keys unprocessed (throttled)"))
        }
    }
}

pub(super) fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned));
    Ok(TransactWriteItem::builder().put(p.build().map_err(corrupt)?).build())
}

/// Which items of a canceled transaction failed their condition.
pub(super) fn failed_conditions(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> Option<Vec<bool>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => Some(
            t.cancellation_reasons().iter().map(|r| r.code() == Some("ConditionalCheckFailed")).collect(),
        ),
        _ => None,
    }
}
