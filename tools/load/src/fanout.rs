//! `hookline-load fanout [--endpoint URL] [--publishes 200]`: what one
//! publish costs a tenant with 1, 50 and 1,000 subscriptions, the event
//! going to one of them (each subscription names its own channel, as a
//! platform's customer with a store per endpoint would), in the embedded
//! mode (SQLite in a temporary directory) and — with `--endpoint`, a moto
//! server — on AWS through the billing [`Meter`].
//!
//! Each size starts a fresh process state (an empty route cache) and a fresh
//! store. Its first publish is the cold one (the tenant's routes read in
//! full); the rest read only the tenant's routing version; then one
//! subscription is changed and the next publish reads them again. The run's
//! figure per publish is the whole run's bill over its publishes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use hookline::api::events::PublishEventRequest;
use hookline::api::subscriptions::{CreateSubscriptionRequest, UpdateSubscriptionRequest};
use hookline::auth::Caller;
use hookline::guard::TargetGuard;
use hookline::model::{Health, Subscription, SubscriptionId, TenantId};
use hookline::ports::{
    OsEntropy, Page, PageRequest, Routes, StoreError, SubscriptionStore, SystemClock, Written,
};
use hookline::{Context, ServiceSettings};
use hookline_aws::{DynamoStore, SqsQueue, provision};
use hookline_sqlite::{SqliteQueue, SqliteStore};

use crate::meter::{Bill, Meter};
use crate::report::price;

const SIZES: [usize; 3] = [1, 50, 1000];
const TENANT: &str = "fanout";

/// A subscription store that counts what a fan-out reads of it: the
/// queries (the routing version's, and a full read's) and the
/// subscriptions full reads return.
struct Counting {
    inner: Arc<dyn SubscriptionStore>,
    queries: AtomicU64,
    rows: AtomicU64,
}

#[async_trait]
impl SubscriptionStore for Counting {
    async fn watched(&self, limit: usize) -> Result<hookline::ports::Watched, StoreError> {
        self.inner.watched(limit).await
    }
    async fn list_tenants(
        &self,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<hookline::ports::TenantCount>, StoreError> {
        self.inner.list_tenants(prefix, page).await
    }
    async fn insert_subscription(&self, sub: &Subscription, max: usize) -> Result<bool, StoreError> {
        self.inner.insert_subscription(sub, max).await
    }
    async fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.inner.get_subscription(id).await
    }
    async fn update_subscription(&self, next: &Subscription) -> Result<Written, StoreError> {
        self.inner.update_subscription(next).await
    }
    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<bool, StoreError> {
        self.inner.delete_subscription(id).await
    }
    async fn list_subscriptions(
        &self,
        t: &TenantId,
        p: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.inner.list_subscriptions(t, p).await
    }
    async fn update_health(&self, id: &SubscriptionId, health: &Health<'_>) -> Result<(), StoreError> {
        self.inner.update_health(id, health).await
    }
    async fn tenant_routes(&self, tenant: &TenantId, known: Option<u64>) -> Result<Routes, StoreError> {
        let routes = self.inner.tenant_routes(tenant, known).await?;
        self.queries.fetch_add(1, Ordering::Relaxed);
        if let Routes::Read { subscriptions, .. } = &routes {
            self.queries.fetch_add(1, Ordering::Relaxed);
            self.rows.fetch_add(subscriptions.len() as u64, Ordering::Relaxed);
        }
        Ok(routes)
    }
}

/// What one kind of publish cost: store requests (reads: DynamoDB's, or
/// SQLite's queries), read units (SQLite: subscriptions read), all units in
/// dollars, and its time.
#[derive(Default, Clone, Copy)]
struct Cost {
    reads: f64,
    rru: f64,
    dollars: f64,
    ms: f64,
}

impl Cost {
    fn of(bill: &Bill, (queries, rows): (u64, u64), took: Duration) -> Self {
        let reads = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"]
            .iter()
            .map(|op| bill.requests.get(*op).copied().unwrap_or(0))
            .sum::<u64>();
        let metered = !bill.requests.is_empty();
        Cost {
            reads: if metered { reads } else { queries } as f64,
            rru: if metered { bill.rru } else { rows as f64 },
            dollars: bill.wru * price::WRU + bill.rru * price::RRU + bill.sqs * price::SQS,
            ms: took.as_secs_f64() * 1000.0,
        }
    }
}

