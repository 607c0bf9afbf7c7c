//! hookline-load: measures what BENCHMARKS.md reports.
//!
//! `hookline-load embedded --bin target/release/hookline --events 20000 --rate 2000 --subs 1 --latency-ms 0 --fail 0 [--batch 10]`
//!   starts the binary on loopback (its own SQLite file), M subscriptions
//!   whose receivers answer after a latency with a failure ratio, publishes
//!   N events at a target rate over HTTP, and reports sustained
//!   deliveries/s, publish→receive latency percentiles and the server's peak
//!   memory (VmHWM).
//! `hookline-load deliver --deliveries 50000 --concurrency 64`
//!   runs the deliver handler alone in-process (in-memory store and queue,
//!   real HTTP to a loopback receiver with keep-alive): deliveries/s.
//! `hookline-load cost --endpoint http://127.0.0.1:5000`
//!   the AWS requests, units and dollars of one event with one subscription
//!   (first-try success, success after two retries, exhausted), against a
//!   moto server (see `cost.rs`; `scripts/bench-cost` starts one).
//! `hookline-load hot --endpoint http://127.0.0.1:5000 [--seconds 0.05 --max-wps 1000]`
//!   the busiest partition keys (table and each index, write units a
//!   second) at 10,000 deliveries a second to one endpoint and 20,000 for
//!   one tenant, played for a fraction of a second against moto.
//! `hookline-load fanout [--endpoint http://127.0.0.1:5000] [--publishes 200]`
//!   a publish's store reads, time and (on AWS, metered) cost for a tenant
//!   with 1, 50 and 1,000 subscriptions, in the embedded mode and on moto
//!   (see `fanout.rs`; `scripts/bench-fanout` starts one).

mod cost;
mod fanout;
mod meter;
mod payloads;
mod report;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use hookline::api::events::PublishEventRequest;
use hookline::api::subscriptions::CreateSubscriptionRequest;
use hookline::auth::Caller;
use hookline::guard::TargetGuard;
use hookline::ports::Received;
use hookline::ports::fakes::{MemoryQueue, MemoryStore};
use hookline::ports::{OsEntropy, SystemClock};
use hookline::{Context, ServiceSettings};
use hookline_sender::HttpSender;

fn arg<T: std::str::FromStr>(args: &HashMap<String, String>, name: &str, default: T) -> anyhow::Result<T> {
    match args.get(name) {
        Some(v) => v.parse().map_err(|_| anyhow::anyhow!("--{name} {v:?} is not valid")),
        None => Ok(default),
    }
}

struct Sink {
    started: Instant,
    latency: Duration,
    fail_every: u64,
    seen: std::sync::atomic::AtomicU64,
    /// Per successful delivery: (publish→receive latency, receive time), µs.
    receipts_us: Mutex<Vec<(u64, u64)>>,
    done: tokio::sync::Notify,
}

/// A receiver: answers after the latency, fails one request in
/// `fail_every`, and records publish→receive latency from the payload's
/// `sent_us` (microseconds since the harness started).
async fn receive(State(s): State<Arc<Sink>>, body: Bytes) -> StatusCode {
    let n = s.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if !s.latency.is_zero() {
        tokio::time::sleep(s.latency).await;
    }
    if s.fail_every > 0 && n.is_multiple_of(s.fail_every) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
        let sent = v["data"]["sent_us"].as_u64().or_else(|| v["sent_us"].as_u64());
        if let Some(sent) = sent {
            let now = s.started.elapsed().as_micros() as u64;
            if let Ok(mut l) = s.receipts_us.lock() {
                l.push((now.saturating_sub(sent), now));
            }
        }
    }
    s.done.notify_waiters();
    StatusCode::NO_CONTENT
}

async fn sink(started: Instant, latency: Duration, fail: f64) -> anyhow::Result<(String, Arc<Sink>)> {
    let fail_every = if fail > 0.0 { (1.0 / fail).round() as u64 } else { 0 };
    let s = Arc::new(Sink {
        started,
        latency,
        fail_every,
        seen: 0.into(),
        receipts_us: Mutex::new(Vec::new()),
        done: tokio::sync::Notify::new(),
    });
    let app = axum::Router::new().route("/", axum::routing::post(receive)).with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", l.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Ok((url, s))
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) a process has used, from `/proc/<pid>/stat`
/// (`self` for this one). The kernel reports it in USER_HZ ticks, fixed at
/// 100 a second for user space on Linux.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

