//! The retry function: on its schedule, due deliveries go back onto the queue.

use hookline::aws::lambda;
use hookline::config::Config;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Most deliveries one run enqueues; the next run takes the rest.
const MAX_PER_RUN: usize = 20_000;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = Config::from_process_env()?;
    let ctx = lambda::context(&config).await?;
    let ctx = &ctx;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let enqueued = ctx.enqueue_due(MAX_PER_RUN).await?;
        Ok::<Value, Error>(json!({ "enqueued": enqueued }))
    }))
    .await
}
