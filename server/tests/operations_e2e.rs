//! Operating deliveries against the `hookline` binary over real HTTP:
//! replay, redeliver, rotation, per-subscription settings, endpoint health
//! and operational events (the same scenarios run on the AWS path in
//! tests/aws_e2e.rs).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use hookline_tests::process::{Hookline, TempDir};
use hookline_tests::receiver::Receiver;
use hookline_tests::scenarios::{self, Hook};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hookline");

/// The binary, and the directory of its database (removed on drop).
struct Embedded(Hookline, #[allow(dead_code)] TempDir);

#[async_trait]
impl Hook for Embedded {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.0.call(method, path, body).await
    }

    async fn tick(&self) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn embedded(extra: &[(&str, &str)]) -> Embedded {
    let dir = TempDir::new("operations");
    let mut env = vec![("HOOKLINE_RETRY_SCHEDULE", "1s")];
    env.extend_from_slice(extra);
    let h = Hookline::start(Path::new(BIN), &dir.0.join("hookline.db"), &env).await;
    Embedded(h, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_redeliver() {
    scenarios::replay_and_redeliver(&embedded(&[]).await, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation() {
    scenarios::rotation(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_end_to_end() {
    scenarios::settings_end_to_end(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_health() {
    scenarios::endpoint_health(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_events() {
    let ops = Receiver::start().await;
    let url = ops.url("/hookline-ops");
    let h = embedded(&[("HOOKLINE_OPS_WEBHOOK_URL", &url)]).await;
    scenarios::operational_events(&h, &ops).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_after_failing_for_the_period() {
    scenarios::disabled_after_failing_for_the_period(&embedded(&[("HOOKLINE_DISABLE_AFTER", "2s")]).await)
        .await;
}
