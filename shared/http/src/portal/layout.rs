//! The page around every portal page, its stylesheet, and the responses every page sends (security headers, problems, redirects).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use hookline::api::subscriptions::EndpointName;
use hookline::auth::Caller;
use hookline::brand::Brand;
use hookline::model::{DeliveryStatus, SubscriptionId};

use crate::ApiState;

/// The stylesheet, inline: one request per page, nothing from elsewhere.
pub(super) const STYLE: &str = "
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
header{background:#1b1f24;color:#fff;padding:.75rem 1rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}header strong{margin-right:auto;display:flex;align-items:center;gap:.5rem}img.logo{height:1.75rem;width:auto}
main{padding:1rem;max-width:72rem}h1,dd,code,pre{overflow-wrap:anywhere}code.name{overflow-wrap:normal;word-break:keep-all}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
th{font-weight:600}caption.count{text-align:left;padding:.25rem 0;color:#424a53}nav a{margin-left:1rem;white-space:nowrap}td code{overflow-wrap:anywhere}
.succeeded{color:#116329}.failed,.canceled{color:#a40e26}.pending{color:#7d4e00}
form{display:flex;gap:1rem;flex-wrap:wrap;align-items:end;margin:0 0 1rem}label{display:flex;flex-direction:column;font-weight:600}
select,input,button,textarea{font:inherit;padding:.3rem}pre{background:#f6f8fa;padding:.5rem;overflow:auto;white-space:pre-wrap}
a{color:#0550ae}a:focus,button:focus,select:focus,input:focus,textarea:focus{outline:3px solid #0969da}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
form.create{flex-direction:column;align-items:stretch;max-width:32rem}form.create label{gap:.2rem}
.error{color:#a40e26}small{font-weight:400;color:#424a53}small.error{color:#a40e26}
.error-summary{border:3px solid #a40e26;padding:.25rem 1rem}.error-summary h2{font-size:1rem;margin:.5rem 0}
fieldset.events{border:1px solid #d0d7de;padding:.5rem 1rem}fieldset.events legend{font-weight:600}
label.toggle{flex-direction:row;align-items:baseline;gap:.5rem;font-weight:400}
.charts{display:flex;gap:2rem;flex-wrap:wrap}.charts figure{margin:0;flex:1 1 18rem;min-width:0}svg.chart{width:100%;height:6rem;border-bottom:1px solid #424a53;border-left:1px solid #424a53}
.ok{fill:#1a7f37}.ko{fill:#cf222e}figcaption{color:#424a53}.plot{display:flex;gap:.25rem}
.y{display:flex;flex-direction:column;justify-content:space-between;font-size:.75rem;text-align:right;min-width:2rem;color:#424a53}
.x{display:grid;margin-left:2.25rem;font-size:.75rem;color:#424a53;white-space:nowrap}.legend{display:flex;gap:1rem;list-style:none;padding:0;margin:.25rem 0 0;font-size:.875rem}
.key{display:inline-block;width:.75rem;height:.75rem;margin-right:.25rem;vertical-align:middle}.key.ok{background:#1a7f37}.key.ko{background:#cf222e}
@media (max-width:40rem){table.cards thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block}table.cards tr{border-bottom:1px solid #d0d7de;padding:.4rem 0}
table.cards td{border:0;padding:.1rem 0}table.cards caption{display:block}table.cards td[data-label]::before{content:attr(data-label) ': ';font-weight:600}
table:not(.cards){display:block;overflow-x:auto}}
";

/// The portal's one script: copy buttons. A button `data-copy="id"`,
/// hidden until this runs (so no page shows a button that does nothing),
/// selects the element `id`'s text — so what is copied is seen — and puts
/// it on the clipboard. Every page works without it.
pub(super) const COPY_JS: &str = r#"document.querySelectorAll("button[data-copy]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () {
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el) return;
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    var done = function () { b.textContent = "Copied"; };
    var fallback = function () {
      b.textContent = document.execCommand("copy") ? "Copied" : "Press Ctrl+C to copy";
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(el.textContent).then(done, fallback);
    } else {
      fallback();
    }
  });
});
"#;

/// `GET /portal/copy.js`: [`COPY_JS`].
pub(super) async fn copy_js() -> Response {
    let mut response = (StatusCode::OK, COPY_JS).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A button that copies the text of the element `target` (shown only
/// where the portal's script runs).
pub(super) fn copy_button(target: &str, label: &str) -> Markup {
    html! { button.copy type="button" data-copy=(target) hidden { (label) } }
}

/// Whose pages these are.
pub(super) enum Who {
    /// One tenant's.
    Tenant(String),
    /// The operator's, over every tenant.
    Operator,
}

pub(super) fn who(caller: &Caller) -> Who {
    match caller.tenant() {
        Some(t) => Who::Tenant(t.as_str().to_owned()),
        None => Who::Operator,
    }
}

pub(super) fn page(title: &str, who: Option<&Who>, body: Markup) -> Markup {
    refreshing_page(title, who, body, None)
}

/// A page that reloads itself after `seconds` (a `<meta>` refresh: no
/// script, so the portal's policy still allows none), for a delivery whose
/// attempt is about to be made.
pub(super) fn refreshing_page(title: &str, who: Option<&Who>, body: Markup, seconds: Option<u32>) -> Markup {
    let brand = BRAND.try_with(Brand::clone).unwrap_or_default();
    let accent = brand.accent.map(|a| {
        let a = a.hex();
        format!("header{{background:{a}}}a{{color:{a}}}")
    });
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = seconds { meta http-equiv="refresh" content=(s); }
                title { (title) " — " (brand.name) }
                style { (maud::PreEscaped(STYLE)) @if let Some(a) = &accent { (maud::PreEscaped(a)) } }
                script src="/portal/copy.js" defer {}
            }
            body {
                header {
                    strong {
                        @if brand.logo.is_some() { img.logo src="/portal/logo" alt="" height="28"; }
                        (brand.name)
                        @match who { Some(Who::Tenant(t)) => { " · " (t) } Some(Who::Operator) => { " · operator" } None => {} }
                    }
                    @if who.is_some() {
                        nav aria-label="Portal" {
                            a href="/portal/" { "Endpoints" } " "
                            a href="/portal/deliveries" { "Delivery log" } " "
                            a href="/portal/event-types" { "Event types" }
                            @if matches!(who, Some(Who::Operator)) {
                                " " a href="/portal/tenants" { "Tenants" }
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

tokio::task_local! {
    /// The brand of the portal request being answered ([`branded`]).
    static BRAND: Brand;
}

/// Answers a portal request with the service's brand at hand for every
/// page it renders, however deep (an extractor's error page included),
/// without passing it through each of them.
pub(crate) async fn branded(
    State(s): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    BRAND.scope(s.ctx.settings.brand.clone(), next.run(request)).await
}

/// `GET /portal/logo`: the configured logo, as its own type. Its policy
/// forbids everything, so an SVG opened on its own runs no script.
pub(super) async fn logo(State(s): State<ApiState>) -> Response {
    let Some(logo) = s.ctx.settings.brand.logo.clone() else {
        return problem(StatusCode::NOT_FOUND, "No logo", "This portal has no logo.");
    };
    let mut response = (StatusCode::OK, axum::body::Bytes::from(logo.bytes.to_vec())).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(logo.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Headers every portal page carries: no caching, no referrer (a link's
/// token must not leak), nothing loaded from elsewhere.
pub(super) fn secured(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'",
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
pub(super) fn problem(status: StatusCode, title: &str, text: &str) -> Response {
    secured(status, page(title, None, html! { p { (text) } }))
}

pub(super) fn signed_out() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "Your session has ended",
        "Open the webhooks page again from the application that sent you here.",
    )
}

/// A form that posts `action` with the session's token.
pub(super) fn action_form(csrf: &str, to: &str, label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form method="post" action=(to) {
            input type="hidden" name="csrf" value=(csrf);
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button type="submit" { (label) }
        }
    }
}

pub(super) fn see_other(to: &str) -> Response {
    let mut response = secured(StatusCode::SEE_OTHER, html! {});
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A dotted name (an event type, `video.encoded`) that wraps, when it
/// must, only after a dot: never in the middle of a word.
pub(super) fn dotted(name: &str) -> Markup {
    let mut parts = name.split_inclusive('.').peekable();
    html! {
        code.name { @while let Some(part) = parts.next() { (part) @if parts.peek().is_some() { wbr; } } }
    }
}

/// A time as every page writes it.
pub(super) fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An endpoint by what names it to a person — its description, else its
/// URL — linked to its page; one that is gone by its id.
pub(super) fn endpoint_link(
    names: &std::collections::HashMap<SubscriptionId, EndpointName>,
    id: Option<&SubscriptionId>,
    one_off: Option<&str>,
) -> Markup {
    match (id, one_off) {
        (Some(id), _) => match names.get(id) {
            Some(n) => html! {
                a href={ "/portal/endpoints/" (id) } {
                    @if let Some(d) = &n.description { (d) br; small { code { (n.url) } } } @else { code { (n.url) } }
                }
            },
            None => html! { code { (id) } " " small { "(deleted)" } },
        },
        (None, Some(url)) => html! { code { (url) } " " small { "(one-off URL)" } },
        (None, None) => html! { "—" },
    }
}

pub(super) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub(super) fn status_class(status: DeliveryStatus) -> &'static str {
    status.as_str()
}

/// One labelled input with its hint, or its error in place of the hint.
pub(super) fn form_field(
    name: &str,
    label: &str,
    value: &str,
    hint: &str,
    kind: &str,
    error: Option<String>,
) -> Markup {
    html! {
        label for=(name) { (label)
            input id=(name) name=(name) type=(kind) value=(value) aria-invalid=[error.as_ref().map(|_| "true")]
                aria-describedby=(format!("{name}-note"));
            small id=(format!("{name}-note")) class=[error.as_ref().map(|_| "error")] { @if let Some(e) = &error { (e) } @else { (hint) } }
        }
    }
}
