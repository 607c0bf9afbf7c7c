//! Lists: a page request checked from a client's `cursor` and `limit`, the
//! page a list answers with, and times given as query parameters.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ApiError;
use crate::ports::PageRequest;
use crate::validation::ValidationError;

/// Most items on one page of a list.
pub const MAX_PAGE_LIMIT: usize = 100;
/// Items on a page when the client does not say.
pub const DEFAULT_PAGE_LIMIT: usize = 20;

/// Checks a client's page request.
pub fn page_request(cursor: Option<String>, limit: Option<usize>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if limit == 0 || limit > MAX_PAGE_LIMIT {
        return Err(ValidationError::OutOfRange {
            field: "limit".into(),
            min: 1,
            max: MAX_PAGE_LIMIT as u64,
        }
        .into());
    }
    if let Some(c) = &cursor
        && (c.len() > 64 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(ValidationError::invalid("cursor", "is not a cursor this API gave out").into());
    }
    Ok(PageRequest { cursor, limit })
}

/// A page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct ListResponse<T> {
    /// The items, newest first.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Parses an RFC 3339 time from a query parameter.
pub fn parse_time(field: &'static str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        ValidationError::invalid(field, "must be an RFC 3339 time like 2026-11-23T09:00:00Z").into()
    })
}
