//! hookline on AWS: the store on one DynamoDB table, the delivery queue on
//! SQS, and what the Lambda functions share ([`lambda`]). With the
//! `local` feature, what runs them on an emulator: provisioning the table
//! and queues ([`provision`]) and the event source mapping ([`pump`]).

mod dynamodb;
mod error;
pub mod lambda;
pub mod outbox;
pub mod payload;
#[cfg(feature = "local")]
pub mod provision;
#[cfg(feature = "local")]
pub mod pump;
mod size;
mod sqs;
#[cfg(feature = "local")]
pub mod stream_pump;

pub use dynamodb::{
    DUE_INDEX, DUE_SHARDS, DynamoStore, EVENT_SHARDS, GSI1, PUBLISH_IN_FLIGHT, SCHEMA_VERSION,
    SUBSCRIPTION_SHARDS, SWEEP_POSITIONS_PK, SWEEP_SETTLE, due_shard, event_partition, outcome_partition,
};
pub use lambda::AwsConfig;
pub use size::{WRITE_UNIT, item_size};
pub use sqs::{
    MAX_REDRIVES, PACK, REDRIVES_ATTRIBUTE, REJECT_CODE_ATTRIBUTE, REJECT_REASON_ATTRIBUTE, RejectQueue,
    SQS_MAX_DELAY, SqsDeadLetters, SqsQueue,
};
