//! `hookline-aws-local`: the pieces of AWS that `cargo lambda watch` does
//! not emulate, for running hookline's functions on one machine.
//!
//! - `up`: all of it in one terminal — a moto server, `setup`, `cargo lambda
//!   watch` and `pump` — with the emulator's and the functions' output in log
//!   files; Ctrl-C stops everything.
//! - `setup`: creates the table and the queues on the emulator at
//!   `AWS_ENDPOINT_URL` and writes the functions' environment to a file for
//!   `cargo lambda watch --env-file`.
//! - `pump`: plays the SQS event source mappings and the schedule — receives
//!   batches from the delivery queue and the ingest queue, invokes the
//!   deliver and ingest-queue functions with them, deletes what they did not
//!   report failed, and invokes the retry function every minute; the table's
//!   stream it hands to the outbox's handler in this process (what the
//!   outbox function does: new events' first attempts onto the queue).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, Region};
use aws_lambda_events::event::sqs::SqsBatchResponse;
use hookline_aws::provision;
use hookline_aws::pump::Pump;
use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

const USAGE: &str = "usage: hookline-aws-local up | setup [ENV_FILE] | pump [WATCH_URL]
  up       starts moto on AWS_ENDPOINT_URL's port, runs setup, starts `cargo lambda watch`
           on 127.0.0.1:9000 and pumps; logs in target/aws-local/; Ctrl-C stops it all
  setup    creates the table and queues on the emulator, writes the functions' environment
           (default .env.local)
  pump     hands the delivery queue's messages to the deliver function and the ingest queue's to
           the ingest-queue function, runs the retry function each minute
  AWS_ENDPOINT_URL   the emulator (default http://127.0.0.1:5000)
  HOOKLINE_API_KEY   the key the ingest function will accept (default dev-key)";

/// Where `cargo lambda watch` takes invocations.
const WATCH: &str = "http://127.0.0.1:9000";
const TABLE: &str = "hookline";
const QUEUE: &str = "hookline-deliveries";
/// Where producers send publish requests (the body of `POST /v1/events`).
const INGEST_QUEUE: &str = "hookline-ingest";
/// The functions' retry schedule here: seconds, not hours, so a retry is
/// seen while trying things out.
const LOCAL_SCHEDULE: &str = "5s,30s,2m";

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .load()
        .await
}

