//! The table's operations every part uses: get, put (plain, conditional, batched), query a partition, batch get.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};

use hookline::model::{Attempt, Delivery, DeliveryId};
use hookline::ports::StoreError;

use super::items::{corrupt, get_n, get_s, key, record, s, to_json};
use super::{DynamoStore, Item, REQUESTS_IN_FLIGHT};
use crate::error::store_error;

impl DynamoStore {
    /// Puts `attempt` in its own item, kept the retention past the later of
    /// its start and `keep_until` (the latest its event can be used, so no
    /// attempt of a pending delivery expires before the delivery).
    pub(super) async fn put_attempt(
        &self,
        attempt: &Attempt,
        keep_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut item = key(format!("DLV#{}", attempt.delivery_id), &format!("ATT#{:05}", attempt.number));
        item.insert("rec".into(), s(to_json(attempt)?));
        item.insert("expires_at".into(), self.expiry(keep_until.unwrap_or_default().max(attempt.started_at)));
        self.put(item).await
    }

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

    /// A delivery and the item it was read from (to carry its `att` over).
    pub(super) async fn delivery_and_item(
        &self,
        id: &DeliveryId,
    ) -> Result<Option<(Delivery, Item)>, StoreError> {
        let Some(item) = self.get(format!("DLV#{id}"), "DLV").await? else { return Ok(None) };
        Ok(Some((record(&item)?, item)))
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
        let mut out = Vec::new();
        let mut start = None;
        let condition = if from.is_some() { "pk = :p AND sk >= :from" } else { "pk = :p" };
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .expression_attribute_values(":p", s(pk.clone()))
                .consistent_read(consistent)
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

    /// Writes `d` back over the item it was read from (`read`, whose latest
    /// attempt it keeps), only if `condition` still holds there.
    pub(super) async fn rewrite_delivery(
        &self,
        d: &Delivery,
        read: &Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        self.put_if(self.delivery_item(d, read.get("att"), get_n(read, "due_at").ok())?, condition, values)
            .await
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

    /// Writes items with BatchWriteItem (25 per call), sending again what
    /// DynamoDB leaves unprocessed under throttling, a bounded number of times.
    pub(super) async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for chunk in items.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|i| {
                    let put = PutRequest::builder().set_item(Some(i.clone())).build().map_err(corrupt)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StoreError>>()?;
            for _ in 0..5 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(store_error)?;
                requests =
                    out.unprocessed_items().and_then(|u| u.get(&self.table)).cloned().unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
            }
            if !requests.is_empty() {
                return Err(StoreError::unavailable("DynamoDB left writes unprocessed (throttled)"));
            }
        }
        Ok(())
    }

    /// Reads deliveries by id, in the order given (missing ones skipped).
    pub(super) async fn deliveries_by_id(&self, ids: &[String]) -> Result<Vec<Delivery>, StoreError> {
        let pks: Vec<String> = ids.iter().map(|id| format!("DLV#{id}")).collect();
        let mut found = self.items_by_pk(&pks, "DLV", true).await?;
        pks.iter().filter_map(|pk| found.remove(pk)).map(|item| record(&item)).collect()
    }

    /// The items with sort key `sk` under each of `pks` (missing ones
    /// absent), by partition key: `BatchGetItem`s of 100, several in
    /// flight; eventually consistent (half the price) unless `consistent`.
    pub(super) async fn items_by_pk(
        &self,
        pks: &[String],
        sk: &str,
        consistent: bool,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let chunks: Vec<Vec<Item>> =
            pks.chunks(100).map(|chunk| chunk.iter().map(|pk| key(pk.clone(), sk)).collect()).collect();
        let batches = chunks.into_iter().map(|keys| self.batch_get(keys, consistent));
        let batches: Vec<Vec<Item>> =
            futures_util::stream::iter(batches).buffered(REQUESTS_IN_FLIGHT).try_collect().await?;
        let mut out = HashMap::new();
        for item in batches.into_iter().flatten() {
            out.insert(get_s(&item, "pk")?.to_owned(), item);
        }
        Ok(out)
    }

    /// One `BatchGetItem` of up to 100 `keys`, asked again (bounded) for
    /// what throttling leaves unprocessed.
    pub(super) async fn batch_get(
        &self,
        mut keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
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
