//! An item's size as DynamoDB bills it: the store uses it to keep a
//! delivery within one write unit, the load harness's meter to bill.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// Bytes billed as one write unit.
pub const WRITE_UNIT: usize = 1024;

fn number_size(n: &str) -> usize {
    let digits = n.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, e)| k.len() + 1 + value_size(e)).sum::<usize>(),
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// An item's size in bytes, as DynamoDB counts it: attribute names plus
/// values (numbers two digits per byte plus one; lists and maps 3 bytes
/// plus 1 per element).
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn item_size_counts_names_and_values_as_dynamodb_documents() {
        let s = |v: &str| AttributeValue::S(v.into());
        // "pk" (2) + "DLV#1" (5) + "n" (1) + 123 (2 digits per byte + 1 = 3)
        let i = item(&[("pk", s("DLV#1")), ("n", AttributeValue::N("123".into()))]);
        assert_eq!(item_size(&i), 2 + 5 + 1 + 3);
        // A list: 3 bytes + 1 per element + the elements.
        let l = item(&[("l", AttributeValue::L(vec![s("ab"), s("c")]))]);
        assert_eq!(item_size(&l), 1 + 3 + (1 + 2) + (1 + 1));
    }
}
