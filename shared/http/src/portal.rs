//! The portal: HTML pages for one tenant, served by the same router as the
//! API, rendered on the server (maud: escaped by construction, checked at
//! compile time) with no script and no request to another site.
//!
//! `GET /portal/login?token=` opens a link from
//! `POST /v1/tenants/{tenant}/portal-sessions` and sets the session cookie
//! (HttpOnly, scoped to `/portal`; `SameSite=None; Secure` over HTTPS so it
//! works inside the platform's iframe, `Lax` over plain HTTP). Every page
//! then acts as that tenant's caller through the same operations as the
//! API, so a session reaches nothing of another tenant: anything else
//! answers as not found.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hookline::api::deliveries::ReplayRequest;
use hookline::api::subscriptions::{CreateSubscriptionRequest, UpdateSubscriptionRequest};
use hookline::auth::Caller;
use hookline::auth::portal::{SESSION_TTL, Session};
use hookline::model::{DeliveryId, DeliveryStatus, EventTypeInfo, SubscriptionId, TenantId};
use hookline::policy::FailureKind;
use hookline::ports::{DeliveryFilter, PageRequest};
use maud::{DOCTYPE, Markup, html};

use super::ApiState;
use super::extract::{param, query};

/// The session cookie's name.
pub const COOKIE: &str = "hookline_portal";

/// The portal's routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/portal/login", get(login))
        .route("/portal", get(endpoints))
        .route("/portal/", get(endpoints))
        .route("/portal/deliveries", get(deliveries))
        .route("/portal/deliveries/{id}", get(delivery))
        .route("/portal/deliveries/{id}/redeliver", post(redeliver))
        .route("/portal/deliveries/{id}/attempts/{number}", get(attempt_request))
        .route("/portal/endpoints/{id}/active", post(set_active))
        .route("/portal/endpoints", post(create_endpoint))
        .route("/portal/endpoints/{id}", get(endpoint).post(edit_endpoint))
        .route("/portal/endpoints/{id}/delete", post(delete_endpoint))
        .route("/portal/endpoints/{id}/test", post(test_endpoint))
        .route("/portal/endpoints/{id}/replay", post(replay_endpoint))
        .route("/portal/endpoints/{id}/reveal-secret", post(reveal_secret))
        .route("/portal/dead-letters", get(dead_letters))
        .route("/portal/service", get(service))
        .route("/portal/event-types", get(event_types))
        .route("/portal/endpoints/{id}/rotate-secret", post(rotate_secret))
        // No form is near this; a larger body is refused before it is read.
        .layer(axum::extract::DefaultBodyLimit::max(16 * MAX_FORM))
}

