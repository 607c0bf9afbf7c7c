//! Reading requests strictly: a JSON body of the right type, within the
//! size limit; query parameters from a known list; ids in paths. Every
//! refusal is an [`ApiError`] with a JSON body, never axum's plain text.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use hookline::api::ApiError;
use hookline::api::json::{MAX_JSON_DEPTH, parse_json};
use hookline::validation::ValidationError;

/// The size limit of a route's body, and how a refusal states it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    /// Bytes read at most.
    pub bytes: usize,
    /// What the client is told was too large…
    pub what: &'static str,
    /// …and its limit (the payload limit for events, not the body's).
    pub stated: usize,
}

/// Reads a JSON body within `limit`.
pub async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: BodyLimit,
) -> Result<T, ApiError> {
    json_body_nested(headers, body, limit, 0).await
}

/// Reads a JSON body within `limit` whose envelope nests `envelope` levels
/// above what it carries (a batch's items may nest as deep as one alone).
pub async fn json_body_nested<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: BodyLimit,
    envelope: usize,
) -> Result<T, ApiError> {
    let content_type =
        headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_body(body, limit).await?;
    parse_json(&bytes, MAX_JSON_DEPTH + envelope)
}

/// Reads a body of at most `limit.bytes`: 413 past it, 408 when it does not
/// arrive in full (the server's body deadline passed, or the connection
/// failed while it was being sent).
pub async fn read_body(body: Body, limit: BodyLimit) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit.bytes).await.map_err(|e| {
        let too_large = std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::TooLarge { what: limit.what, limit: limit.stated }
        } else {
            ApiError::BodyTimeout
        }
    })
}

/// A path segment, refused with a JSON error (not axum's plain text) when
/// it cannot be decoded.
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = crate::ErrorResponse;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(s)) => Ok(Self(s)),
            Err(e) => Err(crate::ErrorResponse(ApiError::Malformed(format!("the path is not valid: {e}")))),
        }
    }
}

/// Query parameters, refusing any not in `allowed` and any given twice.
pub fn query(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(q) = raw {
        if q.len() > 4096 {
            return Err(ApiError::Malformed("the query string is too long".into()));
        }
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                return Err(ApiError::Invalid(ValidationError::invalid(
                    k.into_owned(),
                    format!("is not a parameter of this route (known: {})", allowed.join(", ")),
                )));
            }
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(ApiError::Invalid(ValidationError::invalid(k.into_owned(), "is given twice")));
            }
            out.push((k.into_owned(), v.into_owned()));
        }
    }
    Ok(out)
}

/// The value of one query parameter.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Parses a path segment into an id or name type.
pub fn path<T, F>(raw: &str, parse: F) -> Result<T, ApiError>
where
    F: FnOnce(&str) -> Result<T, ValidationError>,
{
    parse(raw).map_err(ApiError::Invalid)
}
