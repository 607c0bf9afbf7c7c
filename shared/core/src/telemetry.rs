//! What hookline counts, named in one place.
//!
//! The logic records through the `metrics` facade and never learns where the
//! numbers go: the embedded binary installs a Prometheus recorder and serves
//! `/metrics`, the Lambda functions install a CloudWatch Embedded Metric
//! Format recorder that prints one JSON document per invocation into their
//! logs (CloudWatch turns it into metrics: no API call, no cost per request
//! beyond the log bytes). Without a recorder every call here is a no-op.
//!
//! Names follow Prometheus' conventions (`_total` counters, `_seconds`
//! histograms); labels are few and bounded, but for `tenant`, which
//! [`crate::ServiceSettings::metrics_by_tenant`] can switch off (on CloudWatch each
//! tenant is then a metric of its own, billed monthly).

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, histogram};

use crate::model::TenantId;
use crate::policy::{AttemptOutcome, Decision, GiveUpReason};

/// Events accepted by the API (new events, not idempotent repeats), by
/// `tenant`.
pub const EVENTS_ACCEPTED: &str = "hookline_events_accepted_total";
/// Deliveries created for accepted events.
pub const DELIVERIES_CREATED: &str = "hookline_deliveries_created_total";
/// Attempts made, by `outcome` (succeeded, retry, exhausted, failed) and
/// `class` (2xx…5xx, or the failure: timeout, connection_refused, …).
pub const ATTEMPTS: &str = "hookline_attempts_total";
/// How long attempts took, by `outcome`.
pub const ATTEMPT_DURATION: &str = "hookline_attempt_duration_seconds";
/// Retries scheduled, by where the next attempt waits (`queue`, or `store`
/// for a wait longer than the queue can delay a message).
pub const RETRIES_SCHEDULED: &str = "hookline_retries_scheduled_total";
/// Deliveries held back without an attempt, by `reason` (rate_limit, or
/// paused: the endpoint answered 429 with `Retry-After`).
pub const DELIVERIES_HELD: &str = "hookline_deliveries_held_total";
/// Subscriptions disabled, by `reason` (gone, failing).
pub const SUBSCRIPTIONS_DISABLED: &str = "hookline_subscriptions_disabled_total";
/// Deliveries the scheduler queued (due retries and lost messages).
pub const SCHEDULER_ENQUEUED: &str = "hookline_scheduler_enqueued_total";
/// API requests, by `route` (the matched pattern), `method` and `status`.
pub const HTTP_REQUESTS: &str = "hookline_http_requests_total";
/// How long API requests took, by the same labels as [`HTTP_REQUESTS`]
/// (on CloudWatch, one document for both).
pub const HTTP_DURATION: &str = "hookline_http_request_duration_seconds";
/// Client connections open now (embedded).
pub const HTTP_CONNECTIONS_OPEN: &str = "hookline_http_connections_open";
/// Client connections hookline closed, by `reason`: `header_timeout`,
/// `body_timeout`, `idle_timeout`, or `evicted` (the oldest idle or slow one,
/// to make room at the connection cap).
pub const HTTP_CONNECTIONS_CLOSED: &str = "hookline_http_connections_closed_total";
/// Client connections refused at once: the cap was reached and every open
/// connection was serving a request.
pub const HTTP_CONNECTIONS_REFUSED: &str = "hookline_http_connections_refused_total";
/// Messages in the delivery queue, by `state` (ready, in_flight, delayed).
/// Sampled when scraped (embedded; on AWS, SQS's own metrics).
pub const QUEUE_MESSAGES: &str = "hookline_queue_messages";
/// How long the oldest ready message has waited past its due time.
pub const QUEUE_OLDEST_AGE: &str = "hookline_queue_oldest_ready_age_seconds";
/// Messages set aside in the dead letters.
pub const DEAD_LETTERS: &str = "hookline_dead_letters";

