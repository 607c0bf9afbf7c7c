//! What a scenario costs: AWS's prices, each function's share of the
//! meter's units, and the rows `hookline-load cost` prints (units, dollars,
//! storage and egress beside them, and the managed services for the same
//! job).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::meter::Bill;
use crate::payloads::Kind;

/// Prices in us-east-1, on-demand, as published on the AWS pricing pages
/// (the date is [`price::AS_OF`]; BENCHMARKS.md names the pages).
pub(crate) mod price {
    /// The date these prices are stated for: the pricing pages as this
    /// repository records them (BENCHMARKS.md names each page).
    pub const AS_OF: &str = "2026-12-07";
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
    /// CloudWatch Logs, per byte ingested ($0.50 per GB; storage, $0.03 per
    /// GB-month, is not counted).
    pub const LOG_BYTE: f64 = 0.50 / 1e9;
    /// What Lambda itself logs per invocation (START, END and REPORT lines,
    /// text format): about 400 bytes, read off AWS's documented examples.
    /// The template's `LoggingConfig` (system logs at WARN) writes none of
    /// them: not in the rows, printed once beside them.
    pub const PLATFORM_LOG_BYTES: f64 = 400.0;
    /// DynamoDB Standard table storage, per GB-month…
    pub const STORAGE_GB_MONTH: f64 = 0.25;
    /// …counting each item's bytes and 100 bytes of DynamoDB's overhead.
    pub const ITEM_OVERHEAD: f64 = 100.0;
    /// Data transfer out to the internet, per GB (the first tier, after the
    /// free 100 GB a month).
    pub const EGRESS_GB: f64 = 0.09;
    /// SNS: per publish (64 KB chunks) and per HTTP(S) notification (each
    /// attempt counted as one).
    pub const SNS_PUBLISH: f64 = 0.50e-6;
    pub const SNS_HTTP: f64 = 0.60e-6;
    /// EventBridge: per custom event put (64 KB chunks) and per API
    /// destination invocation (each attempt counted as one).
    pub const EVENTBRIDGE_EVENT: f64 = 1.00e-6;
    pub const EVENTBRIDGE_API_DESTINATION: f64 = 0.20e-6;
}

/// What the handlers log: the template's `LogLevel` and `Metrics`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Logs {
    /// `LogLevel=info`: a line per attempt, accepted event and API request.
    Info,
    /// `LogLevel=warn` with `Metrics=1`: the template's defaults.
    Warn,
    /// `LogLevel=warn` and `Metrics=0`.
    WarnWithoutMetrics,
}

/// One function's share of a scenario.
#[derive(Default)]
pub(crate) struct Share {
    pub(crate) bill: Bill,
    pub(crate) invocations: u32,
    pub(crate) busy: Duration,
}

impl Share {
    pub(crate) fn add(&mut self, bill: Bill, invocations: u32, busy: Duration) {
        self.bill.absorb(bill);
        self.invocations += invocations;
        self.busy += busy;
    }

    /// The share's dollars with the handlers' log lines at `logs`.
    pub(crate) fn dollars(&self, logs: Logs) -> f64 {
        self.bill.wru * price::WRU
            + self.bill.rru * price::RRU
            + self.bill.sqs * price::SQS
            + f64::from(self.invocations) * price::LAMBDA_REQUEST
            + self.busy.as_secs_f64() * price::MEMORY_GB * price::LAMBDA_GB_S
            + self.logged_bytes(logs) * price::LOG_BYTE
    }

    /// The bytes the handlers log at `logs`.
    pub(crate) fn logged_bytes(&self, logs: Logs) -> f64 {
        let b = &self.bill;
        match logs {
            Logs::Info => b.log_bytes,
            Logs::Warn => b.warn_log_bytes + b.metric_log_bytes,
            Logs::WarnWithoutMetrics => b.warn_log_bytes,
        }
    }
}

/// How a scenario's events reach hookline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Publish {
    /// `POST /v1/events`: one ingest invocation per event.
    Single,
    /// `POST /v1/events/batch` with ten events a call.
    Batch,
    /// The ingest queue: a producer's `SendMessageBatch` of ten one-event
    /// messages, read by the ingest-queue function in full batches of ten.
    Queue,
    /// The ingest queue: a producer's `SendMessage` of ten events in one
    /// message (`{"events": [...]}`), read in full batches of ten messages.
    QueueBatch,
}

/// One scenario: `events` events to `subs` subscriptions of one tenant
/// behind receiver `script`, published as `publish`, the delivery queue read
/// `batch` messages at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scenario {
    pub(crate) label: &'static str,
    pub(crate) payload: Kind,
    pub(crate) script: &'static str,
    pub(crate) charts: bool,
    pub(crate) publish: Publish,
    pub(crate) events: usize,
    pub(crate) subs: usize,
    pub(crate) batch: usize,
}

/// A scenario's outcome: the functions' shares, the deliveries' ends, the
/// bytes the table grew by (items and their overhead) and those sent.
pub(crate) struct Outcome {
    pub(crate) shares: [Share; 4],
    pub(crate) deliveries: Vec<hookline::model::Delivery>,
    pub(crate) stored_bytes: f64,
    pub(crate) sent_bytes: f64,
}

