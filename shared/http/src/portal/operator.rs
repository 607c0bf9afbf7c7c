//! The operator's pages: choosing a tenant, the service's health, dead letters, the event catalog.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use hookline::model::TenantId;

use super::charts::charts;
use super::layout::{capitalised, page, problem, secured, signed_out, who};
use super::session::caller;
use crate::ApiState;
use crate::extract::{param, query};

/// The tenant an operator chose (`?tenant=`); a tenant's own session
/// ignores it (its scope decides).
pub(super) fn chosen_tenant(q: Option<&str>) -> Result<Option<TenantId>, Box<Response>> {
    let params = query(q, &["tenant", "q", "cursor"]).map_err(|e| Box::new(failed(&e)))?;
    match param(&params, "tenant").map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => TenantId::parse(t).map(Some).map_err(|_| {
            Box::new(problem(StatusCode::BAD_REQUEST, "Endpoints", "That is not a tenant name."))
        }),
        None => Ok(None),
    }
}

/// An operator's tenant chooser, sending to `to`.
pub(super) fn tenant_form(to: &str, chosen: Option<&TenantId>) -> Markup {
    html! {
        form method="get" action=(to) {
            label { "Tenant" input name="tenant" type="text" value=[chosen.map(|t| t.as_str())] required; }
            button type="submit" { "Show" }
        }
    }
}

/// The event catalog: what each declared type means, an example payload
/// (what a test event of it carries) and its JSON Schema.
pub(super) async fn event_types(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let catalog = match s.ctx.event_types(&caller).await {
        Ok(c) => c.data,
        Err(e) => return failed(&e),
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let body = html! {
        @if catalog.is_empty() {
            p { "No event types are declared yet: endpoints name the types they want." }
        }
        @for t in &catalog {
            section {
                h2 { code { (t.name.as_str()) } }
                @if let Some(d) = &t.description { p { (d) } }
                @if let Some(example) = &t.example {
                    h3 { "Example payload" }
                    pre { (pretty(example)) }
                }
                @if let Some(schema) = &t.schema {
                    details { summary { "JSON Schema" } pre { (pretty(schema)) } }
                }
            }
        }
    };
    secured(StatusCode::OK, page("Event types", Some(&who(&caller)), body))
}

/// The whole service's attempts over time (operator only).
pub(super) async fn service(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let stats = match s.ctx.stats(&caller, None, hookline::api::stats::MAX_STATS_DAYS).await {
        Ok(stats) => stats,
        Err(e) => return failed(&e),
    };
    let last_hour = stats.hours.last().map_or(0, |h| h.succeeded + h.failed);
    let body = html! {
        p { "Every delivery and attempt of every tenant, counted by hour. This hour so far: " (last_hour) " attempts." }
        (charts(&stats))
        p { small { "Counts are written every few seconds (embedded) or at the end of each delivery batch (AWS)." } }
    };
    secured(StatusCode::OK, page("Service", Some(&who(&caller)), body))
}

/// The dead letters (operator only): what the delivery queue gave up on.
pub(super) async fn dead_letters(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let list = match s.ctx.list_dead_letters(&caller, Some(100)).await {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let body = html! {
        @if list.data.is_empty() {
            p { "No dead letters: every message was handled." }
        } @else {
            p { "Messages the delivery queue gave up on. Fix the cause, then redrive them with "
                code { "POST /v1/dead-letters/{id}/redrive" } "." }
            table {
                thead { tr { th { "Message" } th { "Delivery" } th { "Receives" } th { "Why" } th { "Died" } } }
                tbody {
                    @for d in &list.data {
                        tr {
                            td { code { (d.id) } }
                            td { @if let Some(id) = &d.delivery_id { a href={ "/portal/deliveries/" (id) } { code { (id) } } }
                                 @else if !d.messages.is_empty() {
                                     @for m in &d.messages { a href={ "/portal/deliveries/" (m.delivery_id) } { code { (m.delivery_id) } } " " }
                                 }
                                 @else { "unreadable" } }
                            td { (d.receives) }
                            td { (d.reason.as_deref().unwrap_or("")) }
                            td { @if let Some(t) = d.died_at { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
                        }
                    }
                }
            }
        }
    };
    secured(StatusCode::OK, page("Dead letters", Some(&who(&caller)), body))
}

/// An API error as a page: another tenant's data is simply not found.
pub(super) fn failed(e: &hookline::api::ApiError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        e.log_if_ours();
        return problem(
            status,
            "Something went wrong",
            "The page could not be loaded. Try again in a moment.",
        );
    }
    if status == StatusCode::FORBIDDEN {
        return problem(status, "Not allowed", "This page is for the service's operator.");
    }
    let title = if status == StatusCode::NOT_FOUND { "Not found" } else { "Not possible" };
    problem(status, title, &capitalised(&e.to_string()))
}
