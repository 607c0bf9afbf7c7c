//! Hourly attempt counts of an endpoint or of the whole service.

use axum::Extension;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;

use hookline::api::ApiError;
use hookline::auth::Caller;
use hookline::model::SubscriptionId;
use hookline::validation::ValidationError;

use crate::extract::{PathParam, param, path, query};
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/subscriptions/{id}/stats", get(subscription_stats))
        .route("/v1/stats", get(service_stats))
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
