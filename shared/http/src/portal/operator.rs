//! The operator's pages: choosing a tenant, the service's health, dead letters, the event catalog.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use hookline::api::subscriptions::SubscriptionView;
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
            " " a href="/portal/tenants" { "or choose one from the list" }
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

/// Tenants a page of the operator's list shows.
const TENANTS_A_PAGE: usize = 50;

/// The tenants (operator only): by name, a page at a time, found by the
/// start of their name, each with its endpoints and its last day.
pub(super) async fn tenants(
    State(s): State<ApiState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let params = match query(q.as_deref(), &["q", "cursor"]) {
        Ok(p) => p,
        Err(e) => return failed(&e),
    };
    let prefix = param(&params, "q").unwrap_or_default().trim().to_owned();
    let cursor = match param(&params, "cursor").filter(|c| !c.is_empty()) {
        Some(c) => match TenantId::parse(c) {
            Ok(t) => Some(t.to_string()),
            Err(_) => return problem(StatusCode::BAD_REQUEST, "Tenants", "That is not a page of this list."),
        },
        None => None,
    };
    let page_request = hookline::ports::PageRequest { cursor: cursor.clone(), limit: TENANTS_A_PAGE };
    let list = match s.ctx.list_tenants(&caller, &prefix, &page_request).await {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let next = list.next_cursor.as_ref().map(|c| {
        let mut to = url::form_urlencoded::Serializer::new(String::new());
        if !prefix.is_empty() {
            to.append_pair("q", &prefix);
        }
        to.append_pair("cursor", c);
        to.finish()
    });
    let body = html! {
        form.search method="get" action="/portal/tenants" role="search" {
            label { "Tenant name starts with" input type="search" name="q" value=(prefix) maxlength="64"; }
            button type="submit" { "Find" }
            @if !prefix.is_empty() { " " a href="/portal/tenants" { "Show all" } }
        }
        @if list.data.is_empty() {
            p { @if prefix.is_empty() { "No tenant has an endpoint yet." } @else { "No tenant's name starts with " q { (prefix) } "." } }
        } @else {
            table.cards #tenants {
                caption.count { (list.data.len()) @if list.data.len() == 1 { " tenant" } @else { " tenants" }
                    @if cursor.is_some() || next.is_some() { ", a page of them" } }
                thead { tr { th { "Tenant" } th { "Endpoints" } th { "Deliveries, last 24 hours" } th { span.visually-hidden { "Pages" } } } }
                tbody {
                    @for t in &list.data {
                        tr {
                            td data-label="Tenant" { a href={ "/portal/?tenant=" (t.tenant.as_str()) } { (t.tenant.as_str()) } }
                            td data-label="Endpoints" { (t.endpoints) }
                            td data-label="Deliveries, last 24 hours" {
                                @match t.last_day {
                                    None => "not counted",
                                    Some((0, 0)) => "none",
                                    Some((ok, ko)) => {
                                        (ok) " succeeded, " (ko) " failed"
                                        @if ko > 0 { " " span.failed { "(" (format!("{:.1}", 100.0 * ko as f64 / (ok + ko) as f64)) " % failed)" } }
                                    }
                                }
                            }
                            td { a href={ "/portal/deliveries?tenant=" (t.tenant.as_str()) } { "Delivery log" } }
                        }
                    }
                }
            }
            @if let Some(next) = &next { p.pages { a rel="next" href={ "/portal/tenants?" (next) } { "Next " (TENANTS_A_PAGE) " tenants" } } }
        }
    };
    secured(StatusCode::OK, page("Tenants", Some(&who(&caller)), body))
}

/// The whole service (operator only): its deliveries and attempts over
/// time, the queue, the dead letters.
pub(super) async fn service(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let (stats, health) = match futures_util::future::join(
        s.ctx.stats(&caller, None, hookline::api::stats::MAX_STATS_DAYS),
        s.ctx.service_health(&caller),
    )
    .await
    {
        (Ok(stats), Ok(health)) => (stats, health),
        (Err(e), _) | (_, Err(e)) => return failed(&e),
    };
    let last_hour = stats.hours.last().map_or(0, |h| h.succeeded + h.failed);
    let body = html! {
        h2 { "Queue" }
        @match health.queue {
            Some(q) => {
                p #queue {
                    (q.waiting) " messages waiting to be delivered, " (q.held) " in flight or held back (delayed, retried)"
                    @match (q.waiting, q.oldest_wait) {
                        (0, _) => { "." }
                        (_, Some(w)) => { "; the oldest ready one has waited " (waited(w)) "." }
                        (_, None) => { ". How long the oldest has waited is the dashboard's " code { "ApproximateAgeOfOldestMessage" } " (SQS tells it only to CloudWatch)." }
                    }
                }
            }
            None => p #queue { "This queue cannot say how many messages it holds." }
        }
        p #dead-letters {
            @match health.dead_letters {
                Some(0) => { "No dead letters." }
                Some(n) => { a href="/portal/dead-letters" { (n) @if n == 1 { " dead letter" } @else { " dead letters" } } ": messages the queue gave up on, to fix and redrive." }
                None => { a href="/portal/dead-letters" { "The dead letters" } }
            }
        }
        h2 { "Endpoints failing now" }
        @if health.failing.is_empty() {
            p #failing { "None: every active endpoint's last attempt succeeded (or it has had none)." }
        } @else {
            (watch_table("failing", &health.failing, "Failing since", s.ctx.settings.disable.after))
        }
        h2 { "Disabled for failing" }
        @if health.disabled.is_empty() {
            p #disabled { "None." }
        } @else {
            (watch_table("disabled", &health.disabled, "Its failures began", s.ctx.settings.disable.after))
        }
        h2 { "Deliveries and attempts" }
        p { "Every delivery and attempt of every tenant, counted by hour. This hour so far: " (last_hour) " attempts. "
            a href="/portal/tenants" { "Each tenant's last day" } "." }
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

/// A watch list: each endpoint (linked to its page, where it can be
/// enabled, replayed or fixed), its tenant, and since when it fails.
fn watch_table(id: &str, subs: &[SubscriptionView], since: &str, disable_after: chrono::Duration) -> Markup {
    html! {
        table.cards id=(id) {
            thead { tr { th { "Endpoint" } th { "Tenant" } th { (since) } th { "State" } } }
            tbody {
                @for sub in subs {
                    tr {
                        td data-label="Endpoint" { a href={ "/portal/endpoints/" (sub.id) } {
                            @if let Some(d) = &sub.description { (d) br; small { code { (sub.url) } } } @else { code { (sub.url) } } } }
                        td data-label="Tenant" { a href={ "/portal/?tenant=" (sub.tenant.as_str()) } { (sub.tenant.as_str()) } }
                        td data-label=(since) { @if let Some(t) = sub.failing_since { (t.format("%Y-%m-%d %H:%M UTC")) } @else { "—" } }
                        td data-label="State" {
                            @if sub.active {
                                @if let Some(t) = sub.failing_since { "disabled at " ((t + disable_after).format("%Y-%m-%d %H:%M UTC")) " unless an attempt succeeds" }
                            } @else { (sub.disabled_reason.as_deref().unwrap_or("disabled")) }
                        }
                    }
                }
            }
        }
    }
}

/// A wait as a person reads it: seconds, minutes or hours.
fn waited(w: std::time::Duration) -> String {
    match w.as_secs() {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
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
