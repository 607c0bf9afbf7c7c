//! Subscriptions and tenant records, each rewrite conditioned on the version it read.
//!
//! A tenant's count item (`TENANT#<tenant>`/`SUBS`) holds how many
//! subscriptions it has (`n`) and its routing version (`rv`), both moved in
//! the same transaction as the writes that change them: a publish reads that
//! one small item, and the subscriptions only when `rv` moved. The same
//! item lists the tenant for the operator: it is in `gsi1`'s `TENANTS`
//! partition, by name.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use hookline::model::{Health, Subscription, SubscriptionId, Tenant, TenantId};
use hookline::ports::{
    Page, PageRequest, Routes, StoreError, SubscriptionStore, TenantCount, TenantStore, Watched, Written,
};

use super::items::{at_version, corrupt, count_key, key, n, record, s, subscription_item, to_json, version};
use super::table::{failed_conditions, put};
use super::{DynamoStore, GSI1, Item};
use crate::error::store_error;

/// How many times a full read of a tenant's routes is tried before it is
/// used for one publish only (see [`DynamoStore::read_routes`]).
const ROUTE_READS: usize = 3;

/// The `gsi1` partition that lists tenants: each tenant's count item is in
/// it, by name, from its first write on (keys only, so a count or version
/// that moves writes nothing to the index).
const TENANTS: &str = "TENANTS";

/// What every write of a tenant's count item sets besides its count: its
/// place in the tenant listing (the same each time: no index write).
const LISTED: &str = "g1pk = :tenants, g1sk = :tenant";

/// The watch lists' partitions: one item per subscription failing now, one
/// per subscription disabled for its failures (sort key its id, `at` the
/// start of its run of failures), written in the transaction of the
/// subscription write that puts it on or takes it off — a health update
/// only when it does, so a failure that changes neither costs nothing
/// more.
const WATCH_FAILING: &str = "WATCH#failing";
const WATCH_DISABLED: &str = "WATCH#disabled";

/// Which watch list `sub` belongs on, and since when.
fn watch_of(sub: &Subscription) -> Option<(&'static str, Option<i64>)> {
    let at = sub.failing_since.map(|t| t.timestamp_millis());
    if Watched::is_failing(sub) {
        Some((WATCH_FAILING, at))
    } else if Watched::is_disabled(sub) {
        Some((WATCH_DISABLED, at))
    } else {
        None
    }
}

/// The writes that keep the watch lists right for `before` becoming
/// `next` (none: deleted); `before` none: not known (a change through the
/// API), so both lists are written — a put or a delete, either harmless
/// done twice. Taking an item off a list deletes it, except in a health
/// update (`before` and `next` known: the deliver function, which may
/// delete nothing): there the item is put again marked `off` (readers
/// skip it) to expire, by TTL, the retention after its run of failures
/// began.
fn watch_writes(
    table: &str,
    before: Option<&Subscription>,
    next: Option<&Subscription>,
    id: &SubscriptionId,
    retention: chrono::Duration,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let (was, now) = (before.map(watch_of), next.and_then(watch_of));
    if was == Some(now) {
        return Ok(Vec::new());
    }
    let mut writes = Vec::new();
    for list in [WATCH_FAILING, WATCH_DISABLED] {
        let on_now = now.filter(|(l, _)| *l == list);
        let was_on = was.is_none_or(|w| w.is_some_and(|(l, _)| l == list));
        let mut item = key(list.to_owned(), id.as_str());
        match (on_now, before) {
            (Some((_, at)), _) => {
                if let Some(at) = at {
                    item.insert("at".into(), n(at));
                }
                writes.push(put(table, item, None)?);
            }
            (None, Some(before)) if was_on && next.is_some() => {
                item.insert("off".into(), AttributeValue::Bool(true));
                if let Some(began) = before.failing_since {
                    item.insert("expires_at".into(), n((began + retention).timestamp()));
                }
                writes.push(put(table, item, None)?);
            }
            (None, _) if was_on => {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(table)
                    .set_key(Some(item))
                    .build()
                    .map_err(corrupt)?;
                writes.push(TransactWriteItem::builder().delete(delete).build());
            }
            _ => {}
        }
    }
    Ok(writes)
}

