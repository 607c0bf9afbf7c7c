//! Creates hookline's table and queues where CloudFormation does not: on a
//! local emulator, for `cargo lambda watch` and the tests. The shapes match
//! `template.yaml` (keep them in step).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};

use super::dynamodb::{DUE_INDEX, GSI1};

/// A provisioning step failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProvisionError(String);

fn err(e: impl std::fmt::Display) -> ProvisionError {
    ProvisionError(e.to_string())
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, ProvisionError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(err)
}

fn attr(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, ProvisionError> {
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().map_err(err)
}

fn index(name: &str, pk: &str, sk: &str) -> Result<GlobalSecondaryIndex, ProvisionError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(pk, KeyType::Hash)?)
        .key_schema(key(sk, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .map_err(err)
}

/// Creates the table (keys, the two indexes, its stream of new images —
/// the outbox's source — and TTL on `expires_at`).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), ProvisionError> {
    use ScalarAttributeType::{N, S};
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk", S)?)
        .attribute_definitions(attr("sk", S)?)
        .attribute_definitions(attr("g1pk", S)?)
        .attribute_definitions(attr("g1sk", S)?)
        .attribute_definitions(attr("due_shard", S)?)
        .attribute_definitions(attr("due_at", N)?)
        .global_secondary_indexes(index(GSI1, "g1pk", "g1sk")?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .map_err(err)?,
        )
        .global_secondary_indexes(index(DUE_INDEX, "due_shard", "due_at")?)
        .send()
        .await
        .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .map_err(err)?,
        )
        .send()
        .await
        .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
    Ok(())
}

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct Queues {
    /// The queue's URL.
    pub url: String,
    /// Its dead-letter queue's URL (named `<queue>-dlq`).
    pub dlq_url: String,
}

/// Creates a queue (the delivery queue, the ingest queue) and its
/// dead-letter queue, which takes a message received `max_receives` times.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    queue: &str,
    max_receives: u32,
) -> Result<Queues, ProvisionError> {
    create_queue_pair(client, queue, "", max_receives).await
}

/// Creates the FIFO delivery queue of ordered deliveries (`<queue>.fifo`)
/// and its FIFO dead-letter queue (`<queue>-dlq.fifo`), as the template
/// does: high-throughput mode (deduplication and throughput per group).
pub async fn create_ordered_queues(
    client: &aws_sdk_sqs::Client,
    queue: &str,
    max_receives: u32,
) -> Result<Queues, ProvisionError> {
    create_queue_pair(client, queue, ".fifo", max_receives).await
}

async fn create_queue_pair(
    client: &aws_sdk_sqs::Client,
    queue: &str,
    suffix: &str,
    max_receives: u32,
) -> Result<Queues, ProvisionError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs_err = |e: aws_sdk_sqs::error::SdkError<_, _>| err(aws_sdk_sqs::error::DisplayErrorContext(&e));
    let fifo = !suffix.is_empty();
    let create = |name: String| {
        let mut c = client.create_queue().queue_name(name);
        if fifo {
            c = c.attributes(A::FifoQueue, "true");
        }
        c
    };
    let dlq = create(format!("{queue}-dlq{suffix}")).send().await.map_err(sqs_err)?;
    let dlq_url = dlq.queue_url().ok_or_else(|| err("no DLQ url"))?;
    let attrs = client
        .get_queue_attributes()
        .queue_url(dlq_url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    let dlq_arn = attrs.attributes().and_then(|a| a.get(&A::QueueArn)).ok_or_else(|| err("no DLQ arn"))?;
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string();
    let mut q = create(format!("{queue}{suffix}"))
        .attributes(A::RedrivePolicy, redrive)
        .attributes(A::VisibilityTimeout, "360");
    if fifo {
        q = q
            .attributes(A::DeduplicationScope, "messageGroup")
            .attributes(A::FifoThroughputLimit, "perMessageGroupId");
    }
    let q = q.send().await.map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    let url = q.queue_url().map(str::to_owned).ok_or_else(|| err("no queue url"))?;
    Ok(Queues { url, dlq_url: dlq_url.to_owned() })
}
