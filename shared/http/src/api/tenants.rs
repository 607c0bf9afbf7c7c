//! A tenant's secret and its one-off delivery profile.

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

use hookline::auth::Caller;
use hookline::model::TenantId;

use super::{SMALL_BODY, rotation_grace};
use crate::extract::{PathParam, json_body, path};
use crate::{Answer, ApiState, ok};

/// This resource's routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/tenants/{tenant}/secret", get(read_tenant_secret).post(create_tenant_secret))
        .route("/v1/tenants/{tenant}/rotate-secret", post(rotate_tenant_secret))
        .route("/v1/tenants/{tenant}/one-off", get(get_one_off).put(put_one_off))
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
