//! A billing meter for the AWS SDK clients: an interceptor that counts every
//! DynamoDB and SQS request hookline makes and the units AWS bills for it,
//! computed by the rules AWS documents (moto, the emulator, reports no real
//! consumed capacity):
//!
//! - item size: attribute names plus values (numbers ≈ 1 byte per two
//!   digits + 1, lists and maps 3 bytes + 1 per element);
//! - writes: 1 WRU per KB of the larger of the old and new item (PutItem,
//!   DeleteItem, each item of a BatchWriteItem), twice that inside a transaction, even when the condition
//!   fails; plus, per global secondary index (keys only), 1 WRU to add an
//!   entry, 1 to remove one, 2 to move one, 0 when its keys do not change;
//! - reads: 1 RRU per 4 KB (GetItem and BatchGetItem per item, Query per
//!   response), half for an eventually consistent read (every index read);
//! - SQS: 1 request per call and per 64 KB of its payload.
//!
//! The meter keeps a shadow of the table (every item it saw written), so it
//! knows the item a write replaces: start it on an empty table. It also
//! books each write unit to the partition key it lands on (the table's, or
//! an index's), so a run shows its busiest partitions ([`Bill::busiest`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    batch_write_item::BatchWriteItemInput,
    delete_item::DeleteItemInput,
    get_item::{GetItemInput, GetItemOutput},
    put_item::PutItemInput,
    query::{QueryInput, QueryOutput},
    transact_write_items::TransactWriteItemsInput,
    update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::interceptors::context::Input;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use hookline_aws::item_size;

type Item = HashMap<String, AttributeValue>;
type Key = (String, String);

/// What a run of requests cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bill {
    /// Requests per operation (`dynamodb:PutItem`, `sqs:SendMessageBatch`, …).
    pub requests: BTreeMap<String, u64>,
    /// DynamoDB write request units.
    pub wru: f64,
    /// DynamoDB read request units.
    pub rru: f64,
    /// SQS billed requests (64 KB chunks).
    pub sqs: f64,
    /// Operations the meter has no rule for (their units are not counted).
    pub unmetered: Vec<String>,
    /// Write units per partition: (`table` or the index's name, partition key).
    pub partitions: BTreeMap<(String, String), f64>,
    /// Bytes the handlers logged (their JSON lines and metrics), which
    /// CloudWatch Logs bills as ingested.
    pub log_bytes: f64,
    /// Of those, the log lines at WARN and ERROR: what the template's
    /// `LogLevel=warn` still writes.
    pub warn_log_bytes: f64,
    /// Of those, the metric lines (CloudWatch EMF): what `Metrics=0` saves.
    pub metric_log_bytes: f64,
}

impl Bill {
    /// Adds another bill to this one.
    pub fn absorb(&mut self, other: Bill) {
        for (op, n) in other.requests {
            *self.requests.entry(op).or_default() += n;
        }
        self.wru += other.wru;
        self.rru += other.rru;
        self.sqs += other.sqs;
        self.log_bytes += other.log_bytes;
        self.warn_log_bytes += other.warn_log_bytes;
        self.metric_log_bytes += other.metric_log_bytes;
        self.unmetered.extend(other.unmetered);
        for (key, wru) in other.partitions {
            *self.partitions.entry(key).or_default() += wru;
        }
    }

    /// Takes a fixed cost out of this bill (requests and units; what it
    /// wrote stays booked).
    pub fn deduct(&mut self, fixed: &Bill) {
        for (op, n) in &fixed.requests {
            if let Some(mine) = self.requests.get_mut(op) {
                *mine = mine.saturating_sub(*n);
            }
        }
        self.requests.retain(|_, n| *n > 0);
        self.wru -= fixed.wru;
        self.rru -= fixed.rru;
        self.sqs -= fixed.sqs;
        self.log_bytes = (self.log_bytes - fixed.log_bytes).max(0.0);
        self.warn_log_bytes = (self.warn_log_bytes - fixed.warn_log_bytes).max(0.0);
        self.metric_log_bytes = (self.metric_log_bytes - fixed.metric_log_bytes).max(0.0);
    }

