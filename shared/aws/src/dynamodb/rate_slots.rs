//! A rate-limited subscription's schedule: one item, leased with one conditional update.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use hookline::model::SubscriptionId;
use hookline::policy::rate::{self, Grant, RateLimit};
use hookline::ports::{RateSlots, StoreError};

use super::DynamoStore;
use super::items::{get_n, key, n};
use crate::error::store_error;

#[async_trait]
impl RateSlots for DynamoStore {
    async fn lease(
        &self,
        subscription: &SubscriptionId,
        rate: RateLimit,
        want: u32,
        now: DateTime<Utc>,
    ) -> Result<Grant, StoreError> {
        let micros = |t: DateTime<Utc>| t.timestamp_micros();
        // The TAT as last seen; unknown at first, taken as idle.
        let mut seen: Option<i64> = None;
        for _ in 0..5 {
            let tat = seen.and_then(|us| Utc.timestamp_micros(us).single());
            let grant = rate::lease(tat, now, rate, want);
            let Grant::Slots { next, .. } = grant else { return Ok(grant) };
            // Rounded up: the next lease never starts inside this one.
            let next_us = micros(next) + i64::from(next.timestamp_subsec_nanos() % 1000 != 0);
            let req = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("RATE#{subscription}"), "RATE")))
                .update_expression("SET tat = :next, expires_at = :exp")
                .expression_attribute_values(":next", n(next_us))
                .expression_attribute_values(":exp", self.expiry(next))
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let req = match seen {
                None => req
                    .condition_expression("attribute_not_exists(tat) OR tat <= :now")
                    .expression_attribute_values(":now", n(micros(now))),
                Some(old) => {
                    req.condition_expression("tat = :old").expression_attribute_values(":old", n(old))
                }
            };
            match req.send().await {
                Ok(_) => return Ok(grant),
                Err(e) => {
                    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
                    let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = e.as_service_error()
                    else {
                        return Err(store_error(e));
                    };
                    // Another sender moved it (or TTL removed it): try again
                    // from what is there now.
                    seen = failed.item().map(|item| get_n(item, "tat")).transpose()?;
                }
            }
        }
        Err(StoreError::Contended("the rate schedule kept changing; the delivery waits".into()))
    }
}
