//! Payload filters: which of the events a subscription's types and channels
//! let through it receives, decided on the event's content.
//!
//! A filter is a JSON object that mirrors the event it matches:
//! `{"payload": {"status": "shipped", "amount": {"$gte": 100}}}` matches an
//! event whose `payload.status` is `"shipped"` and whose `payload.amount`
//! is at least 100. At the top the fields are `type`, `channels` and
//! `payload`; below `payload`, the payload's own. A bare value means
//! equality; an object of operators compares (`$eq`, `$neq`, `$gt`,
//! `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists`, `$startsWith`); `$and`,
//! `$or` (lists) and `$not` combine, at any level. Where the event holds a
//! list (`channels`, or a list in the payload), a condition matches when
//! any of its items does. A missing field matches only `$neq`, `$nin` and
//! `$exists: false`. Numbers compare as numbers, strings byte by byte;
//! anything else (or two different kinds) never compares.
//!
//! Checked once, when a subscription is written (every error names the
//! offending part, `filter.payload.amount.$gte`); evaluated at fan-out with
//! no I/O ([`Filter::matches`]).

use std::cmp::Ordering;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::validation::ValidationError;

/// The most bytes a filter's JSON may take.
pub const MAX_FILTER_BYTES: usize = 4096;
/// The deepest a filter's JSON may nest.
pub const MAX_FILTER_DEPTH: usize = 10;
/// The most conditions (operators and fields) a filter may hold.
pub const MAX_FILTER_NODES: usize = 128;
/// The most values an `$in` or `$nin` may list.
pub const MAX_FILTER_SET: usize = 100;

/// A checked filter, kept with the JSON it was written as.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    source: Value,
    root: Node,
}

/// One condition, applied to the value at its place in the event.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// The field's value below this one passes the inner condition.
    Field(String, Box<Node>),
    Eq(Value),
    Neq(Value),
    Compare(Ordering, bool, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    StartsWith(String),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

impl Filter {
    /// Checks `source` (the `filter` field of a request): an object, within
    /// the limits, every operator known and given what it takes.
    pub fn parse(source: Value) -> Result<Self, ValidationError> {
        let bytes = source.to_string().len();
        if bytes > MAX_FILTER_BYTES {
            return Err(ValidationError::too_long("filter", MAX_FILTER_BYTES, "bytes of JSON"));
        }
        if !source.is_object() {
            return Err(ValidationError::invalid(
                "filter",
                "must be an object, e.g. {\"payload\": {\"status\": \"shipped\"}}",
            ));
        }
        let mut nodes = 0;
        let root = compile(&source, "filter", 0, true, &mut nodes)?;
        Ok(Self { source, root })
    }

    /// The filter as it was written.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Routed) -> bool {
        self.root.eval_event(event)
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The most channels an event may be published on.
pub const MAX_EVENT_CHANNELS: usize = 10;
/// The most channels a subscription may listen on.
pub const MAX_SUBSCRIPTION_CHANNELS: usize = 100;
/// The longest a channel's name may be.
pub const MAX_CHANNEL_LEN: usize = 128;

/// Checks channel names (`field` names them in errors): at most `max`, each
/// 1–[`MAX_CHANNEL_LEN`] letters, digits and `_ - . : /`, each once.
pub fn parse_channels(
    field: &'static str,
    names: &[String],
    max: usize,
) -> Result<Vec<String>, ValidationError> {
    if names.len() > max {
        return Err(ValidationError::too_long(field, max, "channels"));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let ok = (1..=MAX_CHANNEL_LEN).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
        if !ok {
            return Err(ValidationError::invalid(
                format!("{field}[{i}]"),
                format!("must be 1 to {MAX_CHANNEL_LEN} letters, digits, '_', '-', '.', ':' or '/'"),
            ));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// Whether an event on `event` channels reaches a subscription listening
/// on `wanted`: any shared, or the subscription names none.
pub fn on_channels(wanted: &[String], event: &[String]) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| event.contains(w))
}

fn compile(v: &Value, at: &str, depth: usize, top: bool, nodes: &mut usize) -> Result<Node, ValidationError> {
    *nodes += 1;
    if *nodes > MAX_FILTER_NODES {
        return Err(ValidationError::invalid(
            "filter",
            format!("holds more than {MAX_FILTER_NODES} conditions"),
        ));
    }
    if depth > MAX_FILTER_DEPTH {
        return Err(ValidationError::invalid(
            at.to_owned(),
            format!("nests deeper than {MAX_FILTER_DEPTH} levels"),
        ));
    }
    let Value::Object(map) = v else { return Ok(Node::Eq(v.clone())) };
    let operators = map.keys().filter(|k| k.starts_with('$') && !is_logical(k)).count();
    let fields = map.keys().filter(|k| !k.starts_with('$')).count();
    if operators > 0 && fields > 0 {
        return Err(ValidationError::invalid(
            at.to_owned(),
            "mixes fields and comparisons; put the comparisons under their field",
        ));
    }
    if map.is_empty() && !top {
        // `{}`: equality with an empty object.
        return Ok(Node::Eq(v.clone()));
    }
    let mut all = Vec::with_capacity(map.len());
    for (key, value) in map {
        let here = format!("{at}.{key}");
        let node = match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = value else {
                    return Err(ValidationError::invalid(here, "takes a list of conditions"));
                };
                if items.is_empty() {
                    return Err(ValidationError::invalid(here, "takes at least one condition"));
                }
                let inner = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| compile(item, &format!("{here}[{i}]"), depth + 1, top, nodes))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "$and" { Node::And(inner) } else { Node::Or(inner) }
            }
            "$not" => {
                if !value.is_object() {
                    return Err(ValidationError::invalid(here, "takes one condition (an object)"));
                }
                Node::Not(Box::new(compile(value, &here, depth + 1, top, nodes)?))
            }
            op if op.starts_with('$') => {
                if top {
                    return Err(ValidationError::invalid(
                        here,
                        "compares a field: put it under type, channels or payload",
                    ));
                }
                operator(op, value, &here)?
            }
            field => {
                if top && !matches!(field, "type" | "channels" | "payload") {
                    return Err(ValidationError::invalid(
                        here,
                        "is not a field a filter matches: type, channels or payload",
                    ));
                }
                Node::Field(field.to_owned(), Box::new(compile(value, &here, depth + 1, false, nodes)?))
            }
        };
        all.push(node);
    }
    Ok(match all.len() {
        1 => all.pop().unwrap_or(Node::And(Vec::new())),
        _ => Node::And(all),
    })
}