    /// Takes the write units booked to the table's partition `pk` out of
    /// this bill (a cost that is not the work's own).
    pub fn set_aside(&mut self, pk: &str) {
        self.wru -= self.partitions.remove(&("table".to_owned(), pk.to_owned())).unwrap_or(0.0);
    }

    /// The busiest partition key of the table and of each index, with its
    /// write units, busiest first.
    pub fn busiest(&self) -> Vec<(&str, &str, f64)> {
        let mut top: BTreeMap<&str, (&str, f64)> = BTreeMap::new();
        for ((place, pk), &wru) in &self.partitions {
            let best = top.entry(place).or_insert((pk, wru));
            if wru > best.1 {
                *best = (pk, wru);
            }
        }
        let mut out: Vec<_> = top.into_iter().map(|(place, (pk, wru))| (place, pk, wru)).collect();
        out.sort_by(|a, b| b.2.total_cmp(&a.2));
        out
    }
}

/// Log bytes counted since the last take.
#[derive(Default)]
struct LogCounts {
    /// Everything.
    all: AtomicU64,
    /// Log lines at WARN or ERROR: what `LogLevel=warn` still writes.
    warn: AtomicU64,
    /// Metric lines: what `Metrics=0` does not write.
    metrics: AtomicU64,
}

/// What a [`LogSink`] is counting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A log line whose level is not read yet.
    Line,
    /// A log line at WARN or ERROR.
    Warn,
    /// A log line below WARN.
    Info,
    /// Metric lines.
    Metrics,
}

/// Counts the bytes written to it ([`Meter::log_sink`],
/// [`Meter::metric_sink`]) and drops them.
pub struct LogSink {
    counts: Arc<LogCounts>,
    kind: Kind,
    /// A log line's first bytes and how many were written, until its level
    /// is read. tracing-subscriber asks for a writer per line, so a line is
    /// never judged by another's start.
    head: Vec<u8>,
    undecided: u64,
}

/// Long enough to tell a line's level: `{"level":"ERROR"`.
const LEVEL_PREFIX: usize = 16;

impl LogSink {
    fn new(counts: Arc<LogCounts>, kind: Kind) -> Self {
        Self { counts, kind, head: Vec::new(), undecided: 0 }
    }

