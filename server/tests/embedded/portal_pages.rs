//! The portal's pages a customer reads when something went wrong, in a real
//! browser against the `hookline` binary: a test event chosen from the
//! declared types and sent with the payload the customer edited, the
//! delivery's page updating by itself until the answer is there, and the
//! event's page listing its delivery to every endpoint.

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use hookline_tests::browser::Browser;
use hookline_tests::process::{Hookline, eventually};
use hookline_tests::receiver::Receiver;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_hookline");
const WAIT: Duration = Duration::from_secs(30);

async fn created(h: &Hookline, path: &str, body: Value) -> Value {
    let (status, v) = h.call("POST", path, Some(body)).await;
    assert!(status == 201 || status == 202, "{path}: {status} {v}");
    v
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.client.find(Locator::Css(css)).await.expect(css).text().await.expect("text")
}

async fn click(b: &Browser, css: &str) {
    b.client.find(Locator::Css(css)).await.expect(css).click().await.expect("click");
}

/// The text of `css` once it contains `expected`, within `within`, never
/// reloading the page: what changes is the page's own doing.
async fn shows(b: &Browser, css: &str, expected: &str, within: Duration) -> String {
    let start = std::time::Instant::now();
    let mut last = String::new();
    while start.elapsed() < within {
        if let Ok(e) = b.client.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if t.contains(expected) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {expected:?}; last: {last:?}")
}

/// What a text area holds now.
async fn value_of(b: &Browser, css: &str) -> String {
    let e = b.client.find(Locator::Css(css)).await.expect(css);
    e.prop("value").await.expect("value").unwrap_or_default()
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    let e = b.client.find(Locator::Css(css)).await.expect(css);
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_of_a_declared_type_goes_with_the_payload_typed_and_its_page_follows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The first attempt waits 5 s, so the delivery's page is seen pending
    // before the answer comes in.
    let h = Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), &[]).await;
    for (name, example) in [
        ("video.created", json!({"video_id": "v_1"})),
        ("video.deleted", json!({"video_id": "v_2", "reason": "removed by its owner"})),
        ("order.paid", json!({"order": 1})),
    ] {
        let (status, v) =
            h.call("PUT", &format!("/v1/event-types/{name}"), Some(json!({"example": example}))).await;
        assert_eq!(status, 200, "{v}");
    }
    let videos = Receiver::start().await;
    let other = Receiver::start().await;
    let sub = created(
        &h,
        "/v1/subscriptions",
        json!({"tenant":"acme","url":videos.url("/videos"),"event_types":["video.*"],
               "description":"Videos","initial_delay":"5s"}),
    )
    .await;
    let sub = sub["id"].as_str().expect("id").to_owned();
    created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":other.url("/all")})).await;

    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    shows(&b, "h1", "Endpoints", WAIT).await;
    b.client.goto(&format!("{}/portal/endpoints/{sub}", h.base)).await.expect("endpoint");
    shows(&b, "#test", "Send a test event", WAIT).await;
    assert_eq!(text_of(&b, "h1").await, "Videos", "titled by its description");
    assert_eq!(
        text_of(&b, "p.url").await,
        videos.url("/videos"),
        "its URL under the title, not only in a field"
    );

    // The types offered are the declared ones it receives; the payload
    // starts as the first one's example, and choosing another type starts
    // from that type's example.
    let offered = b.client.find_all(Locator::Css("select[name=test_type] option")).await.expect("options");
    let mut names = Vec::new();
    for o in offered {
        names.push(o.attr("value").await.expect("value").unwrap_or_default());
    }
    assert_eq!(names, ["video.created", "video.deleted"], "not order.paid: it does not receive it");
    assert!(value_of(&b, "textarea[name=payload]").await.contains("\"v_1\""));
    b.client
        .find(Locator::Css("select[name=test_type]"))
        .await
        .expect("types")
        .select_by_value("video.deleted")
        .await
        .expect("choose");
    click(&b, "form[action$='#test'] button").await;
    shows(&b, "form[action$='/test']", "video.deleted", WAIT).await;
    let example = value_of(&b, "textarea[name=payload]").await;
    assert!(example.contains("removed by its owner"), "{example}");

    // Text that is not JSON is refused beside the field, kept as typed,
    // and nothing is sent.
    type_into(&b, "textarea[name=payload]", "{not json").await;
    click(&b, "form[action$='/test'] button").await;
    let note = shows(&b, "#payload-note.error", "JSON", WAIT).await;
    assert!(note.starts_with("Payload"), "called by its label: {note}");
    assert_eq!(value_of(&b, "textarea[name=payload]").await, "{not json");
    let (_, log) = h.call("GET", "/v1/deliveries?tenant=acme", None).await;
    assert_eq!(log["data"], json!([]), "nothing sent: {log}");

    // The payload as edited is the one delivered, signed, of the chosen type.
    type_into(&b, "textarea[name=payload]", r#"{"video_id": "v_typed", "n": 2}"#).await;
    click(&b, "form[action$='/test'] button").await;
    shows(&b, "h1", "Delivery dlv_", WAIT).await;
    assert!(text_of(&b, "#no-attempt").await.contains("reloads itself"));
    let delivery_url = b.client.current_url().await.expect("url");
    b.screenshot("test-event-pending").await.expect("screenshot");
    // The page follows the delivery by itself: no reload here.
    let attempts = shows(&b, "#attempts", "200", WAIT).await;
    assert!(attempts.contains("ms"), "{attempts}");
    assert_eq!(b.client.current_url().await.expect("url"), delivery_url);
    let got = videos.received().first().cloned().expect("the test event arrived");
    assert_eq!(got.json()["type"], "video.deleted");
    assert_eq!(got.json()["data"], json!({"video_id": "v_typed", "n": 2}));
    assert!(other.received().is_empty(), "a test goes to its one endpoint");
    // Finished, it no longer reloads.
    let refresh = b.client.find_all(Locator::Css("meta[http-equiv=refresh]")).await.expect("meta");
    assert!(refresh.is_empty(), "a finished delivery's page stays still");

    // The delivery's page names its endpoint (linked), its type, its
    // event (linked) and the payload exactly as published.
    let about = text_of(&b, "dl").await;
    assert!(about.contains("Videos") && about.contains(&videos.url("/videos")), "{about}");
    assert!(about.contains("video.deleted"), "{about}");
    assert_eq!(text_of(&b, "#payload").await, r#"{"video_id": "v_typed", "n": 2}"#);
    let to = b.client.find(Locator::Css("dl a[href^='/portal/endpoints/']")).await.expect("endpoint link");
    assert_eq!(to.attr("href").await.expect("href"), Some(format!("/portal/endpoints/{sub}")));
    b.screenshot("delivery-test-event").await.expect("screenshot");
    click(&b, "dl a[href^='/portal/events/']").await;
    shows(&b, "h1", "Event evt_", WAIT).await;
    let listed = text_of(&b, "#deliveries").await;
    assert!(
        listed.contains("1 endpoint") && listed.contains("Videos") && listed.contains("succeeded"),
        "{listed}"
    );
    b.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_page_lists_its_delivery_to_every_endpoint_and_the_log_names_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), &[]).await;
    let (a, c) = (Receiver::start().await, Receiver::start().await);
    created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":a.url("/a"),"description":"Billing"}))
        .await;
    created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":c.url("/c")})).await;
    let globex = Receiver::start().await;
    created(&h, "/v1/subscriptions", json!({"tenant":"globex","url":globex.url("/g")})).await;
    let ev = created(
        &h,
        "/v1/events",
        json!({"tenant":"acme","type":"invoice.payment_succeeded","payload":{"amount":100},"channels":["eu"]}),
    )
    .await;
    let event = ev["id"].as_str().expect("id").to_owned();
    let theirs = created(&h, "/v1/events", json!({"tenant":"globex","type":"x.y","payload":{}})).await;
    eventually(WAIT, "both delivered", || async {
        (a.received().len() + c.received().len() == 2).then_some(())
    })
    .await;

    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    shows(&b, "h1", "Endpoints", WAIT).await;
    b.client.goto(&format!("{}/portal/events/{event}", h.base)).await.expect("event");
    let listed = shows(&b, "#deliveries", "2 endpoints", WAIT).await;
    assert!(listed.contains("Billing") && listed.contains(&c.url("/c")), "{listed}");
    assert_eq!(listed.matches("succeeded").count(), 2, "{listed}");
    let about = text_of(&b, "dl").await;
    assert!(about.contains("invoice.payment_succeeded") && about.contains("eu"), "{about}");
    assert_eq!(text_of(&b, "#payload").await, r#"{"amount":100}"#);
    b.screenshot("event").await.expect("screenshot");

    // The delivery log says where each delivery went.
    b.client.goto(&format!("{}/portal/deliveries", h.base)).await.expect("log");
    let rows = shows(&b, "table", "Billing", WAIT).await;
    assert!(rows.contains(&c.url("/c")) && rows.contains("Endpoint"), "{rows}");

    // Another tenant's event is not found, and says nothing of it.
    b.client
        .goto(&format!("{}/portal/events/{}", h.base, theirs["id"].as_str().expect("id")))
        .await
        .expect("goto");
    shows(&b, "h1", "Not found", WAIT).await;
    assert!(!b.client.source().await.expect("html").contains(&globex.url("/g")));
    b.client.goto(&format!("{}/portal/events/not-an-id", h.base)).await.expect("goto");
    shows(&b, "h1", "No such event", WAIT).await;
    b.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_wears_the_platforms_name_logo_and_colour_and_refuses_an_unreadable_one() {
    use base64::Engine;
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18" fill="#ffffff"/></svg>"##;
    let logo = base64::engine::general_purpose::STANDARD.encode(svg);
    let dir = tempfile::tempdir().expect("tempdir");
    let brand = [
        ("HOOKLINE_PORTAL_NAME", "Acme Video"),
        ("HOOKLINE_PORTAL_ACCENT", "#0a5c36"),
        ("HOOKLINE_PORTAL_LOGO", logo.as_str()),
    ];
    let h = Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), &brand).await;
    let r = Receiver::start().await;
    created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":r.url("/hooks")})).await;
    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    shows(&b, "h1", "Endpoints", WAIT).await;

    // Its name in the header and the title; "hookline" nowhere the
    // customer reads.
    assert!(text_of(&b, "header").await.starts_with("Acme Video"));
    assert_eq!(b.client.title().await.expect("title"), "Endpoints — Acme Video");
    let seen = b.client.find(Locator::Css("body")).await.expect("body").text().await.expect("text");
    assert!(!seen.to_lowercase().contains("hookline"), "{seen}");
    // The logo, served by the portal itself, shown.
    let drawn = b
        .client
        .execute("return document.querySelector('header img.logo').naturalWidth;", vec![])
        .await
        .expect("measure");
    assert_eq!(drawn.as_i64(), Some(40), "the logo loaded");
    // The accent on the header and the links.
    let colours = b
        .client
        .execute(
            "return [getComputedStyle(document.querySelector('header')).backgroundColor,
                     getComputedStyle(document.querySelector('main a')).color];",
            vec![],
        )
        .await
        .expect("styles");
    assert_eq!(colours, json!(["rgb(10, 92, 54)", "rgb(10, 92, 54)"]));
    let violations = b.accessibility_violations().await.expect("an audit");
    assert!(violations.is_empty(), "{violations:?}");
    b.screenshot("branded").await.expect("screenshot");
    // A page with no session is branded too.
    b.client.delete_all_cookies().await.expect("sign out");
    b.client.goto(&format!("{}/portal/", h.base)).await.expect("goto");
    shows(&b, "h1", "Your session has ended", WAIT).await;
    assert_eq!(b.client.title().await.expect("title"), "Your session has ended — Acme Video");
    b.client.close().await.expect("close");

    // The logo on its own: its type, and a policy under which an SVG runs
    // nothing.
    let got = reqwest::get(format!("{}/portal/logo", h.base)).await.expect("logo");
    assert_eq!(got.status(), 200);
    let header = |name: &str| got.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(header("content-type"), "image/svg+xml");
    assert!(
        header("content-security-policy").starts_with("default-src 'none'"),
        "{}",
        header("content-security-policy")
    );
    assert_eq!(got.bytes().await.expect("body").as_ref(), svg.as_bytes());

    // A colour white text cannot be read on stops the start, naming its
    // variable, and writes nothing.
    let empty = tempfile::tempdir().expect("tempdir");
    let db = empty.path().join("hookline.db");
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("HOOKLINE_PORTAL_ACCENT", "#ffcc00")
        .output()
        .expect("run hookline");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("HOOKLINE_PORTAL_ACCENT") && said.contains("4.5:1"), "{said}");
    assert!(!db.exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_copied_with_one_click_and_the_page_runs_only_the_portals_own_script() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), &[]).await;
    let r = Receiver::start().await;
    let sub = created(&h, "/v1/subscriptions", json!({"tenant":"acme","url":r.url("/hooks")})).await;
    let (id, secret) =
        (sub["id"].as_str().expect("id").to_owned(), sub["secret"].as_str().expect("secret").to_owned());
    let link = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    shows(&b, "h1", "Endpoints", WAIT).await;
    b.client.goto(&format!("{}/portal/endpoints/{id}", h.base)).await.expect("endpoint");
    click(&b, "form[action$='/reveal-secret'] button").await;
    shows(&b, "h1", "Signing secret", WAIT).await;
    // The button is there once the script ran; a click selects the secret
    // (what is copied is seen) and says it is copied.
    let button = b.client.find(Locator::Css("button[data-copy=secret]")).await.expect("a copy button");
    assert!(button.is_displayed().await.expect("shown"), "shown where the script runs");
    button.click().await.expect("click");
    shows(&b, "button[data-copy=secret]", "Copied", WAIT).await;
    let selected =
        b.client.execute("return window.getSelection().toString();", vec![]).await.expect("selection");
    assert_eq!(selected.as_str(), Some(secret.as_str()));
    // The form redirected to a page that shows the secret once: a reload
    // posts nothing again and shows no secret, and offers the button.
    let shown_at = b.client.current_url().await.expect("url");
    assert!(shown_at.path().ends_with("/secret") && !shown_at.as_str().contains(&secret), "{shown_at}");
    b.client.refresh().await.expect("reload");
    shows(&b, "h1", "Reveal the secret again?", WAIT).await;
    assert!(!b.client.source().await.expect("html").contains(&secret), "shown once");
    click(&b, "form[action$='/reveal-secret'] button").await;
    shows(&b, "#secret", &secret, WAIT).await;
    // The script is the portal's own, under a policy that allows no other.
    let page =
        reqwest::Client::new().get(format!("{}/portal/endpoints/{id}", h.base)).send().await.expect("page");
    let policy = page.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(policy.contains("script-src 'self'") && policy.starts_with("default-src 'none'"), "{policy}");
    let script = reqwest::get(format!("{}/portal/copy.js", h.base)).await.expect("script");
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(script.text().await.expect("text").len() < 2048, "a few lines");
    b.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_pages_through_the_tenants_finds_one_and_reads_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[("HOOKLINE_RETRY_SCHEDULE", "1s")],
    )
    .await;
    let (ok, down, gone) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    down.script([hookline_tests::receiver::Reply::Status(500), hookline_tests::receiver::Reply::Status(500)]);
    gone.script([hookline_tests::receiver::Reply::Status(410)]);
    for (tenant, url) in [
        ("acme", ok.url("/a")),
        ("acme", ok.url("/b")),
        ("acme-eu", ok.url("/eu")),
        ("globex", down.url("/g")),
        ("gone-co", gone.url("/gone")),
    ] {
        created(&h, "/v1/subscriptions", json!({"tenant": tenant, "url": url})).await;
    }
    for n in 0..52 {
        created(&h, "/v1/subscriptions", json!({"tenant": format!("t-{n:02}"), "url": ok.url("/t")})).await;
    }
    created(&h, "/v1/events", json!({"tenant":"acme","type":"order.paid","payload":{}})).await;
    created(&h, "/v1/events", json!({"tenant":"gone-co","type":"order.paid","payload":{}})).await;
    let failing =
        created(&h, "/v1/events", json!({"tenant":"globex","type":"order.paid","payload":{}})).await;
    let failing = failing["deliveries"][0]["id"].as_str().expect("id").to_owned();
    eventually(WAIT, "globex's delivery given up on", || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{failing}"), None).await;
        (d["status"] == "failed").then_some(())
    })
    .await;

    let link = created(&h, "/v1/portal-sessions", json!({})).await;
    let b = Browser::start().await.expect("a browser");
    b.client.goto(&format!("{}{}", h.base, link["url"].as_str().expect("url"))).await.expect("open");
    shows(&b, "header", "operator", WAIT).await;
    click(&b, "nav a[href='/portal/tenants']").await;
    shows(&b, "h1", "Tenants", WAIT).await;
    // Fifty a page, by name, each with its endpoints and its last day
    // (counts are written every few seconds: reload until they are).
    let mut listed = String::new();
    for _ in 0..60 {
        listed = text_of(&b, "#tenants").await;
        if listed.contains("0 succeeded, 1 failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        b.client.refresh().await.expect("reload");
    }
    assert!(
        listed.contains("0 succeeded, 1 failed (100.0 % failed)"),
        "globex's given-up delivery: {listed}"
    );
    assert!(listed.starts_with("50 tenants, a page of them"), "{listed}");
    let rows = b.client.find_all(Locator::Css("#tenants tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), 50);
    let first = text_of(&b, "#tenants tbody tr:first-child").await;
    assert!(
        first.starts_with("acme") && first.contains('2') && first.contains("2 succeeded, 0 failed"),
        "{first}"
    );
    b.screenshot("operator-tenants").await.expect("screenshot");
    let violations = b.accessibility_violations().await.expect("an audit");
    assert!(violations.is_empty(), "{violations:?}");
    click(&b, "a[rel=next]").await;
    let rest = shows(&b, "#tenants", "t-51", WAIT).await;
    assert_eq!(b.client.find_all(Locator::Css("#tenants tbody tr")).await.expect("rows").len(), 6, "{rest}");
    assert!(rest.contains("t-46") && !rest.contains("t-45"), "no gap, no repeat: {rest}");
    // Found by the start of its name; and from there, its endpoints.
    type_into(&b, "input[name=q]", "acme").await;
    click(&b, "form.search button").await;
    let found = shows(&b, "#tenants", "acme-eu", WAIT).await;
    assert_eq!(b.client.find_all(Locator::Css("#tenants tbody tr")).await.expect("rows").len(), 2, "{found}");
    click(&b, "#tenants a[href='/portal/?tenant=acme-eu']").await;
    shows(&b, "table", &ok.url("/eu"), WAIT).await;

    // The Service page: the queue as it stands and the dead letters.
    click(&b, "nav a[href='/portal/service']").await;
    let queue = shows(&b, "#queue", "messages waiting", WAIT).await;
    assert!(queue.starts_with("0 messages waiting"), "everything delivered: {queue}");
    assert_eq!(text_of(&b, "#dead-letters").await, "No dead letters.");
    // Every tenant's endpoints failing now, and those disabled, each
    // linked to its page, where it is acted on.
    let failing = text_of(&b, "table#failing").await;
    assert!(failing.contains(&down.url("/g")) && failing.contains("globex"), "{failing}");
    assert!(!failing.contains(&ok.url("/a")), "a healthy endpoint is not listed: {failing}");
    let disabled = shows(&b, "table#disabled", "410", WAIT).await;
    assert!(disabled.contains(&gone.url("/gone")) && disabled.contains("gone-co"), "{disabled}");
    click(&b, "table#disabled a[href^='/portal/endpoints/']").await;
    shows(&b, "h1", &gone.url("/gone"), WAIT).await;
    assert!(text_of(&b, "main").await.contains("410 Gone"), "why it is disabled, on its page");
    click(&b, "nav a[href='/portal/service']").await;
    shows(&b, "#queue", "messages waiting", WAIT).await;
    b.screenshot("service-queue").await.expect("screenshot");

    // A tenant's session has no list of tenants.
    let own = created(&h, "/v1/tenants/acme/portal-sessions", json!({})).await;
    b.client.goto(&format!("{}{}", h.base, own["url"].as_str().expect("url"))).await.expect("open");
    b.client.goto(&format!("{}/portal/tenants", h.base)).await.expect("goto");
    shows(&b, "h1", "Not allowed", WAIT).await;
    b.client.close().await.expect("close");
}
