//! A tenant's endpoints: the list, one endpoint's page and charts, and the actions on it (the forms' fields: [`super::forms`]).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use hookline::api::deliveries::ReplayRequest;
use hookline::api::subscriptions::{CreateSubscriptionRequest, SubscriptionView, UpdateSubscriptionRequest};
use hookline::auth::Caller;
use hookline::auth::portal::Session;
use hookline::model::TenantId;
use hookline::policy::RetrySchedule;
use hookline::ports::PageRequest;

use super::charts::charts;
use super::forms::{
    NewEndpoint, error_summary, events_field, filter_field, headers_field, invalid, of_field, whole_number,
};
use super::layout::{
    action_form, copy_button, form_field, page, problem, secured, see_other, signed_out, who,
};
use super::operator::{chosen_tenant, failed, tenant_form};
use super::session::{EndpointPost, endpoint_id, posted, session};
use super::test_events::test_form;
use crate::ApiState;
use crate::extract::{param, query};

/// A page that shows a secret once: `lead` before it, `after` below it.
pub(super) fn secret_page(
    caller: &Caller,
    status: StatusCode,
    title: &str,
    lead: Markup,
    secret: &str,
    after: Markup,
) -> Response {
    let body = html! { p { (lead) } pre { code #secret { (secret) } } (copy_button("secret", "Copy the secret")) (after) };
    secured(status, page(title, Some(&who(caller)), body))
}

/// A destructive action asks first: a post without `confirm=yes` answers
/// a page that says what will happen to which endpoint, with the same form
/// to post again confirmed, and a way back (no script needed). `None`:
/// confirmed, go ahead.
async fn ask_first(
    s: &ApiState,
    post: &super::session::Posted,
    id: &hookline::model::SubscriptionId,
    action: &str,
    question: &str,
    consequence: &str,
    button: &str,
) -> Option<Response> {
    if post.field("confirm") == "yes" {
        return None;
    }
    let caller = post.caller();
    let sub = match s.ctx.get_subscription(&caller, id).await {
        Ok(sub) => sub,
        Err(e) => return Some(failed(&e)),
    };
    let csrf = s.ctx.portal_csrf(&post.session);
    let mut fields: Vec<(&str, &str)> = post
        .fields
        .iter()
        .filter(|(k, _)| k != "csrf" && k != "confirm")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fields.push(("confirm", "yes"));
    let body = html! {
        p { "Endpoint " code { (sub.url) } @if let Some(d) = &sub.description { " (" (d) ")" } "." }
        p { (consequence) }
        (action_form(&csrf, &format!("/portal/endpoints/{}/{action}", sub.id), button, &fields))
        p { a href={ "/portal/endpoints/" (sub.id) } { "Cancel: back to the endpoint" } }
    };
    Some(secured(StatusCode::OK, page(question, Some(&who(&caller)), body)))
}

pub(super) async fn set_active(
    State(s): State<ApiState>,
    EndpointPost { post, id, .. }: EndpointPost,
) -> Response {
    let active = match post.field("active").as_str() {
        "true" => true,
        "false" => false,
        _ => return problem(StatusCode::BAD_REQUEST, "Endpoints", "Say whether to enable or disable it."),
    };
    if !active
        && let Some(page) = ask_first(
            &s,
            &post,
            &id,
            "active",
            "Disable this endpoint?",
            "No new events are delivered to it while it is disabled, and its pending deliveries are canceled; enable it again at any time.",
            "Disable the endpoint",
        )
        .await
    {
        return page;
    }
    let change = UpdateSubscriptionRequest { active: Some(active), ..UpdateSubscriptionRequest::default() };
    match s.ctx.update_subscription(&post.caller(), &id, change).await {
        Ok(view) => see_other(&format!("/portal/?tenant={}", view.tenant)),
        Err(e) => failed(&e),
    }
}

pub(super) async fn endpoints(
    State(s): State<ApiState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(session) = session(&s, &headers) else { return signed_out() };
    let chosen = match chosen_tenant(q.as_deref()) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let params = query(q.as_deref(), &["tenant", "q", "cursor"]).unwrap_or_default();
    let listing = Listing {
        search: param(&params, "q").unwrap_or_default().trim().to_owned(),
        cursor: param(&params, "cursor").filter(|c| !c.is_empty()).map(str::to_owned),
    };
    endpoints_page(&s, &session, chosen, &listing, &NewEndpoint::default(), None).await
}

/// An endpoint's retry schedules: its own (or the service's) and those of
/// particular event types, saying which wins.
fn retries(sub: &SubscriptionView, service: &RetrySchedule) -> Markup {
    let waits = |s: &RetrySchedule| match s.max_attempts() {
        1 => html! { "no retries" },
        _ => html! { "waits of " code { (s.to_string().replace(',', ", ")) } },
    };
    html! {
        h2 { "Retries" }
        p #retries {
            "After a failed attempt: "
            @match &sub.settings.retry_schedule {
                Some(own) => { (waits(own)) " (this endpoint's own schedule)." }
                None => { (waits(service)) @if sub.settings.preset.is_some() { " (its preset's, or the service's)." } @else { " (the service's schedule)." } }
            }
        }
        @if !sub.retry_schedules.is_empty() {
            p { "Events of these types are retried on their own schedule instead — the exact type first, then the longest prefix, then " code { "*" } ":" }
            table.cards #type-schedules {
                thead { tr { th { "Event types" } th { "Retries" } } }
                tbody {
                    @for (pattern, schedule) in sub.retry_schedules.iter() {
                        tr { td data-label="Event types" { code { (pattern.as_string()) } } td data-label="Retries" { (waits(schedule)) } }
                    }
                }
            }
        }
        p { small { "Schedules are set through the API: " code { "retry_schedule" } " and " code { "retry_schedules" } "." } }
    }
}