async fn embedded(args: &HashMap<String, String>) -> anyhow::Result<()> {
    let bin: String = arg(args, "bin", "target/release/hookline".to_owned())?;
    let events: usize = arg(args, "events", 10_000)?;
    let rate: f64 = arg(args, "rate", 1000.0)?;
    let subs: usize = arg(args, "subs", 1)?;
    let latency = Duration::from_millis(arg(args, "latency-ms", 0)?);
    let fail: f64 = arg(args, "fail", 0.0)?;
    let publishers: usize = arg(args, "publishers", 32)?;
    // Events a request: 1 is `POST /v1/events`, more `POST /v1/events/batch`.
    let batch: usize = arg(args, "batch", 1)?;
    if !(1..=100).contains(&batch) {
        bail!("--batch is 1 to 100 events a request");
    }
    let dir = std::env::temp_dir().join(format!("hookline-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut child = tokio::process::Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("load.db"))
        .env("HOOKLINE_API_KEY", "load")
        .env("HOOKLINE_ALLOW_PRIVATE_TARGETS", "1")
        .env("HOOKLINE_RETRY_SCHEDULE", "1s,2s,5s")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let pid = child.id().context("pid")?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let base = loop {
        let line = lines.next_line().await?.context("hookline exited")?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http = reqwest::Client::builder().pool_max_idle_per_host(publishers).build()?;
    let started = Instant::now();
    let mut sinks = Vec::new();
    for _ in 0..subs {
        let (url, s) = sink(started, latency, fail).await?;
        let resp = http
            .post(format!("{base}/v1/subscriptions"))
            .bearer_auth("load")
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"tenant":"load","url":url,"retry_schedule":["1s","2s","5s"]}).to_string(),
            )
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("subscription refused: {}", resp.text().await?);
        }
        sinks.push(s);
    }
    let expected = events * subs;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let cpu_at_start = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let t0 = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..publishers {
        let (http, base, next) = (http.clone(), base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                if first >= events {
                    return Ok::<_, anyhow::Error>(());
                }
                let due = t0 + interval * first as u32;
                tokio::time::sleep_until(due.into()).await;
                let sent_us = started.elapsed().as_micros() as u64;
                let event = |i: usize| {
                    serde_json::json!({"tenant":"load","type":"video.encoded","payload":{"seq":i,"sent_us":sent_us}})
                };
                let (path, body, expected) = if batch == 1 {
                    ("/v1/events", event(first), 202)
                } else {
                    let all: Vec<_> = (first..(first + batch).min(events)).map(event).collect();
                    ("/v1/events/batch", serde_json::json!({"events": all}), 200)
                };
                let resp = http
                    .post(format!("{base}{path}"))
                    .bearer_auth("load")
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await?;
                let status = resp.status().as_u16();
                if status != expected {
                    bail!("publish refused: {status}");
                }
                if batch > 1 {
                    let answer: serde_json::Value = serde_json::from_str(&resp.text().await?)?;
                    if answer["failed"] != 0 {
                        bail!("a batch publish failed events: {answer}");
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let published_in = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got: usize = sinks.iter().map(|s| s.receipts_us.lock().map(|l| l.len()).unwrap_or(0)).sum();
        if got >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = t0.elapsed();
    let receipts: Vec<(u64, u64)> =
        sinks.iter().flat_map(|s| s.receipts_us.lock().map(|l| l.clone()).unwrap_or_default()).collect();
    let mut all: Vec<u64> = receipts.iter().map(|r| r.0).collect();
    all.sort_unstable();
    // Throughput while events were being published: what the mode keeps up
    // with, without the retry schedule's tail (a delivery failed twice
    // arrives seconds after the last publish whatever the throughput).
    let window_end = (t0 - started + published_in).as_micros() as u64;
    let in_window = receipts.iter().filter(|r| r.1 <= window_end).count();
    let attempts: u64 = sinks.iter().map(|s| s.seen.load(std::sync::atomic::Ordering::Relaxed)).sum();
    println!(
        "embedded: {events} events × {subs} subscriptions at {rate}/s target, receiver latency {latency:?}, failure ratio {fail}"
    );
    println!(
        "  published in {:.2} s ({:.0} events/s)",
        published_in.as_secs_f64(),
        events as f64 / published_in.as_secs_f64()
    );
    println!(
        "  delivered {}/{} in {:.2} s: {:.0} deliveries/s sustained",
        all.len(),
        expected,
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  while publishing: {:.0} deliveries/s received; {attempts} attempts in all ({:.0}/s)",
        in_window as f64 / published_in.as_secs_f64(),
        attempts as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  publish→receive ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        pct(&all, 0.5),
        pct(&all, 0.9),
        pct(&all, 0.99),
        pct(&all, 1.0)
    );
    // Where the two cores went: hookline's share and the harness's own
    // (publishers and receivers), per delivery received.
    if let ((Some(h0), Some(s0)), Some(h1), Some(s1)) =
        (cpu_at_start, cpu_seconds(&pid.to_string()), cpu_seconds("self"))
        && !all.is_empty()
    {
        let per = |cpu: f64| cpu * 1e6 / all.len() as f64;
        println!(
            "  CPU: hookline {:.1} s ({:.0} µs a delivery, {:.2} cores), harness {:.1} s ({:.0} µs a delivery, {:.2} cores)",
            h1 - h0,
            per(h1 - h0),
            (h1 - h0) / elapsed.as_secs_f64(),
            s1 - s0,
            per(s1 - s0),
            (s1 - s0) / elapsed.as_secs_f64()
        );
    }
    if let Some(mib) = peak_rss_mib(pid) {
        println!("  hookline peak memory (VmHWM): {mib:.1} MiB");
    }
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn deliver_only(args: &HashMap<String, String>) -> anyhow::Result<()> {
    let n: usize = arg(args, "deliveries", 20_000)?;
    let concurrency: usize = arg(args, "concurrency", 64)?;
    let started = Instant::now();
    let (url, sink) = sink(started, Duration::ZERO, 0.0).await?;
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let settings = ServiceSettings {
        guard: TargetGuard { allow_loopback: true, ..TargetGuard::default() },
        ..ServiceSettings::default()
    };
    let ctx =
        Context::new(store, queue.clone(), Arc::new(SystemClock), Arc::new(OsEntropy), settings.clone());
    let req: CreateSubscriptionRequest =
        serde_json::from_value(serde_json::json!({"tenant":"load","url":url}))?;
    ctx.create_subscription(&Caller::internal(), req).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..n {
        let req: PublishEventRequest = serde_json::from_value(
            serde_json::json!({"tenant":"load","type":"video.encoded","payload":{"seq":i}}),
        )?;
        ctx.publish_event(&Caller::internal(), req, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let messages: Vec<_> = queue.drain().into_iter().map(|q| q.message).collect();
    let sender = Arc::new(HttpSender::new(settings.guard.clone())?);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for m in messages {
        let permit = sem.clone().acquire_owned().await?;
        let (ctx, sender) = (ctx.clone(), sender.clone());
        set.spawn(async move {
            let _p = permit;
            ctx.handle_message(sender.as_ref(), &Received { message: m, receives: 1, ack: None }).await
        });
    }
    while let Some(r) = set.join_next().await {
        r?.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let elapsed = t0.elapsed();
    let got = sink.seen.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "deliver handler alone: {got} deliveries, concurrency {concurrency}, in-memory store and queue, loopback receiver"
    );
    println!(
        "  {:.0} deliveries/s; {:.1} µs of wall time per delivery",
        got as f64 / elapsed.as_secs_f64(),
        elapsed.as_micros() as f64 / got as f64
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut args = HashMap::new();
    let mut it = argv.iter().skip(1);
    while let Some(k) = it.next() {
        if let (Some(name), Some(v)) = (k.strip_prefix("--"), it.next()) {
            args.insert(name.to_owned(), v.clone());
        }
    }
    let result = match argv.first().map(String::as_str) {
        Some("embedded") => embedded(&args).await,
        Some("deliver") => deliver_only(&args).await,
        Some("cost") => cost::run(&args).await,
        Some("hot") => cost::hot(&args).await,
        Some("fanout") => fanout::run(&args).await,
        Some("codec") => payloads::codec(),
        _ => Err(anyhow::anyhow!(
            "usage: hookline-load embedded [--bin B --events N --rate R --subs M --latency-ms L --fail F --publishers P --batch K] | deliver [--deliveries N --concurrency C] | cost --endpoint URL [--payload-bytes N --only TEXT] | hot --endpoint URL [--seconds S --max-wps N] | codec"
        )),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
