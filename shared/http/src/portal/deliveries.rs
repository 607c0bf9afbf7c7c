//! The delivery log, one delivery with its attempts, the exact request an attempt sent, and redelivery.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;

use hookline::model::{DeliveryId, DeliveryStatus, SubscriptionId, TenantId};
use hookline::policy::FailureKind;
use hookline::ports::{DeliveryFilter, PageRequest};

use hookline::api::deliveries::DeliveryView;

use super::layout::{
    action_form, at, copy_button, dotted, endpoint_link, page, problem, refreshing_page, secured, see_other,
    signed_out, status_class, who,
};
use super::operator::{failed, tenant_form};
use super::session::{caller, posted, session};
use crate::ApiState;
use crate::extract::{param, query};

pub(super) async fn redeliver(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let post = match posted(&s, &headers, &body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(id) = id.parse::<DeliveryId>() else {
        return problem(StatusCode::NOT_FOUND, "No such delivery", "There is no delivery with this id.");
    };
    match s.ctx.redeliver(&post.caller(), &id).await {
        Ok(_) => see_other(&format!("/portal/deliveries/{id}")),
        Err(e) => failed(&e),
    }
}

pub(super) async fn deliveries(
    State(s): State<ApiState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let tenant = Some(who(&caller));
    let allowed = ["tenant", "subscription", "status", "event_type", "since", "until", "cursor"];
    let params = match query(q.as_deref(), &allowed) {
        Ok(p) => p,
        Err(e) => return failed(&e),
    };
    let subscription: Option<SubscriptionId> = match param(&params, "subscription").filter(|v| !v.is_empty())
    {
        Some(v) => match v.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                return problem(StatusCode::BAD_REQUEST, "Delivery log", "That endpoint id is not valid.");
            }
        },
        None => None,
    };
    let time = |name: &'static str| match param(&params, name).map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => hookline::api::page::parse_time(name, v).map(Some),
        None => Ok(None),
    };
    let event_type = match param(&params, "event_type").map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => match hookline::model::EventType::parse(v) {
            Ok(t) => Some(t),
            Err(_) => return problem(StatusCode::BAD_REQUEST, "Delivery log", "That is not an event type."),
        },
        None => None,
    };
    let (since, until) = match (time("since"), time("until")) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Delivery log",
                "A time is written like 2026-11-23T09:00:00Z (UTC).",
            );
        }
    };
    let status = match param(&params, "status").filter(|v| !v.is_empty()) {
        Some(v) => match DeliveryStatus::parse(v) {
            Ok(st) => Some(st),
            Err(_) => return problem(StatusCode::BAD_REQUEST, "Delivery log", "That status is not valid."),
        },
        None => None,
    };
    // An operator reads one tenant at a time (the listings are by tenant).
    let operator = caller.tenant().is_none();
    let chosen_tenant = match param(&params, "tenant").map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if operator => match TenantId::parse(t) {
            Ok(t) => Some(t),
            Err(_) => return problem(StatusCode::BAD_REQUEST, "Delivery log", "That is not a tenant name."),
        },
        _ => None,
    };
    if operator && chosen_tenant.is_none() {
        let body = html! { p { "Choose a tenant to see its deliveries." } (tenant_form("/portal/deliveries", None)) };
        return secured(StatusCode::OK, page("Delivery log", tenant.as_ref(), body));
    }
    let filter = DeliveryFilter {
        tenant: chosen_tenant.clone(),
        subscription_id: subscription.clone(),
        status,
        event_type: event_type.clone(),
        since,
        until,
        ..DeliveryFilter::default()
    };
    let page_request = PageRequest { cursor: param(&params, "cursor").map(str::to_owned), limit: 50 };
    let Some(listed) = chosen_tenant.clone().or_else(|| caller.tenant().cloned()) else {
        return problem(StatusCode::BAD_REQUEST, "Delivery log", "Choose a tenant.");
    };
    let (list, names) = match futures_util::future::join(
        s.ctx.list_deliveries(&caller, &filter, &page_request),
        s.ctx.endpoint_names(&caller, &listed),
    )
    .await
    {
        (Ok(l), Ok(names)) => (l, names),
        (Err(e), _) | (_, Err(e)) => return failed(&e),
    };
    // The endpoint chooser, by URL.
    let mut endpoints: Vec<_> = names.iter().collect();
    endpoints.sort_by(|a, b| (&a.1.url, a.0).cmp(&(&b.1.url, b.0)));
    let chosen = |v: &str| status.is_some_and(|s| s.as_str() == v);
    let body = html! {
        form method="get" action="/portal/deliveries" {
            @if let Some(t) = &chosen_tenant {
                label { "Tenant" input name="tenant" type="text" value=(t.as_str()) required; }
            }
            label { "Endpoint"
                select name="subscription" {
                    option value="" { "All endpoints" }
                    @for (id, name) in &endpoints {
                        option value=(id) selected[subscription.as_ref() == Some(*id)] {
                            (name.url) @if let Some(d) = &name.description { " (" (d) ")" }
                        }
                    }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" { "Any" }
                    @for st in ["pending", "succeeded", "failed", "canceled"] {
                        option value=(st) selected[chosen(st)] { (st) }
                    }
                }
            }
            label { "Event type" input name="event_type" type="text" placeholder="order.paid" value=[event_type.as_ref().map(|t| t.as_str())]; }
            label { "Since" input name="since" type="text" placeholder="2026-11-23T09:00:00Z" value=[since.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())]; }
            label { "Until" input name="until" type="text" placeholder="UTC" value=[until.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())]; }
            button type="submit" { "Filter" }
        }
        @if list.data.is_empty() {
            p { "No deliveries match." }
        } @else {
            table.cards {
                thead { tr { th { "Delivery" } th { "Event type" } th { "Endpoint" } th { "Status" } th { "Attempts" } th { "Last response" } th { "Created" } } }
                tbody {
                    @for d in &list.data {
                        tr {
                            td data-label="Delivery" { a href={ "/portal/deliveries/" (d.id) } { code { (d.id) } } }
                            td data-label="Event type" { (dotted(d.event_type.as_str())) }
                            td data-label="Endpoint" { (endpoint_link(&names, d.subscription_id.as_ref(), d.url.as_ref().map(|u| u.as_str()))) }
                            td data-label="Status" { span class=(status_class(d.status)) { (d.status.as_str()) } }
                            td data-label="Attempts" { (d.attempt_count) }
                            td data-label="Last response" { @if let Some(c) = d.last_status_code { (c) } @else { "—" } }
                            td data-label="Created" { (at(d.created_at)) }
                        }
                    }
                }
            }
            @if let Some(next) = &list.next_cursor {
                p { a href={ "/portal/deliveries?cursor=" (next)
                    @if let Some(t) = &chosen_tenant { "&tenant=" (t.as_str()) }
                    @if let Some(sub) = &subscription { "&subscription=" (sub) }
                    @if let Some(st) = status { "&status=" (st.as_str()) }
                    @if let Some(t) = &event_type { "&event_type=" (t.as_str()) }
                    @if let Some(t) = since { "&since=" (t.format("%Y-%m-%dT%H:%M:%SZ")) }
                    @if let Some(t) = until { "&until=" (t.format("%Y-%m-%dT%H:%M:%SZ")) } } { "Older deliveries" } }
            }
        }
    };
    secured(StatusCode::OK, page("Delivery log", tenant.as_ref(), body))
}