/// Names, units and help texts, for the recorders that show them. Call once
/// after installing a recorder.
pub fn describe() {
    describe_counter!(
        EVENTS_ACCEPTED,
        Unit::Count,
        "Events accepted by the API (idempotent repeats excluded)"
    );
    describe_counter!(DELIVERIES_CREATED, Unit::Count, "Deliveries created for accepted events");
    describe_counter!(ATTEMPTS, Unit::Count, "Delivery attempts, by outcome and class");
    describe_histogram!(ATTEMPT_DURATION, Unit::Seconds, "Duration of delivery attempts");
    describe_counter!(RETRIES_SCHEDULED, Unit::Count, "Retries scheduled, by where they wait");
    describe_counter!(DELIVERIES_HELD, Unit::Count, "Deliveries held back without an attempt, by reason");
    describe_counter!(SUBSCRIPTIONS_DISABLED, Unit::Count, "Subscriptions disabled, by reason");
    describe_counter!(SCHEDULER_ENQUEUED, Unit::Count, "Due deliveries queued by the scheduler");
    describe_counter!(HTTP_REQUESTS, Unit::Count, "API requests, by route, method and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Duration of API requests");
    describe_gauge!(HTTP_CONNECTIONS_OPEN, Unit::Count, "Client connections open");
    describe_counter!(
        HTTP_CONNECTIONS_CLOSED,
        Unit::Count,
        "Client connections closed by a limit, by reason"
    );
    describe_counter!(HTTP_CONNECTIONS_REFUSED, Unit::Count, "Client connections refused at the cap");
    describe_gauge!(QUEUE_MESSAGES, Unit::Count, "Messages in the delivery queue, by state");
    describe_gauge!(QUEUE_OLDEST_AGE, Unit::Seconds, "Wait of the oldest ready message past its due time");
    describe_gauge!(DEAD_LETTERS, Unit::Count, "Messages in the dead letters");
}

/// An event accepted with `deliveries` deliveries.
pub(crate) fn event_accepted(tenant: &TenantId, deliveries: usize, by_tenant: bool) {
    if by_tenant {
        counter!(EVENTS_ACCEPTED, "tenant" => tenant.as_str().to_owned()).increment(1);
    } else {
        counter!(EVENTS_ACCEPTED).increment(1);
    }
    counter!(DELIVERIES_CREATED).increment(deliveries as u64);
}

/// An attempt recorded: what the endpoint did and what follows.
pub(crate) fn attempt(outcome: &AttemptOutcome, decision: Decision, took: Duration) {
    let name = outcome_name(decision);
    counter!(ATTEMPTS, "outcome" => name, "class" => class(outcome)).increment(1);
    histogram!(ATTEMPT_DURATION, "outcome" => name).record(took.as_secs_f64());
}

/// A request that could not be built: nothing was sent.
pub(crate) fn unsendable() {
    counter!(ATTEMPTS, "outcome" => "failed", "class" => "payload").increment(1);
}

/// A retry scheduled, waiting in the queue or (past its longest delay) in
/// the store.
pub(crate) fn retry_scheduled(in_queue: bool) {
    counter!(RETRIES_SCHEDULED, "via" => if in_queue { "queue" } else { "store" }).increment(1);
}

/// A delivery held back.
pub(crate) fn held(reason: &'static str) {
    counter!(DELIVERIES_HELD, "reason" => reason).increment(1);
}

/// A subscription disabled.
pub(crate) fn subscription_disabled(gone: bool) {
    counter!(SUBSCRIPTIONS_DISABLED, "reason" => if gone { "gone" } else { "failing" }).increment(1);
}

/// Deliveries the scheduler queued.
pub(crate) fn scheduler_enqueued(n: usize) {
    counter!(SCHEDULER_ENQUEUED).increment(n as u64);
}

