//! Sending an endpoint a test event: its form on the endpoint's page, and
//! the post that sends it.

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

use hookline::api::events::default_test_payload;
use hookline::api::subscriptions::SubscriptionView;
use hookline::model::EventTypeInfo;

use super::endpoints::{Notice, Shown, endpoint_page};
use super::forms::invalid;
use super::layout::{dotted, form_field, see_other};
use super::operator::failed;
use super::session::EndpointPost;
use crate::ApiState;

/// The test event form: a type the endpoint receives — one of the declared
/// types it wants, chosen in a form of its own that fills in that type's
/// example (no script needed) — and the payload to send, starting from
/// that example, editable.
pub(super) fn test_form(
    sub: &SubscriptionView,
    catalog: &[EventTypeInfo],
    (asked, typed): (Option<&str>, Option<&str>),
    csrf: &str,
    type_error: Option<String>,
    payload_error: Option<String>,
) -> Markup {
    let choices: Vec<&EventTypeInfo> =
        catalog.iter().filter(|t| hookline::model::wants(&sub.event_types, &t.name)).collect();
    let chosen = choices.iter().find(|t| Some(t.name.as_str()) == asked).or(choices.first()).copied();
    let example = chosen.and_then(|t| t.example.clone()).unwrap_or_else(default_test_payload);
    let example = match typed {
        Some(typed) => typed.to_owned(),
        None => serde_json::to_string_pretty(&example).unwrap_or_default(),
    };
    let to = format!("/portal/endpoints/{}", sub.id);
    html! {
        h2 #test { "Send a test event" }
        @if choices.len() > 1 {
            form method="get" action={ (to) "#test" } {
                label { "Event type"
                    select name="test_type" {
                        @for t in &choices { option value=(t.name.as_str()) selected[Some(*t) == chosen] { (t.name.as_str()) } }
                    }
                }
                button type="submit" { "Start from its example" }
            }
        }
        form.create method="post" action={ (to) "/test" } {
            input type="hidden" name="csrf" value=(csrf);
            @match chosen {
                Some(t) => {
                    input type="hidden" name="event_type" value=(t.name.as_str());
                    p { "Type: " (dotted(t.name.as_str())) @if let Some(d) = &t.description { " — " (d) } }
                    @if let Some(e) = &type_error { p.error { (e) } }
                }
                None => (form_field("event_type", "Event type", &test_type(&sub.event_types), "one this endpoint receives", "text", type_error)),
            }
            label for="payload" { "Payload"
                textarea id="payload" name="payload" rows="8" spellcheck="false" aria-invalid=[payload_error.as_ref().map(|_| "true")]
                    aria-describedby="payload-note" { (example) }
                small id="payload-note" class=[payload_error.as_ref().map(|_| "error")] {
                    @if let Some(e) = &payload_error { (e) } @else { "JSON, sent as the event's payload: signed and delivered like any event, and listed in the delivery log" }
                }
            }
            button type="submit" { "Send test event" }
        }
    }
}

/// A type a test event can have: the first exact type the endpoint
/// receives, or one under its first prefix.
pub(super) fn test_type(patterns: &[hookline::model::EventTypePattern]) -> String {
    match patterns.first().map(|p| p.as_string()) {
        None => "webhook.test".into(),
        Some(p) => match p.strip_suffix('*') {
            Some(prefix) => format!("{prefix}test"),
            None => p,
        },
    }
}

pub(super) async fn test_endpoint(
    State(s): State<ApiState>,
    EndpointPost { post, id: sub_id, raw_id: id }: EndpointPost,
) -> Response {
    let (event_type, payload) = (post.field("event_type"), post.field("payload"));
    match s.ctx.send_test_event(&post.caller(), &sub_id, &event_type, Some(&payload)).await {
        Ok(delivery) => see_other(&format!("/portal/deliveries/{delivery}")),
        Err(hookline::api::ApiError::Invalid(v)) => {
            let shown = Shown {
                error: Some(invalid(&v)),
                test: Some(&event_type),
                payload: Some(&payload),
                ..Shown::default()
            };
            endpoint_page(&s, &post.session, &id, shown, Notice::None).await
        }
        Err(e) => failed(&e),
    }
}