pub(super) async fn delivery(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = session(&s, &headers) else { return signed_out() };
    let (caller, csrf) = (session.caller(), s.ctx.portal_csrf(&session));
    let tenant = Some(who(&caller));
    let Ok(id) = id.parse::<DeliveryId>() else {
        return problem(StatusCode::NOT_FOUND, "No such delivery", "There is no delivery with this id.");
    };
    let d = match s.ctx.get_delivery(&caller, &id).await {
        Ok(d) => d,
        Err(e) => return failed(&e),
    };
    let (event, names) = match futures_util::future::join(
        s.ctx.get_event(&caller, &d.event_id),
        s.ctx.endpoint_names(&caller, &d.tenant),
    )
    .await
    {
        (Ok(event), Ok(names)) => (event, names),
        (Err(e), _) | (_, Err(e)) => return failed(&e),
    };
    let attempts = d.attempts.clone().unwrap_or_default();
    let body = html! {
        dl {
            dt { "Endpoint" } dd { (endpoint_link(&names, d.subscription_id.as_ref(), d.url.as_ref().map(|u| u.as_str()))) }
            dt { "Event type" } dd { (dotted(d.event_type.as_str())) }
            dt { "Event" } dd { a href={ "/portal/events/" (d.event_id) } { code { (d.event_id) } } " " small { "(and its every endpoint's delivery)" } }
            dt { "Status" } dd { span class=(status_class(d.status)) { (d.status.as_str()) }
                @if let Some(r) = d.give_up_reason { " (" (r.as_str()) ")" } }
            dt { "Created" } dd { (at(d.created_at)) }
            @if let Some(next) = d.next_attempt_at { dt { "Next attempt" } dd { (at(next)) } }
        }
        (action_form(&csrf, &format!("/portal/deliveries/{}/redeliver", d.id), "Redeliver now", &[]))
        h2 { "Attempts" }
        @if attempts.is_empty() {
            p #no-attempt { "No attempt yet."
                @if let Some(seconds) = refresh_in(&d, s.ctx.clock.now()) { " This page reloads itself every " (seconds) " seconds until it is made." } }
        } @else {
            table.cards #attempts {
                thead { tr { th { "#" } th { "Time" } th { "Result" } th { "Duration" } th { "Response" } } }
                tbody {
                    @for a in &attempts {
                        tr {
                            td data-label="Attempt" { (a.number) }
                            td data-label="Time" { (at(a.started_at)) br;
                                 @if a.error != Some(FailureKind::Payload) {
                                     a href={ "/portal/deliveries/" (d.id) "/attempts/" (a.number) } { "the request" }
                                 } }
                            td data-label="Result" {
                                @if let Some(code) = a.status_code { (code) }
                                @if let Some(e) = a.error { (e.as_str()) }
                                @if let Some(m) = &a.error_message { br; small { (m) } }
                            }
                            td data-label="Duration" { (a.duration_ms) " ms" }
                            td data-label="Response" { @if let Some(x) = &a.response_excerpt { pre { (x) } } }
                        }
                    }
                }
            }
        }
        h2 { "Payload" }
        p { small { "As it was published, byte for byte." } }
        pre #payload { (event.payload.get()) }
        (copy_button("payload", "Copy the payload"))
    };
    let refresh = refresh_in(&d, s.ctx.clock.now());
    secured(StatusCode::OK, refreshing_page(&format!("Delivery {}", d.id), tenant.as_ref(), body, refresh))
}

