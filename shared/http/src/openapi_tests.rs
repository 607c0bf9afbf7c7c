//! The OpenAPI document (`openapi.json`), the route table and the router
//! must agree: every documented route and method is served, nothing else is.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use hookline::auth::ApiKeys;
use hookline::ports::fakes::{ManualClock, MemoryQueue, MemoryStore, SeededEntropy};
use hookline::{Context, ServiceSettings};

use super::{ROUTES, router};

const METHODS: &[&str] = &["GET", "POST", "PATCH", "DELETE", "PUT"];

fn documented() -> BTreeSet<(String, String)> {
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../../../openapi.json")).expect("openapi.json is JSON");
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if method != "parameters" {
                out.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    out
}

fn table() -> BTreeSet<(String, String)> {
    ROUTES.iter().flat_map(|(p, ms)| ms.iter().map(move |m| (p.to_string(), m.to_string()))).collect()
}

#[test]
fn the_openapi_document_lists_exactly_the_route_table() {
    assert_eq!(documented(), table());
}

fn concrete(path: &str) -> String {
    let id = if path.starts_with("/v1/subscriptions") {
        "sub_01jdx000000000000000000000"
    } else if path.starts_with("/v1/events") {
        "evt_01jdx000000000000000000000"
    } else {
        "dlv_01jdx000000000000000000000"
    };
    path.replace("{id}", id)
        .replace("{tenant}", "acme")
        .replace("{name}", "video.created")
        .replace("{number}", "1")
}

#[tokio::test]
async fn the_router_serves_exactly_the_route_table() {
    let ctx = Context::new(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryQueue::new()),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        Arc::new(SeededEntropy::new(1)),
        ServiceSettings::default(),
    );
    let app = router(ctx, ApiKeys::from_keys(["k"]));
    for (path, methods) in ROUTES {
        for method in METHODS {
            let req = Request::builder()
                .method(*method)
                .uri(concrete(path))
                .header("authorization", "Bearer k")
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .expect("request");
            let resp = app.clone().oneshot(req).await.expect("answer");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
            let code =
                serde_json::from_slice::<serde_json::Value>(&bytes).ok().map(|v| v["error"]["code"].clone());
            if methods.contains(method) {
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is in the table but not served"
                );
                assert_ne!(code, Some(serde_json::json!("no_such_route")), "{method} {path}");
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not in the table"
                );
            }
        }
    }
}
