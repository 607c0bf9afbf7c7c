//! `hookline-load cost --endpoint URL`: what one event with one subscription
//! costs on AWS, for a first-try success, a success after two retries and an
//! exhausted delivery. The real adapters (DynamoDB store, SQS queue) run
//! against the emulator at URL through the billing [`Meter`]; the handlers
//! are called as the three functions call them (ingest: publish; deliver:
//! one SQS batch; retry: the scheduler), the receiver is real HTTP on
//! loopback. Time is a manual clock moved to each attempt's due time, and
//! messages are sent without their delay (the requests are the same; the
//! run takes seconds, not the 27 hours of the default schedule).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookline::api::access::Caller;
use hookline::api::events::PublishEventRequest;
use hookline::api::subscriptions::CreateSubscriptionRequest;
use hookline::guard::TargetGuard;
use hookline::model::{DeliveryId, DeliveryStatus};
use hookline::ports::fakes::ManualClock;
use hookline::ports::{Clock, DeliveryQueue, DeliveryStore, OsEntropy, QueueError, Queued};
use hookline::{Context, Settings};
use hookline_aws::pump::Pump;
use hookline_aws::{DynamoStore, SqsQueue, provision};
use hookline_sender::HttpSender;

use crate::meter::{Bill, Meter};

/// Prices in us-east-1, on-demand, as published on the AWS pricing pages
/// (unchanged through 2026; see BENCHMARKS.md for the sources and date).
mod price {
    /// DynamoDB on-demand, per write request unit.
    pub const WRU: f64 = 0.625e-6;
    /// DynamoDB on-demand, per read request unit.
    pub const RRU: f64 = 0.125e-6;
    /// SQS standard queue, per request (64 KB chunk).
    pub const SQS: f64 = 0.40e-6;
    /// Lambda, per request.
    pub const LAMBDA_REQUEST: f64 = 0.20e-6;
    /// Lambda on arm64, per GB-second.
    pub const LAMBDA_GB_S: f64 = 0.000_013_333_4;
    /// API Gateway HTTP API, per request (first 300 million a month).
    pub const HTTP_API: f64 = 1.00e-6;
    /// The functions' memory in template.yaml, GB.
    pub const MEMORY_GB: f64 = 0.25;
}

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

/// One function's share of a scenario.
#[derive(Default)]
struct Share {
    bill: Bill,
    invocations: u32,
    busy: Duration,
}

impl Share {
    fn add(&mut self, bill: Bill, invocations: u32, busy: Duration) {
        self.bill.absorb(bill);
        self.invocations += invocations;
        self.busy += busy;
    }

    fn dollars(&self) -> f64 {
        self.bill.wru * price::WRU
            + self.bill.rru * price::RRU
            + self.bill.sqs * price::SQS
            + f64::from(self.invocations) * price::LAMBDA_REQUEST
            + self.busy.as_secs_f64() * price::MEMORY_GB * price::LAMBDA_GB_S
    }
}

/// The receiver: `/ok` and `/limited` answer 200, `/flaky` 500 twice then
/// 200 (and again for the next scenario), `/down` 500.
async fn receive(State(flaky): State<Arc<AtomicU32>>, Path(script): Path<String>) -> StatusCode {
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
    inspect: DynamoStore,
    clock: Arc<ManualClock>,
    receiver: String,
}

