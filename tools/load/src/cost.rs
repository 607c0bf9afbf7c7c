//! `hookline-load cost --endpoint URL`: what one event with one subscription
//! costs on AWS, for a first-try success, a success after two retries and an
//! exhausted delivery. The real adapters (DynamoDB store, SQS queue) run
//! against the emulator at URL through the billing [`Meter`]; the handlers
//! are called as the three functions call them (ingest: publish; deliver:
//! one SQS batch; retry: the scheduler), the receiver is real HTTP on
//! loopback. Time is a manual clock moved to each attempt's due time, and
//! messages are sent without their delay (the requests are the same; the
//! run takes seconds, not the 27 hours of the default schedule).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookline::api::subscriptions::CreateSubscriptionRequest;
use hookline::auth::{ApiKeys, Caller};
use hookline::guard::TargetGuard;
use hookline::model::{DeliveryStatus, TenantId};
use hookline::ports::fakes::{ManualClock, SeededEntropy};
use hookline::ports::{
    Clock, DeliveryFilter, DeliveryQueue, DeliveryStore, PageRequest, QueueError, QueueMessage, Queued,
};
use hookline::{Context, ServiceSettings};
use hookline_aws::pump::Pump;
use hookline_aws::{DynamoStore, RejectQueue, SqsQueue, provision};
use hookline_sender::HttpSender;

use crate::meter::{Bill, Meter};
use crate::payloads::{self, Kind};
use crate::report::{Outcome, Publish, RETENTION_DAYS, Scenario, Share, price, report};

/// Sends every message at once: the same requests as with their delays.
struct Undelayed(SqsQueue);

#[async_trait]
impl DeliveryQueue for Undelayed {
    fn max_delay(&self) -> Duration {
        self.0.max_delay()
    }

    async fn enqueue(&self, messages: &[Queued]) -> Result<(), QueueError> {
        let now: Vec<Queued> =
            messages.iter().map(|q| Queued { delay: Duration::ZERO, ..q.clone() }).collect();
        self.0.enqueue(&now).await
    }
}

/// What the receiver has seen: the flaky script's calls, and the bytes of
/// every request (the egress a sender pays for).
#[derive(Default)]
struct Received {
    flaky: AtomicU32,
    bytes: AtomicU64,
}

