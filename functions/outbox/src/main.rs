//! The outbox function: the table's stream of new event items (filtered by
//! its event source mapping to inserts of `E#` items) becomes the first
//! attempts of their deliveries on the delivery queue
//! (`hookline_aws::outbox`).

use std::sync::Arc;

use hookline::ports::DeliveryQueue;
use hookline_aws::{AwsConfig, SqsQueue, lambda, outbox};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = AwsConfig::from_process_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.queue_url);
    if let Err(e) = queue.warm_up().await {
        tracing::warn!(error = %e, "warming up the queue's client failed; the first batch will connect");
    }
    let queue: Arc<dyn DeliveryQueue> = Arc::new(queue);
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Value>| {
        let queue = queue.clone();
        async move {
            Ok::<Value, Error>(outbox::outbox_batch(queue.as_ref(), chrono::Utc::now(), &event.payload).await)
        }
    }))
    .await
}
