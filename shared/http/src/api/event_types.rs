//! The catalog of event types the portal offers as toggles.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse as _;
use axum::routing::{get, put};

use hookline::auth::Caller;

use super::SMALL_BODY;
use crate::extract::{PathParam, json_body};
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/event-types", get(list_event_types))
        .route("/v1/event-types/{name}", put(declare_event_type).delete(remove_event_type))
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
