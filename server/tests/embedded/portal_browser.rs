//! The portal in a real browser (headless Chromium through WebDriver),
//! against the `hookline` binary and a real receiver: a session opened from
//! its link, the tenant's endpoints and delivery log, a failed delivery's
//! attempts, and nothing of another tenant. Screenshots of the pages go to
//! `target/portal-screenshots/`.

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use hookline_tests::browser::Browser;
use hookline_tests::process::{Hookline, eventually};
use hookline_tests::receiver::{Receiver, Reply};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_hookline");
const WAIT: Duration = Duration::from_secs(30);

/// `hookline serve` on a database in its own directory (removed when the
/// directory is dropped), with `env`.
async fn start(env: &[(&str, &str)]) -> (tempfile::TempDir, Hookline) {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), env).await;
    (dir, h)
}

async fn created(h: &Hookline, path: &str, body: Value) -> Value {
    let (status, v) = h.call("POST", path, Some(body)).await;
    assert!(status == 201 || status == 202, "{path}: {status} {v}");
    v
}

async fn finished(h: &Hookline, id: &str) -> Value {
    eventually(WAIT, &format!("delivery {id} finished"), || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        (d["status"] != "pending").then_some(d)
    })
    .await
}

async fn finished_as(h: &Hookline, id: &str, status: &str) -> Value {
    eventually(WAIT, &format!("delivery {id} {status}"), || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        (d["status"] == status).then_some(d)
    })
    .await
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.client.find(Locator::Css(css)).await.expect(css).text().await.expect("text")
}

