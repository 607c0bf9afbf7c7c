//! The portal as the ingest function serves it: function URL events (the
//! payload format 2.0 API Gateway HTTP APIs use too) through lambda_http's
//! own adapter into the router and back into the JSON Lambda returns. What
//! only this path does is checked here: request cookies arrive in the
//! event's `cookies` list, response cookies must leave in it (a
//! `Set-Cookie` header would be dropped), bodies may come base64-encoded,
//! and HTTPS is known from `x-forwarded-proto`.

// A test asserts by panicking, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookline::Context;
use hookline::auth::ApiKeys;
use hookline::auth::PortalKey;
use hookline::context::ServiceSettings;
use hookline::ports::SystemClock;
use hookline::ports::fakes::{MemoryQueue, MemoryStore, SeededEntropy};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent, Service};
use serde_json::{Value, json};

const KEY: &str = "operator-key-0123456789abcdef";

/// A function URL event for `method path?query` with `cookies` and, when
/// given, a form body (base64-encoded, as function URLs send form posts).
fn event(method: &str, path_and_query: &str, cookies: &[String], form: Option<&str>) -> LambdaRequest {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut headers = json!({
        "host": "abc123.lambda-url.us-east-1.on.aws",
        "x-forwarded-proto": "https",
        "authorization": format!("Bearer {KEY}"),
    });
    if form.is_some() {
        headers["content-type"] = json!("application/x-www-form-urlencoded");
    }
    serde_json::from_value(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": cookies,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "test"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:01:00:00 +0000",
            "timeEpoch": 1_795_482_000_000_i64
        },
        "body": form.map(|f| B64.encode(f)),
        "isBase64Encoded": form.is_some()
    }))
    .expect("a function URL event")
}

/// The JSON the function returns to Lambda, and its body decoded.
async fn call<S>(adapter: &mut S, request: LambdaRequest) -> (Value, String)
where
    S: Service<LambdaEvent<LambdaRequest>>,
    S::Response: serde::Serialize,
    S::Error: std::fmt::Debug,
{
    let response = adapter.call(LambdaEvent::new(request, Default::default())).await.expect("an answer");
    let json = serde_json::to_value(&response).expect("serialisable");
    let body = match (json["body"].as_str(), json["isBase64Encoded"].as_bool()) {
        (Some(b), Some(true)) => String::from_utf8(B64.decode(b).expect("base64")).expect("UTF-8"),
        (Some(b), _) => b.to_owned(),
        (None, _) => String::new(),
    };
    (json, body)
}

#[tokio::test]
async fn a_portal_session_opens_and_acts_through_a_function_url() {
    let settings = ServiceSettings {
        portal_key: Some(PortalKey::from_bytes(vec![7; 32]).expect("a key")),
        ..Default::default()
    };
    let ctx = Context::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryQueue::new()),
        Arc::new(SystemClock),
        Arc::new(SeededEntropy::new(3)),
        settings,
    );
    let sub = ctx
        .create_subscription(
            &hookline::auth::Caller::internal(),
            serde_json::from_value(json!({"tenant":"acme","url":"https://acme.example/hooks"}))
                .expect("request"),
        )
        .await
        .expect("created");
    let app = hookline_ingest::app(hookline_http::router(ctx, ApiKeys::from_keys([KEY])), None);
    let mut adapter = Adapter::from(app);

    // The platform's backend asks for a link with its key.
    let (answer, body) =
        call(&mut adapter, event("POST", "/v1/tenants/acme/portal-sessions", &[], Some(""))).await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let link: Value = serde_json::from_str(&body).expect("JSON");
    let login = link["url"].as_str().expect("url");

    // The link sets the session cookie in the response's `cookies` list,
    // Secure and SameSite=None behind HTTPS.
    let (answer, _) = call(&mut adapter, event("GET", login, &[], None)).await;
    assert_eq!(answer["statusCode"], 303, "{answer}");
    assert_eq!(answer["headers"]["location"], "/portal/");
    let set = answer["cookies"][0].as_str().expect("a cookie in `cookies`").to_owned();
    assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=None"), "{set}");
    assert!(answer["headers"].get("set-cookie").is_none(), "not as a header: {answer}");
    let cookie = set.split(';').next().expect("name=value").to_owned();

    // The cookie, sent back in the event's `cookies`, opens the tenant's pages.
    let (answer, page) =
        call(&mut adapter, event("GET", "/portal/", std::slice::from_ref(&cookie), None)).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(page.contains("https://acme.example/hooks"), "{page}");
    let (answer, _) = call(&mut adapter, event("GET", "/portal/", &[], None)).await;
    assert_eq!(answer["statusCode"], 401, "no cookie, no pages: {answer}");

    // A form post (base64-encoded body) with the page's token acts; without it, nothing.
    let (_, page) = call(
        &mut adapter,
        event(
            "GET",
            &format!("/portal/endpoints/{}", sub.subscription.id),
            std::slice::from_ref(&cookie),
            None,
        ),
    )
    .await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's token")
        .to_owned();
    let rotate = format!("/portal/endpoints/{}/rotate-secret", sub.subscription.id);
    let (answer, _) =
        call(&mut adapter, event("POST", &rotate, std::slice::from_ref(&cookie), Some("csrf=forged"))).await;
    assert_eq!(answer["statusCode"], 403, "{answer}");
    // Rotation asks first, then acts once confirmed.
    let (answer, page) = call(
        &mut adapter,
        event("POST", &rotate, std::slice::from_ref(&cookie), Some(&format!("csrf={csrf}"))),
    )
    .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(
        page.contains("Rotate this endpoint&#39;s secret?")
            || page.contains("Rotate this endpoint's secret?"),
        "{page}"
    );
    assert!(!page.contains("whsec_"), "nothing rotated yet");
    let (answer, _) = call(
        &mut adapter,
        event("POST", &rotate, std::slice::from_ref(&cookie), Some(&format!("confirm=yes&csrf={csrf}"))),
    )
    .await;
    assert_eq!(answer["statusCode"], 303, "then to the endpoint's page: {answer}");
    let reveal = format!("/portal/endpoints/{}/reveal-secret", sub.subscription.id);
    let (answer, _) = call(
        &mut adapter,
        event("POST", &reveal, std::slice::from_ref(&cookie), Some(&format!("csrf={csrf}"))),
    )
    .await;
    // Post/redirect/get: to the page that shows it once.
    assert_eq!(answer["statusCode"], 303, "{answer}");
    let shown = answer["headers"]["location"].as_str().expect("a location").to_owned();
    let (answer, page) = call(&mut adapter, event("GET", &shown, std::slice::from_ref(&cookie), None)).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(page.contains("whsec_") && !page.contains(&sub.secret), "the new secret, revealed");
    let (_, again) = call(&mut adapter, event("GET", &shown, std::slice::from_ref(&cookie), None)).await;
    assert!(!again.contains("whsec_"), "and only once");
}
