//! Links that open the portal, for a tenant or for the operator.

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

use hookline::auth::Caller;

use crate::extract::PathParam;
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/tenants/{tenant}/portal-sessions", post(create_portal_session))
        .route("/v1/portal-sessions", post(create_operator_portal_session))
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
