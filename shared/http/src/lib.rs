//! hookline's HTTP API as an axum Router: the same router serves the ingest
//! Lambda (through lambda_http) and the embedded binary. Routes map onto the
//! operations of `hookline::api`; this crate reads requests strictly and
//! turns answers and errors into JSON. Every `/v1` route needs a bearer API
//! key. Every request gets an id ([`REQUEST_ID`]): the caller's, if it sends
//! a reasonable one, or a new one; it is on every log line of the request
//! and in the response's header, and one line logs each request's outcome.

mod api;
mod extract;
pub mod portal;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tracing::Instrument;

use hookline::Context;
use hookline::api::ApiError;
use hookline::auth::ApiKeys;
#[derive(Clone)]
struct ApiState {
    ctx: Context,
    keys: Arc<ApiKeys>,
}

/// An [`ApiError`] as a response: its status and JSON body; a 503 also
/// says when to try again.
pub struct ErrorResponse(pub ApiError);

impl From<ApiError> for ErrorResponse {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        e.log_if_ours();
        let mut response = (status, Json(e.body())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // What is left of the body is not waited for.
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        response
    }
}

type Answer = Result<Response, ErrorResponse>;

fn ok<T: Serialize>(status: StatusCode, body: T) -> Response {
    (status, Json(body)).into_response()
}

/// Every route and its methods. `openapi.json` documents exactly these and
/// the router serves exactly these (both checked by tests).
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["GET"]),
    ("/v1/subscriptions", &["GET", "POST"]),
    ("/v1/subscriptions/{id}", &["DELETE", "GET", "PATCH"]),
    ("/v1/subscriptions/{id}/rotate-secret", &["POST"]),
    ("/v1/subscriptions/{id}/secret", &["GET"]),
    ("/v1/subscriptions/{id}/stats", &["GET"]),
    ("/v1/stats", &["GET"]),
    ("/v1/subscriptions/{id}/replay", &["POST"]),
    ("/v1/events", &["POST"]),
    ("/v1/events/batch", &["POST"]),
    ("/v1/events/{id}", &["GET"]),
    ("/v1/deliveries", &["GET"]),
    ("/v1/deliveries/{id}", &["GET"]),
    ("/v1/deliveries/{id}/redeliver", &["POST"]),
    ("/v1/deliveries/{id}/attempts/{number}/request", &["GET"]),
    ("/v1/tenants/{tenant}/secret", &["GET", "POST"]),
    ("/v1/tenants/{tenant}/rotate-secret", &["POST"]),
    ("/v1/tenants/{tenant}/one-off", &["GET", "PUT"]),
    ("/v1/tenants/{tenant}/portal-sessions", &["POST"]),
    ("/v1/portal-sessions", &["POST"]),
    ("/v1/event-types", &["GET"]),
    ("/v1/event-types/{name}", &["PUT", "DELETE"]),
    ("/v1/dead-letters", &["GET"]),
    ("/v1/dead-letters/{id}/redrive", &["POST"]),
];

/// The API router over `ctx`, accepting `keys`.
pub fn router(ctx: Context, keys: ApiKeys) -> Router {
    let state = ApiState { ctx, keys: Arc::new(keys) };
    let v1 = api::routes().route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/healthz", get(|| async { ok(StatusCode::OK, serde_json::json!({"status": "ok"})) }))
        .merge(v1)
        .merge(
            portal::routes()
                .route_layer(middleware::from_fn_with_state(state.clone(), portal::frame_policy))
                .route_layer(middleware::from_fn_with_state(state.clone(), portal::branded)),
        )
        .fallback(|| async { ErrorResponse(ApiError::NoRoute) })
        .method_not_allowed_fallback(|| async { ErrorResponse(ApiError::MethodNotAllowed) })
        .layer(middleware::from_fn_with_state(state.clone(), request_id))
        .with_state(state)
}

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's request id, if it is one worth keeping: 1 to 128 of
/// letters, digits and `-_.:`.
fn callers_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(REQUEST_ID)?.to_str().ok()?;
    let fine = (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    fine.then(|| id.to_owned())
}

/// Gives the request its id, runs it inside a span that carries the id,
/// logs its outcome and returns the id in the response.
async fn request_id(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let id = callers_id(request.headers()).unwrap_or_else(|| {
        format!("req_{}", hookline::model::ulid(state.ctx.clock.now(), state.ctx.entropy.id_bytes()))
    });
    // Every field from the client is bounded: the method one of a closed
    // set, the path clipped. The metric takes the route's pattern, not the
    // path: ids would make a series per request.
    let method = hookline::telemetry::method_label(request.method().as_str());
    let path = hookline::telemetry::clip(request.uri().path()).into_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let span = tracing::info_span!("request", request_id = %id, method, path = %path);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let took = started.elapsed();
    let duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    let status = response.status().as_u16();
    span.in_scope(|| tracing::info!(status, duration_ms, "request"));
    hookline::telemetry::http_request(&route, method, status, took);
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Lets in a request with a known key, and hands its [`Caller`] to the
/// route, which checks every tenant it touches against the key's scope.
async fn require_key(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(caller) = state.keys.caller_of_header(header) else {
        return ErrorResponse(ApiError::Unauthorized).into_response();
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod openapi_tests;