/// One size's figures.
struct Row {
    subscriptions: usize,
    cold: Cost,
    warm: Cost,
    warm_p99_ms: f64,
    after_write: Cost,
    per_publish: Cost,
}

/// The store and what meters it, for one size.
struct Rig {
    ctx: Context,
    counting: Arc<Counting>,
    meter: Option<Meter>,
    _dir: Option<tempdir::Dir>,
}

mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn settings() -> ServiceSettings {
    ServiceSettings {
        guard: TargetGuard { allow_loopback: true, ..TargetGuard::default() },
        max_subscriptions_per_tenant: 1000,
        charts: false,
        ..ServiceSettings::default()
    }
}

impl Rig {
    fn embedded(n: usize) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("hookline-fanout-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let store = SqliteStore::open(&dir.join("hookline.db"), Arc::new(SystemClock))?;
        let queue = Arc::new(SqliteQueue::new(store.clone()));
        let store = Arc::new(store);
        let counting =
            Arc::new(Counting { inner: store.clone(), queries: AtomicU64::new(0), rows: AtomicU64::new(0) });
        let mut ctx = Context::new(store, queue, Arc::new(SystemClock), Arc::new(OsEntropy), settings());
        ctx.subscriptions = counting.clone();
        Ok(Self { ctx, counting, meter: None, _dir: Some(tempdir::Dir(dir)) })
    }

    async fn aws(endpoint: &str, n: usize) -> anyhow::Result<Self> {
        let sdk = crate::cost::sdk(endpoint).await;
        let plain = aws_sdk_dynamodb::Client::new(&sdk);
        let table = format!("hookline-fanout-{}-{n}", std::process::id());
        let meter = crate::cost::metered_table(&plain, &table).await?;
        let queue_url =
            provision::create_queues(&aws_sdk_sqs::Client::new(&sdk), &format!("{table}-q"), 5).await?.url;
        let dynamo = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(meter.clone()).build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk).interceptor(meter.clone()).build(),
        );
        let store = Arc::new(DynamoStore::new(dynamo, table, Duration::from_secs(30 * 86_400)));
        let queue = Arc::new(SqsQueue::new(sqs, &queue_url));
        let counting =
            Arc::new(Counting { inner: store.clone(), queries: AtomicU64::new(0), rows: AtomicU64::new(0) });
        let mut ctx = Context::new(store, queue, Arc::new(SystemClock), Arc::new(OsEntropy), settings());
        ctx.subscriptions = counting.clone();
        Ok(Self { ctx, counting, meter: Some(meter), _dir: None })
    }

    /// The bill since the last call (none in the embedded mode), and the
    /// routes' queries and subscriptions read in full since then.
    fn take(&self) -> (Bill, (u64, u64)) {
        let bill = self.meter.as_ref().map(Meter::take).unwrap_or_default();
        let c = &self.counting;
        (bill, (c.queries.swap(0, Ordering::Relaxed), c.rows.swap(0, Ordering::Relaxed)))
    }

    async fn publish(&self, seq: usize) -> anyhow::Result<Cost> {
        let req: PublishEventRequest = serde_json::from_value(serde_json::json!({
            "tenant": TENANT, "type": "order.shipped", "channels": ["store-0"],
            "payload": {"order": seq, "status": "shipped"},
        }))?;
        self.take();
        let t = Instant::now();
        let out = self
            .ctx
            .publish_event(&Caller::internal(), req, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let took = t.elapsed();
        anyhow::ensure!(
            out.deliveries.len() == 1,
            "the event went to {} subscriptions, not one",
            out.deliveries.len()
        );
        let (bill, rows) = self.take();
        Ok(Cost::of(&bill, rows, took))
    }
}