/// Which endpoints the list shows: those matching `search` (all when
/// empty), the page after `cursor`.
#[derive(Default)]
pub(super) struct Listing {
    search: String,
    cursor: Option<String>,
}

/// Endpoints a page of the list shows.
const ENDPOINTS_A_PAGE: usize = 50;

/// The list's search box, and a link to its next page.
fn search_form(chosen: Option<&TenantId>, listing: &Listing) -> Markup {
    html! {
        form.search method="get" action="/portal/" role="search" {
            @if let Some(t) = chosen { input type="hidden" name="tenant" value=(t.as_str()); }
            label { "Find endpoints"
                input type="search" name="q" value=(listing.search) maxlength="200"
                    placeholder="URL, description, channel or id";
            }
            button type="submit" { "Search" }
            @if !listing.search.is_empty() { " " a href={ "/portal/" @if let Some(t) = chosen { "?tenant=" (t.as_str()) } } { "Show all" } }
        }
    }
}

fn next_page(chosen: Option<&TenantId>, listing: &Listing, next: Option<&str>) -> Markup {
    let Some(next) = next else { return html! {} };
    let mut to = url::form_urlencoded::Serializer::new(String::new());
    if let Some(t) = chosen {
        to.append_pair("tenant", t.as_str());
    }
    if !listing.search.is_empty() {
        to.append_pair("q", &listing.search);
    }
    to.append_pair("cursor", next);
    html! { p.pages { a rel="next" href={ "/portal/?" (to.finish()) } { "Next " (ENDPOINTS_A_PAGE) " endpoints" } } }
}