/// The id of acme's endpoint at `/hooks`.
async fn hooks_id(h: &Hookline) -> String {
    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=acme", None).await;
    subs["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["url"].as_str().is_some_and(|u| u.ends_with("/hooks")))
        .and_then(|s| s["id"].as_str())
        .expect("the /hooks endpoint")
        .to_owned()
}

async fn click(b: &Browser, what: Locator<'_>) {
    b.client.find(what).await.expect("the element to click").click().await.expect("click");
}

/// The text of `css` once it contains `expected`: a click that follows a
/// link or submits a form may return before the next page is there.
async fn wait_text(b: &Browser, css: &str, expected: &str) -> String {
    poll_text(b, css, expected, false).await
}

/// Like [`wait_text`], reloading the page each time: for what a
/// background task writes.
async fn reload_until(b: &Browser, css: &str, expected: &str) -> String {
    poll_text(b, css, expected, true).await
}

/// Polls `css` for `expected` for 10 s (15 s with a reload each time).
async fn poll_text(b: &Browser, css: &str, expected: &str, reload: bool) -> String {
    let (tries, pause) = if reload { (60, 250) } else { (100, 100) };
    let mut last = String::new();
    for _ in 0..tries {
        if let Ok(e) = b.client.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if t.contains(expected) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if reload {
            b.client.refresh().await.expect("reload");
        }
    }
    panic!("{css} never showed {expected:?}; last: {last:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_session_shows_its_tenants_endpoints_and_deliveries_and_nothing_else() {
    let (_dir, h) = start(&[("HOOKLINE_RETRY_SCHEDULE", "1s")]).await;
    let flaky = Receiver::start().await;
    flaky.script([Reply::Status(500)]);
    let other = Receiver::start().await;
    let orders = created(
        &h,
        "/v1/subscriptions",
        json!({"tenant":"acme","url":flaky.url("/orders"),"event_types":["order.*"],"description":"Orders"}),
    )
    .await;
    let orders = orders["id"].as_str().expect("id").to_owned();
    created(
        &h,
        "/v1/subscriptions",
        json!({"tenant":"globex","url":other.url("/secret-globex"),"rate_limit":5}),
    )
    .await;
    let ev = created(&h, "/v1/events", json!({"tenant":"acme","type":"order.paid","payload":{"id":1}})).await;
    let acme_delivery = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let ev = created(&h, "/v1/events", json!({"tenant":"globex","type":"order.paid","payload":{}})).await;
    let globex_delivery = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    finished(&h, &acme_delivery).await;
    finished(&h, &globex_delivery).await;

    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let url = format!("{}{}", h.base, link["url"].as_str().expect("url"));
    let b = Browser::start().await.expect("a browser");

    // The link opens the session: the tenant's endpoints, not another's.
    b.client.goto(&url).await.expect("open the link");
    assert_eq!(b.client.current_url().await.expect("url").path(), "/portal/");
    assert_eq!(text_of(&b, "h1").await, "Endpoints");
    let table = text_of(&b, "table").await;
    assert!(table.contains(&flaky.url("/orders")), "{table}");
    assert!(table.contains("order.*") && table.contains("Orders"), "{table}");
    assert!(!b.client.source().await.expect("source").contains("secret-globex"));
    b.screenshot("endpoints").await.expect("screenshot");

    // The delivery log, filtered by status, then the failed-then-retried
    // delivery with both its attempts.
    click(&b, Locator::LinkText("Delivery log")).await;
    wait_text(&b, "h1", "Delivery log").await;
    b.client
        .find(Locator::Css("select[name=status]"))
        .await
        .expect("status")
        .select_by_value("succeeded")
        .await
        .expect("choose");
    click(&b, Locator::Css("form button[type=submit]")).await;
    let log = wait_text(&b, "table", "succeeded").await;
    assert!(
        b.client.current_url().await.expect("url").query().unwrap_or_default().contains("status=succeeded")
    );
    assert_eq!(log.matches("dlv_").count(), 1, "acme's one delivery: {log}");
    b.screenshot("delivery-log").await.expect("screenshot");
    click(&b, Locator::LinkText(&acme_delivery)).await;
    wait_text(&b, "h1", "Delivery dlv_").await;
    let attempts = wait_text(&b, "table", "200").await;
    assert!(attempts.contains("500"), "{attempts}");
    assert_eq!(b.client.find_all(Locator::Css("tbody tr")).await.expect("attempts").len(), 2);
    b.screenshot("delivery").await.expect("screenshot");

    // The first attempt's exact request: the signature the receiver got,
    // proven against the rebuilt headers and body.
    click(&b, Locator::LinkText("the request")).await;
    let shown = wait_text(&b, "pre.request", "webhook-signature").await;
    let first = &flaky.received()[0];
    let signature = first.header("webhook-signature").expect("signed");
    assert!(shown.contains(&format!("webhook-signature: {signature}")), "{shown}");
    assert!(shown.contains(&String::from_utf8_lossy(&first.body).into_owned()), "{shown}");
    assert!(text_of(&b, "p[role=status]").await.starts_with("Verified"));
    b.screenshot("attempt-request").await.expect("screenshot");
    b.client.back().await.expect("back");
    wait_text(&b, "table", "200").await;

    // Redeliver it from its page: a third attempt, same delivery.
    click(&b, Locator::Css("form[action$='/redeliver'] button")).await;
    let mut rows = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.client.refresh().await.expect("reload");
        rows = b.client.find_all(Locator::Css("tbody tr")).await.map(|r| r.len()).unwrap_or(0);
        if rows == 3 {
            break;
        }
    }
    assert_eq!(rows, 3, "the redelivery's attempt is listed");
    assert_eq!(flaky.received().len(), 3);

    // The endpoint's health charts count two deliveries, both succeeded —
    // not a failure rate of a third — and apart the three attempts that
    // made them (counts are written every few seconds).
    b.client.goto(&format!("{}/portal/endpoints/{orders}", h.base)).await.expect("open");
    let health =
        reload_until(&b, "div.charts", "Attempts, last 24 hours: 2 succeeded, 1 failed (33.3 % failed)")
            .await;
    assert!(health.contains("Deliveries, last 24 hours: 2 succeeded, 0 failed (0.0 % failed)"), "{health}");
    b.screenshot("endpoint-health").await.expect("screenshot");

    // Disable the endpoint from the endpoints page — it asks first, and
    // nothing changes until confirmed — then enable it again (no question).
    click(&b, Locator::LinkText("Endpoints")).await;
    wait_text(&b, "h1", "Endpoints").await;
    click(&b, Locator::Css("form[action$='/active'] button")).await;
    wait_text(&b, "h1", "Disable this endpoint?").await;
    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=acme", None).await;
    assert_eq!(subs["data"][0]["active"], true, "not before it is confirmed");
    b.screenshot("confirm-disable").await.expect("screenshot");
    click(&b, Locator::Css("form[action$='/active'] button")).await;
    wait_text(&b, "table", "Enable").await;
    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=acme", None).await;
    assert_eq!(subs["data"][0]["active"], false, "{subs}");
    click(&b, Locator::Css("form[action$='/active'] button")).await;
    wait_text(&b, "table", "Disable").await;

    // Add an endpoint for two event types: a bad URL is refused next to its
    // field with what was typed kept; a good one shows its secret once, and
    // an event of one of its types arrives signed with it.
    let fill = |name: &'static str, value: String| {
        let b = &b;
        async move {
            let input =
                b.client.find(Locator::Css(&format!("form.create input[name={name}]"))).await.expect(name);
            input.clear().await.expect("clear");
            input.send_keys(&value).await.expect("type");
        }
    };
    fill("url", "ftp://example.com/hook".into()).await;
    fill("event_types", "order.paid, order.refunded".into()).await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    let note = wait_text(&b, "#url-note.error", "").await;
    assert!(!note.is_empty(), "the URL's error is shown next to it");
    let kept = b.client.find(Locator::Css("input[name=event_types]")).await.expect("field");
    assert_eq!(kept.prop("value").await.expect("value").as_deref(), Some("order.paid, order.refunded"));
    let hooks = Receiver::start().await;
    fill("url", hooks.url("/hooks")).await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    // Post/redirect/get: the endpoint's page says it was added; reloading
    // it adds nothing. Its secret is revealed there on purpose.
    wait_text(&b, "main", "Endpoint added").await;
    b.screenshot("endpoint-added").await.expect("screenshot");
    b.client.refresh().await.expect("reload");
    wait_text(&b, "main", "Endpoint added").await;
    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=acme", None).await;
    let at_hooks =
        subs["data"].as_array().into_iter().flatten().filter(|s| s["url"] == hooks.url("/hooks")).count();
    assert_eq!(at_hooks, 1, "the reload added no second endpoint: {subs}");
    click(&b, Locator::Css("form[action$='/reveal-secret'] button")).await;
    wait_text(&b, "h1", "Signing secret").await;
    let secret = text_of(&b, "#secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    created(&h, "/v1/events", json!({"tenant":"acme","type":"order.refunded","payload":{"id":2}})).await;
    created(&h, "/v1/events", json!({"tenant":"acme","type":"order.shipped","payload":{"id":3}})).await;
    let got =
        eventually(WAIT, "the refund at the new endpoint", || async { hooks.received().first().cloned() })
            .await;
    hookline_tests::receiver::verify_standard(&secret, &got, chrono::Utc::now().timestamp())
        .expect("verified with the shown secret");
    assert_eq!(got.json()["type"], "order.refunded");

    // Rotate its secret from its page (after a question): the new one is
    // shown once, and during the grace period a request verifies with
    // either. The list offers no rotation.
    click(&b, Locator::LinkText("Endpoints")).await;
    wait_text(&b, "h1", "Endpoints").await;
    assert!(!b.client.source().await.expect("html").contains("rotate-secret"), "no rotation on the list");
    b.client.goto(&format!("{}/portal/endpoints/{}", h.base, hooks_id(&h).await)).await.expect("endpoint");
    wait_text(&b, "#test", "Send a test event").await;
    assert_eq!(text_of(&b, "h1").await, hooks.url("/hooks"), "an endpoint is titled by its URL");
    click(&b, Locator::Css("form[action$='/rotate-secret'] button")).await;
    wait_text(&b, "h1", "Rotate this endpoint's secret?").await;
    let asked = text_of(&b, "main").await;
    assert!(asked.contains("24 hours"), "it says how long the old one keeps signing: {asked}");
    click(&b, Locator::Css("form[action$='/rotate-secret'] button")).await;
    wait_text(&b, "main", "Secret rotated").await;
    b.client.refresh().await.expect("reload");
    wait_text(&b, "main", "Secret rotated").await;
    click(&b, Locator::Css("form[action$='/reveal-secret'] button")).await;
    wait_text(&b, "h1", "Signing secret").await;
    let rotated = text_of(&b, "#secret").await;
    assert!(rotated.starts_with("whsec_") && rotated != secret, "{rotated}");
    // Revealed on purpose from its page, it is the rotated one.
    b.client.goto(&format!("{}/portal/endpoints/{}", h.base, hooks_id(&h).await)).await.expect("endpoint");
    wait_text(&b, "#test", "Send a test event").await;
    click(&b, Locator::Css("form[action$='/reveal-secret'] button")).await;
    wait_text(&b, "h1", "Signing secret").await;
    assert_eq!(text_of(&b, "#secret").await, rotated);
    created(&h, "/v1/events", json!({"tenant":"acme","type":"order.paid","payload":{"id":4}})).await;
    let got = eventually(WAIT, "the second event at the new endpoint", || async {
        hooks.received().get(1).cloned()
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    hookline_tests::receiver::verify_standard(&rotated, &got, now).expect("verified with the new secret");
    hookline_tests::receiver::verify_standard(&secret, &got, now)
        .expect("and with the old one, during the grace period");

    // Edit it on its own page: a timeout out of range is refused beside its
    // field; a valid change is saved. Then delete it.
    click(&b, Locator::LinkText("Endpoints")).await;
    wait_text(&b, "h1", "Endpoints").await;
    click(&b, Locator::LinkText(&hooks.url("/hooks"))).await;
    wait_text(&b, "#test", "Send a test event").await;
    fill("event_types", "order.*".into()).await;
    fill("description", "Shop".into()).await;
    fill("timeout_ms", "500".into()).await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    let note = wait_text(&b, "#timeout_ms-note.error", "").await;
    assert!(note.contains("1000"), "{note}");
    // Called by its label, and summed up at the top of the form with a
    // link to the field.
    assert!(note.starts_with("Timeout ") && !note.contains("timeout_ms"), "{note}");
    let summary = text_of(&b, ".error-summary").await;
    assert!(summary.contains("There is a problem") && summary.contains("Timeout "), "{summary}");
    let to = b.client.find(Locator::Css(".error-summary a")).await.expect("a link");
    assert_eq!(to.attr("href").await.expect("href").as_deref(), Some("#timeout_ms"));
    fill("timeout_ms", "5000".into()).await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    let table = wait_text(&b, "table", "Shop").await;
    assert!(table.contains("order.*"), "{table}");
    let (_, edited) = h.call("GET", &format!("/v1/subscriptions/{}", hooks_id(&h).await), None).await;
    assert_eq!((edited["timeout_ms"].clone(), edited["description"].clone()), (json!(5000), json!("Shop")));

    // Its channels and payload filter: a filter the API refuses is shown
    // beside its field with the part at fault, and nothing is saved; a
    // valid one is saved, and shown as written on the page.
    click(&b, Locator::LinkText(&hooks.url("/hooks"))).await;
    wait_text(&b, "#test", "Send a test event").await;
    assert_eq!(text_of(&b, "h1").await, "Shop", "or by its description");
    let type_filter = |text: &'static str| {
        let b = &b;
        async move {
            let area =
                b.client.find(Locator::Css("form.create textarea[name=filter]")).await.expect("filter");
            area.clear().await.expect("clear");
            area.send_keys(text).await.expect("type");
        }
    };
    fill("channels", "store-eu, store-uk".into()).await;
    type_filter(r#"{"payload": {"amount": {"$between": [1, 2]}}}"#).await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    let note = wait_text(&b, "#filter-note.error", "$between").await;
    assert!(note.contains("filter.payload.amount.$between"), "{note}");
    let (_, unchanged) = h.call("GET", &format!("/v1/subscriptions/{}", hooks_id(&h).await), None).await;
    assert!(unchanged.get("filter").is_none() && unchanged.get("channels").is_none(), "{unchanged}");
    type_filter(r#"{"payload": {"status": "shipped"}}"#).await;
    // And delivered in order per key.
    click(&b, Locator::Css("form.create input[name=ordered]")).await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    wait_text(&b, "h1", "Endpoints").await;
    let (_, routed) = h.call("GET", &format!("/v1/subscriptions/{}", hooks_id(&h).await), None).await;
    assert_eq!(
        (routed["channels"].clone(), routed["filter"].clone(), routed["ordered"].clone()),
        (json!(["store-eu", "store-uk"]), json!({"payload": {"status": "shipped"}}), json!(true))
    );
    click(&b, Locator::LinkText(&hooks.url("/hooks"))).await;
    wait_text(&b, "#test", "Send a test event").await;
    let shown = text_of(&b, "form.create textarea[name=filter]").await;
    assert!(shown.contains("\"shipped\""), "{shown}");
    let ordered = b.client.find(Locator::Css("form.create input[name=ordered]")).await.expect("the box");
    assert_eq!(ordered.prop("checked").await.expect("checked").as_deref(), Some("true"));
    let held = text_of(&b, "#held-back").await;
    assert!(held.contains("No event is waiting"), "{held}");
    let cleared = json!({"channels": null, "filter": null, "ordered": false});
    let (status, _) =
        h.call("PATCH", &format!("/v1/subscriptions/{}", hooks_id(&h).await), Some(cleared)).await;
    assert_eq!(status, 200);
    click(&b, Locator::LinkText("Endpoints")).await;
    wait_text(&b, "h1", "Endpoints").await;
    let id = hooks_id(&h).await;
    click(&b, Locator::LinkText(&hooks.url("/hooks"))).await;
    wait_text(&b, "#test", "Send a test event").await;

    // Send it a test event of a type it receives, and see the answer.
    let before = hooks.received().len();
    let typed = b.client.find(Locator::Css("input[name=event_type]")).await.expect("type field");
    assert_eq!(typed.prop("value").await.expect("value").as_deref(), Some("order.test"));
    click(&b, Locator::Css("form[action$='/test'] button")).await;
    wait_text(&b, "h1", "Delivery dlv_").await;
    let mut answered = String::new();
    for _ in 0..50 {
        b.client.refresh().await.expect("reload");
        answered = b.client.find(Locator::Css("main")).await.expect("main").text().await.unwrap_or_default();
        if answered.contains("200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answered.contains("succeeded") && answered.contains("200"), "{answered}");
    let test = hooks.received().get(before).cloned().expect("the test event arrived");
    hookline_tests::receiver::verify_standard(&rotated, &test, chrono::Utc::now().timestamp())
        .expect("signed");
    assert_eq!(
        (test.json()["type"].clone(), test.json()["data"]["test"].clone()),
        (json!("order.test"), json!(true))
    );
    b.client.goto(&format!("{}/portal/endpoints/{id}", h.base)).await.expect("back");
    wait_text(&b, "#test", "Send a test event").await;
    // Deleting asks first; its way back changes nothing.
    click(&b, Locator::Css("form[action$='/delete'] button")).await;
    wait_text(&b, "h1", "Delete this endpoint?").await;
    click(&b, Locator::LinkText("Cancel: back to the endpoint")).await;
    wait_text(&b, "#test", "Send a test event").await;
    let (status, _) = h.call("GET", &format!("/v1/subscriptions/{id}"), None).await;
    assert_eq!(status, 200, "still there");
    click(&b, Locator::Css("form[action$='/delete'] button")).await;
    wait_text(&b, "h1", "Delete this endpoint?").await;
    click(&b, Locator::Css("form[action$='/delete'] button")).await;
    wait_text(&b, "h1", "Endpoints").await;
    assert!(!b.client.source().await.expect("html").contains("/hooks"), "deleted");
    let (status, _) = h.call("GET", &format!("/v1/subscriptions/{id}"), None).await;
    assert_eq!(status, 404);

    // Another tenant's delivery is not there for this session.
    b.client.goto(&format!("{}/portal/deliveries/{globex_delivery}", h.base)).await.expect("goto");
    wait_text(&b, "h1", "Not found").await;
    assert!(!b.client.source().await.expect("source").contains("secret-globex"));

    // A tampered link, and no session at all, get a clear page.
    let tampered = url.replace("token=v1.", "token=v1.x");
    b.client.goto(&tampered).await.expect("goto");
    wait_text(&b, "h1", "This link cannot be used").await;
    b.client.delete_all_cookies().await.expect("sign out");
    b.client.goto(&format!("{}/portal/", h.base)).await.expect("goto");
    wait_text(&b, "h1", "Your session has ended").await;
    b.client.close().await.expect("close");
}

/// A login link opens one session: the second opening — a plain HTTP
/// client after a browser, or a browser after a client that fetched the
/// link first (a log scraper, a link preview) — gets the page that says
/// the link cannot be used, and no cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_link_opens_one_session_in_a_browser_or_a_plain_client() {
    let (_dir, h) = start(&[]).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let link = |v: Value| format!("{}{}", h.base, v["url"].as_str().expect("url"));
    let b = Browser::start().await.expect("a browser");

    // Opened in the browser, then fetched by a plain client.
    let first = link(created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await);
    b.client.goto(&first).await.expect("open the link");
    wait_text(&b, "h1", "Endpoints").await;
    let again = http.get(&first).send().await.expect("fetch");
    assert_eq!(again.status(), 401);
    assert!(again.headers().get("set-cookie").is_none(), "no session the second time");
    let page = again.text().await.expect("page");
    assert!(page.contains("This link cannot be used") && page.contains("used already"), "{page}");

    // Fetched by a plain client first, then opened in the browser.
    let second = link(created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await);
    let opened = http.get(&second).send().await.expect("fetch");
    assert_eq!(opened.status(), 303, "the first opening signs in");
    assert!(opened.headers().get("set-cookie").is_some());
    b.client.delete_all_cookies().await.expect("signed out");
    b.client.goto(&second).await.expect("open the link");
    let refused = wait_text(&b, "h1", "This link cannot be used").await;
    assert!(refused.contains("cannot be used"), "{refused}");
    assert!(text_of(&b, "main").await.contains("used already"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_action_without_its_pages_token_is_refused_and_changes_nothing() {
    let (_dir, h) = start(&[("HOOKLINE_PORTAL_FRAME_ANCESTORS", "https://app.example.com")]).await;
    let r = Receiver::start().await;
    let sub = created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":r.url("/")})).await;
    let id = sub["id"].as_str().expect("id");
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let session = |link: Value| {
        let http = http.clone();
        let url = format!("{}{}", h.base, link["url"].as_str().expect("url"));
        async move {
            let opened = http.get(url).send().await.expect("open");
            assert_eq!(opened.status(), 303);
            opened.headers()["set-cookie"]
                .to_str()
                .expect("cookie")
                .split(';')
                .next()
                .expect("pair")
                .to_owned()
        }
    };
    let mine = session(created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await).await;
    let other = session(created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await).await;
    // The other session's page token, read from its page.
    let page = http.get(format!("{}/portal/", h.base)).header("cookie", &other).send().await.expect("page");
    // Framed only by the portal itself and the platform's configured site.
    let policy = page.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(policy.ends_with("frame-ancestors 'self' https://app.example.com"), "{policy}");
    let html = page.text().await.expect("html");
    let token =
        html.split("name=\"csrf\" value=\"").nth(1).and_then(|t| t.split('"').next()).expect("a token");
    let post = |body: String| {
        http.post(format!("{}/portal/endpoints/{id}/active", h.base))
            .header("cookie", &mine)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    for body in
        ["active=false".to_owned(), format!("active=false&csrf={token}"), "active=false&csrf=".to_owned()]
    {
        let refused = post(body.clone()).await.expect("post");
        assert_eq!(refused.status(), 403, "{body}");
    }
    let (_, now) = h.call("GET", &format!("/v1/subscriptions/{id}"), None).await;
    assert_eq!(now["active"], true, "nothing changed");
    // With its own page's token, the same post goes through.
    let page = http.get(format!("{}/portal/", h.base)).header("cookie", &mine).send().await.expect("page");
    let html = page.text().await.expect("html");
    let own = html.split("name=\"csrf\" value=\"").nth(1).and_then(|t| t.split('"').next()).expect("a token");
    let asked = post(format!("active=false&csrf={own}")).await.expect("post");
    assert_eq!(asked.status(), 200, "asked first");
    assert!(asked.text().await.expect("page").contains("Disable this endpoint?"));
    let (_, now) = h.call("GET", &format!("/v1/subscriptions/{id}"), None).await;
    assert_eq!(now["active"], true, "nothing changed yet");
    let done = post(format!("active=false&confirm=yes&csrf={own}")).await.expect("post");
    assert_eq!(done.status(), 303);
    let (_, now) = h.call("GET", &format!("/v1/subscriptions/{id}"), None).await;
    assert_eq!(now["active"], false);

    // The delivery log filtered by time.
    let (_, on) = h.call("PATCH", &format!("/v1/subscriptions/{id}"), Some(json!({"active": true}))).await;
    assert_eq!(on["active"], true);
    let ev = created(&h, "/v1/events", json!({"tenant":"acme","type":"order.paid","payload":{}})).await;
    let delivery = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let log = |q: &'static str| {
        let (http, mine) = (http.clone(), mine.clone());
        let url = format!("{}/portal/deliveries?{q}", h.base);
        async move {
            let r = http.get(url).header("cookie", mine).send().await.expect("log");
            (r.status().as_u16(), r.text().await.expect("html"))
        }
    };
    let (status, html) = log("since=2000-01-01T00:00:00Z").await;
    assert!(status == 200 && html.contains(&delivery), "{html}");
    let (status, html) = log("since=2100-01-01T00:00:00Z").await;
    assert!(status == 200 && html.contains("No deliveries match"), "{html}");
    let (status, html) = log("until=2000-01-01T00:00:00Z").await;
    assert!(status == 200 && !html.contains(&delivery));
    let (status, html) = log("event_type=order.paid").await;
    assert!(status == 200 && html.contains(&delivery), "{html}");
    let (status, html) = log("event_type=order.refunded").await;
    assert!(status == 200 && !html.contains(&delivery), "{html}");
    let (status, html) = log("since=yesterday").await;
    assert!(status == 400 && html.contains("2026-11-23T09:00:00Z"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_session_reads_any_tenant_and_the_dead_letters_and_a_tenant_does_not() {
    let (_dir, h) = start(&[
        ("HOOKLINE_TENANT_API_KEYS", "acme:acme-key-0123456789abcdef"),
        ("HOOKLINE_RETRY_SCHEDULE", "1s"),
    ])
    .await;
    let (a, g) = (Receiver::start().await, Receiver::start().await);
    g.script([Reply::Status(500), Reply::Status(500)]);
    created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":a.url("/acme-hooks")})).await;
    created(&h, "/v1/subscriptions", json!({"tenant":"globex","url":g.url("/globex-hooks")})).await;
    let ev = created(&h, "/v1/events", json!({"tenant":"globex","type":"order.paid","payload":{}})).await;
    let globex_delivery = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let failed = finished(&h, &globex_delivery).await["attempt_count"].as_u64().expect("count");

    // A tenant's key cannot ask for an operator's link.
    let (status, _) = h
        .send(
            "POST",
            "/v1/portal-sessions",
            Some(json!({})),
            &[("authorization", "Bearer acme-key-0123456789abcdef")],
        )
        .await;
    assert_eq!(status, 403);

    let link = created(&h, "/v1/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    wait_text(&b, "header", "operator").await;
    let tenant = b.client.find(Locator::Css("input[name=tenant]")).await.expect("the tenant chooser");
    tenant.send_keys("globex").await.expect("type");
    click(&b, Locator::Css("form button[type=submit]")).await;
    wait_text(&b, "table", "globex-hooks").await;
    assert!(!b.client.source().await.expect("html").contains("acme-hooks"));
    b.screenshot("operator-endpoints").await.expect("screenshot");
    // Its failed delivery, found in the log by status; replayed from its
    // endpoint's page; then delivered.
    b.client.goto(&format!("{}/portal/deliveries?tenant=globex&status=failed", h.base)).await.expect("log");
    wait_text(&b, "table", &globex_delivery).await;
    click(&b, Locator::LinkText(&globex_delivery)).await;
    wait_text(&b, "h1", "Delivery dlv_").await;
    let attempts = wait_text(&b, "table", "500").await;
    assert_eq!(attempts.matches("500").count(), 2, "{attempts}");
    b.client.goto(&format!("{}/portal/?tenant=globex", h.base)).await.expect("endpoints");
    click(&b, Locator::LinkText(&g.url("/globex-hooks"))).await;
    wait_text(&b, "#test", "Send a test event").await;
    // Its health: failing, and when it would be disabled.
    wait_text(&b, "main", "unless one succeeds, it is disabled at").await;
    click(&b, Locator::Css("form[action$='/replay'] button")).await;
    wait_text(&b, "h1", "Replay failed deliveries?").await;
    click(&b, Locator::Css("form[action$='/replay'] button")).await;
    wait_text(&b, "main", "1 failed deliveries will be sent again").await;
    let replayed = finished_as(&h, &globex_delivery, "succeeded").await;
    assert_eq!(replayed["attempt_count"], 3, "{replayed}");
    click(&b, Locator::LinkText("Dead letters")).await;
    wait_text(&b, "main", "No dead letters").await;
    // The service's attempts over time: globex's failures and the replay's
    // success (counts are written every few seconds).
    click(&b, Locator::LinkText("Service")).await;
    let service =
        reload_until(&b, "div.charts", &format!("Attempts, last 24 hours: 1 succeeded, {failed} failed"))
            .await;
    assert!(
        service.contains("Deliveries, last 24 hours: 1 succeeded, 1 failed"),
        "given up, then replayed: {service}"
    );
    b.screenshot("service").await.expect("screenshot");

    // A tenant's session does not reach the operator's page.
    let own = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    b.client.goto(&format!("{}{}", h.base, own["url"].as_str().expect("url"))).await.expect("open");
    b.client.goto(&format!("{}/portal/dead-letters", h.base)).await.expect("goto");
    wait_text(&b, "h1", "Not allowed").await;
    b.client.goto(&format!("{}/portal/service", h.base)).await.expect("goto");
    wait_text(&b, "h1", "Not allowed").await;
    b.client.goto(&format!("{}/portal/?tenant=globex", h.base)).await.expect("goto");
    wait_text(&b, "table", "acme-hooks").await;
    assert!(
        !b.client.source().await.expect("html").contains("globex-hooks"),
        "?tenant= does not widen a tenant's session"
    );
    b.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_event_types_are_toggles_and_an_endpoint_gets_the_two_it_chose() {
    let (_dir, h) = start(&[]).await;
    for (name, what) in [
        ("video.created", "A video was uploaded"),
        ("video.updated", "Its title or renditions changed"),
        ("video.deleted", "It was removed"),
    ] {
        let (status, v) = h
            .call(
                "PUT",
                &format!("/v1/event-types/{name}"),
                Some(json!({"description": what, "example": {"video_id": "v_1"}})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    wait_text(&b, "fieldset.events", "It was removed").await;
    for name in ["video.created", "video.deleted"] {
        click(&b, Locator::Css(&format!("input[type=checkbox][value='{name}']"))).await;
    }
    let r = Receiver::start().await;
    let url = b.client.find(Locator::Css("form.create input[name=url]")).await.expect("url");
    url.send_keys(&r.url("/videos")).await.expect("type");
    b.screenshot("endpoint-toggles").await.expect("screenshot");
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    wait_text(&b, "main", "Endpoint added").await;
    click(&b, Locator::Css("form[action$='/reveal-secret'] button")).await;
    wait_text(&b, "h1", "Signing secret").await;
    let secret = text_of(&b, "#secret").await;
    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=acme", None).await;
    assert_eq!(subs["data"][0]["event_types"], json!(["video.created", "video.deleted"]), "{subs}");

    let updated =
        created(&h, "/v1/events", json!({"tenant":"acme","type":"video.updated","payload":{}})).await;
    assert_eq!(updated["deliveries"], json!([]), "not a type it chose");
    created(&h, "/v1/events", json!({"tenant":"acme","type":"video.created","payload":{"video_id":"v_9"}}))
        .await;
    let got = eventually(WAIT, "the video.created event", || async { r.received().first().cloned() }).await;
    hookline_tests::receiver::verify_standard(&secret, &got, chrono::Utc::now().timestamp())
        .expect("verified");
    assert_eq!(got.json()["type"], "video.created");

    // Its settings page shows the two toggles on, the third off.
    click(&b, Locator::LinkText("Back to the endpoint")).await;
    wait_text(&b, "#test", "Send a test event").await;
    for (name, on) in [("video.created", true), ("video.updated", false), ("video.deleted", true)] {
        let toggle =
            b.client.find(Locator::Css(&format!("input[type=checkbox][value='{name}']"))).await.expect(name);
        assert_eq!(toggle.prop("checked").await.expect("checked").as_deref() == Some("true"), on, "{name}");
    }

    // Custom headers: a reserved one is refused beside the field, with what
    // was typed kept; set ones go with every request, are listed by name
    // and never shown; clearing them removes them.
    let headers_box = |text: &'static str| {
        let b = &b;
        async move {
            let area = b.client.find(Locator::Css("textarea#headers")).await.expect("headers");
            area.clear().await.expect("clear");
            area.send_keys(text).await.expect("type");
        }
    };
    headers_box("Host: evil.example").await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    let note = wait_text(&b, "#headers-note.error", "").await;
    assert!(!note.is_empty(), "the API's reason beside the field");
    assert_eq!(text_of(&b, "textarea#headers").await, "Host: evil.example", "what was typed is kept");
    headers_box("X-Team: video\nAuthorization: Bearer tok_9").await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    wait_text(&b, "h1", "Endpoints").await;
    created(&h, "/v1/events", json!({"tenant":"acme","type":"video.created","payload":{"video_id":"v_10"}}))
        .await;
    let got = eventually(WAIT, "a request with the headers", || async { r.received().get(1).cloned() }).await;
    assert_eq!(got.header("x-team"), Some("video"));
    assert_eq!(got.header("authorization"), Some("Bearer tok_9"));
    click(&b, Locator::LinkText(&r.url("/videos"))).await;
    let note = wait_text(&b, "#headers-note", "set now").await;
    assert!(
        note.to_lowercase().contains("x-team") && note.to_lowercase().contains("authorization"),
        "{note}"
    );
    assert!(!b.client.source().await.expect("html").contains("tok_9"), "values are write-only");
    click(&b, Locator::Css("input[name=clear_headers]")).await;
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    wait_text(&b, "h1", "Endpoints").await;
    created(&h, "/v1/events", json!({"tenant":"acme","type":"video.created","payload":{"video_id":"v_11"}}))
        .await;
    let got = eventually(WAIT, "a request without them", || async { r.received().get(2).cloned() }).await;
    assert_eq!(got.header("x-team"), None, "cleared");

    // The catalog page tells the customer what each type means and carries.
    click(&b, Locator::LinkText("Event types")).await;
    let catalog = wait_text(&b, "main", "It was removed").await;
    assert!(catalog.contains("video.updated") && catalog.contains("\"video_id\": \"v_1\""), "{catalog}");
    b.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_page_passes_an_accessibility_audit() {
    let (_dir, h) = start(&[("HOOKLINE_RETRY_SCHEDULE", "1s")]).await;
    let r = Receiver::start().await;
    r.script([Reply::Status(500)]);
    let declared = json!({"description":"An order was paid","example":{"id":1},"schema":{"type":"object"}});
    let (status, _) = h.call("PUT", "/v1/event-types/order.paid", Some(declared)).await;
    assert_eq!(status, 200);
    let sub = created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":r.url("/hooks")})).await;
    let sub = sub["id"].as_str().expect("id").to_owned();
    let ev = created(&h, "/v1/events", json!({"tenant":"acme","type":"order.paid","payload":{"id":1}})).await;
    let delivery = ev["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let event = ev["id"].as_str().expect("id").to_owned();
    finished(&h, &delivery).await;

    let b = Browser::start().await.expect("a browser");
    let mut report = Vec::new();
    let mut audit = async |what: &str| {
        for v in b.accessibility_violations().await.expect("an audit") {
            report.push(format!("{what}: {v}"));
        }
    };
    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    wait_text(&b, "h1", "Endpoints").await;
    audit("endpoints").await;
    // Each page: its path, what shows it loaded, its name in the report.
    for (path, selector, text, what) in [
        (format!("/portal/endpoints/{sub}"), "#test", "Send a test event", "endpoint"),
        (format!("/portal/events/{event}"), "#deliveries", "1 endpoint", "event"),
        ("/portal/deliveries".to_owned(), "h1", "Delivery log", "delivery log"),
        (format!("/portal/deliveries/{delivery}"), "table", "200", "delivery"),
        (
            format!("/portal/deliveries/{delivery}/attempts/1"),
            "pre.request",
            "webhook-signature",
            "attempt request",
        ),
        ("/portal/event-types".to_owned(), "main", "An order was paid", "event types"),
    ] {
        b.client.goto(&format!("{}{path}", h.base)).await.expect("goto");
        wait_text(&b, selector, text).await;
        audit(what).await;
    }
    // A form sent back with an error beside its field, and a secret shown once.
    b.client.goto(&format!("{}/portal/", h.base)).await.expect("goto");
    let url = b.client.find(Locator::Css("form.create input[name=url]")).await.expect("url");
    url.send_keys("ftp://example.com/hook").await.expect("type");
    click(&b, Locator::Css("form.create button[type=submit]")).await;
    wait_text(&b, "form.create", "https").await;
    audit("form with an error").await;
    b.client.goto(&format!("{}/portal/endpoints/{sub}", h.base)).await.expect("goto");
    click(&b, Locator::Css("form[action$='/reveal-secret'] button")).await;
    wait_text(&b, "code#secret", "whsec_").await;
    audit("secret").await;
    // A link that no longer opens anything.
    b.client.goto(&format!("{}/portal/login?token=v1.forged", h.base)).await.expect("goto");
    audit("bad link").await;
    // The operator's own pages.
    let op = created(&h, "/v1/portal-sessions", json!({})).await;
    b.client.goto(&format!("{}{}", h.base, op["url"].as_str().expect("url"))).await.expect("open");
    wait_text(&b, "header", "operator").await;
    audit("operator endpoints").await;
    for (path, heading, what) in [
        ("/portal/service", "Service", "service"),
        ("/portal/dead-letters", "Dead letters", "dead letters"),
        ("/portal/tenants", "Tenants", "tenants"),
    ] {
        b.client.goto(&format!("{}{path}", h.base)).await.expect("goto");
        wait_text(&b, "h1", heading).await;
        audit(what).await;
    }
    // On a phone's width, no page scrolls sideways (tables drop their
    // later columns, long ids and requests wrap).
    b.client.set_window_size(390, 844).await.expect("a phone's size");
    let mut wide = Vec::new();
    for page in [
        "/portal/?tenant=acme".to_owned(),
        format!("/portal/endpoints/{sub}"),
        "/portal/deliveries?tenant=acme".to_owned(),
        format!("/portal/deliveries/{delivery}"),
        format!("/portal/deliveries/{delivery}/attempts/1"),
        format!("/portal/events/{event}"),
        "/portal/service".to_owned(),
        "/portal/tenants".to_owned(),
    ] {
        b.client.goto(&format!("{}{page}", h.base)).await.expect("goto");
        wait_text(&b, "main", "").await;
        let overflow = b
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .expect("measure");
        if overflow.as_i64() != Some(0) {
            wide.push(format!("{page}: {overflow} px too wide"));
        }
    }
    b.screenshot("phone-delivery").await.expect("screenshot");
    // Nothing that matters is hidden at that width: the endpoint list keeps
    // its Disable button, the delivery log its attempts and creation time
    // (each row a card, each value with its label), and an event's type is
    // not broken inside a word.
    let shown = |css: &'static str| {
        let b = &b;
        async move { b.client.find(Locator::Css(css)).await.expect(css).is_displayed().await.expect("displayed") }
    };
    b.client.goto(&format!("{}/portal/?tenant=acme", h.base)).await.expect("goto");
    wait_text(&b, "main", "").await;
    assert!(shown("form[action$='/active'] button").await, "Disable at 390 px");
    b.screenshot("phone-endpoints").await.expect("screenshot");
    b.client.goto(&format!("{}/portal/deliveries?tenant=acme", h.base)).await.expect("goto");
    wait_text(&b, "main", "").await;
    assert!(shown("td[data-label=Created]").await && shown("td[data-label=Attempts]").await);
    assert!(shown("td[data-label=Endpoint]").await, "each delivery's endpoint at 390 px");
    let created = text_of(&b, "td[data-label=Created]").await;
    assert!(created.contains("UTC"), "{created}");
    let ty = b.client.find(Locator::Css("td[data-label='Event type'] code")).await.expect("type");
    let lines = b
        .client
        .execute(
            // The lines its boxes sit on (a <wbr> splits the boxes, not the line).
            "return new Set([...arguments[0].getClientRects()].map(r => Math.round(r.top))).size;",
            vec![serde_json::to_value(&ty).expect("el")],
        )
        .await
        .expect("measure");
    assert_eq!(lines.as_i64(), Some(1), "an event type on one line at 390 px");
    b.screenshot("phone-deliveries").await.expect("screenshot");
    b.client.close().await.expect("close");
    assert!(report.is_empty(), "axe-core found:\n{}", report.join("\n"));
    assert!(wide.is_empty(), "{wide:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_endpoint_shows_the_delivery_holding_its_key_back() {
    // The first event of a key fails and waits an hour for its retry; the
    // second waits behind it, unattempted. The endpoint's page lists the
    // first, linked, and not the second.
    let (_dir, h) = start(&[]).await;
    let r = Receiver::start().await;
    r.script([Reply::Status(503); 4]);
    let body = json!({"tenant":"acme","url":r.url("/ordered"),"ordered":true,"retry_schedule":["1h"]});
    let sub = created(&h, "/v1/subscriptions", body).await;
    let keyed =
        |n: u64| json!({"tenant":"acme","type":"order.updated","ordering_key":"order-1","payload":{"n":n}});
    let first = created(&h, "/v1/events", keyed(1)).await;
    let second = created(&h, "/v1/events", keyed(2)).await;
    let (holder, behind) = (
        first["deliveries"][0]["id"].as_str().expect("id").to_owned(),
        second["deliveries"][0]["id"].as_str().expect("id").to_owned(),
    );
    eventually(WAIT, "the first attempt", || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{holder}"), None).await;
        (d["attempt_count"] == 1).then_some(d)
    })
    .await;
    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    click(&b, Locator::LinkText(&r.url("/ordered"))).await;
    wait_text(&b, "#test", "Send a test event").await;
    let held = text_of(&b, "#held-back").await;
    assert!(held.starts_with("1 deliveries"), "{held}");
    let table = text_of(&b, "#held-back ~ table").await;
    assert!(table.contains(&holder) && table.contains("503"), "{table}");
    assert!(!table.contains(&behind), "the one behind is waiting, not holding: {table}");
    assert_eq!(r.received().len(), 1, "nothing of the key was sent past the failing one");
    let (_, d) = h.call("GET", &format!("/v1/deliveries/{behind}"), None).await;
    assert_eq!((d["status"].clone(), d["attempt_count"].clone()), (json!("pending"), json!(0)), "{d}");
    assert_eq!(sub["ordered"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_many_endpoints_pages_through_them_and_finds_one_by_its_channel() {
    // 120 endpoints, each for one store: the list shows 50 a page, newest
    // first, and every one is reached once by following "Next"; a search by
    // channel finds the one endpoint of that store.
    let (_dir, h) = start(&[]).await;
    let mut urls = Vec::new();
    for n in 0..120 {
        let url = format!("https://store-{n}.example.com/hooks");
        created(
            &h,
            "/v1/subscriptions",
            json!({"tenant":"acme","url":url,"channels":[format!("store-{n}")]}),
        )
        .await;
        urls.push(url);
    }
    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    let mut seen = Vec::new();
    for page in 0..3 {
        let table = wait_text(&b, "table", "store-").await;
        let on_page: Vec<&String> = urls.iter().filter(|u| table.contains(u.as_str())).collect();
        assert_eq!(on_page.len(), if page < 2 { 50 } else { 20 }, "page {page}: {table}");
        seen.extend(on_page.into_iter().cloned());
        if page < 2 {
            click(&b, Locator::Css("a[rel=next]")).await;
        }
    }
    assert!(b.client.find(Locator::Css("a[rel=next]")).await.is_err(), "the last page links no further");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 120, "every endpoint on one page or another, none twice");
    assert!(text_of(&b, "table").await.contains(&urls[0]), "the oldest is last");

    let search = b.client.find(Locator::Css("input[name=q]")).await.expect("a search box");
    search.send_keys("STORE-77").await.expect("type");
    click(&b, Locator::Css("form.search button[type=submit]")).await;
    let found = wait_text(&b, "table", "matching").await;
    assert!(found.contains(&urls[77]), "{found}");
    assert!(found.starts_with("1 endpoint matching"), "only store-77's, case ignored: {found}");
    b.client.goto(&format!("{}/portal/?q=nothing-like-this", h.base)).await.expect("search");
    wait_text(&b, "main", "No endpoints match nothing-like-this.").await;
    b.client.goto(&format!("{}/portal/?q={}", h.base, "x".repeat(201))).await.expect("search");
    wait_text(&b, "main", "200").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_page_shows_its_schedule_and_each_types_own() {
    let (_dir, h) = start(&[]).await;
    let body = json!({
        "tenant":"acme","url":"https://billing.example.com/hooks",
        "retry_schedule":["1m","1h"],
        "retry_schedules":{"invoice.*":["1h","5h","10h"],"typing.started":[]},
    });
    let sub = created(&h, "/v1/subscriptions", body).await;
    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    click(&b, Locator::LinkText("https://billing.example.com/hooks")).await;
    let own = wait_text(&b, "#retries", "this endpoint's own").await;
    assert!(own.contains("waits of 1m, 1h"), "{own}");
    let types = text_of(&b, "#type-schedules").await;
    assert!(types.contains("invoice.*") && types.contains("waits of 1h, 5h, 10h"), "{types}");
    assert!(types.contains("typing.started") && types.contains("no retries"), "{types}");
    assert!(sub["id"].is_string());
}
