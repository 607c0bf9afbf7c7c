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

async fn text_of(b: &Browser, css: &str) -> String {
    b.client.find(Locator::Css(css)).await.expect(css).text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_session_shows_its_tenants_endpoints_and_deliveries_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Hookline::start(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[("HOOKLINE_RETRY_SCHEDULE", "1s")],
    )
    .await;
    let flaky = Receiver::start().await;
    flaky.script([Reply::Status(500)]);
    let other = Receiver::start().await;
    created(
        &h,
        "/v1/subscriptions",
        json!({"tenant":"acme","url":flaky.url("/orders"),"event_types":["order.*"],"description":"Orders"}),
    )
    .await;
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
    b.client.find(Locator::LinkText("Delivery log")).await.expect("nav").click().await.expect("click");
    let form = b.client.form(Locator::Css("form")).await.expect("the filter");
    b.client
        .find(Locator::Css("select[name=status]"))
        .await
        .expect("status")
        .select_by_value("succeeded")
        .await
        .expect("choose");
    form.submit_with(Locator::Css("button[type=submit]")).await.expect("filter");
    assert!(
        b.client.current_url().await.expect("url").query().unwrap_or_default().contains("status=succeeded")
    );
    let rows = b.client.find_all(Locator::Css("tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), 1, "acme's one delivery");
    b.screenshot("delivery-log").await.expect("screenshot");
    b.client.find(Locator::LinkText(&acme_delivery)).await.expect("its link").click().await.expect("click");
    let attempts = text_of(&b, "table").await;
    assert!(attempts.contains("500") && attempts.contains("200"), "{attempts}");
    assert_eq!(b.client.find_all(Locator::Css("tbody tr")).await.expect("attempts").len(), 2);
    b.screenshot("delivery").await.expect("screenshot");

    // Another tenant's delivery is not there for this session.
    b.client.goto(&format!("{}/portal/deliveries/{globex_delivery}", h.base)).await.expect("goto");
    assert_eq!(text_of(&b, "h1").await, "Not found");
    assert!(!b.client.source().await.expect("source").contains("secret-globex"));

    // A tampered link, and no session at all, get a clear page.
    let tampered = url.replace("token=v1.", "token=v1.x");
    b.client.goto(&tampered).await.expect("goto");
    assert_eq!(text_of(&b, "h1").await, "This link cannot be used");
    b.client.delete_all_cookies().await.expect("sign out");
    b.client.goto(&format!("{}/portal/", h.base)).await.expect("goto");
    assert_eq!(text_of(&b, "h1").await, "Your session has ended");
    b.client.close().await.expect("close");
}