/// The endpoints page, with the create form holding `new` and `error`
/// (the API's field name and message) next to its field.
pub(super) async fn endpoints_page(
    s: &ApiState,
    session: &Session,
    chosen: Option<TenantId>,
    listing: &Listing,
    new: &NewEndpoint,
    error: Option<(String, String)>,
) -> Response {
    let (caller, csrf) = (session.caller(), s.ctx.portal_csrf(session));
    let catalog = match s.ctx.event_types(&caller).await {
        Ok(c) => c.data,
        Err(e) => return failed(&e),
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let error_for = |field: &str| error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.clone());
    let page_request = PageRequest { cursor: listing.cursor.clone(), limit: ENDPOINTS_A_PAGE };
    let operator = caller.tenant().is_none();
    let tenant = Some(who(&caller));
    if operator && chosen.is_none() {
        let body = html! { p { "Choose a tenant to see its endpoints." } (tenant_form("/portal/", None)) };
        return secured(StatusCode::OK, page("Endpoints", tenant.as_ref(), body));
    }
    let asked = chosen.clone().filter(|_| operator);
    let list = match listing.search.is_empty() {
        true => s.ctx.list_subscriptions(&caller, asked, &page_request).await,
        false => s.ctx.find_subscriptions(&caller, asked, &listing.search, &page_request).await,
    };
    let list = match list {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let chooser = if operator { Some(tenant_form("/portal/", chosen.as_ref())) } else { None };
    let shown = chosen.as_ref().filter(|_| operator);
    let searched = !listing.search.is_empty();
    let first_page = listing.cursor.is_none();
    let body = html! {
        @if let Some(c) = chooser { (c) }
        @if !list.data.is_empty() || searched || !first_page { (search_form(shown, listing)) }
        @if list.data.is_empty() {
            @if searched { p { "No endpoints match " q { (listing.search) } "." } }
            @else if first_page { p { "No endpoints yet." } }
            @else { p { "No more endpoints." } }
        } @else {
            table.cards {
                caption.count {
                    (list.data.len()) @if list.data.len() == 1 { " endpoint" } @else { " endpoints" }
                    @if searched { " matching " q { (listing.search) } }
                    @if !first_page || list.next_cursor.is_some() { ", a page of them" }
                }
                thead { tr { th { "URL" } th { "Events" } th { "State" } th { "Rate limit" } th { "Description" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for sub in &list.data {
                        tr {
                            td data-label="URL" { a href={ "/portal/endpoints/" (sub.id) } { code { (sub.url) } } }
                            td data-label="Events" {
                                @if sub.event_types.is_empty() { "all" }
                                @for (i, t) in sub.event_types.iter().enumerate() { @if i > 0 { ", " } code { (t.as_string()) } }
                            }
                            td data-label="State" {
                                @if sub.active { span.succeeded { "active" } } @else { span.failed { "disabled" } }
                                @if let Some(r) = &sub.disabled_reason { br; small { (r) } }
                                @if let Some(since) = sub.failing_since { br; small { "failing since " (since.format("%Y-%m-%d %H:%M UTC")) } }
                            }
                            td data-label="Rate limit" { @if let Some(r) = sub.rate_limit { (r.per_second()) "/s" } @else { "—" } }
                            td data-label="Description" { (sub.description.as_deref().unwrap_or("")) }
                            td {
                                @let to = format!("/portal/endpoints/{}/active", sub.id);
                                @if sub.active { (action_form(&csrf, &to, "Disable", &[("active", "false")])) }
                                @else { (action_form(&csrf, &to, "Enable", &[("active", "true")])) }
                            }
                        }
                    }
                }
            }
            (next_page(shown, listing, list.next_cursor.as_deref()))
        }
    };
    let field = |name: &str, label: &str, value: &str, hint: &str, kind: &str| {
        form_field(name, label, value, hint, kind, error_for(name))
    };
    let form = html! {
        h2 { "Add an endpoint" }
        form.create method="post" action="/portal/endpoints" {
            input type="hidden" name="csrf" value=(csrf);
            (error_summary(error.as_ref(), &["url", "event_types", "description", "rate_limit", "headers"]))
            (field("url", "URL", &new.url, "https://…, where your server receives webhooks", "url"))
            (events_field(&catalog, &new.event_types, error_for("event_types")))
            (field("description", "Description", &new.description, "optional", "text"))
            (field("rate_limit", "Rate limit", &new.rate_limit, "deliveries a second, optional", "number"))
            (headers_field(&new.headers, &[], false, error_for("headers")))
            button type="submit" { "Add endpoint" }
        }
    };
    // An operator reads every tenant's endpoints; adding one is the
    // tenant's (or the API's) business.
    let body = html! { (body) @if !operator { (form) } };
    secured(status, page("Endpoints", tenant.as_ref(), body))
}

/// Asking to see a secret: post/redirect/get, to a page that shows it
/// once — its address carries a one-time ticket for this session and this
/// endpoint, so a reload (or the address copied) shows nothing and posts
/// nothing again, and the secret itself is never in an address.
pub(super) async fn reveal_secret(
    State(s): State<ApiState>,
    EndpointPost { post, id, .. }: EndpointPost,
) -> Response {
    if let Err(e) = s.ctx.get_subscription(&post.caller(), &id).await {
        return failed(&e);
    }
    match s.ctx.portal_reveal_ticket(&post.session, id.as_str()) {
        Some(ticket) => see_other(&format!("/portal/endpoints/{id}/secret?ticket={ticket}")),
        None => problem(StatusCode::CONFLICT, "No portal key", "The portal is not configured."),
    }
}

/// `GET /portal/endpoints/{id}/secret?ticket=`: the secret, once.
pub(super) async fn shown_secret(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(raw_id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(session) = session(&s, &headers) else { return signed_out() };
    let id = match endpoint_id(&raw_id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let ticket = query(q.as_deref(), &["ticket"]).ok().and_then(|p| param(&p, "ticket").map(str::to_owned));
    let caller = session.caller();
    let opened = match ticket {
        Some(t) => s.ctx.open_reveal_ticket(&session, id.as_str(), &t).await,
        None => Ok(Err(hookline::auth::BadToken::Malformed)),
    };
    match opened {
        Err(e) => failed(&hookline::api::ApiError::from(e)),
        Ok(Ok(())) => match s.ctx.reveal_subscription_secret(&caller, &id).await {
            Ok(revealed) => secret_page(
                &caller,
                StatusCode::OK,
                "Signing secret",
                html! { "The secret that signs requests to this endpoint now:" },
                &revealed.secret,
                html! { p { "This page shows it once: reloading it shows nothing." } p { a href={ "/portal/endpoints/" (id) } { "Back to the endpoint" } } },
            ),
            Err(e) => failed(&e),
        },
        Ok(Err(_)) => {
            let csrf = s.ctx.portal_csrf(&session);
            let body = html! {
                p { "A secret is shown once, on the page its button opens; this page has been shown already (or its minute is up)." }
                (action_form(&csrf, &format!("/portal/endpoints/{id}/reveal-secret"), "Reveal secret", &[]))
                p { a href={ "/portal/endpoints/" (id) } { "Back to the endpoint" } }
            };
            secured(StatusCode::OK, page("Reveal the secret again?", Some(&who(&caller)), body))
        }
    }
}

pub(super) async fn rotate_secret(
    State(s): State<ApiState>,
    EndpointPost { post, id, .. }: EndpointPost,
) -> Response {
    let grace_hours = s.ctx.settings.rotation_grace.as_secs() / 3600;
    let consequence = format!(
        "A new secret signs its requests from now on; the current one keeps signing beside it for {grace_hours} hours, so update your server within that time."
    );
    if let Some(page) = ask_first(
        &s,
        &post,
        &id,
        "rotate-secret",
        "Rotate this endpoint's secret?",
        &consequence,
        "Rotate the secret",
    )
    .await
    {
        return page;
    }
    // Post/redirect/get: a reload of the page after shows it again and
    // rotates nothing; the new secret is revealed there on purpose.
    match s.ctx.rotate_subscription_secret(&post.caller(), &id, None).await {
        Ok(_) => see_other(&format!("/portal/endpoints/{id}?rotated=1")),
        Err(e) => failed(&e),
    }
}

pub(super) async fn endpoint(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(session) = session(&s, &headers) else { return signed_out() };
    let params = query(q.as_deref(), &["replayed", "created", "rotated", "test_type"]).ok();
    let test = params.as_ref().and_then(|p| param(p, "test_type")).map(str::to_owned);
    let notice = match params {
        Some(p) if param(&p, "created") == Some("1") => Notice::Created,
        Some(p) if param(&p, "rotated") == Some("1") => Notice::Rotated,
        Some(p) => {
            param(&p, "replayed").and_then(|n| n.parse::<usize>().ok()).map_or(Notice::None, Notice::Replayed)
        }
        None => Notice::None,
    };
    endpoint_page(&s, &session, &id, Shown { test: test.as_deref(), ..Shown::default() }, notice).await
}

/// What an endpoint's page says it just did (after a redirect: a reload
/// shows the page again and repeats nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Notice {
    None,
    /// It was just added.
    Created,
    /// Its secret was just rotated.
    Rotated,
    /// This many failed deliveries are being sent again.
    Replayed(usize),
}

/// What an endpoint's page shows besides what is stored: a form posted
/// again with its error, the test event's type and payload.
#[derive(Default)]
pub(super) struct Shown<'a> {
    /// The settings as posted, shown again with `error` beside its field.
    pub(super) edited: Option<&'a NewEndpoint>,
    /// A form's error: the API's field name and message.
    pub(super) error: Option<(String, String)>,
    /// The test event's type, as chosen.
    pub(super) test: Option<&'a str>,
    /// The test event's payload, as typed.
    pub(super) payload: Option<&'a str>,
}

/// One endpoint: its settings as an edit form, its health, its test event
/// and replay forms, deleting it.
pub(super) async fn endpoint_page(
    s: &ApiState,
    session: &Session,
    id: &str,
    shown: Shown<'_>,
    notice: Notice,
) -> Response {
    let Shown { edited, error, test, payload } = shown;
    let (caller, csrf) = (session.caller(), s.ctx.portal_csrf(session));
    let id = match endpoint_id(id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let (sub, catalog) = match (s.ctx.get_subscription(&caller, &id).await, s.ctx.event_types(&caller).await)
    {
        (Ok(sub), Ok(catalog)) => (sub, catalog.data),
        (Err(e), _) | (_, Err(e)) => return failed(&e),
    };
    let stats = match s.ctx.settings.charts {
        true => match s.ctx.subscription_stats(&sub, hookline::api::stats::MAX_STATS_DAYS).await {
            Ok(stats) => Some(stats),
            Err(e) => return failed(&e),
        },
        false => None,
    };
    let stored = NewEndpoint {
        url: sub.url.to_string(),
        event_types: sub.event_types.iter().map(|t| t.as_string()).collect::<Vec<_>>().join(", "),
        description: sub.description.clone().unwrap_or_default(),
        rate_limit: sub.rate_limit.map(|r| r.per_second().to_string()).unwrap_or_default(),
        timeout_ms: sub.settings.timeout_ms.to_string(),
        channels: sub.channels.join(", "),
        filter: sub
            .filter
            .as_ref()
            .map(|f| serde_json::to_string_pretty(f.source()).unwrap_or_default())
            .unwrap_or_default(),
        ordered: sub.ordered,
        ..NewEndpoint::default()
    };
    // An ordered endpoint's deliveries that hold their key back: pending
    // after a failed attempt (the ones behind them wait unattempted).
    let holding = match sub.ordered {
        true => {
            let filter = hookline::ports::DeliveryFilter {
                subscription_id: Some(sub.id.clone()),
                status: Some(hookline::model::DeliveryStatus::Pending),
                ..Default::default()
            };
            let page = hookline::ports::PageRequest { cursor: None, limit: 100 };
            match s.ctx.list_deliveries(&caller, &filter, &page).await {
                Ok(list) => list.data.into_iter().filter(|d| d.ordered && d.attempt_count > 0).collect(),
                Err(e) => return failed(&e),
            }
        }
        false => Vec::new(),
    };
    let header_names: Vec<&str> = sub.settings.headers.keys().map(String::as_str).collect();
    let shown = edited.unwrap_or(&stored);
    let replay_since = (s.ctx.clock.now() - hookline::ports::span(std::time::Duration::from_secs(86_400)))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // A filter's or a channel's error names its part (`filter.payload.x`,
    // `channels[2]`): shown at its field, with the part it names.
    let error_for =
        |field: &str| error.as_ref().filter(|(f, _)| of_field(f) == field).map(|(_, m)| m.clone());
    let field = |name: &str, label: &str, value: &str, hint: &str, kind: &str| {
        form_field(name, label, value, hint, kind, error_for(name))
    };

    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let body = html! {
        @if notice == Notice::Created {
            p role="status" { "Endpoint added. Reveal its signing secret below and give it to your server: it verifies every request with it." }
        }
        @if notice == Notice::Rotated {
            p role="status" {
                "Secret rotated: requests are signed with a new one, and the previous one keeps signing beside it for "
                (s.ctx.settings.rotation_grace.as_secs() / 3600) " hours. Reveal the new one below and give it to your server."
            }
        }
        @if sub.description.is_some() { p.url { code { (sub.url) } } }
        p {
            @if sub.active { span.succeeded { "active" } } @else { span.failed { "disabled" } }
            @if let Some(r) = &sub.disabled_reason { " — " (r) }
            @if let Some(since) = sub.failing_since {
                " — every attempt has failed since " (since.format("%Y-%m-%d %H:%M UTC"))
                "; unless one succeeds, it is disabled at " ((since + s.ctx.settings.disable.after).format("%Y-%m-%d %H:%M UTC"))
            }
            @if let Some(until) = sub.paused_until { " — paused until " (until.format("%Y-%m-%d %H:%M:%S UTC")) " (it answered 429)" }
            " · " a href={ "/portal/deliveries?subscription=" (sub.id) @if caller.tenant().is_none() { "&tenant=" (sub.tenant.as_str()) } } { "its deliveries" }
        }
        h2 { "Health" }
        @match &stats {
            Some(stats) => {
                (charts(stats))
                p { a href={ "/portal/deliveries?status=pending&subscription=" (sub.id) @if caller.tenant().is_none() { "&tenant=" (sub.tenant.as_str()) } } { "Its pending deliveries" } }
            }
            None => p { "Charts are off on this service." }
        }
        @if sub.ordered {
            h2 { "Held back in order" }
            @if holding.is_empty() {
                p #held-back { "No event is waiting behind a failing one." }
            } @else {
                p #held-back { (holding.len()) " deliveries hold their keys back." }
                p { "Each of these failed and is retried; the later events of its ordering key wait until it succeeds or its retries run out." }
                table.cards {
                    thead { tr { th { "Delivery" } th { "Event type" } th { "Attempts" } th { "Last status" } th { "Next attempt" } } }
                    tbody {
                        @for d in &holding {
                            tr {
                                td data-label="Delivery" { a href={ "/portal/deliveries/" (d.id) } { (d.id) } }
                                td data-label="Event type" { (d.event_type) }
                                td data-label="Attempts" { (d.attempt_count) }
                                td data-label="Last status" { @match d.last_status_code { Some(c) => (c), None => "no response" } }
                                td data-label="Next attempt" { @if let Some(at) = d.next_attempt_at { (at.format("%Y-%m-%d %H:%M:%S UTC")) } }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Settings" }
        form.create method="post" action={ "/portal/endpoints/" (sub.id) } {
            input type="hidden" name="csrf" value=(csrf);
            (error_summary(error.as_ref().filter(|(f, _)| !OTHER_FORMS.contains(&of_field(f))), SETTINGS))
            (field("url", "URL", &shown.url, "where requests go", "url"))
            (events_field(&catalog, &shown.event_types, error_for("event_types")))
            (field("description", "Description", &shown.description, "optional", "text"))
            (field("rate_limit", "Rate limit", &shown.rate_limit, "deliveries a second; empty: no limit", "number"))
            (field("timeout_ms", "Timeout", &shown.timeout_ms, "milliseconds per attempt, 1000 to 30000", "number"))
            (field("channels", "Channels", &shown.channels, "comma-separated: only events on one of them; empty: every event", "text"))
            (filter_field(&shown.filter, error_for("filter")))
            label.toggle {
                input type="checkbox" name="ordered" checked[shown.ordered];
                "Deliver each ordering key's events one at a time, in the order they were published"
            }
            (headers_field(&shown.headers, &header_names, !header_names.is_empty(), error_for("headers")))
            button type="submit" { "Save" }
        }
        (retries(&sub, &s.ctx.settings.retry.schedule))
        h2 { "Signing secret" }
        p { "Your server verifies each request with it. Revealing it is recorded." }
        (action_form(&csrf, &format!("/portal/endpoints/{}/reveal-secret", sub.id), "Reveal secret", &[]))
        (action_form(&csrf, &format!("/portal/endpoints/{}/rotate-secret", sub.id), "Rotate secret", &[]))
        (test_form(&sub, &catalog, (test, payload), &csrf, error_for("event_type"), error_for("payload")))
        h2 { "Replay failed deliveries" }
        form.create method="post" action={ "/portal/endpoints/" (sub.id) "/replay" } {
            input type="hidden" name="csrf" value=(csrf);
            (field("since", "Since", &replay_since, "UTC, e.g. 2026-11-23T09:00:00Z: failed deliveries created since then are sent again, oldest first", "text"))
            button type="submit" { "Replay" }
        }
        @if let Notice::Replayed(n) = notice { p role="status" { (n) " failed deliveries will be sent again." } }
        h2 { "Delete" }
        p { "Deleting the endpoint cancels its pending deliveries." }
        (action_form(&csrf, &format!("/portal/endpoints/{}/delete", sub.id), "Delete this endpoint", &[]))
    };
    let title = sub.description.clone().unwrap_or_else(|| sub.url.to_string());
    secured(status, page(&title, Some(&who(&caller)), body))
}

/// The fields the settings form changes.
const SETTINGS: &[&str] =
    &["url", "event_types", "description", "rate_limit", "timeout_ms", "channels", "filter", "headers"];
/// The fields of the page's other forms (a test event, a replay): their
/// errors are shown beside them, not in the settings form's summary.
const OTHER_FORMS: &[&str] = &["event_type", "payload", "since"];

pub(super) async fn replay_endpoint(
    State(s): State<ApiState>,
    EndpointPost { post, id: sub_id, raw_id: id }: EndpointPost,
) -> Response {
    let consequence =
        format!("Every failed delivery created since {} is sent again, oldest first.", post.field("since"));
    if let Some(page) =
        ask_first(&s, &post, &sub_id, "replay", "Replay failed deliveries?", &consequence, "Replay them")
            .await
    {
        return page;
    }
    // The same request as POST /v1/subscriptions/{id}/replay, failed ones.
    let request = ReplayRequest { since: post.field("since"), status: None };
    match s.ctx.replay(&post.caller(), &sub_id, request).await {
        Ok(done) => see_other(&format!("/portal/endpoints/{sub_id}?replayed={}", done.replayed)),
        Err(hookline::api::ApiError::Invalid(v)) => {
            let shown = Shown { error: Some(invalid(&v)), ..Shown::default() };
            endpoint_page(&s, &post.session, &id, shown, Notice::None).await
        }
        Err(e) => failed(&e),
    }
}

pub(super) async fn edit_endpoint(
    State(s): State<ApiState>,
    EndpointPost { post, id: sub_id, raw_id: id }: EndpointPost,
) -> Response {
    let edited = NewEndpoint::from(&post);
    let numbers = whole_number("rate_limit", &edited.rate_limit).and_then(|r| {
        Ok((r, whole_number("timeout_ms", &edited.timeout_ms)?, edited.header_map()?, edited.filter_value()?))
    });
    let (rate_limit, timeout_ms, custom, filter) = match numbers {
        Ok(n) => n,
        Err(e) => {
            let shown = Shown { edited: Some(&edited), error: Some(e), ..Shown::default() };
            return endpoint_page(&s, &post.session, &id, shown, Notice::None).await;
        }
    };
    // The same change, and so the same checks, as PATCH /v1/subscriptions/{id}.
    let change = UpdateSubscriptionRequest {
        url: Some(edited.url.clone()),
        event_types: Some(edited.event_type_list()),
        description: Some(Some(edited.description.clone()).filter(|d| !d.is_empty())),
        rate_limit: Some(rate_limit),
        timeout_ms,
        headers: custom,
        channels: Some(Some(edited.channel_list())),
        filter: Some(filter),
        ordered: Some(edited.ordered),
        ..UpdateSubscriptionRequest::default()
    };
    match s.ctx.update_subscription(&post.caller(), &sub_id, change).await {
        Ok(view) => see_other(&format!("/portal/?tenant={}", view.tenant)),
        Err(hookline::api::ApiError::Invalid(v)) => {
            let shown = Shown { edited: Some(&edited), error: Some(invalid(&v)), ..Shown::default() };
            endpoint_page(&s, &post.session, &id, shown, Notice::None).await
        }
        Err(e) => failed(&e),
    }
}

pub(super) async fn delete_endpoint(
    State(s): State<ApiState>,
    EndpointPost { post, id, .. }: EndpointPost,
) -> Response {
    if let Some(page) = ask_first(
        &s,
        &post,
        &id,
        "delete",
        "Delete this endpoint?",
        "It stops receiving events and its pending deliveries are canceled. This cannot be undone.",
        "Delete the endpoint",
    )
    .await
    {
        return page;
    }
    let caller = post.caller();
    let tenant = match s.ctx.get_subscription(&caller, &id).await {
        Ok(view) => view.tenant,
        Err(e) => return failed(&e),
    };
    match s.ctx.delete_subscription(&caller, &id).await {
        Ok(()) => see_other(&format!("/portal/?tenant={tenant}")),
        Err(e) => failed(&e),
    }
}

pub(super) async fn create_endpoint(State(s): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let post = match posted(&s, &headers, &body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let caller = post.caller();
    let new = NewEndpoint { timeout_ms: String::new(), ..NewEndpoint::from(&post) };
    let (rate_limit, custom) = match whole_number("rate_limit", &new.rate_limit)
        .and_then(|r| Ok((r, new.header_map()?)))
    {
        Ok(x) => x,
        Err(e) => return endpoints_page(&s, &post.session, None, &Listing::default(), &new, Some(e)).await,
    };
    let tenant = caller.tenant().map(|t| t.as_str().to_owned()).unwrap_or_default();
    // The same request, and so the same checks, as POST /v1/subscriptions.
    let request = CreateSubscriptionRequest {
        tenant,
        url: new.url.clone(),
        event_types: Some(new.event_type_list()),
        description: Some(new.description.clone()).filter(|d| !d.is_empty()),
        active: None,
        signature: None,
        body: None,
        headers: custom,
        timeout_ms: None,
        retry_schedule: None,
        secret: None,
        preset: None,
        initial_delay: None,
        rate_limit,
        channels: None,
        filter: None,
        retry_schedules: None,
        ordered: None,
    };
    match s.ctx.create_subscription(&caller, request).await {
        // Post/redirect/get: the page after is an ordinary one, so
        // reloading it adds nothing; the secret is one click away there
        // (revealed on purpose, audited).
        Ok(created) => see_other(&format!("/portal/endpoints/{}?created=1", created.subscription.id)),
        Err(hookline::api::ApiError::Invalid(v)) => {
            endpoints_page(&s, &post.session, None, &Listing::default(), &new, Some(invalid(&v))).await
        }
        Err(e) => failed(&e),
    }
}
