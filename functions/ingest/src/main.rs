//! The ingest function: the HTTP API (the shared axum Router) behind an API
//! Gateway HTTP API or a function URL.

use hookline::api::{self, ApiKeys};
use hookline::aws::lambda;
use hookline::config::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    let config = Config::from_process_env()?;
    // In AWS only digests of the API keys are configured, never the keys.
    let keys = ApiKeys::from_hex_digests(config.api_key_digests.as_deref().unwrap_or_default())?;
    let ctx = lambda::context(&config).await?;
    lambda_http::run(api::router(ctx, keys)).await
}