fn api(e: hookline::api::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

impl Rig {
    async fn new(endpoint: &str) -> anyhow::Result<Self> {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "cost", "cost", None, None, "cost",
            ))
            .load()
            .await;
        let plain = aws_sdk_dynamodb::Client::new(&sdk);
        let table = format!("hookline-cost-{}", std::process::id());
        provision::create_table(&plain, &table).await.context("is the emulator running at --endpoint?")?;
        let queue_url =
            provision::create_queues(&aws_sdk_sqs::Client::new(&sdk), &format!("{table}-q"), 5).await?.url;
        let described = plain.describe_table().table_name(&table).send().await?;
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
                    name(aws_sdk_dynamodb::types::KeyType::Hash).unwrap_or_default(),
                    name(aws_sdk_dynamodb::types::KeyType::Range).unwrap_or_default(),
                )
            })
            .collect();
        let meter = Meter::new(indexes);
        let dynamo = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(meter.clone()).build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk).interceptor(meter.clone()).build(),
        );
        let retention = Duration::from_secs(30 * 86_400);
        let store = Arc::new(DynamoStore::new(dynamo, table.clone(), retention));
        let queue = Arc::new(Undelayed(SqsQueue::new(sqs.clone(), queue_url.clone())));
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let settings = Settings {
            guard: TargetGuard { allow_loopback: true, ..TargetGuard::default() },
            ..Settings::default()
        };
        let guard = settings.guard.clone();
        // Rate-limited endpoints take their slots from the table, as on AWS.
        let ctx = Context::new(store.clone(), queue, clock.clone(), Arc::new(OsEntropy), settings)
            .with_rate_slots(store);

        let app = axum::Router::new()
            .route("/{script}", axum::routing::post(receive))
            .with_state(Arc::new(AtomicU32::new(0)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let receiver = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            meter,
            ctx,
            sender: HttpSender::new(guard)?,
            pump: Pump::new(sqs, queue_url),
            inspect: DynamoStore::new(plain, table, retention),
            clock,
            receiver,
        })
    }

    /// Runs one scenario: (ingest, deliver, retry) shares and the attempts;
    /// `charts`: whether attempts are counted by hour (`HOOKLINE_CHARTS`).
    async fn scenario(
        &self,
        script: &str,
        charts: bool,
    ) -> anyhow::Result<([Share; 3], u32, DeliveryStatus)> {
        let mut ctx = self.ctx.clone();
        ctx.settings = Arc::new(Settings { charts, ..(*self.ctx.settings).clone() });
        let ctx = &ctx;
        let tenant = format!("cost-{script}-{charts}");
        let mut sub = serde_json::json!({"tenant": tenant, "url": format!("{}/{script}", self.receiver)});
        if script == "limited" {
            sub["rate_limit"] = serde_json::json!(100);
        }
        let sub: CreateSubscriptionRequest = serde_json::from_value(sub)?;
        ctx.create_subscription(&Caller::internal(), sub).await.map_err(api)?;
        self.meter.take(); // the subscription is not part of the delivery's bill

        let (mut ingest, mut deliver, mut retry) = (Share::default(), Share::default(), Share::default());
        let event: PublishEventRequest = serde_json::from_value(serde_json::json!({
            "tenant": tenant, "type": "video.encoded",
            "payload": {"video_id": "v_8f14e45f", "status": "encoded", "duration_s": 312, "renditions": ["1080p", "720p", "480p"]},
        }))?;
        let t = Instant::now();
        let published = ctx.publish_event(&Caller::internal(), event, None).await.map_err(api)?;
        ingest.add(self.meter.take(), 1, t.elapsed());
        let id: DeliveryId = serde_json::to_value(&published)?["deliveries"][0]["id"]
            .as_str()
            .context("no delivery in the publish answer")?
            .parse()
            .map_err(|_| anyhow::anyhow!("bad delivery id"))?;

        for _ in 0..100 {
            let batch = self.pump.receive(10, Duration::from_secs(1)).await?;
            if batch.is_empty() {
                // The event source mapping's empty polls are a fixed cost of
                // the queue (a few per minute), not of this delivery.
                self.meter.take();
                let d = self.inspect.get_delivery(&id).await?.context("the delivery is gone")?;
                if d.status != DeliveryStatus::Pending {
                    return Ok(([ingest, deliver, retry], d.attempts, d.status));
                }
                // Nothing queued: the next attempt waits in the store for
                // the scheduler. Run it when it is due, as its schedule would.
                if let Some(due) = d.next_attempt_at.into_iter().chain(d.due_at).min() {
                    self.clock.set(due.max(self.clock.now()));
                }
                let t = Instant::now();
                let n = ctx.enqueue_due(20_000).await?;
                retry.add(self.meter.take(), 1, t.elapsed());
                if n == 0 {
                    bail!("delivery {id} is pending but nothing is queued or due");
                }
                continue;
            }
            let sqs_share = self.meter.take();
            let mut busy = Duration::ZERO;
            if let Some(d) = self.inspect.get_delivery(&id).await?
                && let Some(at) = d.next_attempt_at
            {
                self.clock.set(at.max(self.clock.now()));
            }
            // The deliver function's own batch handler: the attempts, then
            // the batch's attempt counts.
            let t = Instant::now();
            let response =
                hookline_aws::lambda::deliver_batch(ctx, &self.sender, batch.event.clone(), 8).await;
            busy += t.elapsed();
            if !response.batch_item_failures.is_empty() {
                bail!("the deliver handler failed a message of delivery {id}");
            }
            let handled = self.meter.take();
            self.pump.settle(&batch, &response).await?;
            deliver.add(sqs_share, 0, Duration::ZERO);
            deliver.add(handled, 1, busy);
            deliver.add(self.meter.take(), 0, Duration::ZERO);
        }
        bail!("delivery {id} did not finish within 100 rounds")
    }
}

