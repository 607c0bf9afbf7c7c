//! The scheduler's sweep of the `due` shards, onward from where each last stopped.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};

use hookline::model::{Delivery, DeliveryStatus};
use hookline::ports::StoreError;

use super::items::{get_n, get_s, key, millis, n, number, record, s, sweep_positions_list};
use super::{
    DUE_INDEX, DUE_SHARDS, DynamoStore, Item, REQUESTS_IN_FLIGHT, SWEEP_PAGE, SWEEP_POSITIONS_PK,
    SWEEP_SETTLE,
};
use crate::error::store_error;

impl DynamoStore {
    /// Where each `due` shard's sweep starts (a `due_at`, ms): every entry
    /// before it was seen by an earlier run. One small item, read
    /// consistently; none yet (a new table, or one from before sweeps):
    /// from the beginning.
    pub(super) async fn sweep_positions(&self) -> Result<Vec<i64>, StoreError> {
        let mut from = vec![0; DUE_SHARDS as usize];
        if let Some(item) = self.get(SWEEP_POSITIONS_PK.into(), "DUE").await?
            && let Some(AttributeValue::L(list)) = item.get("pos")
        {
            for (slot, v) in from.iter_mut().zip(list) {
                *slot = number(Some(v), "pos (a sweep position)")? * 1000;
            }
        }
        Ok(from)
    }

    /// Stores the sweep's positions (whole seconds, rounded down: 128 of
    /// them fit one write unit). Unconditional: two runs at once each
    /// write positions every entry before which they saw themselves, so
    /// either one's is right, and the later run's at worst re-reads some.
    pub(super) async fn save_sweep_positions(&self, from: &[i64]) -> Result<(), StoreError> {
        let mut item = key(SWEEP_POSITIONS_PK.into(), "DUE");
        item.insert("pos".into(), sweep_positions_list(from));
        self.put(item).await
    }

    /// Claims the delivery behind one `due` entry (its outcome record at
    /// `pk`/`sk`, due at `at`) if it is pending and due, from `read` (the
    /// record as an eventually consistent read found it) — read again
    /// consistently when that does not hold this entry (it lags the index,
    /// or moved on). A finished delivery keeps its last entry; it is passed
    /// here once.
    pub(super) async fn claim_entry(
        &self,
        (pk, sk): (&str, &str),
        at: i64,
        read: Option<Item>,
        now: DateTime<Utc>,
        lease_end: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let item = match read.filter(|item| get_n(item, "due_at").ok() == Some(at)) {
            Some(item) => item,
            None => match self.get(pk.to_owned(), sk).await? {
                Some(item) => item,
                None => return Ok(None),
            },
        };
        let Ok(old_due) = get_n(&item, "due_at") else { return Ok(None) };
        let mut d: Delivery = record(&item)?;
        if d.status != DeliveryStatus::Pending || d.due_at.is_none_or(|t| t > now) {
            return Ok(None);
        }
        d.due_at = Some(lease_end);
        // The condition holds only for the state read, whichever read it was.
        let taken = self
            .put_if(
                self.outcome_item(&d, item.get("att"), Some(millis(lease_end)))?,
                "#status = :pending AND due_at = :old AND attempts = :a",
                &[(":pending", s("pending")), (":old", n(old_due)), (":a", n(d.attempts.into()))],
            )
            .await?;
        Ok(taken.then_some(d))
    }

    /// The sweep behind [`DeliveryStore::claim_due`] (see the module).
    pub(super) async fn sweep_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let lease_end = now + hookline::ports::span(lease);
        let settled = millis(now - hookline::ports::span(SWEEP_SETTLE));
        // Each shard from where the last sweep left it to now, a page at a
        // time (every shard's first page at once: 128 queries, each at
        // least half a read unit, are a run's fixed cost); the deliveries
        // behind a round's entries read at once, eventually consistent.
        let read_from = self.sweep_positions().await?;
        let mut from = read_from.clone();
        let mut open: Vec<(usize, Option<Item>)> = (0..read_from.len()).map(|k| (k, None)).collect();
        let mut claimed = Vec::new();
        while !open.is_empty() && claimed.len() < limit {
            let queries: Vec<_> = open
                .iter()
                .map(|(k, start)| {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(DUE_INDEX)
                        .key_condition_expression("due_shard = :s AND due_at BETWEEN :from AND :now")
                        .expression_attribute_values(":s", s(k.to_string()))
                        .expression_attribute_values(":from", n(read_from[*k]))
                        .expression_attribute_values(":now", n(millis(now)))
                        .set_exclusive_start_key(start.clone())
                        .limit(SWEEP_PAGE)
                })
                .collect();
            let pages: Vec<_> = futures_util::stream::iter(queries.into_iter().map(|q| q.send()))
                .buffered(REQUESTS_IN_FLIGHT)
                .try_collect()
                .await
                .map_err(store_error)?;
            let keys = pages
                .iter()
                .flat_map(|p| p.items())
                .map(|e| Ok(key(get_s(e, "pk")?.to_owned(), get_s(e, "sk")?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut read: HashMap<(String, String), Item> = HashMap::new();
            for item in self.batch_get(keys, false).await? {
                read.insert((get_s(&item, "pk")?.to_owned(), get_s(&item, "sk")?.to_owned()), item);
            }
            let mut still_open = Vec::new();
            'shards: for ((k, _), page) in open.iter().zip(&pages) {
                for entry in page.items() {
                    let at = get_n(entry, "due_at")?;
                    if claimed.len() >= limit {
                        // The first entry not looked at: the next run starts here.
                        from[*k] = at;
                        continue 'shards;
                    }
                    let (pk, sk) = (get_s(entry, "pk")?, get_s(entry, "sk")?);
                    let found = read.remove(&(pk.to_owned(), sk.to_owned()));
                    if let Some(d) = self.claim_entry((pk, sk), at, found, now, lease_end).await? {
                        claimed.push(d);
                    }
                }
                match (page.last_evaluated_key(), page.items().last()) {
                    (Some(start), Some(last)) => {
                        from[*k] = get_n(last, "due_at")?;
                        still_open.push((*k, Some(start.clone())));
                    }
                    // Every entry up to now seen: later ones can still
                    // appear only after `settled` (see SWEEP_SETTLE).
                    _ if !page.items().is_empty() => from[*k] = from[*k].max(settled),
                    _ => {}
                }
            }
            open = still_open;
            if from != read_from {
                self.save_sweep_positions(&from).await?;
            }
        }
        Ok(claimed)
    }
}
