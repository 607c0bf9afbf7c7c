//! Subscriptions: create, list, read, change, delete, rotate and reveal their secrets, replay.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse as _;
use axum::routing::{get, post};

use hookline::api::page::page_request;
use hookline::auth::Caller;
use hookline::model::{SubscriptionId, TenantId};

use super::{SMALL_BODY, limit, rotation_grace};
use crate::extract::{PathParam, json_body, param, path, query};
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/subscriptions", post(create_subscription).get(list_subscriptions))
        .route(
            "/v1/subscriptions/{id}",
            get(get_subscription).patch(update_subscription).delete(delete_subscription),
        )
        .route("/v1/subscriptions/{id}/rotate-secret", post(rotate_subscription_secret))
        .route("/v1/subscriptions/{id}/secret", get(reveal_subscription_secret))
        .route("/v1/subscriptions/{id}/replay", post(replay))
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

async fn reveal_subscription_secret(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    PathParam(id): PathParam,
) -> Answer {
    let id: SubscriptionId = path(&id, str::parse)?;
    Ok(ok(StatusCode::OK, s.ctx.reveal_subscription_secret(&caller, &id).await?))
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