/// How often a delivery's page reloads itself: every few seconds while it
/// waits for an attempt due within a minute (a test event, a redelivery,
/// a retry about to go); never once it is finished, or while its next
/// attempt is further off (reloading then shows nothing new).
pub(super) fn refresh_in(d: &DeliveryView, now: chrono::DateTime<chrono::Utc>) -> Option<u32> {
    let soon = d.next_attempt_at.is_none_or(|t| t - now <= chrono::Duration::seconds(60));
    (d.status == DeliveryStatus::Pending && soon).then_some(REFRESH_SECONDS)
}

/// Seconds between a waiting delivery's reloads.
const REFRESH_SECONDS: u32 = 3;

/// The exact request an attempt sent (see `hookline::api::sent`).
pub(super) async fn attempt_request(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path((id, number)): Path<(String, String)>,
) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let (Ok(id), Ok(number)) = (id.parse::<DeliveryId>(), number.parse::<u32>()) else {
        return problem(StatusCode::NOT_FOUND, "No such attempt", "There is no attempt at this address.");
    };
    let sent = match s.ctx.sent_request(&caller, &id, number).await {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let body = html! {
        p { a href={ "/portal/deliveries/" (id) } { "Back to the delivery" } }
        @if sent.verified {
            p.succeeded role="status" { "Verified: the signature that was sent matches this request byte for byte." }
        } @else {
            p.failed role="status" { "The endpoint's settings or secret changed since this attempt (or it was made before hookline kept signatures): "
                "this is the request as it would be built now, with the signature that was sent." }
        }
        (copy_button("request", "Copy the request"))
        pre.request #request {
            (sent.method) " " (sent.url) "\n"
            @for (name, value) in &sent.headers { (name) ": " (value) "\n" }
            "\n" (sent.body)
        }
    };
    secured(StatusCode::OK, page(&format!("Attempt {number} of {id}"), Some(&who(&caller)), body))
}