fn ops(shares: &[Share; 3]) -> String {
    let mut all: BTreeMap<String, u64> = BTreeMap::new();
    for s in shares {
        for (op, n) in &s.bill.requests {
            *all.entry(op.clone()).or_default() += n;
        }
    }
    all.iter().map(|(op, n)| format!("{n}× {op}")).collect::<Vec<_>>().join(", ")
}

pub async fn run(args: &std::collections::HashMap<String, String>) -> anyhow::Result<()> {
    let endpoint = args.get("endpoint").context("--endpoint URL (a moto server) is required")?;
    let rig = Rig::new(endpoint).await?;
    println!("one event, one subscription; units and dollars per delivery, $ per million deliveries\n");
    for (script, charts, label) in [
        ("ok", true, "first-try success"),
        ("flaky", true, "success after two retries"),
        ("down", true, "exhausted"),
        (
            "limited",
            true,
            "first-try success to a rate-limited endpoint (100/s; a lone delivery buys a lease of 10 slots)",
        ),
        ("ok", false, "first-try success, charts off (Charts=0: no hourly counts)"),
        ("flaky", false, "success after two retries, charts off"),
        ("down", false, "exhausted, charts off"),
    ] {
        let (shares, attempts, status) = rig.scenario(script, charts).await?;
        let [ingest, deliver, retry] = &shares;
        println!("{label}: {attempts} attempts, {}", status.as_str());
        println!("  requests: {}", ops(&shares));
        for (name, s) in [("ingest", ingest), ("deliver", deliver), ("retry", retry)] {
            println!(
                "  {name:<8} WRU {:>5.1}  RRU {:>5.1}  SQS {:>3.0}  Lambda {} × {:>5.1} ms  → ${:.2}/M",
                s.bill.wru,
                s.bill.rru,
                s.bill.sqs,
                s.invocations,
                s.busy.as_secs_f64() * 1000.0 / f64::from(s.invocations.max(1)),
                s.dollars() * 1e6
            );
            if !s.bill.unmetered.is_empty() {
                println!("    not metered: {:?}", s.bill.unmetered);
            }
        }
        let total: f64 = shares.iter().map(Share::dollars).sum::<f64>() * 1e6;
        let wru: f64 = shares.iter().map(|s| s.bill.wru).sum();
        let rru: f64 = shares.iter().map(|s| s.bill.rru).sum();
        let sqs: f64 = shares.iter().map(|s| s.bill.sqs).sum();
        println!(
            "  total    WRU {wru:>5.1}  RRU {rru:>5.1}  SQS {sqs:>3.0}  → ${total:.2} per million (function URL), ${:.2} through the HTTP API\n",
            total + price::HTTP_API * 1e6
        );
    }
    println!(
        "managed alternatives for the same job: SNS HTTP $1.10 per million; EventBridge + API destination $1.20 per million"
    );
    Ok(())
}
