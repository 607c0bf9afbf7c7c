//! The shared end-to-end scenarios (`tests/support/scenarios.rs`) against the
//! `hookline` binary over real HTTP: fan-out, retries, exhaustion,
//! idempotency, replay, redeliver, rotation, per-subscription settings,
//! endpoint health and operational events. The same scenarios run on the
//! AWS path in `tests/aws_e2e.rs`.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use hookline_tests::process::Hookline;
use hookline_tests::receiver::Receiver;
use hookline_tests::scenarios::{self, ServiceUnderTest};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hookline");

/// The binary, and the directory of its database (removed on drop).
struct Embedded(Hookline, #[allow(dead_code)] tempfile::TempDir);

#[async_trait]
impl ServiceUnderTest for Embedded {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        self.0.send(method, path, body, headers).await
    }

    async fn tick(&self) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn embedded(extra: &[(&str, &str)]) -> Embedded {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut env = vec![
        ("HOOKLINE_RETRY_SCHEDULE", "1s"),
        ("HOOKLINE_TENANT_API_KEYS", scenarios::TENANT_KEYS),
        ("HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT", scenarios::SUBSCRIPTION_LIMIT),
    ];
    env.extend_from_slice(extra);
    let h = Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), &env).await;
    Embedded(h, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_deliveries_reach_each_key_in_publish_order() {
    let h = embedded(&[]).await;
    hookline_tests::ordering::ordered_deliveries_reach_each_key_in_publish_order(&h, 300, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_fans_out_by_type_with_verified_signatures() {
    scenarios::an_event_fans_out_by_type_with_verified_signatures(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_then_succeeds_with_every_attempt_recorded() {
    scenarios::a_failing_receiver_is_retried_then_succeeds_with_every_attempt_recorded(&embedded(&[]).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_schedule_fails_the_delivery() {
    scenarios::an_exhausted_schedule_fails_the_delivery(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_creates_one_event() {
    scenarios::one_idempotency_key_creates_one_event(&embedded(&[]).await).await;
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
    let h = embedded(&[
        ("HOOKLINE_OPS_WEBHOOK_URL", &url),
        ("HOOKLINE_OPS_WEBHOOK_SECRET", scenarios::OPS_SECRET),
        ("HOOKLINE_FAILING_AFTER", "2"),
    ])
    .await;
    scenarios::operational_events(&h, &ops, scenarios::OPS_SECRET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_after_failing_for_the_period() {
    scenarios::disabled_after_failing_for_the_period(&embedded(&[("HOOKLINE_DISABLE_AFTER", "2s")]).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_key_reaches_its_own_tenant_alone() {
    scenarios::a_tenant_key_reaches_its_own_tenant_alone(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_keep_every_change() {
    scenarios::concurrent_writes_keep_every_change(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_racing_a_disable_never_re_enables() {
    scenarios::a_patch_racing_a_disable_never_re_enables(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_cannot_be_sent_is_the_publishers_fault() {
    scenarios::a_payload_that_cannot_be_sent_is_the_publishers_fault(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_job_urls_speak_the_tenants_format() {
    let python = hookline_tests::test_python().expect("test python");
    let dir = hookline_tests::repo_root().join("tests/receivers/transcodely/python");
    let transcodely = hookline_tests::external::External::start(&python, &["receiver.py", "0"], &dir).await;
    scenarios::per_job_urls_speak_the_tenants_format(&embedded(&[]).await, &transcodely).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_publishes_each_event_alone() {
    scenarios::a_batch_publishes_each_event_alone(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_and_filters_route_each_event() {
    scenarios::channels_and_filters_route_each_event(&embedded(&[]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_schedule_can_differ_by_event_type() {
    scenarios::a_retry_schedule_can_differ_by_event_type(&embedded(&[]).await).await;
}