async fn setup(endpoint: &str, env_file: &str) -> anyhow::Result<()> {
    let sdk = sdk(endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let tables = dynamo.list_tables().send().await.context("is the emulator running at AWS_ENDPOINT_URL?")?;
    if !tables.table_names().iter().any(|t| t == TABLE) {
        provision::create_table(&dynamo, TABLE).await?;
    }
    let [queue_url, ingest_url, ingest_dlq_url] =
        [QUEUE, INGEST_QUEUE, &format!("{INGEST_QUEUE}-dlq")].map(|name| {
            let sqs = sqs.clone();
            let name = name.to_owned();
            async move { sqs.get_queue_url().queue_name(name).send().await.ok().and_then(|q| q.queue_url) }
        });
    let queue_url = match queue_url.await {
        Some(url) => url,
        None => provision::create_queues(&sqs, QUEUE, 5).await?.url,
    };
    let (ingest_url, ingest_dlq_url) = match (ingest_url.await, ingest_dlq_url.await) {
        (Some(url), Some(dlq)) => (url, dlq),
        _ => {
            let q = provision::create_queues(&sqs, INGEST_QUEUE, 5).await?;
            (q.url, q.dlq_url)
        }
    };
    let key = std::env::var("HOOKLINE_API_KEY").unwrap_or_else(|_| "dev-key".into());
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    let env = format!(
        "AWS_ENDPOINT_URL={endpoint}\nAWS_REGION=us-east-1\nAWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=local\n\
         HOOKLINE_TABLE={TABLE}\nHOOKLINE_QUEUE_URL={queue_url}\nHOOKLINE_API_KEY_SHA256={digest}\n\
         HOOKLINE_INGEST_DLQ_URL={ingest_dlq_url}\n\
         HOOKLINE_ALLOW_PRIVATE_TARGETS=1\nHOOKLINE_RETRY_SCHEDULE={LOCAL_SCHEDULE}\n"
    );
    std::fs::write(env_file, env).with_context(|| format!("writing {env_file}"))?;
    println!(
        "table {TABLE}, delivery queue {queue_url} and ingest queue {ingest_url} are ready on {endpoint}; \
         environment written to {env_file}"
    );
    println!(
        "API key for the ingest function: {key}; retry schedule {LOCAL_SCHEDULE} (HOOKLINE_RETRY_SCHEDULE)"
    );
    Ok(())
}

async fn invoke(
    http: &reqwest::Client,
    watch: &str,
    function: &str,
    payload: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{watch}/2015-03-31/functions/{function}/invocations");
    let resp =
        http.post(&url).body(payload.to_string()).send().await.with_context(|| format!("invoking {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{function} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

async fn pump(endpoint: &str, watch: &str) -> anyhow::Result<()> {
    let config = sdk(endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = sqs.get_queue_url().queue_name(QUEUE).send().await.context("run `setup` first")?;
    let outbox_queue = hookline_aws::SqsQueue::new(sqs.clone(), queue_url.queue_url().unwrap_or_default());
    let mut stream = hookline_aws::stream_pump::StreamPump::new(
        &aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_dynamodbstreams::Client::new(&config),
        TABLE,
    )
    .await
    .context("the table's stream (run `setup` first)")?;
    let mut pumps = Vec::new();
    for (queue, function) in [(QUEUE, "deliver"), (INGEST_QUEUE, "ingest-queue")] {
        let url = sqs.get_queue_url().queue_name(queue).send().await.context("run `setup` first")?;
        pumps.push((Pump::new(sqs.clone(), url.queue_url().unwrap_or_default()), function));
    }
    let http = reqwest::Client::new();
    let mut last_schedule = Instant::now() - Duration::from_secs(60);
    println!("pumping the delivery queue and the ingest queue into {watch} (Ctrl-C to stop)");
    loop {
        if last_schedule.elapsed() >= Duration::from_secs(60) {
            match invoke(&http, watch, "retry", &serde_json::json!({"source": "aws.scheduler"})).await {
                Ok(v) => println!("retry: {v}"),
                Err(e) => eprintln!("retry: {e:#}"),
            }
            last_schedule = Instant::now();
        }
        match stream.run(&outbox_queue, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => println!("outbox: {n} new events"),
            Err(e) => eprintln!("outbox: {e:#}"),
        }
        for (pump, function) in &pumps {
            let batch = pump.receive(10, Duration::from_secs(1)).await?;
            if batch.is_empty() {
                continue;
            }
            let answer = match invoke(&http, watch, function, &serde_json::to_value(&batch.event)?).await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("{function}: {e:#} (the messages come back after their visibility timeout)");
                    continue;
                }
            };
            let response: SqsBatchResponse = serde_json::from_value(answer).unwrap_or_default();
            pump.settle(&batch, &response).await?;
            println!(
                "{function}: {} messages, {} reported failed",
                batch.len(),
                response.batch_item_failures.len()
            );
        }
    }
}

/// The program, from the test virtualenv when `scripts/test` made one.
fn tool(name: &str) -> PathBuf {
    let venv = Path::new(".venv/bin").join(name);
    if venv.exists() { venv } else { PathBuf::from(name) }
}

/// Starts `program args…` with its output in `log`; killed when dropped.
fn spawn_logged(program: &Path, args: &[&str], log: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let path = format!(".venv/bin:{}", std::env::var("PATH").unwrap_or_default());
    Command::new(program)
        .args(args)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} (see README: Run the functions locally)", program.display()))
}

async fn wait_for_port(port: u16, what: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not listen on 127.0.0.1:{port} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

async fn up(endpoint: &str) -> anyhow::Result<()> {
    let port: u16 =
        endpoint.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).unwrap_or(5000);
    let logs = Path::new("target/aws-local");
    std::fs::create_dir_all(logs)?;
    let _moto = spawn_logged(
        &tool("moto_server"),
        &["-H", "127.0.0.1", "-p", &port.to_string()],
        &logs.join("moto.log"),
    )?;
    wait_for_port(port, "moto", Duration::from_secs(60)).await?;
    setup(endpoint, ".env.local").await?;
    let _watch = spawn_logged(
        &tool("cargo-lambda"),
        &["lambda", "watch", "--env-file", ".env.local", "-A", "127.0.0.1", "-P", "9000"],
        &logs.join("functions.log"),
    )?;
    wait_for_port(9000, "cargo lambda watch", Duration::from_secs(120)).await?;
    println!(
        "the functions are served by cargo lambda watch on {WATCH} (ingest: {WATCH}/lambda-url/ingest/)\n\
         logs: target/aws-local/functions.log (the functions), target/aws-local/moto.log (the emulator)\n\
         moto keeps everything in memory: stopping `up` forgets every table, queue and message"
    );
    tokio::select! {
        r = pump(endpoint, WATCH) => r,
        _ = tokio::signal::ctrl_c() => {
            println!("\nstopping cargo lambda watch and moto");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
    let result = match args.first().map(String::as_str) {
        Some("up") if args.len() == 1 => up(&endpoint).await,
        Some("setup") => setup(&endpoint, args.get(1).map_or(".env.local", String::as_str)).await,
        Some("pump") => {
            let watch = args.get(1).map_or(WATCH, String::as_str).trim_end_matches('/').to_owned();
            tokio::select! {
                r = pump(&endpoint, &watch) => r,
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        _ => {
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
