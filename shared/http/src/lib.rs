//! hookline's HTTP API as an axum Router: the same router serves the ingest
//! Lambda (through lambda_http) and the embedded binary. Routes map onto the
//! operations of `hookline::api`; this crate reads requests strictly and
//! turns answers and errors into JSON. Every `/v1` route needs a bearer API
//! key. Every request gets an id ([`REQUEST_ID`]): the caller's, if it sends
//! a reasonable one, or a new one; it is on every log line of the request
//! and in the response's header, and one line logs each request's outcome.

mod extract;
pub mod portal;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use tracing::Instrument;

use extract::{BodyLimit, PathParam, json_body, json_body_nested, param, path, query};
use hookline::Context;
use hookline::api::page::{page_request, parse_time};
use hookline::api::{ApiError, RotateSecretRequest};
use hookline::auth::{ApiKeys, Caller};
use hookline::model::{DeliveryId, DeliveryStatus, EventId, SubscriptionId, TenantId};
use hookline::ports::DeliveryFilter;
use hookline::validation::ValidationError;

/// Extra bytes allowed around a payload in a request body (the envelope).
const BODY_OVERHEAD: usize = 16 * 1024;
/// Body limit of routes that carry no payload.
const SMALL_BODY: BodyLimit = BodyLimit { bytes: 64 * 1024, what: "the request body", stated: 64 * 1024 };

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
    let v1 = Router::new()
        .route("/v1/subscriptions", post(create_subscription).get(list_subscriptions))
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription).patch(update_subscription).delete(delete_subscription),
        )
        .route("/v1/subscriptions/{id}/rotate-secret", post(rotate_subscription_secret))
        .route("/v1/subscriptions/{id}/stats", get(subscription_stats))
        .route("/v1/stats", get(service_stats))
        .route("/v1/subscriptions/{id}/secret", get(reveal_subscription_secret))
        .route("/v1/subscriptions/{id}/replay", post(replay))
        .route("/v1/events", post(publish_event))
        .route("/v1/events/batch", post(publish_batch))
        .route("/v1/events/{id}", get(get_event))
        .route("/v1/deliveries", get(list_deliveries))
        .route("/v1/deliveries/{id}", get(get_delivery))
        .route("/v1/deliveries/{id}/redeliver", post(redeliver))
        .route("/v1/deliveries/{id}/attempts/{number}/request", get(sent_request))
        .route("/v1/tenants/{tenant}/secret", get(read_tenant_secret).post(create_tenant_secret))
        .route("/v1/tenants/{tenant}/rotate-secret", post(rotate_tenant_secret))
        .route("/v1/tenants/{tenant}/one-off", get(get_one_off).put(put_one_off))
        .route("/v1/tenants/{tenant}/portal-sessions", post(create_portal_session))
        .route("/v1/portal-sessions", post(create_operator_portal_session))
        .route("/v1/event-types", get(list_event_types))
        .route("/v1/event-types/{name}", axum::routing::put(declare_event_type).delete(remove_event_type))
        .route("/v1/dead-letters", get(list_dead_letters))
        .route("/v1/dead-letters/{id}/redrive", post(redrive_dead_letter))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .route("/healthz", get(|| async { ok(StatusCode::OK, serde_json::json!({"status": "ok"})) }))
        .merge(v1)
        .merge(
            portal::routes().route_layer(middleware::from_fn_with_state(state.clone(), portal::frame_policy)),
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

async fn create_subscription(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let req = json_body(&headers, body, SMALL_BODY).await?;
    Ok(ok(StatusCode::CREATED, s.ctx.create_subscription(&caller, req).await?))
}

async fn list_subscriptions(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Answer {
    let params = query(q.as_deref(), &["tenant", "cursor", "limit"])?;
    let tenant = param(&params, "tenant").map(|t| path(t, TenantId::parse)).transpose()?;
    let page = page_request(param(&params, "cursor").map(str::to_owned), limit(&params)?)?;
    Ok(ok(StatusCode::OK, s.ctx.list_subscriptions(&caller, tenant, &page).await?))
}

fn limit(params: &[(String, String)]) -> Result<Option<usize>, ApiError> {
    param(params, "limit")
        .map(|l| {
            l.parse::<usize>()
                .map_err(|_| ApiError::Invalid(ValidationError::invalid("limit", "must be a number")))
        })
        .transpose()
}

fn stats_days(q: Option<&str>) -> Result<u32, ApiError> {
    let params = query(q, &["days"])?;
    param(&params, "days").map_or(Ok(1), |d| {
        d.parse().map_err(|_| ApiError::Invalid(ValidationError::invalid("days", "must be a number, 1 to 7")))
    })
}

async fn subscription_stats(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
    RawQuery(q): RawQuery,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    let days = stats_days(q.as_deref())?;
    Ok(ok(StatusCode::OK, s.ctx.stats(&caller, Some(&id), days).await?))
}

async fn service_stats(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Answer {
    let days = stats_days(q.as_deref())?;
    Ok(ok(StatusCode::OK, s.ctx.stats(&caller, None, days).await?))
}

async fn get_subscription(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    Ok(ok(StatusCode::OK, s.ctx.get_subscription(&caller, &id).await?))
}

async fn update_subscription(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    let req = json_body(&headers, body, SMALL_BODY).await?;
    Ok(ok(StatusCode::OK, s.ctx.update_subscription(&caller, &id, req).await?))
}

async fn delete_subscription(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    s.ctx.delete_subscription(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The grace period of a rotation: its optional JSON body.
async fn rotation_grace(headers: &HeaderMap, body: Body) -> Result<Option<std::time::Duration>, ApiError> {
    let bytes = extract::read_body(body, SMALL_BODY).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let req: RotateSecretRequest = json_body(headers, Body::from(bytes), SMALL_BODY).await?;
    Ok(req.grace()?)
}

async fn rotate_subscription_secret(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    let grace = rotation_grace(&headers, body).await?;
    Ok(ok(StatusCode::OK, s.ctx.rotate_subscription_secret(&caller, &id, grace).await?))
}

async fn replay(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    let req = json_body(&headers, body, SMALL_BODY).await?;
    Ok(ok(StatusCode::ACCEPTED, s.ctx.replay(&caller, &id, req).await?))
}

async fn redeliver(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: DeliveryId = path(&id, str::parse)?;
    Ok(ok(StatusCode::ACCEPTED, s.ctx.redeliver(&caller, &id).await?))
}

async fn publish_event(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let max = s.ctx.settings.max_payload_bytes;
    let limit = BodyLimit { bytes: max + BODY_OVERHEAD, what: "the payload", stated: max };
    let req = json_body(&headers, body, limit).await?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::Invalid(ValidationError::invalid("Idempotency-Key", "must be printable ASCII"))
        })?),
        None => None,
    };
    Ok(ok(StatusCode::ACCEPTED, s.ctx.publish_event(&caller, req, key).await?))
}

/// Body limit of a batch: a hundred small events, or a few large ones,
/// within a Lambda function URL's 6 MB request limit.
const BATCH_BODY: BodyLimit =
    BodyLimit { bytes: 5 * 1024 * 1024, what: "the batch", stated: 5 * 1024 * 1024 };

async fn publish_batch(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    if headers.contains_key("idempotency-key") {
        return Err(ApiError::Invalid(ValidationError::invalid(
            "Idempotency-Key",
            "a batch has none of its own: give each event its idempotency_key",
        ))
        .into());
    }
    // The envelope ({"events": [...]}) nests two levels above each event.
    let req = json_body_nested(&headers, body, BATCH_BODY, 2).await?;
    Ok(ok(StatusCode::OK, s.ctx.publish_batch(&caller, req).await?))
}

async fn get_event(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: EventId = path(&id, str::parse)?;
    Ok(ok(StatusCode::OK, s.ctx.get_event(&caller, &id).await?))
}

async fn list_deliveries(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Answer {
    let params = query(
        q.as_deref(),
        &[
            "tenant",
            "subscription",
            "subscription_id",
            "event",
            "event_id",
            "status",
            "event_type",
            "since",
            "until",
            "cursor",
            "limit",
        ],
    )?;
    let either = |a: &str, b: &str| param(&params, a).or_else(|| param(&params, b));
    let filter = DeliveryFilter {
        tenant: param(&params, "tenant").map(|t| path(t, TenantId::parse)).transpose()?,
        subscription_id: either("subscription", "subscription_id")
            .map(|v| path(v, str::parse))
            .transpose()?,
        event_id: either("event", "event_id").map(|v| path(v, str::parse)).transpose()?,
        status: param(&params, "status").map(|v| path(v, DeliveryStatus::parse)).transpose()?,
        event_type: param(&params, "event_type")
            .map(|v| path(v, hookline::model::EventType::parse))
            .transpose()?,
        since: param(&params, "since").map(|v| parse_time("since", v)).transpose()?,
        until: param(&params, "until").map(|v| parse_time("until", v)).transpose()?,
    };
    let page = page_request(param(&params, "cursor").map(str::to_owned), limit(&params)?)?;
    Ok(ok(StatusCode::OK, s.ctx.list_deliveries(&caller, &filter, &page).await?))
}

async fn get_delivery(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: DeliveryId = path(&id, str::parse)?;
    Ok(ok(StatusCode::OK, s.ctx.get_delivery(&caller, &id).await?))
}

async fn sent_request(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path_params: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Answer {
    let axum::extract::Path((id, number)) =
        path_params.map_err(|e| ApiError::Malformed(format!("the path is not valid: {e}")))?;
    let id: DeliveryId = path(&id, str::parse)?;
    let number: u32 = path(&number, |n| {
        n.parse().map_err(|_| {
            hookline::validation::ValidationError::invalid("number", "an attempt number: 1, 2, …")
        })
    })?;
    Ok(ok(StatusCode::OK, s.ctx.sent_request(&caller, &id, number).await?))
}

async fn create_portal_session(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(tenant): PathParam,
) -> Answer {
    Ok(ok(StatusCode::CREATED, s.ctx.portal_link(&caller, &tenant)?))
}

async fn create_operator_portal_session(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Answer {
    Ok(ok(StatusCode::CREATED, s.ctx.operator_portal_link(&caller)?))
}

async fn list_event_types(State(s): State<ApiState>, Extension(caller): Extension<Caller>) -> Answer {
    Ok(ok(StatusCode::OK, s.ctx.event_types(&caller).await?))
}

async fn declare_event_type(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(name): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let req = json_body(&headers, body, SMALL_BODY).await?;
    Ok(ok(StatusCode::OK, s.ctx.declare_event_type(&caller, &name, req).await?))
}

async fn remove_event_type(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(name): PathParam,
) -> Answer {
    s.ctx.remove_event_type(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reveal_subscription_secret(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    Ok(ok(StatusCode::OK, s.ctx.reveal_subscription_secret(&caller, &id).await?))
}

async fn read_tenant_secret(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(tenant): PathParam,
) -> Answer {
    let tenant = path(&tenant, TenantId::parse)?;
    Ok(ok(StatusCode::OK, s.ctx.read_tenant_secret(&caller, &tenant).await?))
}

async fn create_tenant_secret(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(tenant): PathParam,
) -> Answer {
    let tenant = path(&tenant, TenantId::parse)?;
    Ok(ok(StatusCode::CREATED, s.ctx.create_tenant_secret(&caller, &tenant).await?))
}

async fn rotate_tenant_secret(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let tenant = path(&tenant, TenantId::parse)?;
    let grace = rotation_grace(&headers, body).await?;
    Ok(ok(StatusCode::OK, s.ctx.rotate_tenant_secret(&caller, &tenant, grace).await?))
}

async fn get_one_off(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(tenant): PathParam,
) -> Answer {
    let tenant = path(&tenant, TenantId::parse)?;
    Ok(ok(StatusCode::OK, s.ctx.get_one_off(&caller, &tenant).await?))
}

async fn put_one_off(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(tenant): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    let tenant = path(&tenant, TenantId::parse)?;
    let req = json_body(&headers, body, SMALL_BODY).await?;
    Ok(ok(StatusCode::OK, s.ctx.put_one_off(&caller, &tenant, req).await?))
}

#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod openapi_tests;

async fn list_dead_letters(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Answer {
    let params = query(q.as_deref(), &["limit"])?;
    Ok(ok(StatusCode::OK, s.ctx.list_dead_letters(&caller, limit(&params)?).await?))
}

async fn redrive_dead_letter(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    Ok(ok(StatusCode::ACCEPTED, s.ctx.redrive_dead_letter(&caller, &id).await?))
}