    /// Reads the line's level off its start; what was written so far counts.
    fn decide(&mut self) {
        let warn =
            [&br#"{"level":"WARN""#[..], br#"{"level":"ERROR""#].iter().any(|p| self.head.starts_with(p));
        self.kind = if warn { Kind::Warn } else { Kind::Info };
        let n = std::mem::take(&mut self.undecided);
        self.count(n);
    }

    fn count(&self, n: u64) {
        let to = match self.kind {
            Kind::Warn => &self.counts.warn,
            Kind::Metrics => &self.counts.metrics,
            Kind::Info | Kind::Line => return,
        };
        to.fetch_add(n, Ordering::Relaxed);
    }
}

impl Clone for LogSink {
    /// A fresh writer for the next line (or the next metric lines).
    fn clone(&self) -> Self {
        let kind = if self.kind == Kind::Metrics { Kind::Metrics } else { Kind::Line };
        Self::new(self.counts.clone(), kind)
    }
}

impl Drop for LogSink {
    fn drop(&mut self) {
        if self.kind == Kind::Line && self.undecided > 0 {
            self.decide();
        }
    }
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len() as u64;
        self.counts.all.fetch_add(n, Ordering::Relaxed);
        if self.kind == Kind::Line {
            let take = buf.len().min(LEVEL_PREFIX.saturating_sub(self.head.len()));
            self.head.extend_from_slice(&buf[..take]);
            self.undecided += n;
            if self.head.len() >= LEVEL_PREFIX {
                self.decide();
            }
        } else {
            self.count(n);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct State {
    bill: Bill,
    shadow: HashMap<Key, Item>,
}

/// The interceptor; clone it into both clients' configurations.
#[derive(Clone, Default)]
pub struct Meter {
    state: Arc<Mutex<State>>,
    /// Each index's name and (partition key, sort key) attribute names.
    indexes: Arc<Vec<(String, (String, String))>>,
    /// Log bytes written through the sinks since the last take.
    logs: Arc<LogCounts>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter").field("indexes", &self.indexes).finish_non_exhaustive()
    }
}

/// A write seen before it was sent, finished once its outcome is known.
#[derive(Debug, Clone)]
enum Pending {
    /// Items to put (or, with `None`, keys to delete) if the call succeeds.
    Writes { transactional: bool, writes: Vec<(Key, Option<Item>)> },
    /// What an UpdateItem sets (`SET a = :x`) or adds (`ADD n :y`) on an item.
    Update { key: Key, sets: Vec<(String, AttributeValue, bool)> },
    /// A read's consistency.
    Read { consistent: bool },
}

/// The changes of an update expression made only of `SET name = :value`
/// and `ADD name :number` clauses (in either order), with their values, as
/// `(name, value, added)`; `None` for anything else.
fn simple_sets(
    expression: &str,
    values: Option<&HashMap<String, AttributeValue>>,
) -> Option<Vec<(String, AttributeValue, bool)>> {
    let expression = expression.trim();
    let (sets, adds) = if let Some(rest) = expression.strip_prefix("SET ") {
        match rest.split_once(" ADD ") {
            Some((s, a)) => (Some(s), Some(a)),
            None => (Some(rest), None),
        }
    } else if let Some(rest) = expression.strip_prefix("ADD ") {
        match rest.split_once(" SET ") {
            Some((a, s)) => (Some(s), Some(a)),
            None => (None, Some(rest)),
        }
    } else {
        return None;
    };
    let simple = |name: &str, value: &str| {
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && value.starts_with(':')
    };
    let mut out = Vec::new();
    for clause in sets.into_iter().flat_map(|s| s.split(',')) {
        let (name, value) = clause.split_once('=')?;
        let (name, value) = (name.trim(), value.trim());
        out.push(simple(name, value).then(|| Some((name.to_owned(), values?.get(value)?.clone(), false)))??);
    }
    for clause in adds.into_iter().flat_map(|a| a.split(',')) {
        let (name, value) = clause.trim().split_once(' ')?;
        let (name, value) = (name.trim(), value.trim());
        let v = values?.get(value)?;
        out.push((simple(name, value) && v.is_n()).then(|| (name.to_owned(), v.clone(), true))?);
    }
    Some(out)
}

/// `sets` applied to `item`: a value set, or a number added.
fn apply(item: &mut Item, sets: Vec<(String, AttributeValue, bool)>) {
    let num = |v: Option<&AttributeValue>| v.and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<f64>().ok());
    for (name, value, added) in sets {
        let value = if added {
            AttributeValue::N(
                (num(item.get(&name)).unwrap_or(0.0) + num(Some(&value)).unwrap_or(0.0)).to_string(),
            )
        } else {
            value
        };
        item.insert(name, value);
    }
}

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

fn units(bytes: usize, unit: usize) -> f64 {
    bytes.div_ceil(unit).max(1) as f64
}

fn key_of(item: &Item) -> Key {
    let s = |n: &str| item.get(n).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    (s("pk"), s("sk"))
}

impl Meter {
    /// A meter for a table with these indexes (name, (partition, sort key
    /// names)).
    pub fn new(indexes: Vec<(String, (String, String))>) -> Self {
        Self { state: Arc::default(), indexes: Arc::new(indexes), logs: Arc::default() }
    }

    /// The bill so far, and a fresh one from now on (the shadow stays).
    pub fn take(&self) -> Bill {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut bill = std::mem::take(&mut s.bill);
        bill.log_bytes = self.logs.all.swap(0, Ordering::Relaxed) as f64;
        bill.warn_log_bytes = self.logs.warn.swap(0, Ordering::Relaxed) as f64;
        bill.metric_log_bytes = self.logs.metrics.swap(0, Ordering::Relaxed) as f64;
        bill
    }

    /// A writer that counts what the handlers log (and drops it): one
    /// line each (give `|| sink.clone()` to the log subscriber).
    pub fn log_sink(&self) -> LogSink {
        LogSink::new(self.logs.clone(), Kind::Line)
    }

