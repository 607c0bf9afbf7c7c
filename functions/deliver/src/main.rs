//! The deliver function: SQS batches in, signed attempts out, partial batch
//! failures for infrastructure errors only.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hookline::aws::lambda;
use hookline::config::Config;
use hookline::sender::HttpSender;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda::init_logging();
    let config = Config::from_process_env()?;
    let ctx = lambda::context(&config).await?;
    // One client, one connection pool, for every invocation of this process.
    let sender = HttpSender::new(config.settings.guard.clone())?;
    let (ctx, sender, concurrency) = (&ctx, &sender, config.concurrency);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(lambda::deliver_batch(ctx, sender, event.payload, concurrency).await)
    }))
    .await
}
