//! The retry function: on its schedule, due deliveries go back onto the
//! queue, and what died in the delivery DLQ is redriven (a few times).

use std::sync::Arc;

use hookline_aws::AwsConfig;
use hookline_aws::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Most deliveries one run enqueues; the next run takes the rest.
const MAX_PER_RUN: usize = 20_000;

/// Receives of ten from the delivery DLQ one run makes at most.
const REDRIVE_ROUNDS: usize = 10;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = AwsConfig::from_process_env()?;
    let metrics = lambda::init_metrics(&config);
    let ctx = Arc::new(lambda::context(&config).await?);
    let redriver = Arc::new(lambda::dead_letter_redriver(&config).await);
    lambda_runtime::run_concurrent(service_fn(move |_: LambdaEvent<Value>| {
        let (ctx, redriver) = (ctx.clone(), redriver.clone());
        async move {
            let enqueued = ctx.enqueue_due(MAX_PER_RUN).await;
            // What died in the delivery DLQ goes back (a first attempt lost
            // there has no due entry to bring it back otherwise).
            let redriven = match redriver.as_ref() {
                Some(r) => r.redrive_all(REDRIVE_ROUNDS).await,
                None => Ok(0),
            };
            lambda::flush_metrics(metrics);
            let (enqueued, redriven) = (enqueued?, redriven?);
            Ok::<Value, Error>(json!({ "enqueued": enqueued, "redriven": redriven }))
        }
    }))
    .await
}