/// The stylesheet, inline: one request per page, nothing from elsewhere.
const STYLE: &str = "
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
header{background:#1b1f24;color:#fff;padding:.75rem 1rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}header strong{margin-right:auto}
main{padding:1rem;max-width:72rem}h1,dd,code,pre{overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
th{font-weight:600}caption.count{text-align:left;padding:.25rem 0;color:#424a53}nav a{margin-left:1rem;white-space:nowrap}td code{word-break:break-all}
.succeeded{color:#116329}.failed,.canceled{color:#a40e26}.pending{color:#7d4e00}
form{display:flex;gap:1rem;flex-wrap:wrap;align-items:end;margin:0 0 1rem}label{display:flex;flex-direction:column;font-weight:600}
select,input,button,textarea{font:inherit;padding:.3rem}pre{background:#f6f8fa;padding:.5rem;overflow:auto;white-space:pre-wrap}
a{color:#0550ae}a:focus,button:focus,select:focus,input:focus,textarea:focus{outline:3px solid #0969da}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
form.create{flex-direction:column;align-items:stretch;max-width:32rem}form.create label{gap:.2rem}
.error{color:#a40e26}small{font-weight:400;color:#424a53}small.error{color:#a40e26}
fieldset.events{border:1px solid #d0d7de;padding:.5rem 1rem}fieldset.events legend{font-weight:600}
label.toggle{flex-direction:row;align-items:baseline;gap:.5rem;font-weight:400}
.charts{display:flex;gap:2rem;flex-wrap:wrap}.charts figure{margin:0;flex:1 1 18rem}svg.chart{width:100%;height:6rem;border-bottom:1px solid #424a53}
.ok{fill:#1a7f37}.ko{fill:#cf222e}figcaption{color:#424a53}
@media (max-width:40rem){th:nth-child(n+4),td:nth-child(n+4){display:none}}
";

/// Whose pages these are.
enum Who {
    /// One tenant's.
    Tenant(String),
    /// The operator's, over every tenant.
    Operator,
}

fn who(caller: &Caller) -> Who {
    match caller.tenant() {
        Some(t) => Who::Tenant(t.as_str().to_owned()),
        None => Who::Operator,
    }
}

fn page(title: &str, who: Option<&Who>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — hookline" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Webhooks"
                        @match who { Some(Who::Tenant(t)) => { " · " (t) } Some(Who::Operator) => { " · operator" } None => {} }
                    }
                    @if who.is_some() {
                        nav aria-label="Portal" {
                            a href="/portal/" { "Endpoints" } " "
                            a href="/portal/deliveries" { "Delivery log" } " "
                            a href="/portal/event-types" { "Event types" }
                            @if matches!(who, Some(Who::Operator)) {
                                " " a href="/portal/service" { "Service" }
                                " " a href="/portal/dead-letters" { "Dead letters" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// Headers every portal page carries: no caching, no referrer (a link's
/// token must not leak), nothing loaded from elsewhere.
fn secured(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Who may show the portal in a frame: the portal itself, and the origins
/// the operator configured (the platform's site that embeds it). Any other
/// site's frame is refused, so no page of another site can trick a
/// signed-in user into clicking the portal's buttons.
pub(crate) async fn frame_policy(
    State(s): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let ancestors = std::iter::once("'self'".to_owned())
        .chain(s.ctx.settings.portal_frame_ancestors.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let existing = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let policy = match existing {
        Some(p) => format!("{p}; frame-ancestors {ancestors}"),
        None => format!("frame-ancestors {ancestors}"),
    };
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// A page that explains itself instead of a stack trace.
fn problem(status: StatusCode, title: &str, text: &str) -> Response {
    secured(status, page(title, None, html! { p { (text) } }))
}

fn signed_out() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "Your session has ended",
        "Open the webhooks page again from the application that sent you here.",
    )
}

/// The session the cookie holds.
fn session(s: &ApiState, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get_all(header::COOKIE).into_iter().filter_map(|v| v.to_str().ok());
    let token = cookies
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE).then_some(value))?;
    s.ctx.portal_session(token).ok()
}

/// The tenant's caller, from the session cookie.
fn caller(s: &ApiState, headers: &HeaderMap) -> Option<Caller> {
    session(s, headers).map(|session| session.caller())
}

/// A posted form's fields.
type Form = Vec<(String, String)>;

/// The largest form a portal action takes.
const MAX_FORM: usize = 4096;

/// A form post that passed its checks: the session it came with, and its
/// fields.
struct Posted {
    session: Session,
    fields: Form,
}

impl Posted {
    fn caller(&self) -> Caller {
        self.session.caller()
    }

    /// A field's value, trimmed; empty when absent.
    fn field(&self, name: &str) -> String {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
    }
}

/// A form post: a session, and the session's anti-forgery token in the
/// form (a page of another site cannot know it).
fn posted(s: &ApiState, headers: &HeaderMap, body: &[u8]) -> Result<Posted, Box<Response>> {
    let Some(session) = session(s, headers) else { return Err(Box::new(signed_out())) };
    if body.len() > MAX_FORM {
        return Err(Box::new(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much",
            "That form is larger than any of ours.",
        )));
    }
    let fields: Form = url::form_urlencoded::parse(body).into_owned().collect();
    let token = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
    if !s.ctx.portal_csrf_ok(&session, token) {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "This action was refused",
            "The form did not come from this page. Reload the page and try again.",
        )));
    }
    Ok(Posted { session, fields })
}

/// A form post to one endpoint's action, as an extractor: the checked
/// post ([`posted`]), the endpoint's id, and the id as the path had it.
struct EndpointPost {
    post: Posted,
    id: SubscriptionId,
    raw_id: String,
}

impl FromRequest<ApiState> for EndpointPost {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, s: &ApiState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Path(raw_id) =
            Path::<String>::from_request_parts(&mut parts, s).await.map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(axum::extract::Request::from_parts(parts, body), s)
            .await
            .map_err(IntoResponse::into_response)?;
        let post = posted(s, &headers, &body).map_err(|r| *r)?;
        let id = endpoint_id(&raw_id).map_err(|r| *r)?;
        Ok(Self { post, id, raw_id })
    }
}

/// An endpoint id from a path, or the page that says there is none.
fn endpoint_id(id: &str) -> Result<SubscriptionId, Box<Response>> {
    id.parse().map_err(|_| {
        Box::new(problem(StatusCode::NOT_FOUND, "No such endpoint", "There is no endpoint with this id."))
    })
}

/// A field's error as the forms show it: its name and the message.
fn invalid(v: &hookline::validation::ValidationError) -> (String, String) {
    (v.field().to_owned(), capitalised(&v.to_string()))
}

/// A page that shows a secret once: `lead` before it, `after` below it.
fn secret_page(
    caller: &Caller,
    status: StatusCode,
    title: &str,
    lead: Markup,
    secret: &str,
    after: Markup,
) -> Response {
    let body = html! { p { (lead) } pre { code #secret { (secret) } } (after) };
    secured(status, page(title, Some(&who(caller)), body))
}

/// A form that posts `action` with the session's token.
fn action_form(csrf: &str, to: &str, label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form method="post" action=(to) {
            input type="hidden" name="csrf" value=(csrf);
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button type="submit" { (label) }
        }
    }
}

fn see_other(to: &str) -> Response {
    let mut response = secured(StatusCode::SEE_OTHER, html! {});
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

async fn redeliver(
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

async fn set_active(State(s): State<ApiState>, EndpointPost { post, id, .. }: EndpointPost) -> Response {
    let active = match post.field("active").as_str() {
        "true" => true,
        "false" => false,
        _ => return problem(StatusCode::BAD_REQUEST, "Endpoints", "Say whether to enable or disable it."),
    };
    let change = UpdateSubscriptionRequest { active: Some(active), ..UpdateSubscriptionRequest::default() };
    match s.ctx.update_subscription(&post.caller(), &id, change).await {
        Ok(view) => see_other(&format!("/portal/?tenant={}", view.tenant)),
        Err(e) => failed(&e),
    }
}

fn https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

async fn login(State(s): State<ApiState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let token = query(q.as_deref(), &["token"]).ok().and_then(|p| param(&p, "token").map(str::to_owned));
    let Some(token) = token else {
        return problem(StatusCode::BAD_REQUEST, "This link is incomplete", "The link has no token.");
    };
    match s.ctx.open_portal(&token) {
        Ok((session, _)) => {
            let attributes = if https(&headers) { "Secure; SameSite=None" } else { "SameSite=Lax" };
            let cookie = format!(
                "{COOKIE}={session}; Path=/portal; HttpOnly; Max-Age={}; {attributes}",
                SESSION_TTL.as_secs()
            );
            let mut response = secured(StatusCode::SEE_OTHER, html! {});
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/portal/"));
            response
        }
        Err(e) => problem(
            StatusCode::UNAUTHORIZED,
            "This link cannot be used",
            &format!(
                "{}. Open the webhooks page again from the application that sent you here.",
                capitalised(&e.to_string())
            ),
        ),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn status_class(status: DeliveryStatus) -> &'static str {
    status.as_str()
}

async fn endpoints(State(s): State<ApiState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let Some(session) = session(&s, &headers) else { return signed_out() };
    let chosen = match chosen_tenant(q.as_deref()) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    endpoints_page(&s, &session, chosen, &NewEndpoint::default(), None).await
}

/// The tenant an operator chose (`?tenant=`); a tenant's own session
/// ignores it (its scope decides).
fn chosen_tenant(q: Option<&str>) -> Result<Option<TenantId>, Box<Response>> {
    let params = query(q, &["tenant"]).map_err(|e| Box::new(failed(&e)))?;
    match param(&params, "tenant").map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => TenantId::parse(t).map(Some).map_err(|_| {
            Box::new(problem(StatusCode::BAD_REQUEST, "Endpoints", "That is not a tenant name."))
        }),
        None => Ok(None),
    }
}

/// An operator's tenant chooser, sending to `to`.
fn tenant_form(to: &str, chosen: Option<&TenantId>) -> Markup {
    html! {
        form method="get" action=(to) {
            label { "Tenant" input name="tenant" type="text" value=[chosen.map(|t| t.as_str())] required; }
            button type="submit" { "Show" }
        }
    }
}

/// One labelled input with its hint, or its error in place of the hint.
fn form_field(name: &str, label: &str, value: &str, hint: &str, kind: &str, error: Option<String>) -> Markup {
    html! {
        label for=(name) { (label)
            input id=(name) name=(name) type=(kind) value=(value) aria-invalid=[error.as_ref().map(|_| "true")]
                aria-describedby=(format!("{name}-note"));
            small id=(format!("{name}-note")) class=[error.as_ref().map(|_| "error")] { @if let Some(e) = &error { (e) } @else { (hint) } }
        }
    }
}

/// The custom headers field: a textarea of `Name: value` lines (what was
/// typed, never what is stored: values are write-only), the names set now,
/// and (`clear`) a box to remove them all.
fn headers_field(typed: &str, set_now: &[&str], clear: bool, error: Option<String>) -> Markup {
    let hint = if set_now.is_empty() {
        "optional: one `Name: value` a line, sent with every request".to_owned()
    } else {
        format!(
            "set now: {}; values are not shown — what you type replaces them all, nothing typed keeps them",
            set_now.join(", ")
        )
    };
    html! {
        label for="headers" { "Custom headers"
            textarea id="headers" name="headers" rows="3" aria-invalid=[error.as_ref().map(|_| "true")]
                aria-describedby="headers-note" { (typed) }
            small id="headers-note" class=[error.as_ref().map(|_| "error")] { @if let Some(e) = &error { (e) } @else { (hint) } }
        }
        @if clear {
            label.toggle { input type="checkbox" name="clear_headers"; "Remove every custom header" }
        }
    }
}

/// The event types of a form: the catalog's toggles that are checked and
/// the patterns typed beside them, as one comma-separated list.
fn event_types_of(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .filter(|(k, _)| k == "event_types" || k == "event_types_more")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The events an endpoint receives: one toggle per declared type (as
/// Ignite's settings page has), and a field for patterns; a plain field
/// when nothing is declared.
fn events_field(catalog: &[EventTypeInfo], current: &str, error: Option<String>) -> Markup {
    let hint = "comma-separated, e.g. order.paid, order.*; empty: all";
    if catalog.is_empty() {
        return form_field("event_types", "Events", current, hint, "text", error);
    }
    let chosen: Vec<&str> = current.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    let declared = |t: &str| catalog.iter().any(|c| c.name.as_str() == t);
    let more = chosen.iter().filter(|t| !declared(t)).copied().collect::<Vec<_>>().join(", ");
    html! {
        fieldset.events {
            legend { "Events" }
            @for t in catalog {
                label.toggle {
                    input type="checkbox" name="event_types" value=(t.name.as_str()) checked[chosen.contains(&t.name.as_str())];
                    code { (t.name.as_str()) }
                    @if let Some(d) = &t.description { small { (d) } }
                }
            }
            (form_field("event_types_more", "Other event types", &more, "patterns such as video.*; none checked and none here: every event", "text", error))
        }
    }
}

/// What the create form was given, kept to show it again with its error.
#[derive(Default)]
struct NewEndpoint {
    url: String,
    event_types: String,
    description: String,
    rate_limit: String,
    timeout_ms: String,
    /// Custom headers typed, one `Name: value` a line (values are
    /// write-only: never filled in from what is stored).
    headers: String,
    /// Remove every custom header.
    clear_headers: bool,
}

impl From<&Posted> for NewEndpoint {
    fn from(post: &Posted) -> Self {
        Self {
            url: post.field("url"),
            event_types: event_types_of(&post.fields),
            description: post.field("description"),
            rate_limit: post.field("rate_limit"),
            timeout_ms: post.field("timeout_ms"),
            headers: post.field("headers"),
            clear_headers: post.field("clear_headers") == "on",
        }
    }
}

impl NewEndpoint {
    /// The custom headers as the API takes them: none when nothing was
    /// typed (keep what is stored), an empty set when asked to clear them.
    fn header_map(&self) -> Result<Option<BTreeMap<String, String>>, (String, String)> {
        if self.clear_headers {
            return Ok(Some(BTreeMap::new()));
        }
        let mut out = BTreeMap::new();
        for line in self.headers.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(("headers".to_owned(), format!("{line:?}: one `Name: value` a line")));
            };
            out.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// The event types as the API takes them.
    fn event_type_list(&self) -> Vec<String> {
        self.event_types.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
    }
}

/// The endpoints page, with the create form holding `new` and `error`
/// (the API's field name and message) next to its field.
async fn endpoints_page(
    s: &ApiState,
    session: &Session,
    chosen: Option<TenantId>,
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
    let page_request = PageRequest { cursor: None, limit: 100 };
    let operator = caller.tenant().is_none();
    let tenant = Some(who(&caller));
    if operator && chosen.is_none() {
        let body = html! { p { "Choose a tenant to see its endpoints." } (tenant_form("/portal/", None)) };
        return secured(StatusCode::OK, page("Endpoints", tenant.as_ref(), body));
    }
    let list =
        match s.ctx.list_subscriptions(&caller, chosen.clone().filter(|_| operator), &page_request).await {
            Ok(l) => l,
            Err(e) => return failed(&e),
        };
    let chooser = if operator { Some(tenant_form("/portal/", chosen.as_ref())) } else { None };
    let body = html! {
        @if let Some(c) = chooser { (c) }
        @if list.data.is_empty() {
            p { "No endpoints yet." }
        } @else {
            table {
                caption.count { (list.data.len()) @if list.data.len() == 1 { " endpoint" } @else { " endpoints" } }
                thead { tr { th { "URL" } th { "Events" } th { "State" } th { "Rate limit" } th { "Description" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for sub in &list.data {
                        tr {
                            td { a href={ "/portal/endpoints/" (sub.id) } { code { (sub.url) } } }
                            td {
                                @if sub.event_types.is_empty() { "all" }
                                @for (i, t) in sub.event_types.iter().enumerate() { @if i > 0 { ", " } code { (t.as_string()) } }
                            }
                            td {
                                @if sub.active { span.succeeded { "active" } } @else { span.failed { "disabled" } }
                                @if let Some(r) = &sub.disabled_reason { br; small { (r) } }
                                @if let Some(since) = sub.failing_since { br; small { "failing since " (since.format("%Y-%m-%d %H:%M UTC")) } }
                            }
                            td { @if let Some(r) = sub.rate_limit { (r.per_second()) "/s" } @else { "—" } }
                            td { (sub.description.as_deref().unwrap_or("")) }
                            td {
                                @let to = format!("/portal/endpoints/{}/active", sub.id);
                                @if sub.active { (action_form(&csrf, &to, "Disable", &[("active", "false")])) }
                                @else { (action_form(&csrf, &to, "Enable", &[("active", "true")])) }
                                (action_form(&csrf, &format!("/portal/endpoints/{}/rotate-secret", sub.id), "Rotate secret", &[]))
                            }
                        }
                    }
                }
            }
        }
    };
    let field = |name: &str, label: &str, value: &str, hint: &str, kind: &str| {
        form_field(name, label, value, hint, kind, error_for(name))
    };
    let other = error.as_ref().filter(|(f, _)| {
        !["url", "event_types", "description", "rate_limit", "headers"].contains(&f.as_str())
    });
    let form = html! {
        h2 { "Add an endpoint" }
        form.create method="post" action="/portal/endpoints" {
            input type="hidden" name="csrf" value=(csrf);
            (field("url", "URL", &new.url, "https://…, where your server receives webhooks", "url"))
            (events_field(&catalog, &new.event_types, error_for("event_types")))
            (field("description", "Description", &new.description, "optional", "text"))
            (field("rate_limit", "Rate limit", &new.rate_limit, "deliveries a second, optional", "number"))
            (headers_field(&new.headers, &[], false, error_for("headers")))
            @if let Some((_, m)) = other { p.error role="alert" { (m) } }
            button type="submit" { "Add endpoint" }
        }
    };
    // An operator reads every tenant's endpoints; adding one is the
    // tenant's (or the API's) business.
    let body = html! { (body) @if !operator { (form) } };
    secured(status, page("Endpoints", tenant.as_ref(), body))
}

async fn reveal_secret(State(s): State<ApiState>, EndpointPost { post, id, .. }: EndpointPost) -> Response {
    let caller = post.caller();
    match s.ctx.reveal_subscription_secret(&caller, &id).await {
        Ok(revealed) => secret_page(
            &caller,
            StatusCode::OK,
            "Signing secret",
            html! { "The secret that signs requests to this endpoint now:" },
            &revealed.secret,
            html! { p { a href={ "/portal/endpoints/" (id) } { "Back to the endpoint" } } },
        ),
        Err(e) => failed(&e),
    }
}

async fn rotate_secret(State(s): State<ApiState>, EndpointPost { post, id, .. }: EndpointPost) -> Response {
    let caller = post.caller();
    match s.ctx.rotate_subscription_secret(&caller, &id, None).await {
        Ok(rotated) => {
            let grace = s.ctx.settings.rotation_grace.as_secs() / 3600;
            secret_page(
                &caller,
                StatusCode::OK,
                "Secret rotated",
                html! { "Requests to " code { (rotated.subscription.url) } " are now signed with this secret. Copy it now: it is not shown again." },
                &rotated.secret,
                html! {
                    p { "The previous secret keeps signing beside it for " (grace) " hours, so your server can switch without missing a request." }
                    p { a href="/portal/" { "Back to the endpoints" } }
                },
            )
        }
        Err(e) => failed(&e),
    }
}

async fn endpoint(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(session) = session(&s, &headers) else { return signed_out() };
    let replayed = query(q.as_deref(), &["replayed"])
        .ok()
        .and_then(|p| param(&p, "replayed").and_then(|n| n.parse::<usize>().ok()));
    endpoint_page(&s, &session, &id, None, None, replayed).await
}

/// One endpoint: its settings as an edit form (`edited`: what was posted,
/// shown again with `error` beside its field), its deliveries, deleting it.
async fn endpoint_page(
    s: &ApiState,
    session: &Session,
    id: &str,
    edited: Option<&NewEndpoint>,
    error: Option<(String, String)>,
    replayed: Option<usize>,
) -> Response {
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
        ..NewEndpoint::default()
    };
    let header_names: Vec<&str> = sub.settings.headers.keys().map(String::as_str).collect();
    let shown = edited.unwrap_or(&stored);
    let replay_since = (s.ctx.clock.now() - hookline::ports::span(std::time::Duration::from_secs(86_400)))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let error_for = |field: &str| error.as_ref().filter(|(f, _)| f == field).map(|(_, m)| m.clone());
    let field = |name: &str, label: &str, value: &str, hint: &str, kind: &str| {
        form_field(name, label, value, hint, kind, error_for(name))
    };
    let other = error.as_ref().filter(|(f, _)| !EDITABLE.contains(&f.as_str()));
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let body = html! {
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
        @match &stats { Some(stats) => (charts(stats)), None => p { "Charts are off on this service." } }
        h2 { "Settings" }
        form.create method="post" action={ "/portal/endpoints/" (sub.id) } {
            input type="hidden" name="csrf" value=(csrf);
            (field("url", "URL", &shown.url, "where requests go", "url"))
            (events_field(&catalog, &shown.event_types, error_for("event_types")))
            (field("description", "Description", &shown.description, "optional", "text"))
            (field("rate_limit", "Rate limit", &shown.rate_limit, "deliveries a second; empty: no limit", "number"))
            (field("timeout_ms", "Timeout", &shown.timeout_ms, "milliseconds per attempt, 1000 to 30000", "number"))
            (headers_field(&shown.headers, &header_names, !header_names.is_empty(), error_for("headers")))
            @if let Some((_, m)) = other { p.error role="alert" { (m) } }
            button type="submit" { "Save" }
        }
        h2 { "Signing secret" }
        p { "Your server verifies each request with it. Revealing it is recorded." }
        (action_form(&csrf, &format!("/portal/endpoints/{}/reveal-secret", sub.id), "Reveal secret", &[]))
        (action_form(&csrf, &format!("/portal/endpoints/{}/rotate-secret", sub.id), "Rotate secret", &[]))
        h2 { "Send a test event" }
        form.create method="post" action={ "/portal/endpoints/" (sub.id) "/test" } {
            input type="hidden" name="csrf" value=(csrf);
            (field("event_type", "Event type", &test_type(&sub.event_types), "one this endpoint receives", "text"))
            button type="submit" { "Send test event" }
        }
        h2 { "Replay failed deliveries" }
        form.create method="post" action={ "/portal/endpoints/" (sub.id) "/replay" } {
            input type="hidden" name="csrf" value=(csrf);
            (field("since", "Since", &replay_since, "UTC, e.g. 2026-11-23T09:00:00Z: failed deliveries created since then are sent again, oldest first", "text"))
            button type="submit" { "Replay" }
        }
        @if let Some(n) = replayed { p role="status" { (n) " failed deliveries will be sent again." } }
        h2 { "Delete" }
        p { "Deleting the endpoint cancels its pending deliveries." }
        (action_form(&csrf, &format!("/portal/endpoints/{}/delete", sub.id), "Delete this endpoint", &[]))
    };
    secured(status, page("Endpoint settings", Some(&who(&caller)), body))
}

/// Bars of attempts: `sums` (label, succeeded, failed) oldest first, the
/// failed part stacked on the succeeded one; each bar says its numbers on
/// hover and to a screen reader, the caption the totals.
fn chart(title: &str, sums: &[(String, u64, u64)]) -> Markup {
    const W: u64 = 10;
    let top = sums.iter().map(|(_, ok, ko)| ok + ko).max().unwrap_or(0).max(1);
    let (ok, ko) = sums.iter().fold((0, 0), |a, (_, s, f)| (a.0 + s, a.1 + f));
    let rate = if ok + ko == 0 {
        String::new()
    } else {
        format!(" ({:.1} % failed)", 100.0 * ko as f64 / (ok + ko) as f64)
    };
    let height = |n: u64| 60.0 * n as f64 / top as f64;
    let caption = format!("{title}: {ok} succeeded, {ko} failed{rate}");
    html! {
        figure {
            svg.chart role="img" aria-label=(caption) viewBox={ "0 0 " (W * sums.len() as u64) " 60" } preserveAspectRatio="none" {
                @for (i, (label, s, f)) in sums.iter().enumerate() {
                    @let x = W * i as u64;
                    g {
                        title { (label) ": " (s) " succeeded, " (f) " failed" }
                        rect.ok x=(x + 1) y=(format!("{:.2}", 60.0 - height(*s))) width=(W - 2) height=(format!("{:.2}", height(*s))) {}
                        rect.ko x=(x + 1) y=(format!("{:.2}", 60.0 - height(*s) - height(*f))) width=(W - 2) height=(format!("{:.2}", height(*f))) {}
                    }
                }
            }
            figcaption { (caption) }
        }
    }
}

/// The last 24 hours hour by hour and the last 7 days day by day, from
/// 7 days of hourly stats.
fn charts(stats: &hookline::api::stats::Stats) -> Markup {
    let hours = &stats.hours;
    let day: Vec<_> = hours[hours.len().saturating_sub(24)..]
        .iter()
        .map(|h| (h.hour.format("%H:00 UTC").to_string(), h.succeeded, h.failed))
        .collect();
    let week: Vec<_> = hours
        .chunks(24)
        .map(|c| {
            let (s, f) = c.iter().fold((0, 0), |a, h| (a.0 + h.succeeded, a.1 + h.failed));
            (format!("24 hours from {}", c[0].hour.format("%a %d %b %H:00 UTC")), s, f)
        })
        .collect();
    html! { div.charts { (chart("Last 24 hours", &day)) (chart("Last 7 days", &week)) } }
}

/// The fields the edit form changes (and the test form's).
const EDITABLE: &[&str] =
    &["url", "event_types", "description", "rate_limit", "timeout_ms", "headers", "event_type", "since"];

async fn replay_endpoint(
    State(s): State<ApiState>,
    EndpointPost { post, id: sub_id, raw_id: id }: EndpointPost,
) -> Response {
    // The same request as POST /v1/subscriptions/{id}/replay, failed ones.
    let request = ReplayRequest { since: post.field("since"), status: None };
    match s.ctx.replay(&post.caller(), &sub_id, request).await {
        Ok(done) => see_other(&format!("/portal/endpoints/{sub_id}?replayed={}", done.replayed)),
        Err(hookline::api::ApiError::Invalid(v)) => {
            endpoint_page(&s, &post.session, &id, None, Some(invalid(&v)), None).await
        }
        Err(e) => failed(&e),
    }
}

/// A type a test event can have: the first exact type the endpoint
/// receives, or one under its first prefix.
fn test_type(patterns: &[hookline::model::EventTypePattern]) -> String {
    match patterns.first().map(|p| p.as_string()) {
        None => "webhook.test".into(),
        Some(p) => match p.strip_suffix('*') {
            Some(prefix) => format!("{prefix}test"),
            None => p,
        },
    }
}

async fn test_endpoint(
    State(s): State<ApiState>,
    EndpointPost { post, id: sub_id, raw_id: id }: EndpointPost,
) -> Response {
    match s.ctx.send_test_event(&post.caller(), &sub_id, &post.field("event_type")).await {
        Ok(delivery) => see_other(&format!("/portal/deliveries/{delivery}")),
        Err(hookline::api::ApiError::Invalid(v)) => {
            endpoint_page(&s, &post.session, &id, None, Some(invalid(&v)), None).await
        }
        Err(e) => failed(&e),
    }
}

/// A number field: none when empty, else a whole number.
fn whole_number(name: &str, v: &str) -> Result<Option<u64>, (String, String)> {
    match v {
        "" => Ok(None),
        n => n.parse::<u64>().map(Some).map_err(|_| (name.to_owned(), "a whole number".to_owned())),
    }
}

async fn edit_endpoint(
    State(s): State<ApiState>,
    EndpointPost { post, id: sub_id, raw_id: id }: EndpointPost,
) -> Response {
    let edited = NewEndpoint::from(&post);
    let numbers = whole_number("rate_limit", &edited.rate_limit)
        .and_then(|r| Ok((r, whole_number("timeout_ms", &edited.timeout_ms)?, edited.header_map()?)));
    let (rate_limit, timeout_ms, custom) = match numbers {
        Ok(n) => n,
        Err(e) => return endpoint_page(&s, &post.session, &id, Some(&edited), Some(e), None).await,
    };
    // The same change, and so the same checks, as PATCH /v1/subscriptions/{id}.
    let change = UpdateSubscriptionRequest {
        url: Some(edited.url.clone()),
        event_types: Some(edited.event_type_list()),
        description: Some(Some(edited.description.clone()).filter(|d| !d.is_empty())),
        rate_limit: Some(rate_limit),
        timeout_ms,
        headers: custom,
        ..UpdateSubscriptionRequest::default()
    };
    match s.ctx.update_subscription(&post.caller(), &sub_id, change).await {
        Ok(view) => see_other(&format!("/portal/?tenant={}", view.tenant)),
        Err(hookline::api::ApiError::Invalid(v)) => {
            endpoint_page(&s, &post.session, &id, Some(&edited), Some(invalid(&v)), None).await
        }
        Err(e) => failed(&e),
    }
}

async fn delete_endpoint(State(s): State<ApiState>, EndpointPost { post, id, .. }: EndpointPost) -> Response {
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

async fn create_endpoint(State(s): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let post = match posted(&s, &headers, &body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let caller = post.caller();
    let new = NewEndpoint { timeout_ms: String::new(), ..NewEndpoint::from(&post) };
    let (rate_limit, custom) =
        match whole_number("rate_limit", &new.rate_limit).and_then(|r| Ok((r, new.header_map()?))) {
            Ok(x) => x,
            Err(e) => return endpoints_page(&s, &post.session, None, &new, Some(e)).await,
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
    };
    match s.ctx.create_subscription(&caller, request).await {
        Ok(created) => secret_page(
            &caller,
            StatusCode::CREATED,
            "Endpoint added",
            html! { "Requests to " code { (created.subscription.url) } " are signed with this secret. Copy it now: it is not shown again." },
            &created.secret,
            html! { p { a href="/portal/" { "Back to the endpoints" } } },
        ),
        Err(hookline::api::ApiError::Invalid(v)) => {
            endpoints_page(&s, &post.session, None, &new, Some(invalid(&v))).await
        }
        Err(e) => failed(&e),
    }
}

async fn deliveries(State(s): State<ApiState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
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
    let (list, subs) = match (
        s.ctx.list_deliveries(&caller, &filter, &page_request).await,
        s.ctx
            .list_subscriptions(&caller, chosen_tenant.clone(), &PageRequest { cursor: None, limit: 100 })
            .await,
    ) {
        (Ok(l), Ok(subs)) => (l, subs),
        (Err(e), _) | (_, Err(e)) => return failed(&e),
    };
    let chosen = |v: &str| status.is_some_and(|s| s.as_str() == v);
    let body = html! {
        form method="get" action="/portal/deliveries" {
            @if let Some(t) = &chosen_tenant {
                label { "Tenant" input name="tenant" type="text" value=(t.as_str()) required; }
            }
            label { "Endpoint"
                select name="subscription" {
                    option value="" { "All endpoints" }
                    @for sub in &subs.data {
                        option value=(sub.id) selected[subscription.as_ref() == Some(&sub.id)] { (sub.url) }
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
            table {
                thead { tr { th { "Delivery" } th { "Event type" } th { "Status" } th { "Attempts" } th { "Last response" } th { "Created" } } }
                tbody {
                    @for d in &list.data {
                        tr {
                            td { a href={ "/portal/deliveries/" (d.id) } { code { (d.id) } } }
                            td { code { (d.event_type) } }
                            td { span class=(status_class(d.status)) { (d.status.as_str()) } }
                            td { (d.attempt_count) }
                            td { @if let Some(c) = d.last_status_code { (c) } @else { "—" } }
                            td { (d.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
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

async fn delivery(State(s): State<ApiState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
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
    let body = html! {
        dl {
            dt { "Event type" } dd { code { (d.event_type) } }
            dt { "Status" } dd { span class=(status_class(d.status)) { (d.status.as_str()) }
                @if let Some(r) = d.give_up_reason { " (" (r.as_str()) ")" } }
            @if let Some(url) = &d.url { dt { "Endpoint" } dd { code { (url) } } }
            @if let Some(next) = d.next_attempt_at { dt { "Next attempt" } dd { (next.format("%Y-%m-%d %H:%M:%S UTC")) } }
            dt { "Event" } dd { code { (d.event_id) } }
        }
        (action_form(&csrf, &format!("/portal/deliveries/{}/redeliver", d.id), "Redeliver now", &[]))
        h2 { "Attempts" }
        @let attempts = d.attempts.clone().unwrap_or_default();
        @if attempts.is_empty() {
            p { "No attempt yet." }
        } @else {
            table {
                thead { tr { th { "#" } th { "Time" } th { "Result" } th { "Duration" } th { "Response" } } }
                tbody {
                    @for a in &attempts {
                        tr {
                            td { (a.number) }
                            td { (a.started_at.format("%Y-%m-%d %H:%M:%S UTC")) br;
                                 @if a.error != Some(FailureKind::Payload) {
                                     a href={ "/portal/deliveries/" (d.id) "/attempts/" (a.number) } { "the request" }
                                 } }
                            td {
                                @if let Some(code) = a.status_code { (code) }
                                @if let Some(e) = a.error { (e.as_str()) }
                                @if let Some(m) = &a.error_message { br; small { (m) } }
                            }
                            td { (a.duration_ms) " ms" }
                            td { @if let Some(x) = &a.response_excerpt { pre { (x) } } }
                        }
                    }
                }
            }
        }
    };
    secured(StatusCode::OK, page(&format!("Delivery {}", d.id), tenant.as_ref(), body))
}

/// The exact request an attempt sent (see `hookline::api::sent`).
async fn attempt_request(
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
        pre.request {
            (sent.method) " " (sent.url) "\n"
            @for (name, value) in &sent.headers { (name) ": " (value) "\n" }
            "\n" (sent.body)
        }
    };
    secured(StatusCode::OK, page(&format!("Attempt {number} of {id}"), Some(&who(&caller)), body))
}

/// The event catalog: what each declared type means, an example payload
/// (what a test event of it carries) and its JSON Schema.
async fn event_types(State(s): State<ApiState>, headers: HeaderMap) -> Response {
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
async fn service(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let Some(caller) = caller(&s, &headers) else { return signed_out() };
    let stats = match s.ctx.stats(&caller, None, hookline::api::stats::MAX_STATS_DAYS).await {
        Ok(stats) => stats,
        Err(e) => return failed(&e),
    };
    let last_hour = stats.hours.last().map_or(0, |h| h.succeeded + h.failed);
    let body = html! {
        p { "Every attempt of every tenant, counted by hour. This hour so far: " (last_hour) " attempts." }
        (charts(&stats))
        p { small { "Counts are written every few seconds (embedded) or at the end of each delivery batch (AWS)." } }
    };
    secured(StatusCode::OK, page("Service", Some(&who(&caller)), body))
}

/// The dead letters (operator only): what the delivery queue gave up on.
async fn dead_letters(State(s): State<ApiState>, headers: HeaderMap) -> Response {
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
fn failed(e: &hookline::api::ApiError) -> Response {
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
