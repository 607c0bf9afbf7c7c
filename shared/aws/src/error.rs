//! AWS errors as the ports' errors, saying whether a retry can help: a
//! timeout, a dropped connection, a 5xx or a throttling code may pass; an
//! access denial, a missing table or queue, or a request the service calls
//! invalid will not, and an operator must act. The text keeps the service's
//! error code and message.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use hookline::ports::{QueueError, StoreError};

/// Error codes with which AWS services say "slower" or "later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "AWS.SimpleQueueService.RequestThrottled",
    "KMS.ThrottlingException",
];

/// Whether trying the call again later may succeed.
pub(crate) fn transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error() || s.err().code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
        }
        SdkError::ConstructionFailure(_) => false,
        // A timeout, a failed dispatch or an unreadable response.
        _ => true,
    }
}

/// A DynamoDB call's failure.
pub(crate) fn store_error<E>(e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = DisplayErrorContext(&e).to_string();
    if transient(&e) { StoreError::unavailable(text) } else { StoreError::refused(text) }
}

/// An SQS call's failure.
pub(crate) fn queue_error<E>(e: SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = DisplayErrorContext(&e).to_string();
    if transient(&e) { QueueError::unavailable(text) } else { QueueError::refused(text) }
}
