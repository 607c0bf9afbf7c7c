//! What the delivery queue gave up on, and putting it back.

use axum::Extension;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use hookline::auth::Caller;

use super::limit;
use crate::extract::{PathParam, query};
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/dead-letters", get(list_dead_letters))
        .route("/v1/dead-letters/{id}/redrive", post(redrive_dead_letter))
}

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
