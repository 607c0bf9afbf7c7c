//! Publishing events, one or a batch, and reading one back.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

use hookline::api::ApiError;
use hookline::auth::Caller;
use hookline::model::EventId;
use hookline::validation::ValidationError;

use crate::extract::{BodyLimit, PathParam, json_body, json_body_nested, path};
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/events", post(publish_event))
        .route("/v1/events/batch", post(publish_batch))
        .route("/v1/events/{id}", get(get_event))
}

/// Extra bytes allowed around a payload in a request body (the envelope).
const BODY_OVERHEAD: usize = 16 * 1024;

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