fn is_logical(key: &str) -> bool {
    matches!(key, "$and" | "$or" | "$not")
}

fn operator(op: &str, value: &Value, at: &str) -> Result<Node, ValidationError> {
    let scalar = |v: &Value| !v.is_object() && !v.is_array();
    Ok(match op {
        "$eq" | "$neq" => {
            if !scalar(value) {
                return Err(ValidationError::invalid(
                    at.to_owned(),
                    "takes a string, number, boolean or null",
                ));
            }
            if op == "$eq" { Node::Eq(value.clone()) } else { Node::Neq(value.clone()) }
        }
        "$gt" | "$gte" | "$lt" | "$lte" => {
            if !(value.is_number() || value.is_string()) {
                return Err(ValidationError::invalid(at.to_owned(), "compares with a number or a string"));
            }
            let (order, or_equal) = match op {
                "$gt" => (Ordering::Greater, false),
                "$gte" => (Ordering::Greater, true),
                "$lt" => (Ordering::Less, false),
                _ => (Ordering::Less, true),
            };
            Node::Compare(order, or_equal, value.clone())
        }
        "$in" | "$nin" => {
            let Value::Array(items) = value else {
                return Err(ValidationError::invalid(at.to_owned(), "takes a list of values"));
            };
            if items.len() > MAX_FILTER_SET {
                return Err(ValidationError::too_long(at.to_owned(), MAX_FILTER_SET, "values"));
            }
            if let Some(i) = items.iter().position(|v| !scalar(v)) {
                return Err(ValidationError::invalid(
                    format!("{at}[{i}]"),
                    "must be a string, number, boolean or null",
                ));
            }
            if op == "$in" { Node::In(items.clone()) } else { Node::Nin(items.clone()) }
        }
        "$exists" => match value {
            Value::Bool(b) => Node::Exists(*b),
            _ => return Err(ValidationError::invalid(at.to_owned(), "takes true or false")),
        },
        "$startsWith" => match value {
            Value::String(p) => Node::StartsWith(p.clone()),
            _ => return Err(ValidationError::invalid(at.to_owned(), "takes a string")),
        },
        _ => {
            return Err(ValidationError::invalid(
                at.to_owned(),
                "is not an operator: $eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $exists, $startsWith, $and, $or, $not",
            ));
        }
    })
}

