//! The deliver function: SQS batches in, signed attempts out, partial batch
//! failures for infrastructure errors only.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hookline_aws::AwsConfig;
use hookline_aws::lambda;
use hookline_sender::HttpSender;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = AwsConfig::from_process_env()?;
    let metrics = lambda::init_metrics(&config);
    let ctx = Arc::new(lambda::context(&config).await?);
    // One client, one connection pool, for every invocation of this process.
    let settings = &config.common.settings;
    let sender = Arc::new(HttpSender::with_proxy(settings.guard.clone(), settings.egress_proxy.as_ref())?);
    let concurrency = config.common.concurrency;
    // Sequential on standard Lambda; several batches at once where the
    // platform sets AWS_LAMBDA_MAX_CONCURRENCY (managed instances, cargo lambda).
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (ctx, sender) = (ctx.clone(), sender.clone());
        async move {
            let response = lambda::deliver_batch(&ctx, sender.as_ref(), event.payload, concurrency).await;
            lambda::flush_metrics(metrics);
            Ok::<SqsBatchResponse, Error>(response)
        }
    }))
    .await
}
