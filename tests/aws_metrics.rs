//! The Lambda functions' metrics: CloudWatch Embedded Metric Format lines
//! in their logs, from real work on a local emulator (moto). A test binary
//! of its own, because the recorder is global to the process: no other
//! test's deliveries may count here.

use std::sync::Arc;
use std::time::Duration;

use hookline::auth::ApiKeys;
use hookline::guard::TargetGuard;
use hookline::ports::{OsEntropy, SystemClock};
use hookline::{Context, ServiceSettings};
use hookline_aws::pump::Pump;
use hookline_aws::{AwsConfig, DynamoStore, SqsQueue, lambda, provision};
use hookline_sender::HttpSender;
use hookline_tests::moto::{Moto, unique};
use hookline_tests::receiver::{Receiver, Reply};
use serde_json::{Value, json};

const KEY: &str = "aws-metrics-key";

/// The EMF documents of `out`, one per line.
fn documents(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// The value of `name` in the document whose dimensions are exactly
/// `dims`, checking the document declares it as a metric with `unit`.
fn metric(docs: &[Value], name: &str, dims: &[(&str, &str)], unit: &str) -> Option<Value> {
    docs.iter().find_map(|d| {
        let decl = &d["_aws"]["CloudWatchMetrics"][0];
        let declared: Vec<&str> =
            decl["Dimensions"][0].as_array()?.iter().filter_map(Value::as_str).collect();
        let mut want: Vec<&str> = dims.iter().map(|(k, _)| *k).collect();
        let mut have = declared.clone();
        want.sort();
        have.sort();
        let matches = have == want && dims.iter().all(|(k, v)| d[*k] == *v);
        let m = decl["Metrics"].as_array()?.iter().find(|m| m["Name"] == name)?;
        (matches && m["Unit"] == unit && decl["Namespace"] == "hookline/test").then(|| d[name].clone())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_write_what_they_counted_as_embedded_metrics() {
    let moto = Moto::start().await;
    let sdk = moto.sdk().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("emf");
    provision::create_table(&dynamo, &table).await.expect("table");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queues = provision::create_queues(&sqs, &unique("emf"), 5).await.expect("queues");
    let config = AwsConfig::from_env(|k| match k {
        "HOOKLINE_TABLE" => Some(table.clone()),
        "HOOKLINE_QUEUE_URL" => Some(queues.url.clone()),
        "HOOKLINE_METRICS_NAMESPACE" => Some("hookline/test".into()),
        _ => None,
    })
    .expect("config");
    let collector = lambda::init_metrics(&config).expect("the recorder");

    let mut settings = ServiceSettings::default();
    settings.retry.jitter = 0.0;
    settings.guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    let ctx = Context::new(
        Arc::new(DynamoStore::new(dynamo.clone(), table.clone(), Duration::from_secs(86_400))),
        Arc::new(SqsQueue::new(sqs.clone(), &queues.url)),
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
        settings.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let router = hookline_http::router(ctx.clone(), ApiKeys::from_keys([KEY]));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{api}{path}"))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };

    // The ingest function's share: two requests.
    let receiver = Receiver::start().await;
    receiver.script([Reply::Status(503)]);
    let sub =
        post("/v1/subscriptions", json!({"tenant":"acme","url":receiver.url("/")})).await.expect("subscribe");
    assert_eq!(sub.status(), 201);
    let ev =
        post("/v1/events", json!({"tenant":"acme","type":"order.paid","payload":{}})).await.expect("publish");
    assert_eq!(ev.status(), 202);
    let mut ingest = Vec::new();
    collector.flush(&mut ingest).expect("flush");
    let docs = documents(&ingest);
    let requests = [("route", "/v1/events"), ("method", "POST"), ("status", "202")];
    assert_eq!(metric(&docs, "hookline_http_requests_total", &requests, "Count"), Some(json!(1)), "{docs:?}");
    // The request's duration rides in the same document (one per label set).
    let took = metric(&docs, "hookline_http_request_duration_seconds", &requests, "Seconds");
    assert!(took.as_ref().and_then(Value::as_array).is_some_and(|v| v.len() == 1), "{docs:?}");
    let accepted = metric(&docs, "hookline_events_accepted_total", &[("tenant", "acme")], "Count");
    assert_eq!(accepted, Some(json!(1)), "{docs:?}");

    // The outbox queues its first attempt (from the table's stream).
    let mut stream = hookline_aws::stream_pump::StreamPump::new(
        &dynamo,
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        &table,
    )
    .await
    .expect("the stream");
    stream.run(&SqsQueue::new(sqs.clone(), &queues.url), chrono::Utc::now()).await.expect("the outbox");

    // The deliver function's share: one batch, one attempt, answered 503.
    let pump = Pump::new(sqs, &queues.url);
    let sender = HttpSender::new(settings.guard.clone()).expect("sender");
    let batch = pump.receive(10, Duration::from_secs(2)).await.expect("receive");
    assert_eq!(batch.len(), 1);
    let response = lambda::deliver_batch(&ctx, &sender, batch.event.clone(), 8).await;
    assert!(response.batch_item_failures.is_empty());
    let mut deliver = Vec::new();
    collector.flush(&mut deliver).expect("flush");
    let docs = documents(&deliver);
    let attempts = [("outcome", "retry"), ("class", "5xx")];
    assert_eq!(metric(&docs, "hookline_attempts_total", &attempts, "Count"), Some(json!(1)), "{docs:?}");
    let took = metric(&docs, "hookline_attempt_duration_seconds", &[("outcome", "retry")], "Seconds");
    assert!(took.as_ref().and_then(Value::as_array).is_some_and(|v| v.len() == 1), "{docs:?}");
    assert_eq!(
        metric(&docs, "hookline_retries_scheduled_total", &[("via", "queue")], "Count"),
        Some(json!(1))
    );
    assert!(metric(&docs, "hookline_http_requests_total", &requests, "Count").is_none(), "counted once");

    // A flush with nothing new writes nothing.
    let mut idle = Vec::new();
    collector.flush(&mut idle).expect("flush");
    assert!(idle.is_empty(), "{}", String::from_utf8_lossy(&idle));
}

/// The names the template's dashboard reads from hookline's namespace.
fn dashboard_metric_names(template: &str) -> Vec<String> {
    let mut names: Vec<String> = template
        .split("hookline_")
        .skip(1)
        .map(|rest| {
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            format!("hookline_{name}")
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_dashboard_reads_every_metric_the_functions_write_and_no_other() {
    use hookline::telemetry as t;
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml");
    // Written by the functions (the queue gauges are the embedded mode's:
    // on AWS, SQS's own metrics stand for them).
    let mut written = vec![
        t::EVENTS_ACCEPTED,
        t::DELIVERIES_CREATED,
        t::ATTEMPTS,
        t::ATTEMPT_DURATION,
        t::RETRIES_SCHEDULED,
        t::DELIVERIES_HELD,
        t::SUBSCRIPTIONS_DISABLED,
        t::SCHEDULER_ENQUEUED,
        t::HTTP_REQUESTS,
        t::HTTP_DURATION,
    ];
    written.sort();
    assert_eq!(dashboard_metric_names(&template), written);

    // The body is JSON once CloudFormation has substituted it.
    let start = template.find("DashboardBody: !Sub |").expect("a dashboard") + "DashboardBody: !Sub |".len();
    let body: String = template[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("        "))
        .collect::<Vec<_>>()
        .join("\n");
    let mut substituted = String::new();
    let mut rest = body.as_str();
    while let Some(at) = rest.find("${") {
        substituted.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("a closed ${...}") + at;
        let name = &rest[at + 2..end];
        substituted.push_str(if name == "OldestMessageAlarmSeconds" { "1200" } else { "x" });
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    let parsed: Value = serde_json::from_str(&substituted).expect("the dashboard body is JSON");
    assert!(parsed["widgets"].as_array().is_some_and(|w| w.len() >= 10));
}
