//! Subscriptions on SQLite, each rewrite conditioned on the version it read,
//! and each tenant's routing version (table `routing`) moved in the same
//! transaction as every write that changes where or how its events go.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use hookline::model::{Health, Subscription, SubscriptionId, TenantId};
use hookline::ports::{
    Page, PageRequest, Routes, StoreError, SubscriptionStore, TenantCount, Watched, Written,
};

use crate::sql::{classify, exec};
use crate::store::{SqliteStore, all, one, paged, stored_version, to_json};

/// Moves `tenant`'s routing version on, inside the caller's write.
fn reroute(tx: &Connection, tenant: &str) -> Result<(), StoreError> {
    exec(
        tx,
        "INSERT INTO routing (tenant, version) VALUES (?1, 1)
         ON CONFLICT (tenant) DO UPDATE SET version = version + 1",
        [tenant],
    )
    .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn watched(&self, limit: usize) -> Result<Watched, StoreError> {
        // Partial indexes on the records' own fields (schema.sql) hold the
        // failing and the disabled apart: no scan of every subscription.
        let recs: Vec<Subscription> = self
            .with(move |c| {
                let failing = all(
                    c,
                    "SELECT record FROM subscriptions
                     WHERE json_extract(record, '$.failing_since') IS NOT NULL AND json_extract(record, '$.active')
                     ORDER BY json_extract(record, '$.failing_since') LIMIT ?1",
                    [limit],
                )?;
                let disabled = all(
                    c,
                    "SELECT record FROM subscriptions
                     WHERE json_extract(record, '$.disabled_reason') IS NOT NULL AND NOT json_extract(record, '$.active')
                     ORDER BY json_extract(record, '$.failing_since') DESC LIMIT ?1",
                    [limit],
                )?;
                Ok([failing, disabled].concat())
            })
            .await?;
        Ok(Watched::of(recs.iter(), limit))
    }

    async fn list_tenants(&self, prefix: &str, page: &PageRequest) -> Result<Page<TenantCount>, StoreError> {
        let (prefix, cursor, limit) = (prefix.to_owned(), page.cursor.clone(), page.limit);
        // `routing` has a row for every tenant that ever had a subscription
        // written, keyed by its name: a walk of its key from the cursor.
        let rows: Vec<(String, u64)> = self
            .with(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT r.tenant, (SELECT COUNT(*) FROM subscriptions s WHERE s.tenant = r.tenant)
                         FROM routing r
                         WHERE (?1 IS NULL OR r.tenant > ?1) AND substr(r.tenant, 1, length(?2)) = ?2
                         ORDER BY r.tenant LIMIT ?3",
                    )
                    .map_err(classify)?;
                stmt.query_map(params![cursor, prefix, limit + 1], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(classify)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(classify)
            })
            .await?;
        let items = rows
            .into_iter()
            .map(|(tenant, subscriptions)| {
                TenantId::parse(&tenant)
                    .map(|tenant| TenantCount { tenant, subscriptions })
                    .map_err(|_| StoreError::Corrupt(format!("{tenant:?} is not a tenant")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::of_one_more(items, limit, |t| t.tenant.to_string()))
    }

    async fn insert_subscription(
        &self,
        sub: &Subscription,
        max_per_tenant: usize,
    ) -> Result<bool, StoreError> {
        let (id, tenant, rec) = (sub.id.to_string(), sub.tenant.to_string(), to_json(sub)?);
        // Counted and inserted under the write lock: concurrent creates
        // cannot pass the limit together.
        self.write(move |tx| {
            let n: i64 = tx
                .query_row("SELECT COUNT(*) FROM subscriptions WHERE tenant = ?1", [&tenant], |r| r.get(0))
                .map_err(classify)?;
            if usize::try_from(n).unwrap_or(usize::MAX) >= max_per_tenant {
                return Ok(false);
            }
            exec(
                tx,
                "INSERT INTO subscriptions (id, tenant, record) VALUES (?1, ?2, ?3)",
                params![id, tenant, rec],
            )
            .map_err(classify)?;
            reroute(tx, &tenant)?;
            Ok(true)
        })
        .await
    }

    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        let id = id.to_string();
        self.lookup(move |c| one(c, "SELECT record FROM subscriptions WHERE id = ?1", [id]))
    }

    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError> {
        let (id, rec, version) = (next.id.to_string(), to_json(next)?, next.version);
        let tenant = next.tenant.to_string();
        self.write(move |tx| {
            let Some(stored) = stored_version(tx, "SELECT record FROM subscriptions WHERE id = ?1", &id)?
            else {
                return Ok(Written::Missing);
            };
            if stored.checked_add(1) != Some(version) {
                return Ok(Written::Stale);
            }
            exec(tx, "UPDATE subscriptions SET record = ?2 WHERE id = ?1", params![id, rec])
                .map_err(classify)?;
            reroute(tx, &tenant)?;
            Ok(Written::Done)
        })
        .await
    }

    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError> {
        let id = id.to_string();
        let (failing_since, failing_announced, paused_until) =
            (health.failing_since, health.failing_announced, health.paused_until);
        let reason = health.disabled_reason.map(str::to_owned);
        self.write(move |tx| {
            let Some(mut sub) =
                one::<Subscription>(tx, "SELECT record FROM subscriptions WHERE id = ?1", [&id])?
            else {
                return Ok(());
            };
            sub.set_health(&Health {
                failing_since,
                failing_announced,
                disabled_reason: reason.as_deref(),
                paused_until,
            });
            exec(tx, "UPDATE subscriptions SET record = ?2 WHERE id = ?1", params![id, to_json(&sub)?])
                .map_err(classify)?;
            if reason.is_some() {
                reroute(tx, sub.tenant.as_str())?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |tx| {
            let tenant: Option<String> = tx
                .query_row("DELETE FROM subscriptions WHERE id = ?1 RETURNING tenant", [id], |r| r.get(0))
                .optional()
                .map_err(classify)?;
            let Some(tenant) = tenant else { return Ok(false) };
            reroute(tx, &tenant)?;
            Ok(true)
        })
        .await
    }

    async fn list_subscriptions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let tenant = tenant.to_string();
        let (cursor, limit) = (page.cursor.clone(), page.limit);
        self.with(move |c| {
            let sql = "SELECT id, record FROM subscriptions
                     WHERE tenant = ?1 AND (?2 IS NULL OR id < ?2)
                     ORDER BY id DESC LIMIT ?3";
            paged(c, sql, params![tenant, cursor, limit + 1], limit)
        })
        .await
    }

    async fn tenant_routes(&self, tenant: &TenantId, known: Option<u64>) -> Result<Routes, StoreError> {
        let tenant = tenant.to_string();
        let version: u64 = self.lookup(|c| {
            c.prepare_cached("SELECT version FROM routing WHERE tenant = ?1")
                .and_then(|mut s| s.query_row([&tenant], |r| r.get::<_, i64>(0)).optional())
                .map_err(classify)
                .map(|v| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
        })?;
        if known == Some(version) {
            return Ok(Routes::Unchanged);
        }
        // Read after the version: as of it, or later (which the next
        // publish sees as a change and reads again).
        let subscriptions = self
            .with(move |c| all(c, "SELECT record FROM subscriptions WHERE tenant = ?1", [tenant]))
            .await?;
        Ok(Routes::Read { version: Some(version), subscriptions })
    }
}
