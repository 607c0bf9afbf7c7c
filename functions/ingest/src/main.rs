//! The ingest function's binary: configuration from the environment, then
//! [`hookline_ingest::app`] under the Lambda runtime.

use hookline_aws::AwsConfig;
use hookline_aws::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    let config = AwsConfig::from_process_env()?;
    let metrics = lambda::init_metrics(&config);
    // In AWS only digests of the API keys are configured, never the keys.
    let keys = config.api_keys()?;
    let ctx = lambda::context(&config).await?;
    lambda_http::run_concurrent(hookline_ingest::app(hookline_http::router(ctx, keys), metrics)).await
}
