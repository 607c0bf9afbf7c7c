//! The retry function: on its schedule, due deliveries go back onto the queue.

use std::sync::Arc;

use hookline_aws::AwsConfig;
use hookline_aws::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Most deliveries one run enqueues; the next run takes the rest.
const MAX_PER_RUN: usize = 20_000;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = AwsConfig::from_process_env()?;
    let metrics = lambda::init_metrics(&config);
    let ctx = Arc::new(lambda::context(&config).await);
    lambda_runtime::run_concurrent(service_fn(move |_: LambdaEvent<Value>| {
        let ctx = ctx.clone();
        async move {
            let enqueued = ctx.enqueue_due(MAX_PER_RUN).await;
            lambda::flush_metrics(metrics);
            let enqueued = enqueued?;
            Ok::<Value, Error>(json!({ "enqueued": enqueued }))
        }
    }))
    .await
}
