//! One event: what was published, and its delivery to every endpoint that
//! received it — the page a customer opens when one endpoint got an event
//! and another says it did not.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;

use hookline::model::EventId;

use super::deliveries::refresh_in;
use super::layout::{
    at, copy_button, dotted, endpoint_link, problem, refreshing_page, secured, signed_out, status_class, who,
};
use super::operator::failed;
use super::session::caller;
use crate::ApiState;

pub(super) async fn event(State(s): State<ApiState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let Ok(id) = id.parse::<EventId>() else {
        return problem(StatusCode::NOT_FOUND, "No such event", "There is no event with this id.");
    };
    let event = match s.ctx.get_event(&caller, &id).await {
        Ok(e) => e,
        Err(e) => return failed(&e),
    };
    let names = match s.ctx.endpoint_names(&caller, &event.tenant).await {
        Ok(n) => n,
        Err(e) => return failed(&e),
    };
    let now = s.ctx.clock.now();
    let body = html! {
        dl {
            dt { "Event type" } dd { (dotted(event.event_type.as_str())) }
            dt { "Published" } dd { (at(event.created_at)) }
            @if !event.channels.is_empty() { dt { "Channels" } dd { (event.channels.join(", ")) } }
            @if let Some(k) = &event.ordering_key { dt { "Ordering key" } dd { code { (k) } } }
            @if let Some(k) = &event.idempotency_key { dt { "Idempotency key" } dd { code { (k) } } }
        }
        h2 { "Deliveries" }
        @if event.deliveries.is_empty() {
            p #deliveries { "No endpoint wanted this event: none of the tenant's endpoints matched its type, channels and filters when it was published." }
        } @else {
            table.cards #deliveries {
                caption.count { (event.deliveries.len()) @if event.deliveries.len() == 1 { " endpoint" } @else { " endpoints" } }
                thead { tr { th { "Endpoint" } th { "Status" } th { "Attempts" } th { "Last response" } th { "Delivery" } } }
                tbody {
                    @for d in &event.deliveries {
                        tr {
                            td data-label="Endpoint" { (endpoint_link(&names, d.subscription_id.as_ref(), d.url.as_ref().map(|u| u.as_str()))) }
                            td data-label="Status" { span class=(status_class(d.status)) { (d.status.as_str()) } }
                            td data-label="Attempts" { (d.attempt_count) }
                            td data-label="Last response" { @if let Some(c) = d.last_status_code { (c) } @else { "—" } }
                            td data-label="Delivery" { a href={ "/portal/deliveries/" (d.id) } { code { (d.id) } } }
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
    // Reloads itself while a delivery is about to be attempted.
    let refresh = event.deliveries.iter().find_map(|d| refresh_in(d, now));
    secured(
        StatusCode::OK,
        refreshing_page(&format!("Event {}", event.id), Some(&who(&caller)), body, refresh),
    )
}