async fn measure(rig: Rig, n: usize, publishes: usize) -> anyhow::Result<Row> {
    let mut first = None;
    for i in 0..n {
        let req: CreateSubscriptionRequest = serde_json::from_value(serde_json::json!({
            "tenant": TENANT, "url": format!("https://store-{i}.example.com/hooks"),
            "channels": [format!("store-{i}")],
        }))?;
        let sub = rig
            .ctx
            .create_subscription(&Caller::internal(), req)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        first.get_or_insert(sub.subscription.id);
    }
    let first = first.context("no subscription")?;
    let cold = rig.publish(0).await?;
    let mut warm = Vec::with_capacity(publishes);
    for seq in 1..publishes {
        warm.push(rig.publish(seq).await?);
    }
    let patch: UpdateSubscriptionRequest =
        serde_json::from_value(serde_json::json!({"description": "changed"}))?;
    rig.ctx
        .update_subscription(&Caller::internal(), &first, patch)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let after_write = rig.publish(publishes).await?;
    let mut ms: Vec<f64> = warm.iter().map(|c| c.ms).collect();
    ms.sort_by(f64::total_cmp);
    let mean = |f: fn(&Cost) -> f64| warm.iter().map(f).sum::<f64>() / warm.len().max(1) as f64;
    let all = publishes as f64 + 1.0;
    let total = |f: fn(&Cost) -> f64| (f(&cold) + warm.iter().map(f).sum::<f64>() + f(&after_write)) / all;
    Ok(Row {
        subscriptions: n,
        cold,
        warm: Cost {
            reads: mean(|c| c.reads),
            rru: mean(|c| c.rru),
            dollars: mean(|c| c.dollars),
            ms: ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN),
        },
        warm_p99_ms: ms.get(ms.len() * 99 / 100).copied().unwrap_or(f64::NAN),
        after_write,
        per_publish: Cost {
            reads: total(|c| c.reads),
            rru: total(|c| c.rru),
            dollars: total(|c| c.dollars),
            ms: total(|c| c.ms),
        },
    })
}

fn print(mode: &str, rows: &[Row], aws: bool) {
    println!("\n{mode}: one publish to a tenant with N subscriptions, the event going to one");
    let unit = if aws { "requests/RRU" } else { "queries/rows" };
    println!(
        "{:>6} | {:>20} | {:>20} | {:>20} | {:>24} | {:>13}",
        "N",
        format!("cold ({unit})"),
        format!("warm ({unit})"),
        format!("after a write"),
        "per publish, whole run",
        "warm p50/p99"
    );
    for r in rows {
        let cell = |c: &Cost| match aws {
            true => format!("{:.0} / {:.1}", c.reads, c.rru),
            false => format!("{:.0} / {:.0}", c.reads, c.rru),
        };
        let run = match aws {
            true => format!(
                "{:.2} / {:.2} RRU ${:.2}/M",
                r.per_publish.reads,
                r.per_publish.rru,
                r.per_publish.dollars * 1e6
            ),
            false => format!(
                "{:.2} / {:.2} rows {:.2} ms",
                r.per_publish.reads, r.per_publish.rru, r.per_publish.ms
            ),
        };
        println!(
            "{:>6} | {:>20} | {:>20} | {:>20} | {:>24} | {:>6.2}/{:.2} ms",
            r.subscriptions,
            format!("{} {:.1} ms", cell(&r.cold), r.cold.ms),
            cell(&r.warm),
            format!("{} {:.1} ms", cell(&r.after_write), r.after_write.ms),
            run,
            r.warm.ms,
            r.warm_p99_ms,
        );
    }
    if let (Some(one), Some(most)) = (rows.first(), rows.last()) {
        let ratio = |f: fn(&Row) -> f64| f(most) / f(one);
        match aws {
            true => println!(
                "{} vs {}: per publish over the run {:.2}x the dollars, {:.2}x the read units; warm {:.2}x",
                most.subscriptions,
                one.subscriptions,
                ratio(|r| r.per_publish.dollars),
                ratio(|r| r.per_publish.rru),
                ratio(|r| r.warm.dollars)
            ),
            false => println!(
                "{} vs {}: warm p50 {:.2}x, per publish over the run {:.2}x the time",
                most.subscriptions,
                one.subscriptions,
                ratio(|r| r.warm.ms),
                ratio(|r| r.per_publish.ms)
            ),
        }
    }
}

/// `hookline-load fanout`.
pub async fn run(args: &std::collections::HashMap<String, String>) -> anyhow::Result<()> {
    let publishes: usize = args.get("publishes").map(|s| s.parse()).transpose()?.unwrap_or(200).max(2);
    println!("{publishes} publishes a size after its subscriptions are created, then one after a change");
    let mut rows = Vec::new();
    for n in SIZES {
        rows.push(measure(Rig::embedded(n)?, n, publishes).await?);
    }
    print("embedded (SQLite, synchronous=FULL)", &rows, false);
    if let Some(endpoint) = args.get("endpoint") {
        let mut rows = Vec::new();
        for n in SIZES {
            rows.push(measure(Rig::aws(endpoint, n).await?, n, publishes).await?);
        }
        print("AWS (DynamoDB on moto, metered; time is moto's)", &rows, true);
    }
    Ok(())
}
