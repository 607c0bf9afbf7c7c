//! The `/v1` routes, one module per resource, each with its own routes;
//! every one needs an API key ([`crate::require_key`]).

mod dead_letters;
mod deliveries;
mod event_types;
mod events;
mod portal_sessions;
mod stats;
mod subscriptions;
mod tenants;

use axum::Router;
use axum::body::Body;
use axum::http::HeaderMap;

use hookline::api::{ApiError, RotateSecretRequest};
use hookline::validation::ValidationError;

use crate::ApiState;
use crate::extract::{BodyLimit, json_body, param};

/// Body limit of routes that carry no payload.
const SMALL_BODY: BodyLimit = BodyLimit { bytes: 64 * 1024, what: "the request body", stated: 64 * 1024 };

/// Every `/v1` route.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .merge(subscriptions::routes())
        .merge(stats::routes())
        .merge(events::routes())
        .merge(deliveries::routes())
        .merge(tenants::routes())
        .merge(portal_sessions::routes())
        .merge(event_types::routes())
        .merge(dead_letters::routes())
}

fn limit(params: &[(String, String)]) -> Result<Option<usize>, ApiError> {
    param(params, "limit")
        .map(|l| {
            l.parse::<usize>()
                .map_err(|_| ApiError::Invalid(ValidationError::invalid("limit", "must be a number")))
        })
        .transpose()
}

/// The grace period of a rotation: its optional JSON body.
async fn rotation_grace(headers: &HeaderMap, body: Body) -> Result<Option<std::time::Duration>, ApiError> {
    let bytes = crate::extract::read_body(body, SMALL_BODY).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let req: RotateSecretRequest = json_body(headers, Body::from(bytes), SMALL_BODY).await?;
    Ok(req.grace()?)
}
