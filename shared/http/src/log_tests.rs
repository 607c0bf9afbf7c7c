//! What the router logs of a failure of hookline's own: each once.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use hookline::auth::ApiKeys;
use hookline::ports::fakes::{ManualClock, MemoryQueue, MemoryStore, SeededEntropy};
use hookline::{Context, ServiceSettings};

use super::router;

/// Log lines, as a `tracing` writer keeps them.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).lines().filter(|l| l.contains(needle)).count()
    }
}

async fn post(app: &axum::Router, path: &str, body: &str) -> StatusCode {
    let req = Request::post(path)
        .header("authorization", "Bearer k")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    app.clone().oneshot(req).await.expect("answer").status()
}

#[tokio::test]
async fn a_publish_the_store_refuses_logs_one_error_line() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let store = Arc::new(MemoryStore::new());
    let ctx = Context::new(
        store.clone(),
        Arc::new(MemoryQueue::new()),
        Arc::new(ManualClock::new(chrono::Utc::now())),
        Arc::new(SeededEntropy::new(1)),
        ServiceSettings::default(),
    );
    let app = router(ctx, ApiKeys::from_keys(["k"]));
    store.set_unavailable(true);
    let event = r#"{"tenant":"acme","type":"video.encoded","payload":{}}"#;
    assert_eq!(post(&app, "/v1/events", event).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(lines.count("request failed"), 1, "a single publish: one line");
    let batch = format!(r#"{{"events":[{event},{event}]}}"#);
    assert_eq!(post(&app, "/v1/events/batch", &batch).await, StatusCode::OK);
    assert_eq!(lines.count("request failed"), 3, "a batch: one line for each event refused");
}
