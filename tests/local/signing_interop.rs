//! hookline's Standard Webhooks signatures, checked by the official
//! `standardwebhooks` Python package (from PyPI) in both directions: the
//! library verifies what hookline signs, and hookline verifies what the
//! library signs.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Utc;
use hookline::signing::{GENERATED_SECRET_BYTES, Message, Secret, SignatureFormat, sign_headers, standard};
use hookline_tests::{repo_root, test_python};
use serde_json::{Value, json};

fn bodies() -> Vec<String> {
    vec![
        r#"{"type":"video.encoded","timestamp":"2026-11-23T09:00:00Z","data":{"id":"v_1"}}"#.to_owned(),
        r#"{"title":"Café – 東京 ✓","emoji":"🎬"}"#.to_owned(),
        "{}".to_owned(),
        format!(r#"{{"blob":"{}"}}"#, "a".repeat(64 * 1024)),
        "  {\"spaces\" :  [1, 2,\n 3] }  ".to_owned(),
    ]
}

fn run_python(input: &Value) -> Value {
    let python = test_python().expect("test python");
    let script = repo_root().join("tests/interop/standardwebhooks_check.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write cases");
    let out = child.wait_with_output().expect("python finished");
    assert!(out.status.success(), "standardwebhooks check failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python wrote JSON")
}

#[test]
fn the_standardwebhooks_library_verifies_what_hookline_signs_and_hookline_verifies_what_it_signs() {
    let now = Utc::now().timestamp();
    let secrets: Vec<Secret> =
        (1u8..=3).map(|i| Secret::generate([i.wrapping_mul(37); GENERATED_SECRET_BYTES])).collect();
    let format = SignatureFormat::standard();

    let mut verify_cases = Vec::new();
    for (i, body) in bodies().iter().enumerate() {
        let id = format!("dlv_01jdx0000000000000000000{i:02}");
        let secret = &secrets[i % secrets.len()];
        let msg = Message { id: &id, timestamp: now, event_type: "video.encoded", body: body.as_bytes() };
        let headers = sign_headers(&format, &[secret], &msg).expect("sign");
        verify_cases.push(json!({
            "secret": secret.expose(),
            "headers": headers.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "body": body,
        }));
    }
    // During a rotation the header carries two signatures; the library must
    // accept it with either secret.
    let body = bodies()[0].clone();
    let msg = Message { id: "dlv_rotation", timestamp: now, event_type: "t", body: body.as_bytes() };
    let rotated = sign_headers(&format, &[&secrets[0], &secrets[1]], &msg).expect("sign");
    for secret in [&secrets[0], &secrets[1]] {
        verify_cases.push(json!({
            "secret": secret.expose(),
            "headers": rotated.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "body": body,
        }));
    }

    let sign_cases: Vec<Value> = bodies()
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"secret": secrets[i % 3].expose(), "id": format!("msg_{i}"), "body": body}))
        .collect();

    let answer = run_python(&json!({"verify": verify_cases, "sign": sign_cases}));
    assert_eq!(answer["verified"], verify_cases.len());
    assert_eq!(answer["tampered_rejected"], verify_cases.len());

    let signed = answer["signed"].as_array().expect("signed list");
    assert_eq!(signed.len(), bodies().len());
    for case in signed {
        let secret = Secret::parse(case["secret"].as_str().expect("secret")).expect("valid secret");
        let body = case["body"].as_str().expect("body");
        let ts = case["timestamp"].as_i64().expect("timestamp");
        let headers = vec![
            ("webhook-id".to_owned(), case["id"].as_str().expect("id").to_owned()),
            ("webhook-timestamp".to_owned(), ts.to_string()),
            ("webhook-signature".to_owned(), case["signature"].as_str().expect("sig").to_owned()),
        ];
        standard::verify(&secret, &headers, body.as_bytes(), ts)
            .expect("hookline verifies the library's signature");
        let tampered = format!("{body} ");
        assert!(standard::verify(&secret, &headers, tampered.as_bytes(), ts).is_err());
        // And the signature is the one hookline computes itself.
        assert_eq!(
            standard::sign(&secret, case["id"].as_str().expect("id"), ts, body.as_bytes()).expect("sign"),
            case["signature"].as_str().expect("sig")
        );
    }
}