/// An event as filters read it — its type, channels and parsed payload —
/// built once for every subscription of a fan-out.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    event_type: Value,
    channels: Value,
    payload: Value,
}

impl Routed {
    /// The event of `event_type` on `channels` with `payload` (`Null` when
    /// no subscription filters: a fan-out parses it only when one does).
    pub fn new(event_type: &str, channels: &[String], payload: Value) -> Self {
        Self {
            event_type: Value::String(event_type.to_owned()),
            channels: Value::Array(channels.iter().cloned().map(Value::String).collect()),
            payload,
        }
    }
}

impl Node {
    /// Whether the event passes (the top level: its fields, combined).
    fn eval_event(&self, event: &Routed) -> bool {
        match self {
            Self::Field(name, inner) => inner.eval(match name.as_str() {
                "type" => Some(&event.event_type),
                "channels" => Some(&event.channels),
                "payload" => Some(&event.payload),
                _ => None,
            }),
            Self::And(all) => all.iter().all(|n| n.eval_event(event)),
            Self::Or(some) => some.iter().any(|n| n.eval_event(event)),
            Self::Not(inner) => !inner.eval_event(event),
            // Refused at the top by `compile`.
            _ => false,
        }
    }

    /// Whether `value` (absent: the field is missing) passes.
    fn eval(&self, value: Option<&Value>) -> bool {
        match self {
            Self::Field(name, inner) => {
                inner.eval(value.and_then(Value::as_object).and_then(|o| o.get(name)))
            }
            Self::Eq(want) => equals(value, want),
            Self::Neq(want) => !equals(value, want),
            Self::Compare(order, or_equal, bound) => any(value, |v| {
                compare(v, bound).is_some_and(|o| o == *order || (*or_equal && o == Ordering::Equal))
            }),
            Self::In(set) => set.iter().any(|want| equals(value, want)),
            Self::Nin(set) => !set.iter().any(|want| equals(value, want)),
            Self::Exists(want) => value.is_some() == *want,
            Self::StartsWith(prefix) => {
                any(value, |v| v.as_str().is_some_and(|s| s.starts_with(prefix.as_str())))
            }
            Self::And(all) => all.iter().all(|n| n.eval(value)),
            Self::Or(some) => some.iter().any(|n| n.eval(value)),
            Self::Not(inner) => !inner.eval(value),
        }
    }
}

/// Whether `value` is `want`, or is a list holding it (or equal to it).
fn equals(value: Option<&Value>, want: &Value) -> bool {
    any(value, |v| same(v, want)) || value.is_some_and(|v| same(v, want))
}

/// Whether `value`, or any item of it when it is a list, passes `test`.
fn any(value: Option<&Value>, test: impl Fn(&Value) -> bool) -> bool {
    match value {
        None => false,
        Some(Value::Array(items)) => items.iter().any(&test),
        Some(v) => test(v),
    }
}

