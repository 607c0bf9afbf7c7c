//! The table stream's event source mapping, played where AWS does not run
//! it: read every shard of the table's stream from where the last read
//! stopped, hand the records to the outbox handler as Lambda would, and
//! move on only past what it handled (a failure is read again next time).
//! The tests, `tools/aws-local` and the load harness call it where Lambda
//! would invoke the outbox function.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, OperationType, ShardIteratorType};
use chrono::{DateTime, Utc};

use hookline::ports::{DeliveryQueue, StoreError};

use crate::dynamodb::is_event_item;
use crate::error::store_error;
use crate::outbox::{Item, Record, handle};

/// A reader of one table's stream.
pub struct StreamPump {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Each shard's next iterator (`None` until it is asked again).
    shards: HashMap<String, Option<String>>,
    /// Each shard's last handled sequence number.
    handled: HashMap<String, String>,
}

impl StreamPump {
    /// The reader of `table`'s stream (its latest), from its oldest record.
    pub async fn new(
        dynamo: &aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: &str,
    ) -> Result<Self, StoreError> {
        let described = dynamo.describe_table().table_name(table).send().await.map_err(store_error)?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| StoreError::refused(format!("table {table} has no stream")))?
            .to_owned();
        Ok(Self { streams, stream_arn, shards: HashMap::new(), handled: HashMap::new() })
    }

    /// Reads what is new on every shard and queues the first attempts of
    /// the events among it (the outbox function's work, as its event
    /// source mapping would invoke it, one call per shard read). Returns
    /// how many new events' records were handled (what the template's
    /// filter passes to the function).
    pub async fn run(&mut self, queue: &dyn DeliveryQueue, now: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(self.run_timed(queue, now).await?.0)
    }

    /// [`Self::run`], and the time spent in the outbox's handler (what the
    /// function is billed for; reading the stream is the event source
    /// mapping's, and free).
    pub async fn run_timed(
        &mut self,
        queue: &dyn DeliveryQueue,
        now: DateTime<Utc>,
    ) -> Result<(usize, std::time::Duration), StoreError> {
        let mut busy = std::time::Duration::ZERO;
        let described =
            self.streams.describe_stream().stream_arn(&self.stream_arn).send().await.map_err(stream_error)?;
        let shard_ids: Vec<String> = described
            .stream_description()
            .map(|d| d.shards().iter().filter_map(|s| s.shard_id().map(str::to_owned)).collect())
            .unwrap_or_default();
        let mut handled = 0;
        for shard in shard_ids {
            let iterator = match self.shards.get(&shard) {
                Some(Some(it)) => it.clone(),
                _ => self.iterator(&shard).await?,
            };
            let out =
                self.streams.get_records().shard_iterator(iterator).send().await.map_err(stream_error)?;
            let records: Vec<Record> = out
                .records()
                .iter()
                .filter_map(|r| {
                    let change = r.dynamodb()?;
                    let sequence_number = change.sequence_number()?.to_owned();
                    let inserted = (r.event_name() == Some(&OperationType::Insert))
                        .then(|| change.new_image().map(item))
                        .flatten();
                    Some(Record { sequence_number, inserted })
                })
                .collect();
            let started = std::time::Instant::now();
            let failed = if records.is_empty() { Vec::new() } else { handle(queue, now, &records).await };
            busy += started.elapsed();
            if let Some(first_failed) = failed.first() {
                // Read again from the record that failed, as Lambda retries.
                let it = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(&shard)
                    .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                    .sequence_number(first_failed)
                    .send()
                    .await
                    .map_err(stream_error)?;
                self.shards.insert(shard, it.shard_iterator().map(str::to_owned));
                continue;
            }
            if let Some(last) = records.last() {
                self.handled.insert(shard.clone(), last.sequence_number.clone());
            }
            // What the template's filter passes to the function (new
            // events' items): the records an invocation is billed for.
            handled += records.iter().filter(|r| r.inserted.as_ref().is_some_and(is_event_item)).count();
            // No next iterator (a closed shard, or an emulator's caught-up
            // one): the next run starts again after what was handled.
            match out.next_shard_iterator() {
                Some(next) => self.shards.insert(shard, Some(next.to_owned())),
                None => self.shards.remove(&shard),
            };
        }
        Ok((handled, busy))
    }

    /// Where reading `shard` starts: after what was handled, else its oldest.
    async fn iterator(&self, shard: &str) -> Result<String, StoreError> {
        let mut req = self.streams.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(shard);
        req = match self.handled.get(shard) {
            Some(seq) => req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(seq),
            None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = req.send().await.map_err(stream_error)?;
        out.shard_iterator().map(str::to_owned).ok_or_else(|| StoreError::unavailable("no shard iterator"))
    }
}

fn stream_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::unavailable(format!(
        "the table's stream: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(e)
    ))
}

/// An image as the table's own attribute values.
fn item(image: &HashMap<String, StreamValue>) -> Item {
    image.iter().filter_map(|(k, v)| Some((k.clone(), value(v)?))).collect()
}

fn value(v: &StreamValue) -> Option<AttributeValue> {
    Some(match v {
        StreamValue::S(s) => AttributeValue::S(s.clone()),
        StreamValue::N(n) => AttributeValue::N(n.clone()),
        StreamValue::B(b) => AttributeValue::B(Blob::new(b.as_ref().to_vec())),
        StreamValue::Bool(b) => AttributeValue::Bool(*b),
        StreamValue::Null(n) => AttributeValue::Null(*n),
        StreamValue::Ss(s) => AttributeValue::Ss(s.clone()),
        StreamValue::Ns(n) => AttributeValue::Ns(n.clone()),
        StreamValue::Bs(b) => AttributeValue::Bs(b.iter().map(|b| Blob::new(b.as_ref().to_vec())).collect()),
        StreamValue::L(l) => AttributeValue::L(l.iter().map(value).collect::<Option<_>>()?),
        StreamValue::M(m) => AttributeValue::M(item(m)),
        _ => return None,
    })
}