fn ops(shares: &[Share; 4], per: f64) -> String {
    let mut all: BTreeMap<String, u64> = BTreeMap::new();
    for s in shares {
        for (op, n) in &s.bill.requests {
            *all.entry(op.clone()).or_default() += n;
        }
    }
    all.iter().map(|(op, n)| format!("{}× {op}", *n as f64 / per)).collect::<Vec<_>>().join(", ")
}

/// Provisioned capacity in us-east-1: per WCU-hour and RCU-hour.
pub(crate) mod provisioned {
    pub const WCU_HOUR: f64 = 0.000_65;
    pub const RCU_HOUR: f64 = 0.000_13;
    /// The target utilisation of auto scaling (template: `BillingMode`).
    pub const UTILISATION: f64 = 0.70;
}

pub(crate) fn report(run: &Scenario, out: &Outcome) {
    let per = out.deliveries.len().max(1) as f64;
    let statuses: BTreeMap<&str, usize> = out.deliveries.iter().fold(BTreeMap::new(), |mut m, d| {
        *m.entry(d.status.as_str()).or_default() += 1;
        m
    });
    let attempts: u32 = out.deliveries.iter().map(|d| d.attempts).sum();
    println!(
        "{}: {} deliveries ({} events × {} subscriptions), {:.1} attempts each, {statuses:?}",
        run.label,
        out.deliveries.len(),
        run.events,
        run.subs,
        f64::from(attempts) / per
    );
    println!("  requests per delivery: {}", ops(&out.shares, per));
    for (name, s) in ["ingest", "outbox", "deliver", "retry"].iter().zip(&out.shares) {
        println!(
            "  {name:<8} WRU {:>5.2}  RRU {:>5.2}  SQS {:>4.2}  Lambda {:>4.2} × {:>5.1} ms  → ${:.2}/M",
            s.bill.wru / per,
            s.bill.rru / per,
            s.bill.sqs / per,
            f64::from(s.invocations) / per,
            s.busy.as_secs_f64() * 1000.0 / f64::from(s.invocations.max(1)),
            s.dollars(Logs::Warn) / per * 1e6
        );
        if s.bill.log_bytes > 0.0 {
            println!(
                "           logs {:>5.0} B as deployed ({:.0} B metrics, {:.0} B warnings and errors; at info {:.0} B) → ${:.3}/M",
                s.logged_bytes(Logs::Warn) / per,
                s.bill.metric_log_bytes / per,
                s.bill.warn_log_bytes / per,
                s.bill.log_bytes / per,
                s.logged_bytes(Logs::Warn) * price::LOG_BYTE / per * 1e6
            );
        }
        if !s.bill.unmetered.is_empty() {
            println!("    not metered: {:?}", s.bill.unmetered);
        }
    }
    let at = |logs| out.shares.iter().map(|s| s.dollars(logs)).sum::<f64>() / per * 1e6;
    let (total, info, bare) = (at(Logs::Warn), at(Logs::Info), at(Logs::WarnWithoutMetrics));
    let wru: f64 = out.shares.iter().map(|s| s.bill.wru).sum::<f64>() / per;
    let rru: f64 = out.shares.iter().map(|s| s.bill.rru).sum::<f64>() / per;
    let sqs: f64 = out.shares.iter().map(|s| s.bill.sqs).sum::<f64>() / per;
    let dynamo_on_demand = (wru * price::WRU + rru * price::RRU) * 1e6;
    let provisioned = |dollars: f64| {
        dollars - dynamo_on_demand
            + (wru * provisioned::WCU_HOUR + rru * provisioned::RCU_HOUR) / 3600.0 / provisioned::UTILISATION
                * 1e6
    };
    let http_api = if matches!(run.publish, Publish::Queue | Publish::QueueBatch) {
        0.0
    } else {
        price::HTTP_API * 1e6 / if run.publish == Publish::Batch { 10.0 } else { 1.0 }
    };
    println!(
        "  total    WRU {wru:>5.2}  RRU {rru:>5.2}  SQS {sqs:>4.2}  → ${total:.2} per million on demand, as deployed (LogLevel=warn, Metrics=1; ${:.2} with the HTTP API); provisioned at 70 %: ${:.2}",
        total + http_api,
        provisioned(total),
    );
    println!(
        "  logs     LogLevel=info → ${info:.2}; Metrics=0 → ${bare:.2} on demand; provisioned at 70 %: ${:.2} and ${:.2}",
        provisioned(info),
        provisioned(bare),
    );
    let months = RETENTION_DAYS / (365.25 / 12.0);
    let stored = out.stored_bytes / per;
    let sent = out.sent_bytes / per;
    println!(
        "  beside   storage {stored:.0} B kept {RETENTION_DAYS:.0} days → ${:.2}/M; egress {sent:.0} B → ${:.2}/M",
        stored / 1e9 * months * price::STORAGE_GB_MONTH * 1e6,
        sent / 1e9 * price::EGRESS_GB * 1e6,
    );
    let publishes = run.events as f64 / per;
    let tries = f64::from(attempts) / per;
    println!(
        "  managed  the same job on SNS HTTP ${:.2}/M, on EventBridge API destinations ${:.2}/M (each with the same egress)\n",
        (publishes * price::SNS_PUBLISH + tries * price::SNS_HTTP) * 1e6,
        (publishes * price::EVENTBRIDGE_EVENT + tries * price::EVENTBRIDGE_API_DESTINATION) * 1e6,
    );
}

/// The retention the harness's store keeps records for (the template's
/// default `RetentionDays`).
pub(crate) const RETENTION_DAYS: f64 = 30.0;
