//! The ingest function: the HTTP API (the shared axum Router) behind an API
//! Gateway HTTP API or a function URL, as a service `lambda_http` runs.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use tower::ServiceExt;

/// The router as the function serves it: answers are small JSON or HTML,
/// buffered into the body lambda_http sends (it buffers them for API
/// Gateway anyway), which also lets requests run concurrently where the
/// platform sets AWS_LAMBDA_MAX_CONCURRENCY (managed instances, cargo
/// lambda) and sequentially everywhere else; metrics are flushed after
/// each answer.
pub fn app(
    router: axum::Router,
    metrics: Option<&'static metrics_cloudwatch_embedded::Collector>,
) -> impl tower::Service<
    lambda_http::Request,
    Response = Response<lambda_http::Body>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
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
        hookline_aws::lambda::flush_metrics(metrics);
        Ok::<_, Infallible>(response)
    })
}