    /// A writer that counts the handlers' metric lines (and drops them),
    /// which `Metrics=0` does not write.
    pub fn metric_sink(&self) -> LogSink {
        LogSink::new(self.logs.clone(), Kind::Metrics)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    fn index_entry<'a>(
        &self,
        item: Option<&'a Item>,
        (pk, sk): &(String, String),
    ) -> Option<[&'a AttributeValue; 2]> {
        let item = item?;
        Some([item.get(pk)?, item.get(sk)?])
    }

    /// WRU for replacing `old` by `new` (`None`: absent), `factor` 2 in a
    /// transaction; index maintenance only when `applied`.
    #[cfg(test)]
    fn write_units(&self, old: Option<&Item>, new: Option<&Item>, factor: f64, applied: bool) -> f64 {
        self.write_partitions(old, new, factor, applied).iter().map(|(.., wru)| wru).sum()
    }

    /// The same units, each booked to the partition it lands on:
    /// (`table` or an index's name, partition key, WRU).
    fn write_partitions(
        &self,
        old: Option<&Item>,
        new: Option<&Item>,
        factor: f64,
        applied: bool,
    ) -> Vec<(String, String, f64)> {
        let size = old.map(item_size).unwrap_or(0).max(new.map(item_size).unwrap_or(0));
        let pk = |v: &AttributeValue| v.as_s().cloned().unwrap_or_else(|_| format!("{v:?}"));
        let table_pk = new.or(old).and_then(|i| i.get("pk")).map(pk).unwrap_or_default();
        let mut out = vec![("table".to_owned(), table_pk, units(size, 1024) * factor)];
        if applied {
            for (name, index) in self.indexes.iter() {
                let mut book =
                    |entry: &[&AttributeValue; 2], wru: f64| out.push((name.clone(), pk(entry[0]), wru));
                match (self.index_entry(old, index), self.index_entry(new, index)) {
                    (None, None) => {}
                    (Some(a), Some(b)) if a == b => {}
                    (Some(a), Some(b)) if a[0] == b[0] => book(&a, 2.0),
                    (a, b) => {
                        for entry in [a, b].into_iter().flatten() {
                            book(&entry, 1.0);
                        }
                    }
                }
            }
        }
        out
    }

    fn book(state: &mut State, writes: Vec<(String, String, f64)>) {
        for (place, pk, wru) in writes {
            state.bill.wru += wru;
            *state.bill.partitions.entry((place, pk)).or_default() += wru;
        }
    }

    fn count(state: &mut State, op: &str) {
        *state.bill.requests.entry(op.to_owned()).or_default() += 1;
    }

    fn before(&self, input: &Input, cfg: &mut ConfigBag) {
        if let Some(i) = input.downcast_ref::<PutItemInput>() {
            let item = i.item().cloned().unwrap_or_default();
            cfg.interceptor_state().store_put(Pending::Writes {
                transactional: false,
                writes: vec![(key_of(&item), Some(item))],
            });
        } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
            let key = i.key().map(key_of).unwrap_or_default();
            cfg.interceptor_state()
                .store_put(Pending::Writes { transactional: false, writes: vec![(key, None)] });
        } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            let mut writes = Vec::new();
            for w in i.transact_items() {
                if let Some(p) = w.put() {
                    writes.push((key_of(p.item()), Some(p.item().clone())));
                } else if let Some(d) = w.delete() {
                    writes.push((key_of(d.key()), None));
                } else {
                    self.with(|s| s.bill.unmetered.push("TransactWriteItems: update or check".into()));
                }
            }
            cfg.interceptor_state().store_put(Pending::Writes { transactional: true, writes });
        } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
            let mut writes = Vec::new();
            for w in i.request_items().into_iter().flat_map(|r| r.values()).flatten() {
                if let Some(p) = w.put_request() {
                    writes.push((key_of(p.item()), Some(p.item().clone())));
                } else if let Some(d) = w.delete_request() {
                    writes.push((key_of(d.key()), None));
                }
            }
            cfg.interceptor_state().store_put(Pending::Writes { transactional: false, writes });
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            let key = i.key().map(key_of).unwrap_or_default();
            match simple_sets(i.update_expression().unwrap_or_default(), i.expression_attribute_values()) {
                Some(sets) => {
                    cfg.interceptor_state().store_put(Pending::Update { key, sets });
                }
                None => self.with(|s| s.bill.unmetered.push("dynamodb:UpdateItem".into())),
            }
        } else if let Some(i) = input.downcast_ref::<GetItemInput>() {
            cfg.interceptor_state()
                .store_put(Pending::Read { consistent: i.consistent_read() == Some(true) });
        } else if let Some(i) = input.downcast_ref::<QueryInput>() {
            cfg.interceptor_state()
                .store_put(Pending::Read { consistent: i.consistent_read() == Some(true) });
        } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
            let consistent =
                i.request_items().is_some_and(|r| r.values().all(|k| k.consistent_read() == Some(true)));
            cfg.interceptor_state().store_put(Pending::Read { consistent });
        }
    }
}

