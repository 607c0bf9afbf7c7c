//! Deliveries: listed and filtered, one with its attempts, redelivered, and the exact request an attempt sent.

use axum::Extension;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

use hookline::api::ApiError;
use hookline::api::page::{page_request, parse_time};
use hookline::auth::Caller;
use hookline::model::{DeliveryId, DeliveryStatus, TenantId};
use hookline::ports::DeliveryFilter;

use super::limit;
use crate::extract::{PathParam, param, path, query};
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/deliveries", get(list_deliveries))
        .route("/v1/deliveries/{id}", get(get_delivery))
        .route("/v1/deliveries/{id}/redeliver", post(redeliver))
        .route("/v1/deliveries/{id}/attempts/{number}/request", get(sent_request))
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

async fn redeliver(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: DeliveryId = path(&id, str::parse)?;
    Ok(ok(StatusCode::ACCEPTED, s.ctx.redeliver(&caller, &id).await?))
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