/// The receiver: `/ok` and `/limited` answer 200, `/flaky` 500 twice then
/// 200 (and again for the next scenario), `/down` 500. Each request's size
/// as sent over HTTP/1.1 (request line, headers, body) is counted.
async fn receive(
    State(seen): State<Arc<Received>>,
    Path(script): Path<String>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let head = format!("POST {uri} HTTP/1.1\r\n").len()
        + headers.iter().map(|(k, v)| k.as_str().len() + 2 + v.len() + 2).sum::<usize>()
        + 2;
    seen.bytes.fetch_add((head + body.len()) as u64, Ordering::Relaxed);
    let flaky = &seen.flaky;
    match script.as_str() {
        "ok" | "limited" => StatusCode::OK,
        "flaky" if flaky.fetch_add(1, Ordering::SeqCst) % 3 == 2 => StatusCode::OK,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

struct Rig {
    meter: Meter,
    ctx: Context,
    sender: HttpSender,
    pump: Pump,
    /// The ingest queue: a producer's `SendMessageBatch`, read as the
    /// ingest-queue function's event source mapping reads it.
    ingest_url: String,
    ingest_pump: Pump,
    rejects: RejectQueue,
    sqs: aws_sdk_sqs::Client,
    inspect: DynamoStore,
    clock: Arc<ManualClock>,
    receiver: String,
    received: Arc<Received>,
    /// What one scheduler run costs with nothing due (a query per `due`
    /// shard, the invocation and its time): the retry function's fixed cost
    /// per minute, not a delivery's.
    idle_run: Bill,
    idle_busy: Duration,
    /// The handlers' metrics (CloudWatch EMF), printed into the meter's
    /// log count after each invocation, as the functions print them.
    metrics: Option<&'static metrics_cloudwatch_embedded::Collector>,
    /// The size of each event's payload (`--payload-bytes`, default 1,024).
    payload_bytes: usize,
    /// The table's stream, read as the outbox's event source mapping reads
    /// it (free, so unmetered), and the queue the outbox sends to (metered).
    stream: tokio::sync::Mutex<hookline_aws::stream_pump::StreamPump>,
    outbox_queue: Undelayed,
    /// The table, read without the meter (its size on disk).
    plain: aws_sdk_dynamodb::Client,
    table: String,
}

/// The harness's API key (a global key, as the platform's).
const API_KEY: &str = "hl_cost_harness_key";

/// A `POST` of `body` to `path` through `router`, as a function URL passes
/// it on; the answer's JSON, or an error naming its status.
async fn call_api(router: &axum::Router, path: &str, body: String) -> anyhow::Result<serde_json::Value> {
    let request = axum::http::Request::post(path)
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {API_KEY}"))
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body))?;
    let response = tower::ServiceExt::oneshot(router.clone(), request).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    if !status.is_success() {
        bail!("{path} answered {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

fn api(e: hookline::api::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The SDK's configuration for the emulator at `endpoint`.
pub(crate) async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("cost", "cost", None, None, "cost"))
        .load()
        .await
}

/// Creates `table` as the template does, and a meter for its indexes.
pub(crate) async fn metered_table(plain: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Meter> {
    provision::create_table(plain, table).await.context("is the emulator running at --endpoint?")?;
    let described = plain.describe_table().table_name(table).send().await?;
    let indexes = described
        .table()
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let name = |k: aws_sdk_dynamodb::types::KeyType| {
                i.key_schema().iter().find(|e| *e.key_type() == k).map(|e| e.attribute_name().to_owned())
            };
            (
                i.index_name().unwrap_or_default().to_owned(),
                (
                    name(aws_sdk_dynamodb::types::KeyType::Hash).unwrap_or_default(),
                    name(aws_sdk_dynamodb::types::KeyType::Range).unwrap_or_default(),
                ),
            )
        })
        .collect();
    Ok(Meter::new(indexes))
}

impl Rig {
    async fn new(endpoint: &str, payload_bytes: usize) -> anyhow::Result<Self> {
        let sdk = sdk(endpoint).await;
        let plain = aws_sdk_dynamodb::Client::new(&sdk);
        let table = format!("hookline-cost-{}", std::process::id());
        let meter = metered_table(&plain, &table).await?;
        let plain_sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue_url = provision::create_queues(&plain_sqs, &format!("{table}-q"), 5).await?.url;
        let ingest = provision::create_queues(&plain_sqs, &format!("{table}-in"), 5).await?;
        // The functions' logs and metrics, as they write them, counted.
        let sink = meter.log_sink();
        hookline_aws::lambda::init_logging_to(move || sink.clone());
        let metrics =
            metrics_cloudwatch_embedded::Builder::new().cloudwatch_namespace("hookline").init().ok();
        hookline::telemetry::describe();
        let dynamo = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(meter.clone()).build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk).interceptor(meter.clone()).build(),
        );
        let retention = Duration::from_secs(RETENTION_DAYS as u64 * 86_400);
        let store = Arc::new(DynamoStore::new(dynamo, table.clone(), retention));
        let queue = Arc::new(Undelayed(SqsQueue::new(sqs.clone(), queue_url.clone())));
        let outbox_queue = Undelayed(SqsQueue::new(sqs.clone(), queue_url.clone()));
        // A fixed start and seeded ids: every run makes the same ids, so the
        // same shards (ULIDs carry their time), and the figures repeat.
        let start = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")?.to_utc();
        let clock = Arc::new(ManualClock::new(start));
        let settings = ServiceSettings {
            guard: TargetGuard { allow_loopback: true, ..TargetGuard::default() },
            ..ServiceSettings::default()
        };
        let guard = settings.guard.clone();
        // Rate-limited endpoints take their slots from the table, as on AWS.
        let ctx =
            Context::new(store.clone(), queue, clock.clone(), Arc::new(SeededEntropy::new(14)), settings)
                .with_rate_slots(store);

        let received = Arc::new(Received::default());
        let app =
            axum::Router::new().route("/{script}", axum::routing::post(receive)).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let receiver = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        meter.take();
        let mut idle_busy = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            ctx.enqueue_due(20_000).await?;
            idle_busy = idle_busy.min(t.elapsed());
        }
        let mut idle_run = meter.take();
        idle_run.rru /= 3.0;
        idle_run.requests.values_mut().for_each(|n| *n /= 3);
        Ok(Self {
            meter,
            ctx,
            sender: HttpSender::new(guard)?,
            pump: Pump::new(sqs.clone(), queue_url),
            ingest_pump: Pump::new(sqs.clone(), ingest.url.clone()),
            ingest_url: ingest.url,
            rejects: RejectQueue::new(sqs.clone(), ingest.dlq_url),
            sqs,
            inspect: DynamoStore::new(plain.clone(), table.clone(), retention),
            clock,
            receiver,
            received,
            idle_run,
            idle_busy,
            metrics,
            payload_bytes,
            stream: tokio::sync::Mutex::new(
                hookline_aws::stream_pump::StreamPump::new(
                    &plain,
                    aws_sdk_dynamodbstreams::Client::new(&sdk),
                    &table,
                )
                .await?,
            ),
            outbox_queue,
            plain,
            table,
        })
    }

    /// What the table holds, as DynamoDB bills its storage: each item's
    /// size and its overhead (the sweep's position item, a fixed cost of
    /// the schedule, left out).
    async fn table_bytes(&self) -> anyhow::Result<f64> {
        let mut bytes = 0.0;
        let mut start = None;
        loop {
            let page =
                self.plain.scan().table_name(&self.table).set_exclusive_start_key(start).send().await?;
            for item in page.items() {
                let fixed = matches!(item.get("pk"), Some(aws_sdk_dynamodb::types::AttributeValue::S(pk))
                    if pk == hookline_aws::SWEEP_POSITIONS_PK);
                if !fixed {
                    bytes += hookline_aws::item_size(item) as f64 + price::ITEM_OVERHEAD;
                }
            }
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(bytes),
            }
        }
    }

    /// What the meter has seen since the last take, the invocation's
    /// metrics printed first (as a function prints them after each one).
    fn take(&self) -> Bill {
        if let Some(c) = self.metrics
            && let Err(e) = c.flush(self.meter.metric_sink())
        {
            eprintln!("metrics could not be written: {e}");
        }
        self.meter.take()
    }

    /// Publishes the scenario's events as it says; the ingest share.
    async fn publish(&self, ctx: &Context, run: &Scenario, tenant: &str) -> anyhow::Result<Share> {
        let mut ingest = Share::default();
        // Through the API as the ingest function serves it: its request
        // line and request metrics are on the bill too.
        let api = hookline_http::router(ctx.clone(), ApiKeys::from_keys([API_KEY]));
        let requests: Vec<Box<serde_json::value::RawValue>> = (0..run.events)
            .map(|n| {
                serde_json::value::to_raw_value(&serde_json::json!({
                    "tenant": tenant, "type": "order.shipped",
                    "payload": payloads::payload(run.payload, n, self.payload_bytes)?,
                }))
                .map_err(anyhow::Error::from)
            })
            .collect::<anyhow::Result<_>>()?;
        match run.publish {
            Publish::Single => {
                for r in requests {
                    let t = Instant::now();
                    call_api(&api, "/v1/events", r.get().to_owned()).await?;
                    ingest.add(self.take(), 1, t.elapsed());
                }
            }
            Publish::Batch => {
                for chunk in requests.chunks(10) {
                    let body = serde_json::to_string(&serde_json::json!({ "events": chunk }))?;
                    let t = Instant::now();
                    let out = call_api(&api, "/v1/events/batch", body).await?;
                    ingest.add(self.take(), 1, t.elapsed());
                    if out["failed"] != 0 {
                        bail!("{} events of a batch failed", out["failed"]);
                    }
                }
            }
            Publish::Queue | Publish::QueueBatch => {
                // A producer's requests, billed to the same account: ten
                // one-event messages a SendMessageBatch, or one message of
                // ten events (the batch body) a SendMessage.
                let bodies: Vec<String> = match run.publish {
                    Publish::Queue => requests.iter().map(|r| r.get().to_owned()).collect(),
                    _ => requests
                        .chunks(10)
                        .map(|chunk| serde_json::to_string(&serde_json::json!({ "events": chunk })))
                        .collect::<Result<_, _>>()?,
                };
                if run.publish == Publish::Queue {
                    for chunk in bodies.chunks(10) {
                        let entries = chunk
                            .iter()
                            .enumerate()
                            .map(|(i, body)| {
                                SendMessageBatchRequestEntry::builder()
                                    .id(i.to_string())
                                    .message_body(body)
                                    .build()
                                    .map_err(anyhow::Error::from)
                            })
                            .collect::<anyhow::Result<Vec<_>>>()?;
                        self.sqs
                            .send_message_batch()
                            .queue_url(&self.ingest_url)
                            .set_entries(Some(entries))
                            .send()
                            .await?;
                        ingest.add(self.take(), 0, Duration::ZERO);
                    }
                } else {
                    for body in &bodies {
                        self.sqs.send_message().queue_url(&self.ingest_url).message_body(body).send().await?;
                        ingest.add(self.take(), 0, Duration::ZERO);
                    }
                }
                let mut handled = 0;
                while handled < bodies.len() {
                    let batch = self.ingest_pump.receive(10, Duration::from_secs(1)).await?;
                    if batch.is_empty() {
                        bail!("the ingest queue ran dry after {handled} of {} messages", bodies.len());
                    }
                    let received = self.take();
                    let t = Instant::now();
                    let response =
                        hookline_aws::lambda::ingest_batch(ctx, &self.rejects, batch.event.clone()).await;
                    let busy = t.elapsed();
                    if !response.batch_item_failures.is_empty() {
                        bail!("the ingest-queue function failed a message");
                    }
                    handled += batch.len();
                    ingest.add(received, 0, Duration::ZERO);
                    ingest.add(self.take(), 1, busy);
                    self.ingest_pump.settle(&batch, &response).await?;
                    ingest.add(self.take(), 0, Duration::ZERO);
                }
            }
        }
        Ok(ingest)
    }

    /// One scheduler run: how many it enqueued, and what it did for the
    /// deliveries — less what every run costs (its invocation, its
    /// queries, the sweep's position write). The time is less the median
    /// of three runs straight after, which find nothing new: moto's queries
    /// slow down as the table fills, DynamoDB's do not, so the fixed part
    /// is measured on the table as it is now.
    async fn scheduler_run(&self, ctx: &Context) -> anyhow::Result<(usize, Bill, Duration)> {
        let t = Instant::now();
        let n = ctx.enqueue_due(20_000).await?;
        let busy = t.elapsed();
        let mut bill = self.take();
        bill.deduct(&self.idle_run);
        // The sweep's position item: at most one write a run (when it
        // swept anything), the schedule's fixed cost like its queries.
        bill.set_aside(hookline_aws::SWEEP_POSITIONS_PK);
        let mut idle = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            if ctx.enqueue_due(20_000).await? != 0 {
                bail!("a scheduler run straight after another enqueued deliveries");
            }
            idle.push(t.elapsed());
        }
        idle.sort();
        self.take();
        Ok((n, bill, busy.saturating_sub(idle[1])))
    }

    /// Runs one scenario to the end of every delivery.
    async fn scenario(&self, run: &Scenario) -> anyhow::Result<Outcome> {
        let mut ctx = self.ctx.clone();
        ctx.settings = Arc::new(ServiceSettings { charts: run.charts, ..(*self.ctx.settings).clone() });
        let ctx = &ctx;
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tenant = format!("cost-{}-{}", run.script, RUNS.fetch_add(1, Ordering::Relaxed));
        for _ in 0..run.subs {
            let mut sub =
                serde_json::json!({"tenant": tenant, "url": format!("{}/{}", self.receiver, run.script)});
            if run.script == "limited" {
                sub["rate_limit"] = serde_json::json!(100);
            }
            let sub: CreateSubscriptionRequest = serde_json::from_value(sub)?;
            ctx.create_subscription(&Caller::internal(), sub).await.map_err(api)?;
        }
        self.take(); // the subscriptions are not part of the deliveries' bill
        let stored_before = self.table_bytes().await?;
        let sent_before = self.received.bytes.load(Ordering::Relaxed);

        let ingest = self.publish(ctx, run, &tenant).await?;
        // The outbox function: the stream's new events, one invocation for
        // what the event source mapping has gathered (up to 100 records).
        let mut outbox = Share::default();
        let (records, busy) =
            self.stream.lock().await.run_timed(&self.outbox_queue, self.clock.now()).await?;
        outbox.add(self.take(), u32::try_from(records.div_ceil(100)).unwrap_or(u32::MAX), busy);
        let (mut deliver, mut retry) = (Share::default(), Share::default());
        let tenant_id = TenantId::parse(&tenant).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut remaining = Vec::new();
        let mut cursor = None;
        loop {
            let filter = DeliveryFilter { tenant: Some(tenant_id.clone()), ..Default::default() };
            let page = self.inspect.list_deliveries(&filter, &PageRequest { cursor, limit: 100 }).await?;
            remaining.extend(page.items.into_iter().map(|d| d.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        if remaining.len() != run.events * run.subs {
            bail!(
                "{} deliveries stored for {} events to {} subscriptions",
                remaining.len(),
                run.events,
                run.subs
            );
        }
        self.take();
        let mut finished = Vec::new();
        for _ in 0..(run.events * run.subs * 20 + 100) {
            let batch = self.pump.receive(run.batch, Duration::from_secs(1)).await?;
            if batch.is_empty() {
                // The event source mapping's empty polls are a fixed cost of
                // the queue (a few per minute), not of these deliveries.
                self.take();
                let mut next_due = None;
                let mut pending = Vec::new();
                for id in remaining {
                    let d = self.inspect.get_delivery(&id).await?.context("a delivery is gone")?;
                    if d.status == DeliveryStatus::Pending {
                        next_due = d.next_attempt_at.into_iter().chain(d.due_at).chain(next_due).min();
                        pending.push(id);
                    } else {
                        finished.push(d);
                    }
                }
                remaining = pending;
                if remaining.is_empty() {
                    // The scheduler's sweep reads every finished delivery's
                    // last `due` entry once, when it comes due (a first
                    // try's: the queue grace after its publish): its share.
                    let latest =
                        finished.iter().map(|d| d.updated_at).max().unwrap_or_else(|| self.clock.now());
                    let past = latest
                        + hookline::ports::span(ctx.settings.queue_grace)
                        + chrono::Duration::minutes(1);
                    self.clock.set(past.max(self.clock.now()));
                    let (n, bill, busy) = self.scheduler_run(ctx).await?;
                    retry.add(bill, 0, busy);
                    if n != 0 {
                        bail!("the sweep after every delivery finished enqueued {n} of them again");
                    }
                    let stored_bytes = self.table_bytes().await? - stored_before;
                    let sent_bytes = (self.received.bytes.load(Ordering::Relaxed) - sent_before) as f64;
                    return Ok(Outcome {
                        shares: [ingest, outbox, deliver, retry],
                        deliveries: finished,
                        stored_bytes,
                        sent_bytes,
                    });
                }
                // Nothing queued: the next attempt waits in the store for
                // the scheduler. Run it when it is due, as its schedule would.
                if let Some(due) = next_due {
                    self.clock.set(due.max(self.clock.now()));
                }
                let (n, bill, busy) = self.scheduler_run(ctx).await?;
                retry.add(bill, 0, busy);
                if n == 0 {
                    bail!("{} deliveries are pending but nothing is queued or due", remaining.len());
                }
                continue;
            }
            let sqs_share = self.take();
            // The clock moves to the latest attempt of the batch that is due
            // (each message was sent without its delay).
            for record in &batch.event.records {
                for message in QueueMessage::all_in(record.body.as_deref().unwrap_or_default())? {
                    if let Some(d) = self.inspect.get_delivery(message.delivery_id()).await?
                        && let Some(at) = d.next_attempt_at
                    {
                        self.clock.set(at.max(self.clock.now()));
                    }
                }
            }
            // The deliver function's own batch handler: the attempts, then
            // the batch's attempt counts.
            let t = Instant::now();
            let response =
                hookline_aws::lambda::deliver_batch(ctx, &self.sender, batch.event.clone(), 256).await;
            let busy = t.elapsed();
            if !response.batch_item_failures.is_empty() {
                bail!("the deliver handler failed a message");
            }
            let handled = self.take();
            self.pump.settle(&batch, &response).await?;
            deliver.add(sqs_share, 0, Duration::ZERO);
            deliver.add(handled, 1, busy);
            deliver.add(self.take(), 0, Duration::ZERO);
        }
        bail!("the deliveries did not finish")
    }
}

/// `hookline-load cost`: the bill per delivery of each scenario.
pub async fn run(args: &std::collections::HashMap<String, String>) -> anyhow::Result<()> {
    let endpoint = args.get("endpoint").context("--endpoint URL (a moto server) is required")?;
    let bytes: usize = args.get("payload-bytes").map(|s| s.parse()).transpose()?.unwrap_or(1024);
    // `--only TEXT`: the rows whose label contains TEXT (a quicker look).
    let only = args.get("only").map(String::as_str).unwrap_or_default();
    let rig = Rig::new(endpoint, bytes).await?;
    println!(
        "units and dollars per delivery, $ per million deliveries; payloads of {bytes} bytes (realistic JSON unless said); charts off (the template's default) unless said\n\
         prices: us-east-1, as published on the AWS pricing pages of DynamoDB, SQS, Lambda, CloudWatch, SNS and EventBridge, as of {}\n",
        price::AS_OF
    );
    let one = |label, script, charts| Scenario {
        label,
        payload: Kind::Realistic,
        script,
        charts,
        publish: Publish::Single,
        events: 1,
        subs: 1,
        batch: 1,
    };
    let ten = |label, payload, publish, batch| Scenario {
        label,
        payload,
        script: "ok",
        charts: false,
        publish,
        events: 100,
        subs: 1,
        batch,
    };
    let (real, noise) = (Kind::Realistic, Kind::Incompressible);
    for run in [
        ten("first try, single publishes, delivery queue read in batches of 10", real, Publish::Single, 10),
        ten(
            "first try, single publishes, delivery queue read one message at a time",
            real,
            Publish::Single,
            1,
        ),
        ten("first try, batch publishes of 10", real, Publish::Batch, 10),
        ten(
            "first try, the SQS ingest queue, one event a message, ten a SendMessageBatch",
            real,
            Publish::Queue,
            10,
        ),
        ten(
            "first try, the SQS ingest queue, ten events a message (the batch body)",
            real,
            Publish::QueueBatch,
            10,
        ),
        ten("first try, single publishes, batches of 10, incompressible payload", noise, Publish::Single, 10),
        ten("first try, batch publishes of 10, incompressible payload", noise, Publish::Batch, 10),
        ten(
            "first try, the SQS ingest queue, ten events a message, incompressible payload",
            noise,
            Publish::QueueBatch,
            10,
        ),
        one("first try, a lone delivery", "ok", false),
        one("success after two retries, a lone delivery", "flaky", false),
        one("exhausted (8 attempts), a lone delivery", "down", false),
        one(
            "first try to a rate-limited endpoint (100/s), a lone delivery buying a lease of 10",
            "limited",
            false,
        ),
        one("first try, a lone delivery, charts on", "ok", true),
        one("success after two retries, charts on", "flaky", true),
        one("exhausted, charts on", "down", true),
    ]
    .into_iter()
    .filter(|run| run.label.contains(only))
    {
        let out = rig.scenario(&run).await?;
        report(&run, &out);
    }
    let runs_a_month = 60.0 * 24.0 * 30.0;
    println!(
        "the retry scheduler's fixed cost, one run a minute with nothing due: {} RRU ({:?}) and {:.0} ms here a run, ${:.2} a month; not in the rows above (a row's retry share is what its runs did beyond that)",
        rig.idle_run.rru,
        rig.idle_run.requests,
        rig.idle_busy.as_secs_f64() * 1000.0,
        runs_a_month
            * (rig.idle_run.rru * price::RRU
                + price::LAMBDA_REQUEST
                + rig.idle_busy.as_secs_f64() * price::MEMORY_GB * price::LAMBDA_GB_S)
    );
    println!(
        "and the sweep's position item ({}): one write of 1 WRU a run that swept anything, ${:.2} a month; not in the rows either",
        hookline_aws::SWEEP_POSITIONS_PK,
        runs_a_month * price::WRU
    );
    println!(
        "not in the rows: Lambda's own START, END and REPORT lines (~{:.0} B an invocation), which the template's LoggingConfig (system logs at WARN) does not write; with LogFormat Text they would add ${:.2} per million invocations",
        price::PLATFORM_LOG_BYTES,
        price::PLATFORM_LOG_BYTES * price::LOG_BYTE * 1e6
    );
    Ok(())
}

/// `hookline-load hot --endpoint URL [--seconds S] [--max-wps N]`: the
/// busiest partition keys when one subscription takes 10,000 deliveries a
/// second and one tenant 20,000 over four subscriptions. Moto cannot take
/// that rate, so the run plays one second of it — every delivery of that
/// second, published and delivered through the real adapters (single
/// publishes, the delivery queue read ten at a time, charts on) — and
/// counts the write units each partition key took; played as if they all
/// fell within the second, which only overstates. `--seconds` scales the
/// second down for a quicker check (the counts are then scaled up: exact
/// for keys every delivery shares, an overstatement for each delivery's own
/// keys). Exits non-zero when a key passes `--max-wps` (default 1,000).
pub async fn hot(args: &std::collections::HashMap<String, String>) -> anyhow::Result<()> {
    let endpoint = args.get("endpoint").context("--endpoint URL (a moto server) is required")?;
    let seconds: f64 = args.get("seconds").map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let limit: f64 = args.get("max-wps").map(|s| s.parse()).transpose()?.unwrap_or(1_000.0);
    if !(seconds > 0.0 && seconds <= 1.0) {
        bail!("--seconds must be in (0, 1]");
    }
    let rig = Rig::new(endpoint, 1024).await?;
    let mut over = Vec::new();
    for (label, subs, rate) in [
        ("one subscription at 10,000 deliveries a second", 1, 10_000.0),
        ("one tenant at 20,000 deliveries a second over 4 subscriptions", 4, 20_000.0),
    ] {
        let deliveries = (rate * seconds).round() as usize;
        let run = Scenario {
            label,
            payload: Kind::Realistic,
            script: "ok",
            charts: true,
            publish: Publish::Single,
            events: deliveries / subs,
            subs,
            batch: 10,
        };
        let t = Instant::now();
        let out = rig.scenario(&run).await?;
        let mut bill = Bill::default();
        for s in out.shares {
            bill.absorb(s.bill);
        }
        println!(
            "{label}: {} deliveries played as {seconds} s ({:.0} s here); busiest partition key, write units a second:",
            out.deliveries.len(),
            t.elapsed().as_secs_f64()
        );
        for (place, pk, wru) in bill.busiest() {
            let wps = wru / seconds;
            println!("  {place:<6} {wps:>7.0}  {pk}");
            if wps > limit {
                over.push(format!("{label}: {place} key {pk} takes {wps:.0} writes a second"));
            }
        }
        println!();
    }
    if !over.is_empty() {
        bail!("partitions over {limit} writes a second:\n{}", over.join("\n"));
    }
    println!("no partition key above {limit} writes a second");
    Ok(())
}
