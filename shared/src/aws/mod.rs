//! The AWS adapters (DynamoDB store, SQS queue) and what the Lambda
//! functions share.

mod dynamodb;
pub mod lambda;
pub mod provision;
mod size;
mod sqs;

pub use dynamodb::{DUE_INDEX, DUE_SHARDS, DynamoStore, GSI1, GSI2};
pub use size::{WRITE_UNIT, item_size};
pub use sqs::{SQS_MAX_DELAY, SqsQueue};
