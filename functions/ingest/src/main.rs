//! The ingest function: the HTTP API (the shared axum Router) behind an API
//! Gateway HTTP API or a function URL.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use hookline_aws::AwsConfig;
use hookline_aws::lambda;
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    let config = AwsConfig::from_process_env()?;
    let metrics = lambda::init_metrics(&config);
    // In AWS only digests of the API keys are configured, never the keys.
    let keys = config.api_keys()?;
    let ctx = lambda::context(&config).await;
    // Answers are small JSON: buffered into the body lambda_http sends (it
    // buffers them for API Gateway anyway), which also lets requests run
    // concurrently where the platform sets AWS_LAMBDA_MAX_CONCURRENCY
    // (managed instances, cargo lambda) and sequentially everywhere else.
    let router = hookline_http::router(ctx, keys);
    let app =
        ServiceExt::<lambda_http::Request>::and_then(router, move |response: Response<Body>| async move {
            let (parts, body) = response.into_parts();
            let response = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => Response::from_parts(parts, lambda_http::Body::from(bytes.to_vec())),
                Err(_) => {
                    let mut failed = Response::new(lambda_http::Body::Empty);
                    *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    failed
                }
            };
            lambda::flush_metrics(metrics);
            Ok::<_, Infallible>(response)
        });
    lambda_http::run_concurrent(app).await
}