/// Equality, numbers by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// How `a` orders against `b`: numbers with numbers, strings with strings.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({"status": "shipped", "amount": 120.5, "customer": {"region": "eu", "tier": null},
               "tags": ["gift", "express"], "sku": "BOOK-42"})
    }

    fn passes(filter: Value) -> bool {
        Filter::parse(filter).expect("a valid filter").matches(&Routed::new(
            "order.updated",
            &["shop-eu".into()],
            order(),
        ))
    }

    #[test]
    fn a_filter_matches_what_its_fields_and_operators_say() {
        assert!(passes(json!({"payload": {"status": "shipped"}})));
        assert!(!passes(json!({"payload": {"status": "pending"}})));
        assert!(passes(
            json!({"payload": {"amount": {"$gte": 100}, "customer": {"region": {"$in": ["eu", "uk"]}}}})
        ));
        assert!(!passes(json!({"payload": {"amount": {"$gt": 120.5}}})));
        assert!(passes(json!({"payload": {"amount": {"$gt": 120, "$lt": 121}}})));
        assert!(passes(json!({"payload": {"amount": 120.5, "sku": {"$startsWith": "BOOK-"}}})));
        assert!(passes(json!({"type": "order.updated", "channels": "shop-eu"})));
        assert!(passes(json!({"type": {"$startsWith": "order."}})));
        assert!(!passes(json!({"channels": {"$in": ["shop-us"]}})));
        assert!(passes(json!({"payload": {"tags": "express"}})), "a list matches when an item does");
        assert!(passes(json!({"payload": {"customer": {"tier": null, "vip": {"$exists": false}}}})));
        assert!(!passes(json!({"payload": {"customer": {"tier": {"$exists": false}}}})), "null is there");
        assert!(passes(json!({"payload": {"missing": {"$neq": "x"}, "gone": {"$nin": [1]}}})));
        assert!(!passes(json!({"payload": {"missing": {"$gt": 0}}})), "a missing field compares to nothing");
        assert!(
            !passes(json!({"payload": {"status": {"$gt": 3}}})),
            "a string never orders against a number"
        );
        assert!(passes(json!({"$or": [{"payload": {"status": "lost"}}, {"type": "order.updated"}]})));
        assert!(passes(json!({"payload": {"amount": {"$or": [{"$lt": 10}, {"$gt": 100}]}}})));
        assert!(passes(json!({"payload": {"$not": {"status": "lost"}}})));
        assert!(!passes(
            json!({"$and": [{"payload": {"status": "shipped"}}, {"$not": {"type": "order.updated"}}]})
        ));
        assert!(passes(json!({"payload": {"amount": {"$eq": 120.5}, "status": {"$neq": "lost"}}})));
        assert!(passes(json!({})), "an empty filter passes everything");
    }

    #[test]
    fn a_bad_filter_is_refused_with_the_part_at_fault() {
        let field = |f: Value| match Filter::parse(f) {
            Err(ValidationError::Invalid { field, .. } | ValidationError::TooLong { field, .. }) => {
                field.into_owned()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(json!({"payload": {"amount": {"$between": [1, 2]}}})),
            "filter.payload.amount.$between"
        );
        assert_eq!(field(json!({"payload": {"amount": {"$gte": [1]}}})), "filter.payload.amount.$gte");
        assert_eq!(field(json!({"payload": {"amount": {"$in": 3}}})), "filter.payload.amount.$in");
        assert_eq!(field(json!({"payload": {"a": {"$in": [1, {"x": 2}]}}})), "filter.payload.a.$in[1]");
        assert_eq!(field(json!({"payload": {"a": {"$exists": "yes"}}})), "filter.payload.a.$exists");
        assert_eq!(field(json!({"payload": {"a": {"$or": []}}})), "filter.payload.a.$or");
        assert_eq!(field(json!({"payload": {"a": {"$gt": 1, "b": 2}}})), "filter.payload.a");
        assert_eq!(field(json!({"tenant": "acme"})), "filter.tenant");
        assert_eq!(field(json!({"$eq": 1})), "filter.$eq");
        assert_eq!(field(json!(["payload"])), "filter");
        let mut deep = json!(1);
        for _ in 0..12 {
            deep = json!({"a": deep});
        }
        assert!(field(json!({"payload": deep})).starts_with("filter.payload.a.a"));
        let big: Vec<Value> = (0..1000).map(|n| json!(format!("value-{n}"))).collect();
        assert_eq!(field(json!({"payload": {"a": {"$in": big}}})), "filter");
        let many: serde_json::Map<String, Value> = (0..200).map(|n| (format!("f{n}"), json!(n))).collect();
        assert_eq!(field(json!({"payload": many})), "filter");
    }

    #[test]
    fn a_filter_is_stored_as_written_and_read_back_checked() {
        let written = json!({"payload": {"status": "shipped", "amount": {"$gte": 100}}});
        let f = Filter::parse(written.clone()).expect("valid");
        let stored = serde_json::to_value(&f).expect("serialize");
        assert_eq!(stored, written);
        let back: Filter = serde_json::from_value(stored).expect("reads back");
        assert_eq!(back, f);
        assert!(serde_json::from_value::<Filter>(json!({"payload": {"a": {"$nope": 1}}})).is_err());
    }
}
