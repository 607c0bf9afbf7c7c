//! Hourly attempt counts, the event catalog and one-time claims.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use hookline::model::{EventType, EventTypeInfo};
use hookline::ports::{COUNT_RETENTION, CatalogStore, CountScope, CountStore, HourCount, StoreError};

use super::items::{corrupt, get_n, get_s, key, n, record, s, to_json};
use super::{COUNT_SHARDS, DynamoStore};
use crate::error::store_error;

pub(super) fn count_pk(scope: &CountScope, shard: u32) -> String {
    match scope {
        CountScope::Service => format!("COUNT#*#{shard}"),
        CountScope::Subscription(id) => format!("COUNT#{id}#{shard}"),
        // A tenant's name has no ':' (a subscription id none either).
        CountScope::Tenant(t) => format!("COUNT#tenant:{t}#{shard}"),
    }
}

pub(super) fn hour_sk(hour: DateTime<Utc>) -> String {
    format!("H#{:012}", hour.timestamp())
}

/// The shard this process's next flush writes: a counter from a start
/// that differs between processes, so concurrent functions spread out.
pub(super) fn next_shard() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU32::new(nanos ^ std::process::id())
    });
    next.fetch_add(1, Ordering::Relaxed) % COUNT_SHARDS
}

#[async_trait]
impl CountStore for DynamoStore {
    async fn add_counts(&self, counts: &[(CountScope, HourCount)]) -> Result<(), StoreError> {
        let shard = next_shard();
        for (scope, c) in counts {
            let expires = c.hour + hookline::ports::span(COUNT_RETENTION);
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(count_pk(scope, shard), &hour_sk(c.hour))))
                .update_expression("ADD n_ok :ok, n_failed :failed, n_gave_up :gave_up SET expires_at = :exp")
                .expression_attribute_values(":ok", n(i64::try_from(c.succeeded).unwrap_or(i64::MAX)))
                .expression_attribute_values(":failed", n(i64::try_from(c.failed).unwrap_or(i64::MAX)))
                .expression_attribute_values(":gave_up", n(i64::try_from(c.gave_up).unwrap_or(i64::MAX)))
                .expression_attribute_values(":exp", n(expires.timestamp()))
                .send()
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    async fn hourly_counts(
        &self,
        scope: &CountScope,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourCount>, StoreError> {
        let mut sums: std::collections::BTreeMap<i64, (u64, u64, u64)> = std::collections::BTreeMap::new();
        for shard in 0..COUNT_SHARDS {
            // Eventually consistent: a chart may lag a flush by a second.
            for item in self.partition_from(count_pk(scope, shard), Some(hour_sk(since)), false).await? {
                let hour = get_s(&item, "sk")?
                    .strip_prefix("H#")
                    .and_then(|h| h.parse::<i64>().ok())
                    .ok_or_else(|| corrupt("a count's sort key is not an hour"))?;
                let count = |name| get_n(&item, name).map(|v| u64::try_from(v).unwrap_or(0));
                let sum = sums.entry(hour).or_default();
                sum.0 += count("n_ok")?;
                sum.1 += count("n_failed")?;
                // Written since deliveries given up on were counted apart.
                sum.2 += if item.contains_key("n_gave_up") { count("n_gave_up")? } else { 0 };
            }
        }
        sums.into_iter()
            .map(|(hour, sums)| {
                let hour =
                    Utc.timestamp_opt(hour, 0).single().ok_or_else(|| corrupt("an hour out of range"))?;
                Ok(HourCount::new(hour, sums))
            })
            .collect()
    }
}

// The catalog is small (a platform's event types) and rarely written: one
// partition, read whole with one strongly consistent query.
#[async_trait]
impl CatalogStore for DynamoStore {
    async fn put_event_type(&self, info: &EventTypeInfo) -> Result<(), StoreError> {
        let mut item = key("CATALOG".into(), &format!("ETYPE#{}", info.name));
        item.insert("rec".into(), s(to_json(info)?));
        self.put(item).await
    }

    async fn event_types(&self) -> Result<Vec<EventTypeInfo>, StoreError> {
        self.partition("CATALOG".into()).await?.iter().map(record).collect()
    }

    async fn delete_event_type(&self, name: &EventType) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key("CATALOG".into(), &format!("ETYPE#{name}"))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(store_error)?;
        Ok(out.attributes().is_some())
    }
}

// A claim is one item put only if absent (`CLAIM#<name>`), removed by TTL
// a day after it stops mattering.
#[async_trait]
impl hookline::ports::ClaimStore for DynamoStore {
    async fn claim(&self, name: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut item = key(format!("CLAIM#{name}"), "CLAIM");
        item.insert("expires_at".into(), n((until + chrono::Duration::days(1)).timestamp()));
        self.put_if(item, "attribute_not_exists(pk)", &[]).await
    }
}
