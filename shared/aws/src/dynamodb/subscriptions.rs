//! Subscriptions and tenant records, each rewrite conditioned on the version it read.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use hookline::model::{Health, Subscription, SubscriptionId, Tenant, TenantId};
use hookline::ports::{Page, PageRequest, StoreError, SubscriptionStore, TenantStore, Written};

use super::DynamoStore;
use super::items::{at_version, corrupt, count_key, key, n, record, s, subscription_item, to_json, version};
use super::table::{failed_conditions, put};
use crate::error::store_error;

#[async_trait]
impl SubscriptionStore for DynamoStore {
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
            .update_expression("SET n = if_not_exists(n, :zero) + :one")
            .condition_expression("attribute_not_exists(n) OR n < :max")
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
        if self.put_if(subscription_item(next)?, &condition, &values).await? {
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
            sub.set_health(health);
            if self.put_if(subscription_item(&sub)?, condition, &values).await? {
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
            .update_expression("SET n = if_not_exists(n, :one) - :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(corrupt)?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
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

    async fn tenant_subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let p = self.list_subscriptions(tenant, &PageRequest { cursor, limit: 100 }).await?;
            all.extend(p.items);
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
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