/// An API request answered. Every label is drawn from a closed set, so
/// no request can add a series: `route` is a route's pattern from the
/// router (or `unmatched`: the caller passes no path), `method` one hookline serves (or
/// `other`, [`method_label`]) and `status` the code hookline answered with.
pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    // One label set for both: on CloudWatch each label set is a document
    // of its own (~250 B of log ingestion per invocation).
    let labels = [
        metrics::Label::new("route", route.to_owned()),
        metrics::Label::new("method", method_label(method)),
        metrics::Label::new("status", status_label(status)),
    ];
    counter!(HTTP_REQUESTS, labels.iter()).increment(1);
    histogram!(HTTP_DURATION, labels.iter()).record(took.as_secs_f64());
}

/// A request's method as a label: one of the methods hookline serves, or
/// `other` (a client can send any token as a method).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// A status code hookline answered with, as a label (`other` for anything
/// outside 100–599, which hookline never sends).
fn status_label(status: u16) -> metrics::SharedString {
    match status {
        100..=599 => metrics::SharedString::from(status.to_string()),
        _ => metrics::SharedString::const_str("other"),
    }
}

/// Most bytes of client-sent text a log field carries.
pub const LOG_TEXT_MAX: usize = 200;

/// Client-sent text as a log field: at most [`LOG_TEXT_MAX`] bytes (cut
/// at a character boundary, marked with `…`), so no request can make a log
/// line as long as it likes.
pub fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= LOG_TEXT_MAX {
        return text.into();
    }
    let mut end = LOG_TEXT_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// A client connection closed by a limit (see [`HTTP_CONNECTIONS_CLOSED`]).
pub fn http_connection_closed(reason: &'static str) {
    counter!(HTTP_CONNECTIONS_CLOSED, "reason" => reason).increment(1);
}

/// A client connection refused at the cap.
pub fn http_connection_refused() {
    counter!(HTTP_CONNECTIONS_REFUSED).increment(1);
}

/// How many client connections are open.
pub fn http_connections_open(n: usize) {
    metrics::gauge!(HTTP_CONNECTIONS_OPEN).set(n as f64);
}

/// The policy's decision as a label (and a log field).
pub fn outcome_name(d: Decision) -> &'static str {
    match d {
        Decision::Succeeded => "succeeded",
        Decision::Retry { .. } => "retry",
        Decision::GiveUp(GiveUpReason::Exhausted) => "exhausted",
        Decision::GiveUp(_) => "failed",
    }
}

/// The status class of a response, or the kind of failure.
fn class(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Response { status, .. } => match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        },
        AttemptOutcome::Failed(kind) => kind.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::FailureKind;

    #[test]
    fn a_response_is_labelled_by_its_status_class_and_a_failure_by_its_kind() {
        let response = |status| AttemptOutcome::Response { status, retry_after: None, stop_retries: false };
        assert_eq!(class(&response(204)), "2xx");
        assert_eq!(class(&response(429)), "4xx");
        assert_eq!(class(&response(503)), "5xx");
        assert_eq!(class(&AttemptOutcome::Failed(FailureKind::Timeout)), "timeout");
    }

    #[test]
    fn a_method_hookline_does_not_serve_is_labelled_other() {
        assert_eq!(method_label("PATCH"), "PATCH");
        for junk in ["XQZVBNMASDFGH", "get", "", "PROPFIND"] {
            assert_eq!(method_label(junk), "other", "{junk}");
        }
        assert_eq!(status_label(404).as_ref(), "404");
        assert_eq!(status_label(1000).as_ref(), "other");
    }

    #[test]
    fn client_text_in_a_log_field_is_clipped_at_a_character_boundary() {
        assert_eq!(clip("/v1/events"), "/v1/events");
        let long = "é".repeat(LOG_TEXT_MAX);
        let clipped = clip(&long);
        assert!(clipped.len() <= LOG_TEXT_MAX + '…'.len_utf8(), "{}", clipped.len());
        assert!(clipped.ends_with('…') && clipped.starts_with("éé"));
    }
}