fn name_of(input: &Input) -> Option<&'static str> {
    use aws_sdk_sqs::operation as q;
    macro_rules! names {
        ($($ty:ty => $name:literal),* $(,)?) => {
            $(if input.downcast_ref::<$ty>().is_some() { return Some($name); })*
        };
    }
    names!(
        PutItemInput => "dynamodb:PutItem",
        DeleteItemInput => "dynamodb:DeleteItem",
        GetItemInput => "dynamodb:GetItem",
        QueryInput => "dynamodb:Query",
        BatchGetItemInput => "dynamodb:BatchGetItem",
        TransactWriteItemsInput => "dynamodb:TransactWriteItems",
        aws_sdk_dynamodb::operation::update_item::UpdateItemInput => "dynamodb:UpdateItem",
        aws_sdk_dynamodb::operation::scan::ScanInput => "dynamodb:Scan",
        BatchWriteItemInput => "dynamodb:BatchWriteItem",
        q::send_message::SendMessageInput => "sqs:SendMessage",
        q::send_message_batch::SendMessageBatchInput => "sqs:SendMessageBatch",
        q::receive_message::ReceiveMessageInput => "sqs:ReceiveMessage",
        q::delete_message::DeleteMessageInput => "sqs:DeleteMessage",
        q::delete_message_batch::DeleteMessageBatchInput => "sqs:DeleteMessageBatch",
        q::get_queue_attributes::GetQueueAttributesInput => "sqs:GetQueueAttributes",
    );
    None
}

/// SQS billed requests for a call: its payload in 64 KB chunks, at least 1.
fn sqs_input_chunks(input: &Input) -> f64 {
    use aws_sdk_sqs::operation as q;
    let bytes = if let Some(i) = input.downcast_ref::<q::send_message_batch::SendMessageBatchInput>() {
        i.entries().iter().map(|e| e.message_body().len()).sum()
    } else if let Some(i) = input.downcast_ref::<q::send_message::SendMessageInput>() {
        i.message_body().map(str::len).unwrap_or(0)
    } else {
        0
    };
    units(bytes, 64 * 1024)
}

#[derive(Debug, Clone)]
struct SqsCall {
    op: &'static str,
    chunks: f64,
}

