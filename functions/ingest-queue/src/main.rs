//! The ingest-queue function: publish requests sent to the SQS ingest queue
//! by producers on AWS (authorised by IAM, no API key) are published as
//! `POST /v1/events` would; partial batch failures for what can succeed
//! later, the dead-letter queue at once for what never can.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hookline_aws::AwsConfig;
use hookline_aws::lambda;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = AwsConfig::from_process_env()?;
    let metrics = lambda::init_metrics(&config);
    let (ctx, rejects) = lambda::ingest_queue_context(&config).await?;
    let (ctx, rejects) = (Arc::new(ctx), Arc::new(rejects));
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (ctx, rejects) = (ctx.clone(), rejects.clone());
        async move {
            let response = lambda::ingest_batch(&ctx, &rejects, event.payload).await;
            lambda::flush_metrics(metrics);
            Ok::<SqsBatchResponse, Error>(response)
        }
    }))
    .await
}
