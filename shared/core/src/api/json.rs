//! Reading a JSON request strictly, wherever it comes from (an HTTP body, an
//! item of a batch, an SQS message): nesting bounded before parsing, and
//! every refusal an [`ApiError`] — 400 for what is not JSON, 422 for JSON
//! of the wrong shape.

use serde::de::DeserializeOwned;

use super::ApiError;
use crate::validation::ValidationError;

/// Deepest nesting of arrays and objects accepted in a request.
pub const MAX_JSON_DEPTH: usize = 64;

/// Parses `json` as a `T`, refusing nesting deeper than `max_depth` first.
pub fn parse_json<T: DeserializeOwned>(json: &[u8], max_depth: usize) -> Result<T, ApiError> {
    if json_depth(json) > max_depth {
        return Err(ApiError::Malformed(format!("the JSON nests deeper than {max_depth} levels")));
    }
    serde_json::from_slice(json).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::Invalid(ValidationError::invalid("body", e.to_string()))
        }
        _ => ApiError::Malformed(format!("the body is not valid JSON: {e}")),
    })
}

/// How deeply `json` nests arrays and objects (brackets inside strings do
/// not count). Checked before parsing, so hostile input costs one scan.
pub fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(json_depth(b"{}"), 1);
        assert_eq!(json_depth(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(json_depth(br#"{"a":"[[[[{{{{\"]]]"}"#), 1);
        assert_eq!(json_depth(b"1"), 0);
        assert_eq!(json_depth(&[b'['; 1000]), 1000);
    }

    #[test]
    fn not_json_is_malformed_and_the_wrong_shape_is_invalid() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            n: u8,
        }
        assert_eq!(parse_json::<Shape>(b"{", 8).unwrap_err().status(), 400);
        assert_eq!(parse_json::<Shape>(br#"{"n":"x"}"#, 8).unwrap_err().status(), 422);
        assert_eq!(parse_json::<Shape>(br#"{"n":[[1]]}"#, 2).unwrap_err().status(), 400);
        assert_eq!(parse_json::<Shape>(br#"{"n":1}"#, 8).unwrap().n, 1);
    }
}
