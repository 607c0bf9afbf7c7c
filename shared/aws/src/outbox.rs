//! The outbox function's handler: each new event item on the table's
//! stream (`INSERT`, `NEW_IMAGE`) becomes the messages of its deliveries'
//! first attempts on the delivery queue. Lambda reads the stream for free
//! and retries a batch until it is handled (the template: every record
//! kept until handled, a failed batch split to find the record at fault);
//! what this handler cannot read is logged and skipped, so one bad record
//! never holds up the stream behind it.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::{error, warn};

use hookline::ports::{DeliveryQueue, Queued};

use crate::dynamodb::{first_attempts, is_event_item};

/// An item of the table, as the stream carries it.
pub type Item = HashMap<String, AttributeValue>;

/// An attribute in DynamoDB's JSON (`{"S": "..."}`, `{"N": "1"}`, ...), as
/// Lambda's stream records carry it; `None` for anything else.
pub fn attribute(v: &Value) -> Option<AttributeValue> {
    let (kind, value) = v.as_object().filter(|o| o.len() == 1)?.iter().next()?;
    let strings =
        || value.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect());
    let blob = |s: &Value| base64::engine::general_purpose::STANDARD.decode(s.as_str()?).ok().map(Blob::new);
    Some(match kind.as_str() {
        "S" => AttributeValue::S(value.as_str()?.to_owned()),
        "N" => AttributeValue::N(value.as_str()?.to_owned()),
        "B" => AttributeValue::B(blob(value)?),
        "BOOL" => AttributeValue::Bool(value.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings()?),
        "NS" => AttributeValue::Ns(strings()?),
        "BS" => AttributeValue::Bs(value.as_array()?.iter().map(blob).collect::<Option<_>>()?),
        "L" => AttributeValue::L(value.as_array()?.iter().map(attribute).collect::<Option<_>>()?),
        "M" => AttributeValue::M(image(value)?),
        _ => return None,
    })
}

/// An image (`NewImage`) in DynamoDB's JSON, as an item.
pub fn image(v: &Value) -> Option<Item> {
    v.as_object()?.iter().map(|(k, v)| Some((k.clone(), attribute(v)?))).collect()
}

/// One record of a stream batch: its sequence number and, for an insert,
/// the new item.
pub struct Record {
    /// Where the record is in its shard (what a failure reports).
    pub sequence_number: String,
    /// The item an `INSERT` wrote; `None` for any other change.
    pub inserted: Option<Item>,
}

/// The records of a Lambda stream event (`{"Records": [...]}`).
pub fn records(event: &Value) -> Vec<Record> {
    let list = event.get("Records").and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter()
        .filter_map(|r| {
            let change = r.get("dynamodb")?;
            let sequence_number = change.get("SequenceNumber")?.as_str()?.to_owned();
            let inserted = (r.get("eventName").and_then(Value::as_str) == Some("INSERT"))
                .then(|| change.get("NewImage").and_then(image))
                .flatten();
            Some(Record { sequence_number, inserted })
        })
        .collect()
}

/// Queues the first attempts of every new event among `records`, in one
/// go. Returns the sequence numbers to report failed: none, or — when the
/// queue refused — the first record's, so Lambda hands the batch out again
/// (a message sent twice is one attempt: the deliver handler records each
/// attempt once).
pub async fn handle(queue: &dyn DeliveryQueue, now: DateTime<Utc>, records: &[Record]) -> Vec<String> {
    let mut messages: Vec<Queued> = Vec::new();
    for record in records {
        let Some(item) = record.inserted.as_ref().filter(|i| is_event_item(i)) else { continue };
        match first_attempts(item, now, queue.max_delay()) {
            Ok(m) => messages.extend(m),
            // Written by no hookline: nothing to send, nothing to retry.
            Err(e) => {
                error!(error = %e, sequence_number = %record.sequence_number, "an event item on the stream does not read; skipped")
            }
        }
    }
    if messages.is_empty() {
        return Vec::new();
    }
    match queue.enqueue(&messages).await {
        Ok(()) => Vec::new(),
        Err(e) => {
            warn!(error = %e, messages = messages.len(), "queueing first attempts failed; the batch comes back");
            records.first().map(|r| vec![r.sequence_number.clone()]).unwrap_or_default()
        }
    }
}

/// The outbox function's answer to one stream batch (a
/// `StreamsEventResponse`).
pub async fn outbox_batch(queue: &dyn DeliveryQueue, now: DateTime<Utc>, event: &Value) -> Value {
    let failed = handle(queue, now, &records(event)).await;
    json!({ "batchItemFailures": failed.iter().map(|s| json!({ "itemIdentifier": s })).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_record_reads_as_the_item_written() {
        // As Lambda delivers a DynamoDB stream record (NEW_IMAGE).
        let event = json!({"Records": [
            {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "111", "NewImage": {
                "pk": {"S": "E#0000abcd#3"}, "sk": {"S": "evt_x"}, "c": {"N": "1700000000000"},
                "d": {"L": [{"S": "0=sub_a"}, {"S": "1=*;n=5000"}]}, "z": {"B": "AAEC"},
                "m": {"M": {"ok": {"BOOL": true}, "none": {"NULL": true}}}
            }}},
            {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "112", "NewImage": {"pk": {"S": "E#1#1"}}}},
            {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "113", "NewImage": {"pk": {"X": "?"}}}}
        ]});
        let got = records(&event);
        assert_eq!(got.iter().map(|r| r.sequence_number.as_str()).collect::<Vec<_>>(), ["111", "112", "113"]);
        let item = got[0].inserted.as_ref().expect("an insert");
        assert_eq!(item["pk"], AttributeValue::S("E#0000abcd#3".into()));
        assert_eq!(item["c"], AttributeValue::N("1700000000000".into()));
        assert_eq!(item["z"], AttributeValue::B(Blob::new(vec![0, 1, 2])));
        assert_eq!(
            item["d"],
            AttributeValue::L(vec![
                AttributeValue::S("0=sub_a".into()),
                AttributeValue::S("1=*;n=5000".into())
            ])
        );
        assert!(matches!(&item["m"], AttributeValue::M(m) if m["ok"] == AttributeValue::Bool(true)));
        assert!(got[1].inserted.is_none(), "only inserts");
        assert!(got[2].inserted.is_none(), "an attribute of no known type");
    }
}
