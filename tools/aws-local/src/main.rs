//! `hookline-aws-local`: the pieces of AWS that `cargo lambda watch` does
//! not emulate, for running hookline's three functions on one machine.
//!
//! - `setup`: creates the table and the queues on the emulator at
//!   `AWS_ENDPOINT_URL` and writes the functions' environment to a file for
//!   `cargo lambda watch --env-file`.
//! - `pump`: plays the SQS event source mapping and the schedule — receives
//!   batches from the queue, invokes the deliver function with them, deletes
//!   what it did not report failed, and invokes the retry function every
//!   minute.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, Region};
use sha2::{Digest, Sha256};

const USAGE: &str = "usage: hookline-aws-local setup [ENV_FILE] | pump [WATCH_URL]
  AWS_ENDPOINT_URL   the emulator (default http://127.0.0.1:5000)
  HOOKLINE_API_KEY   the key the ingest function will accept (default dev-key)";

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

const TABLE: &str = "hookline";
const QUEUE: &str = "hookline-deliveries";

async fn setup(endpoint: &str, env_file: &str) -> anyhow::Result<()> {
    let sdk = sdk(endpoint).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let tables = dynamo.list_tables().send().await.context("is the emulator running at AWS_ENDPOINT_URL?")?;
    if !tables.table_names().iter().any(|t| t == TABLE) {
        hookline::aws::provision::create_table(&dynamo, TABLE).await?;
    }
    let queue_url = match sqs.get_queue_url().queue_name(QUEUE).send().await {
        Ok(q) => q.queue_url().unwrap_or_default().to_owned(),
        Err(_) => hookline::aws::provision::create_queues(&sqs, QUEUE, 5).await?,
    };
    let key = std::env::var("HOOKLINE_API_KEY").unwrap_or_else(|_| "dev-key".into());
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    let env = format!(
        "AWS_ENDPOINT_URL={endpoint}\nAWS_REGION=us-east-1\nAWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=local\n\
         HOOKLINE_TABLE={TABLE}\nHOOKLINE_QUEUE_URL={queue_url}\nHOOKLINE_API_KEY_SHA256={digest}\n\
         HOOKLINE_ALLOW_PRIVATE_TARGETS=1\nHOOKLINE_RETRY_SCHEDULE=5s,30s,2m\n"
    );
    std::fs::write(env_file, env).with_context(|| format!("writing {env_file}"))?;
    println!(
        "table {TABLE} and queue {queue_url} are ready on {endpoint}; environment written to {env_file}"
    );
    println!("API key for the ingest function: {key}");
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
    let sqs = aws_sdk_sqs::Client::new(&sdk(endpoint).await);
    let queue_url = sqs.get_queue_url().queue_name(QUEUE).send().await.context("run `setup` first")?;
    let queue_url = queue_url.queue_url().unwrap_or_default().to_owned();
    let http = reqwest::Client::new();
    let mut last_schedule = Instant::now() - Duration::from_secs(60);
    println!("pumping {queue_url} into {watch} (Ctrl-C to stop)");
    loop {
        if last_schedule.elapsed() >= Duration::from_secs(60) {
            match invoke(&http, watch, "retry", &serde_json::json!({"source": "aws.scheduler"})).await {
                Ok(v) => println!("retry: {v}"),
                Err(e) => eprintln!("retry: {e:#}"),
            }
            last_schedule = Instant::now();
        }
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await?;
        if out.messages().is_empty() {
            continue;
        }
        let records: Vec<serde_json::Value> = out
            .messages()
            .iter()
            .map(|m| {
                serde_json::json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                "body": m.body(), "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
            })
            .collect();
        let answer = match invoke(&http, watch, "deliver", &serde_json::json!({ "Records": records })).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("deliver: {e:#} (the messages come back after their visibility timeout)");
                continue;
            }
        };
        let failed: Vec<String> = answer["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
            .collect();
        for m in out.messages() {
            if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                sqs.delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await?;
            }
        }
        println!("deliver: {} messages, {} reported failed", out.messages().len(), failed.len());
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(&endpoint, args.get(1).map_or(".env.local", String::as_str)).await,
        Some("pump") => {
            let watch =
                args.get(1).map_or("http://127.0.0.1:9000", String::as_str).trim_end_matches('/').to_owned();
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