/// The count item's update that moves the routing version on.
fn reroute(table: &str, tenant: &TenantId) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(count_key(tenant)))
        .update_expression(format!("SET {LISTED} ADD rv :one"))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":tenants", s(TENANTS))
        .expression_attribute_values(":tenant", s(tenant.to_string()))
        .build()
        .map_err(corrupt)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoStore {
    /// A tenant's subscription count and routing version (consistent read).
    async fn routing(&self, tenant: &TenantId) -> Result<(usize, u64), StoreError> {
        let item = self.get(format!("TENANT#{tenant}"), "SUBS").await?;
        let number = |name: &str| {
            item.as_ref()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((usize::try_from(number("n")).unwrap_or(usize::MAX), number("rv")))
    }

    /// The ids of a tenant's subscriptions, as `gsi1` shows them now: keys
    /// only, up to a megabyte (thousands of ids) a query. The index is
    /// eventually consistent: a subscription just created may be missing.
    async fn subscription_ids(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        let entries =
            self.query_all(Some(GSI1), ("g1pk", "g1sk"), format!("SUBS#{tenant}"), None, false).await?;
        entries.iter().map(|e| super::items::get_s(e, "g1sk").map(str::to_owned)).collect()
    }

    /// The subscriptions with these ids that exist, in the order given
    /// (consistent reads, a hundred a request).
    pub(super) async fn subscriptions_by_id(&self, ids: &[String]) -> Result<Vec<Subscription>, StoreError> {
        let keys = ids.iter().map(|id| key(format!("SUB#{id}"), "SUB")).collect();
        let mut found: std::collections::HashMap<String, Item> = self
            .batch_get(keys, true)
            .await?
            .into_iter()
            .filter_map(|item| Some((item.get("pk")?.as_s().ok()?.clone(), item)))
            .collect();
        ids.iter().filter_map(|id| found.remove(&format!("SUB#{id}"))).map(|i| record(&i)).collect()
    }

    /// Every subscription of `tenant` with the routing version they are as
    /// of, given the count and version `at` read before.
    ///
    /// The ids come from an eventually consistent index and the records from
    /// consistent reads; the count item is read again after them. If its
    /// version did not move, no routing write happened while they were read,
    /// so the records found are all current and a subset of the tenant's
    /// subscriptions — and if there are as many as the count says, they are
    /// all of them. Otherwise (the index behind a create, or a write in
    /// between) the read is made again, a few times; the last is then used
    /// for the one publish, pinned to no version.
    async fn read_routes(&self, tenant: &TenantId, mut at: (usize, u64)) -> Result<Routes, StoreError> {
        let mut subscriptions = Vec::new();
        for round in 0..ROUTE_READS {
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
            }
            subscriptions = self.subscriptions_by_id(&self.subscription_ids(tenant).await?).await?;
            let after = self.routing(tenant).await?;
            if after == at && subscriptions.len() == at.0 {
                return Ok(Routes::Read { version: Some(at.1), subscriptions });
            }
            at = after;
        }
        tracing::warn!(
            tenant = %tenant,
            found = subscriptions.len(),
            counted = at.0,
            "a tenant's subscriptions could not be read at one routing version; this publish routes on what was found"
        );
        Ok(Routes::Read { version: None, subscriptions })
    }

    /// Puts a subscription's item over the version `condition` names, moving
    /// its tenant's routing version in the same transaction when `routes`;
    /// `false` when the condition did not hold.
    async fn put_subscription(
        &self,
        sub: &Subscription,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        routes: bool,
        watch: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        if !routes && watch.is_empty() {
            return self.put_if(subscription_item(sub)?, condition, &values).await;
        }
        let mut p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(subscription_item(sub)?))
            .condition_expression(condition);
        for (k, v) in values {
            p = p.expression_attribute_values(k, v);
        }
        let mut writes = vec![TransactWriteItem::builder().put(p.build().map_err(corrupt)?).build()];
        if routes {
            writes.push(reroute(&self.table, &sub.tenant)?);
        }
        writes.extend(watch);
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(true),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn watched(&self, limit: usize) -> Result<Watched, StoreError> {
        // Each list's partition (ids and since when), the first `limit` of
        // each by that time, then those subscriptions as they are now.
        let mut ids = Vec::new();
        for (list, newest_first) in [(WATCH_FAILING, false), (WATCH_DISABLED, true)] {
            let mut on: Vec<(i64, String)> = self
                .query_all(None, ("pk", "sk"), list.to_owned(), None, false)
                .await?
                .iter()
                .filter(|i| !i.contains_key("off"))
                .map(|i| {
                    let at =
                        i.get("at").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
                    super::items::get_s(i, "sk").map(|id| (at, id.to_owned()))
                })
                .collect::<Result<_, _>>()?;
            on.sort();
            if newest_first {
                on.reverse();
            }
            ids.extend(on.into_iter().take(limit).map(|(_, id)| id));
        }
        let subs = self.subscriptions_by_id(&ids).await?;
        Ok(Watched::of(subs.iter(), limit))
    }

    async fn list_tenants(&self, prefix: &str, page: &PageRequest) -> Result<Page<TenantCount>, StoreError> {
        // One query of the listing's partition in name order (keys only),
        // then the page's count items (eventually consistent, a hundred a
        // request).
        let condition = match prefix {
            "" => "g1pk = :p",
            _ => "g1pk = :p AND begins_with(g1sk, :prefix)",
        };
        let start = page.cursor.as_ref().map(|t| {
            let mut k = key(format!("TENANT#{t}"), "SUBS");
            k.insert("g1pk".into(), s(TENANTS));
            k.insert("g1sk".into(), s(t.clone()));
            k
        });
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression(condition)
            .expression_attribute_values(":p", s(TENANTS))
            .limit(i32::try_from(page.limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start);
        if !prefix.is_empty() {
            q = q.expression_attribute_values(":prefix", s(prefix.to_owned()));
        }
        let found = q.send().await.map_err(store_error)?;
        let names: Vec<String> = found
            .items()
            .iter()
            .map(|i| super::items::get_s(i, "g1sk").map(str::to_owned))
            .collect::<Result<_, _>>()?;
        let listed = Page::of_one_more(names, page.limit, Clone::clone);
        let names = &listed.items;
        let counts: std::collections::HashMap<String, u64> = self
            .batch_get(names.iter().map(|t| key(format!("TENANT#{t}"), "SUBS")).collect(), false)
            .await?
            .iter()
            .filter_map(|i| {
                let name = i.get("g1sk")?.as_s().ok()?.clone();
                let n = i.get("n").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
                Some((name, n))
            })
            .collect();
        let items = names
            .iter()
            .map(|t| {
                let tenant = TenantId::parse(t).map_err(|_| corrupt(format!("{t:?} is not a tenant")))?;
                Ok(TenantCount { tenant, subscriptions: counts.get(t).copied().unwrap_or(0) })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page { items, next_cursor: listed.next_cursor })
    }

    async fn insert_subscription(
        &self,
        sub: &Subscription,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError> {
        // The tenant's count and the subscription in one transaction: the
        // count moves only when the subscription is stored, and never past
        // the limit, however many creates race.
        let max = i64::try_from(max_per_tenant).unwrap_or(i64::MAX);
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(count_key(&sub.tenant)))
            .update_expression(format!("SET n = if_not_exists(n, :zero) + :one, {LISTED} ADD rv :one"))
            .condition_expression("attribute_not_exists(n) OR n < :max")
            .expression_attribute_values(":tenants", s(TENANTS))
            .expression_attribute_values(":tenant", s(sub.tenant.to_string()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .build()
            .map_err(corrupt)?;
        let writes = vec![
            TransactWriteItem::builder().update(count).build(),
            put(&self.table, subscription_item(sub)?, Some("attribute_not_exists(pk)"))?,
        ];
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(true),
            Err(e) => match failed_conditions(&e).as_deref() {
                Some([true, _]) => Ok(false),
                Some([_, true]) => {
                    Err(StoreError::Internal(format!("subscription {} already exists", sub.id)))
                }
                _ => Err(store_error(e)),
            },
        }
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.get(format!("SUB#{id}"), "SUB").await?.map(|i| record(&i)).transpose()
    }

    async fn peek_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.read(format!("SUB#{id}"), "SUB", false).await?.map(|i| record(&i)).transpose()
    }

    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError> {
        let (condition, values) = at_version(next.version.saturating_sub(1));
        let condition = format!("attribute_exists(pk) AND ({condition})");
        let watch = watch_writes(&self.table, None, Some(next), &next.id, self.retention)?;
        if self.put_subscription(next, &condition, values, true, watch).await? {
            return Ok(Written::Done);
        }
        // Which it was costs a read, on this rare path only.
        Ok(match self.get(format!("SUB#{}", next.id), "SUB").await? {
            Some(_) => Written::Stale,
            None => Written::Missing,
        })
    }

    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError> {
        // Read-modify-write conditioned on the version read, again on a race,
        // so a concurrent PATCH is neither lost nor overwritten.
        for _ in 0..5 {
            let Some(mut sub) = self.get_subscription(id).await? else { return Ok(()) };
            let (condition, values) = at_version(sub.version);
            let before = sub.clone();
            sub.set_health(health);
            // Only a disable changes where the tenant's events go.
            let routes = health.disabled_reason.is_some();
            let watch = watch_writes(&self.table, Some(&before), Some(&sub), id, self.retention)?;
            if self.put_subscription(&sub, condition, values, routes, watch).await? {
                return Ok(());
            }
        }
        Err(StoreError::Contended("the subscription kept changing; health not updated".into()))
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError> {
        let Some(sub) = self.get_subscription(id).await? else { return Ok(false) };
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("SUB#{id}"), "SUB")))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(corrupt)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(count_key(&sub.tenant)))
            .update_expression(format!("SET n = if_not_exists(n, :one) - :one, {LISTED} ADD rv :one"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":tenants", s(TENANTS))
            .expression_attribute_values(":tenant", s(sub.tenant.to_string()))
            .build()
            .map_err(corrupt)?;
        let mut writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        writes.extend(watch_writes(&self.table, Some(&sub), None, id, self.retention)?);
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(true),
            Err(e) if failed_conditions(&e).is_some_and(|f| f.first() == Some(&true)) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.page_subscriptions(tenant, page).await
    }

    async fn tenant_routes(&self, tenant: &TenantId, known: Option<u64>) -> Result<Routes, StoreError> {
        let at = self.routing(tenant).await?;
        if known == Some(at.1) {
            return Ok(Routes::Unchanged);
        }
        if at.0 == 0 {
            // Counted in the transaction of every create and delete: none.
            return Ok(Routes::Read { version: Some(at.1), subscriptions: Vec::new() });
        }
        self.read_routes(tenant, at).await
    }
}

#[async_trait]
impl TenantStore for DynamoStore {
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(format!("TENANT#{tenant}"), "TENANT").await?.map(|i| record(&i)).transpose()
    }

    async fn put_tenant(&self, next: &Tenant) -> Result<Written, StoreError> {
        let mut item = key(format!("TENANT#{}", next.id), "TENANT");
        item.insert("ver".into(), version(next.version));
        item.insert("rec".into(), s(to_json(next)?));
        let expected = next.version.saturating_sub(1);
        let done = if expected == 0 {
            self.put_if(item, "attribute_not_exists(pk)", &[]).await?
        } else {
            self.put_if(item, "ver = :v", &[(":v", version(expected))]).await?
        };
        Ok(if done { Written::Done } else { Written::Stale })
    }
}
