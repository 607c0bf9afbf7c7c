//! The hot pure code of a delivery: signing and verifying (Standard Webhooks
//! and every preset's format) for 256 B, 4 KiB and 64 KiB bodies, building
//! the request body, the retry decision, and a payload filter. Throughput is reported in
//! bytes/s so it can sit next to `openssl speed -hmac sha256` (BENCHMARKS.md).
//!
//! Run: `cargo bench -p hookline --bench hot_paths`

// A benchmark's fixture that cannot be built stops it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use chrono::Utc;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookline::policy::{AttemptOutcome, RetryPolicy, decide};
use hookline::signing::{
    GENERATED_SECRET_BYTES, KeyEncoding, Message, Secret, mac, sign_headers, sign_headers_into,
    signature_value, verify,
};
use hookline::wire::{BodyFormat, BodyInput, TimestampFormat};
use serde_json::value::RawValue;

const SIZES: &[usize] = &[256, 4 * 1024, 64 * 1024];

fn body(len: usize) -> Vec<u8> {
    let mut b = br#"{"data":""#.to_vec();
    b.resize(len - 2, b'x');
    b.extend_from_slice(br#""}"#);
    b
}

/// The message every sign and verify benchmark signs.
fn message(body: &[u8]) -> Message<'_> {
    Message {
        id: "dlv_01jdx000000000000000000000",
        timestamp: 1_700_000_000,
        event_type: "video.encoded",
        body,
    }
}

fn hmac_raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("hmac_sha256");
    let key = [7u8; 32];
    let content = hookline::signing::SignedContent::parse("{body}").expect("template");
    for &n in SIZES {
        let b = body(n);
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &b, |bench, b| {
            bench.iter(|| {
                mac(black_box(&key), &content, &Message { id: "", timestamp: 0, event_type: "", body: b })
            })
        });
    }
    g.finish();
}

fn sign_and_verify(c: &mut Criterion) {
    let whsec = Secret::generate([5; GENERATED_SECRET_BYTES]);
    let text = Secret::parse("a-customer-chosen-secret").expect("secret");
    for preset in hookline::presets::all() {
        let secret = if preset.signature.key == KeyEncoding::WhsecBase64 { &whsec } else { &text };
        // The signature header's value alone: what `openssl speed -hmac
        // sha256` compares with (a keyed MAC over the bytes, encoded).
        let mut g = c.benchmark_group(format!("signature/{}", preset.name));
        for &n in SIZES {
            let b = body(n);
            let msg = message(&b);
            g.throughput(Throughput::Bytes(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &msg, |bench, msg| {
                bench.iter(|| signature_value(&preset.signature, &[secret], black_box(msg)).expect("sign"))
            });
        }
        g.finish();
        // Every signature header, added to a request's header list as
        // `build_request` does (the list is the request's: cleared, not
        // allocated, each time).
        let mut g = c.benchmark_group(format!("sign/{}", preset.name));
        for &n in SIZES {
            let b = body(n);
            let msg = message(&b);
            let mut headers = Vec::with_capacity(8);
            g.throughput(Throughput::Bytes(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &msg, |bench, msg| {
                bench.iter(|| {
                    headers.clear();
                    sign_headers_into(&preset.signature, &[secret], black_box(msg), &mut headers)
                        .expect("sign")
                })
            });
        }
        g.finish();
        let mut g = c.benchmark_group(format!("verify/{}", preset.name));
        for &n in SIZES {
            let b = body(n);
            let msg = message(&b);
            let headers = sign_headers(&preset.signature, &[secret], &msg).expect("sign");
            g.throughput(Throughput::Bytes(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &b, |bench, b| {
                bench.iter(|| {
                    verify(&preset.signature, secret, &headers, black_box(b), 1_700_000_000, 300)
                        .expect("verifies")
                })
            });
        }
        g.finish();
    }
}

fn envelopes(c: &mut Criterion) {
    let formats = [
        ("standard", BodyFormat::Standard),
        ("raw", BodyFormat::Raw),
        (
            "object_merge",
            BodyFormat::Object {
                type_field: Some("event".into()),
                timestamp_field: Some("timestamp".into()),
                timestamp_format: TimestampFormat::Unix,
                data_field: None,
                secret_field: None,
            },
        ),
    ];
    let mut g = c.benchmark_group("body");
    for &n in SIZES {
        let payload = RawValue::from_string(String::from_utf8(body(n)).expect("utf8")).expect("json");
        g.throughput(Throughput::Bytes(n as u64));
        for (name, f) in &formats {
            let input = BodyInput {
                event_type: "video.encoded",
                timestamp: Utc::now(),
                payload: &payload,
                secret: "",
            };
            g.bench_with_input(BenchmarkId::new(*name, n), &input, |bench, input| {
                bench.iter(|| f.render(black_box(input)).expect("renders"))
            });
        }
    }
    g.finish();
}

fn retry_decision(c: &mut Criterion) {
    let policy = RetryPolicy::default();
    let outcome = AttemptOutcome::Response {
        status: 503,
        retry_after: Some(std::time::Duration::from_secs(30)),
        stop_retries: false,
    };
    c.bench_function("retry/decide", |b| {
        b.iter(|| decide(black_box(&policy), black_box(3), black_box(&outcome), 0.42))
    });
}

/// A typical payload filter at fan-out (BENCHMARKS.md R1): a ~1 KB order
/// parsed (once per event, for every subscription that filters), and the
/// filter evaluated on it.
fn routing(c: &mut Criterion) {
    let order = serde_json::json!({
        "id": "ord_01j9", "status": "shipped", "amount": 129.5, "currency": "EUR",
        "customer": {"id": "cus_42", "region": "eu", "email": "ana@example.com", "tier": "gold"},
        "items": (0..8).map(|n| serde_json::json!({"sku": format!("SKU-{n:04}"), "qty": n + 1, "price": 9.99}))
            .collect::<Vec<_>>(),
        "shipping": {"carrier": "dhl", "tracking": "JD014600006281230", "address":
            {"line1": "Hauptstraße 5", "city": "Berlin", "postcode": "10115", "country": "DE"}},
        "created_at": "2026-12-07T10:15:00Z", "note": "Leave at the door, please."
    })
    .to_string();
    let filter = hookline::model::Filter::parse(serde_json::json!({"payload": {
        "status": "shipped", "amount": {"$gte": 100},
        "customer": {"region": {"$in": ["eu", "uk"]}, "tier": {"$neq": "trial"}}}}))
    .unwrap();
    let routed = hookline::model::Routed::new(
        "order.updated",
        &["store-eu".to_owned()],
        serde_json::from_str(&order).unwrap(),
    );
    let mut g = c.benchmark_group("filter");
    g.throughput(Throughput::Bytes(order.len() as u64));
    g.bench_function("parse the payload", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&order)).unwrap())
    });
    g.bench_function("evaluate", |b| b.iter(|| filter.matches(black_box(&routed))));
    g.finish();
}

criterion_group!(benches, hmac_raw, sign_and_verify, envelopes, retry_decision, routing);
criterion_main!(benches);