impl Storable for SqsCall {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "hookline billing meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let name = name_of(input).unwrap_or("other");
        if name.starts_with("sqs:") {
            cfg.interceptor_state().store_put(SqsCall { op: name, chunks: sqs_input_chunks(input) });
            return Ok(());
        }
        if name == "dynamodb:Scan" {
            self.with(|s| s.bill.unmetered.push(name.to_owned()));
        }
        self.with(|s| Self::count(s, name));
        self.before(input, cfg);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ok = context.output_or_error().ok();
        if let Some(call) = cfg.load::<SqsCall>().cloned() {
            let received: usize = ok
                .and_then(|o| {
                    o.downcast_ref::<aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput>()
                })
                .map(|o| o.messages().iter().map(|m| m.body().map(str::len).unwrap_or(0)).sum())
                .unwrap_or(0);
            self.with(|s| {
                Self::count(s, call.op);
                s.bill.sqs += call.chunks.max(units(received, 64 * 1024));
            });
            return Ok(());
        }
        match cfg.load::<Pending>().cloned() {
            Some(Pending::Writes { transactional, writes }) => {
                let factor = if transactional { 2.0 } else { 1.0 };
                let applied = ok.is_some();
                self.with(|s| {
                    for (key, new) in writes {
                        let old = s.shadow.get(&key).cloned();
                        Self::book(s, self.write_partitions(old.as_ref(), new.as_ref(), factor, applied));
                        if applied {
                            match new {
                                Some(item) => s.shadow.insert(key, item),
                                None => s.shadow.remove(&key),
                            };
                        }
                    }
                });
            }
            Some(Pending::Update { key, sets }) => {
                // Billed on the larger of the item before and after, even
                // when the condition fails.
                let applied = ok.is_some();
                self.with(|s| {
                    let old = s.shadow.get(&key).cloned();
                    let mut new = old.clone().unwrap_or_else(|| {
                        HashMap::from([
                            ("pk".to_owned(), AttributeValue::S(key.0.clone())),
                            ("sk".to_owned(), AttributeValue::S(key.1.clone())),
                        ])
                    });
                    apply(&mut new, sets);
                    Self::book(s, self.write_partitions(old.as_ref(), Some(&new), 1.0, applied));
                    if applied {
                        s.shadow.insert(key, new);
                    }
                });
            }
            Some(Pending::Read { consistent }) => {
                let f = if consistent { 1.0 } else { 0.5 };
                let rru = if let Some(o) = ok.and_then(|o| o.downcast_ref::<GetItemOutput>()) {
                    units(o.item().map(item_size).unwrap_or(0), 4096) * f
                } else if let Some(o) = ok.and_then(|o| o.downcast_ref::<QueryOutput>()) {
                    units(o.items().iter().map(item_size).sum(), 4096) * f
                } else if let Some(o) = ok.and_then(|o| o.downcast_ref::<BatchGetItemOutput>()) {
                    o.responses()
                        .map(|r| r.values().flatten().map(|i| units(item_size(i), 4096) * f).sum())
                        .unwrap_or(0.0)
                } else {
                    f // a failed read still costs its minimum
                };
                self.with(|s| s.bill.rru += rru);
            }
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_bytes_are_told_apart_by_level_and_metric_lines_counted_on_their_own() {
        use std::io::Write as _;
        let meter = Meter::default();
        let lines: [&[u8]; 3] = [
            br#"{"level":"INFO","message":"attempt recorded"}"#,
            br#"{"level":"WARN","message":"canceled"}"#,
            br#"{"level":"ERROR","message":"request failed"}"#,
        ];
        for line in lines {
            // A writer per line; this one writes its line in two pieces.
            let mut sink = meter.log_sink();
            let (head, tail) = line.split_at(5);
            sink.write_all(head).unwrap();
            sink.write_all(tail).unwrap();
        }
        let mut metrics = meter.metric_sink();
        metrics.write_all(br#"{"level":"WARN","_aws":{}}"#).unwrap();
        let bill = meter.take();
        let total: usize =
            lines.iter().map(|l| l.len()).sum::<usize>() + br#"{"level":"WARN","_aws":{}}"#.len();
        assert_eq!(bill.log_bytes, total as f64);
        assert_eq!(bill.warn_log_bytes, (lines[1].len() + lines[2].len()) as f64);
        assert_eq!(bill.metric_log_bytes, br#"{"level":"WARN","_aws":{}}"#.len() as f64);
        assert_eq!(meter.take().log_bytes, 0.0, "taken");
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    fn meter() -> Meter {
        Meter::new(vec![
            ("gsi1".into(), ("g1pk".into(), "g1sk".into())),
            ("due".into(), ("due_shard".into(), "due_at".into())),
        ])
    }

    #[test]
    fn only_plain_set_updates_are_metered_with_their_values() {
        let values = HashMap::from([(":a".to_owned(), s("1")), (":b".to_owned(), s("2"))]);
        assert_eq!(
            simple_sets("SET tat = :a, expires_at = :b", Some(&values)),
            Some(vec![("tat".into(), s("1"), false), ("expires_at".into(), s("2"), false)])
        );
        assert_eq!(simple_sets("SET n = if_not_exists(n, :a) + :b", Some(&values)), None);
        assert_eq!(simple_sets("SET tat = :missing", Some(&values)), None);
        let n = HashMap::from([(":a".to_owned(), AttributeValue::N("2".into())), (":b".to_owned(), s("x"))]);
        assert_eq!(
            simple_sets("ADD ok :a SET e = :b", Some(&n)),
            Some(vec![("e".into(), s("x"), false), ("ok".into(), AttributeValue::N("2".into()), true)])
        );
        assert_eq!(simple_sets("ADD ok :b", Some(&n)), None, "only numbers are added");
        let mut it = item(&[("ok", AttributeValue::N("3".into()))]);
        apply(&mut it, simple_sets("ADD ok :a", Some(&n)).unwrap());
        assert_eq!(it["ok"], AttributeValue::N("5".into()));
        assert_eq!(simple_sets("REMOVE tat", Some(&values)), None);
    }

    #[test]
    fn writes_cost_a_unit_per_kilobyte_of_the_larger_item_and_transactions_double() {
        let m = meter();
        let small = item(&[("pk", s("a")), ("sk", s("b"))]);
        let big = item(&[("pk", s("a")), ("sk", s("b")), ("rec", s(&"x".repeat(1500)))]);
        assert_eq!(m.write_units(None, Some(&small), 1.0, true), 1.0);
        assert_eq!(m.write_units(Some(&big), Some(&small), 1.0, true), 2.0, "the larger of old and new");
        assert_eq!(m.write_units(None, Some(&big), 2.0, true), 4.0);
    }

    #[test]
    fn index_entries_cost_when_added_removed_or_moved_but_not_when_unchanged() {
        let m = meter();
        let base = [("pk", s("a")), ("sk", s("b")), ("g1pk", s("T")), ("g1sk", s("1"))];
        let plain = item(&base);
        let mut due = base.to_vec();
        due.extend([("due_shard", s("3")), ("due_at", AttributeValue::N("10".into()))]);
        let due = item(&due);
        let mut moved = due.clone();
        moved.insert("due_at".into(), AttributeValue::N("20".into()));
        assert_eq!(m.write_units(None, Some(&plain), 1.0, true), 2.0, "item + g1 entry");
        assert_eq!(m.write_units(None, Some(&due), 1.0, true), 3.0, "item + g1 + due");
        assert_eq!(m.write_units(Some(&plain), Some(&plain), 1.0, true), 1.0, "no index change");
        assert_eq!(m.write_units(Some(&due), Some(&plain), 1.0, true), 2.0, "due entry removed");
        assert_eq!(m.write_units(Some(&due), Some(&moved), 1.0, true), 3.0, "due entry moved");
        assert_eq!(m.write_units(None, Some(&due), 1.0, false), 1.0, "a failed condition writes no index");
    }

    #[test]
    fn each_write_unit_is_booked_to_the_partition_it_lands_on() {
        let m = meter();
        let due = |shard: &str, at: &str| {
            item(&[
                ("pk", s("DLV#1")),
                ("sk", s("DLV")),
                ("due_shard", s(shard)),
                ("due_at", AttributeValue::N(at.into())),
            ])
        };
        let booked = |old: Option<&Item>, new: Option<&Item>| {
            let mut b: Vec<_> = m.write_partitions(old, new, 1.0, true);
            b.sort_by(|x, y| x.partial_cmp(y).unwrap());
            b
        };
        let row = |place: &str, pk: &str, wru: f64| (place.to_owned(), pk.to_owned(), wru);
        assert_eq!(
            booked(None, Some(&due("3", "10"))),
            vec![row("due", "3", 1.0), row("table", "DLV#1", 1.0)]
        );
        assert_eq!(
            booked(Some(&due("3", "10")), Some(&due("3", "20"))),
            vec![row("due", "3", 2.0), row("table", "DLV#1", 1.0)],
            "moved within its partition: both units there"
        );
        assert_eq!(
            booked(Some(&due("3", "10")), Some(&due("5", "10"))),
            vec![row("due", "3", 1.0), row("due", "5", 1.0), row("table", "DLV#1", 1.0)],
            "moved across partitions: one unit each"
        );

        let mut bill = Bill::default();
        for (place, pk, wru) in
            [("table", "a", 1.0), ("table", "b", 2.0), ("due", "3", 1.0), ("table", "a", 0.5)]
        {
            *bill.partitions.entry((place.into(), pk.into())).or_default() += wru;
        }
        assert_eq!(bill.busiest(), vec![("table", "b", 2.0), ("due", "3", 1.0)]);
    }
}
