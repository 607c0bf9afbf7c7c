//! Hostile input over real HTTP against the `hookline` binary: every hostile
//! target is refused with a reason when it is given, every malformed
//! request gets its own JSON 4xx, nothing is stored by either, and no
//! secret ever appears in a log line. Nothing here connects anywhere but
//! loopback: non-loopback targets are only ever judged, never dialled.

use std::path::Path;
use std::time::Duration;

use hookline_tests::process::{API_KEY, Hookline, eventually};
use hookline_tests::receiver::Receiver;
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_hookline");

fn hostile_urls() -> Vec<String> {
    let mut v: Vec<String> = [
        // loopback, spelled every way
        "http://127.0.0.1/",
        "http://127.1/",
        "http://127.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://017700000001/",
        "http://127.255.255.254/",
        "http://0.0.0.0/",
        "http://0/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::127.0.0.1]/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://a.b.localhost:8080/",
        "https://127.0.0.1:443/",
        // private networks, link-local, cloud metadata, CGNAT
        "http://10.0.0.1/",
        "http://10.255.255.255/",
        "http://172.16.0.1/",
        "http://172.31.255.254/",
        "http://192.168.0.1/",
        "http://192.168.255.255/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://100.64.0.1/",
        "http://100.127.255.254/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://0xa9fea9fe/",
        "http://2852039166/",
        "http://0251.0376.0251.0376/",
        // multicast, broadcast, documentation, benchmarking, reserved
        "http://224.0.0.1/",
        "http://239.255.255.250/",
        "http://255.255.255.255/",
        "http://192.0.2.1/",
        "http://198.51.100.1/",
        "http://203.0.113.1/",
        "http://198.18.0.1/",
        "http://[ff02::1]/",
        "http://[2001:db8::1]/",
        "http://240.0.0.1/",
        "http://192.0.0.1/",
        // schemes, credentials, fragments, syntax
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "ws://example.com/",
        "dict://example.com:11211/",
        "ldap://example.com/",
        "https://user:pass@example.com/",
        "https://user@example.com/",
        "https://example.com/#frag",
        "example.com/hook",
        "//example.com/hook",
        "",
        " ",
        "https://",
        "http://[::1",
        "http://exa mple.com/",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("https://example.com/{}", "a".repeat(3000)));
    v
}

async fn start(dir: &TempDir, env: &[(&str, &str)]) -> Hookline {
    Hookline::start(Path::new(BIN), &dir.path().join("hookline.db"), env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_target_is_refused_with_a_reason_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The production guard: loopback not allowed.
    let h = start(&dir, &[("HOOKLINE_ALLOW_PRIVATE_TARGETS", "0")]).await;
    let urls = hostile_urls();
    assert!(urls.len() >= 50, "{} hostile URLs", urls.len());
    for url in &urls {
        let (status, body) = h.call("POST", "/v1/subscriptions", Some(json!({"tenant":"t","url":url}))).await;
        assert_eq!(status, 422, "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("url"), "{url}: the reason names the field: {message}");
        let (status, body) = h
            .call(
                "POST",
                "/v1/events",
                Some(json!({"tenant":"t","type":"a.b","payload":{},"webhook_url":url})),
            )
            .await;
        assert_eq!(status, 422, "webhook_url {url}: {body}");
    }
    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=t", None).await;
    assert_eq!(subs["data"], json!([]));
    let (_, dels) = h.call("GET", "/v1/deliveries?tenant=t", None).await;
    assert_eq!(dels["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_and_the_port_allow_list_are_enforced() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = start(
        &dir,
        &[
            ("HOOKLINE_ALLOW_PRIVATE_TARGETS", "0"),
            ("HOOKLINE_HTTPS_ONLY", "1"),
            ("HOOKLINE_ALLOWED_PORTS", "443,8443"),
        ],
    )
    .await;
    for url in [
        "http://example.com/",
        "https://example.com:8080/",
        "https://example.com:22/",
        "http://example.com:8443/",
    ] {
        let (status, body) = h.call("POST", "/v1/subscriptions", Some(json!({"tenant":"t","url":url}))).await;
        assert_eq!(status, 422, "{url}: {body}");
    }
    for url in ["https://example.com/", "https://example.com:8443/hook"] {
        let (status, body) = h.call("POST", "/v1/subscriptions", Some(json!({"tenant":"t","url":url}))).await;
        assert_eq!(status, 201, "{url}: {body}");
    }
}

/// A malformed request: (method, path, content type, body, expected status).
type Case = (&'static str, String, Option<&'static str>, Vec<u8>, u16);

fn malformed() -> Vec<Case> {
    let j = |v: Value| v.to_string().into_bytes();
    let sub = |extra: Value| {
        let mut base = json!({"tenant":"t","url":"https://example.com/h"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            base[k] = v.clone();
        }
        base.to_string().into_bytes()
    };
    let ev = |extra: Value| {
        let mut base = json!({"tenant":"t","type":"video.encoded","payload":{}});
        for (k, v) in extra.as_object().into_iter().flatten() {
            base[k] = v.clone();
        }
        base.to_string().into_bytes()
    };
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let json_ct = Some("application/json");
    let subs = "/v1/subscriptions".to_owned();
    let events = "/v1/events".to_owned();
    let p = |s: &str| s.to_owned();
    vec![
        ("POST", subs.clone(), json_ct, b"{not json".to_vec(), 400),
        ("POST", subs.clone(), json_ct, b"".to_vec(), 400),
        ("POST", subs.clone(), json_ct, vec![0xff, 0xfe, b'{', b'}'], 400),
        ("POST", subs.clone(), json_ct, deep.clone().into_bytes(), 400),
        ("POST", subs.clone(), json_ct, b"[]".to_vec(), 422),
        ("POST", subs.clone(), json_ct, b"\"a string\"".to_vec(), 422),
        ("POST", subs.clone(), json_ct, b"123".to_vec(), 422),
        ("POST", subs.clone(), json_ct, b"null".to_vec(), 422),
        ("POST", subs.clone(), json_ct, b"{}".to_vec(), 422),
        ("POST", subs.clone(), json_ct, j(json!({"tenant":"t"})), 422),
        ("POST", subs.clone(), json_ct, j(json!({"url":"https://example.com/"})), 422),
        ("POST", subs.clone(), Some("text/plain"), sub(json!({})), 415),
        ("POST", subs.clone(), None, sub(json!({})), 415),
        ("POST", subs.clone(), Some("application/xml"), sub(json!({})), 415),
        ("POST", subs.clone(), json_ct, sub(json!({"tenant":"t".repeat(65)})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"tenant":"a/b"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"tenant":17})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"event_types":"video.*"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"event_types":["a..b"]})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"event_types":["*.done"]})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"event_types":vec!["a.b"; 65]})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"description":"d".repeat(1025)})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"active":"yes"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"timeout_ms":0})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"timeout_ms":60000})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"timeout_ms":-1})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"retry_schedule":"5s"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"retry_schedule":["0s"]})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"retry_schedule":vec!["1s"; 21]})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"headers":{"X-A":"v\r\nX-Injected: 1"}})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"headers":{"Host":"evil.example"}})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"headers":{"bad name":"v"}})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"headers":{"webhook-signature":"v1,forged"}})), 422),
        (
            "POST",
            subs.clone(),
            json_ct,
            sub(
                json!({"headers":(0..21).map(|i| (format!("x-h{i}"), json!("v"))).collect::<serde_json::Map<_,_>>()}),
            ),
            422,
        ),
        ("POST", subs.clone(), json_ct, sub(json!({"signature":"md5"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"signature":{"signature_header":"x-sig"}})), 422),
        (
            "POST",
            subs.clone(),
            json_ct,
            sub(
                json!({"signature":{"signature_header":"x-sig","signed":"{banana}","encoding":"hex","key":"utf8"}}),
            ),
            422,
        ),
        (
            "POST",
            subs.clone(),
            json_ct,
            sub(
                json!({"signature":{"signature_header":"x sig","signed":"{body}","encoding":"hex","key":"utf8"}}),
            ),
            422,
        ),
        ("POST", subs.clone(), json_ct, sub(json!({"body":{"kind":"xml"}})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"preset":"nope"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"initial_delay":"1h"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"secret":"short"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"secret":"not-base64-but-standard-needs-whsec"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"colour":"red"})), 422),
        ("POST", subs.clone(), json_ct, sub(json!({"blob":"x".repeat(70 * 1024)})), 413),
        ("POST", events.clone(), json_ct, j(json!({"tenant":"t","type":"a.b"})), 422),
        ("POST", events.clone(), json_ct, ev(json!({"type":"bad type"})), 422),
        ("POST", events.clone(), json_ct, ev(json!({"type":"t".repeat(200)})), 422),
        ("POST", events.clone(), json_ct, ev(json!({"tenant":""})), 422),
        ("POST", events.clone(), json_ct, ev(json!({"idempotency_key":"k".repeat(300)})), 422),
        ("POST", events.clone(), json_ct, ev(json!({"idempotency_key":"has space"})), 422),
        ("POST", events.clone(), json_ct, ev(json!({"webhook_url":"ftp://example.com/"})), 422),
        ("POST", events.clone(), json_ct, ev(json!({"payload":{"blob":"x".repeat(300 * 1024)}})), 413),
        ("POST", events.clone(), json_ct, ev(json!({"extra":true})), 422),
        (
            "POST",
            events.clone(),
            json_ct,
            format!(r#"{{"tenant":"t","type":"a.b","payload":{deep}}}"#).into_bytes(),
            400,
        ),
        ("GET", p("/v1/deliveries"), None, vec![], 422),
        ("GET", p("/v1/deliveries?tenant=t&status=done"), None, vec![], 422),
        ("GET", p("/v1/deliveries?tenant=t&limit=0"), None, vec![], 422),
        ("GET", p("/v1/deliveries?tenant=t&limit=1000"), None, vec![], 422),
        ("GET", p("/v1/deliveries?tenant=t&limit=abc"), None, vec![], 422),
        ("GET", p("/v1/deliveries?tenant=t&since=yesterday"), None, vec![], 422),
        ("GET", p("/v1/deliveries?tenant=t&cursor=..%2F..%2Fetc"), None, vec![], 422),
        ("GET", p("/v1/deliveries?tenant=a&tenant=b"), None, vec![], 422),
        ("GET", p("/v1/deliveries?subscription=evt_01jdx000000000000000000000"), None, vec![], 422),
        ("GET", p("/v1/deliveries/not-an-id"), None, vec![], 422),
        ("GET", p("/v1/events/evt_bad"), None, vec![], 422),
        ("GET", p("/v1/subscriptions/%FF%FE"), None, vec![], 400),
        ("GET", p("/v1/subscriptions"), None, vec![], 422),
        ("GET", p("/v1/tenants/a%2Fb/secret"), None, vec![], 422),
        ("GET", p("/v1/nowhere"), None, vec![], 404),
        ("DELETE", p("/v1/events"), None, vec![], 405),
        ("PUT", p("/v1/subscriptions"), json_ct, b"{}".to_vec(), 405),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_gets_its_own_json_4xx_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = start(&dir, &[]).await;
    let (status, created) = h
        .call(
            "POST",
            "/v1/subscriptions",
            Some(json!({"tenant":"t","url":"https://example.com/h","description":"keep me"})),
        )
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().expect("id").to_owned();
    let (_, before) = h.call("GET", &format!("/v1/subscriptions/{id}"), None).await;

    let mut cases = malformed();
    for patch in [
        json!({"url":"nope"}),
        json!({"timeout_ms":99999}),
        json!({"headers":{"Content-Length":"1"}}),
        json!({"active":"no"}),
        json!({"owner":"x"}),
        json!({"retry_schedule":["1y"]}),
    ] {
        cases.push((
            "PATCH",
            format!("/v1/subscriptions/{id}"),
            Some("application/json"),
            patch.to_string().into_bytes(),
            422,
        ));
    }
    assert!(cases.len() >= 50, "{} malformed requests", cases.len());

    let client = h.client();
    for (method, path, ctype, body, expected) in &cases {
        let mut req = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", h.base),
            )
            .bearer_auth(API_KEY);
        if let Some(t) = ctype {
            req = req.header("content-type", *t);
        }
        if !body.is_empty() {
            req = req.body(body.clone());
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        assert_eq!(status, *expected, "{method} {path} {shown}: {text}");
        let err: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert!(err["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{method} {path}: {text}");
        assert!(err["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {text}");
    }
    // Malformed credentials: 401, the same answer whatever was wrong.
    let mut answers = Vec::new();
    for auth in [
        None,
        Some("Bearer"),
        Some("Bearer wrong"),
        Some("Basic dXNlcjpwYXNz"),
        Some("bearer  "),
        Some("Bearer test-api-key-0123456789x"),
    ] {
        let mut req = client.get(format!("{}/v1/subscriptions?tenant=t", h.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), 401, "{auth:?}");
        answers.push(resp.text().await.unwrap_or_default());
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "401s must not say which part was wrong: {answers:?}");

    let (_, after) = h.call("GET", &format!("/v1/subscriptions/{id}"), None).await;
    assert_eq!(before, after, "no malformed request changed the subscription");
    let (_, subs) = h.call("GET", "/v1/subscriptions?tenant=t", None).await;
    assert_eq!(subs["data"].as_array().map(Vec::len), Some(1), "no malformed request created anything");
    let (_, dels) = h.call("GET", "/v1/deliveries?tenant=t", None).await;
    assert_eq!(dels["data"], json!([]));
    assert!(!h.log().iter().any(|l| l.contains("panicked")), "a request made hookline panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_api_key_ever_appears_in_a_log_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = start(&dir, &[("RUST_LOG", "trace"), ("HOOKLINE_RETRY_SCHEDULE", "1s")]).await;
    let r = Receiver::start().await;
    r.script([hookline_tests::receiver::Reply::Status(500)]);
    let mut secrets = vec![API_KEY.to_owned()];
    // Each with a 1 s schedule, whatever its preset's: which delivery gets
    // the scripted 500 is a race.
    for preset in ["standard", "transcodely", "targetvideo"] {
        let (_, s) = h
            .call(
                "POST",
                "/v1/subscriptions",
                Some(json!({"tenant":"t","url":r.url("/"),"preset":preset,"retry_schedule":["1s"]})),
            )
            .await;
        secrets.push(s["secret"].as_str().expect("secret").to_owned());
        let (_, rotated) = h
            .call("POST", &format!("/v1/subscriptions/{}/rotate-secret", s["id"].as_str().expect("id")), None)
            .await;
        secrets.push(rotated["secret"].as_str().expect("secret").to_owned());
    }
    let (_, t) = h.call("POST", "/v1/tenants/t/secret", None).await;
    secrets.push(t["secret"].as_str().expect("secret").to_owned());
    let (_, read) = h.call("GET", "/v1/tenants/t/secret", None).await;
    assert_eq!(
        read["secret"], t["secret"],
        "the audited read answers the secret, and logs only that it happened"
    );
    // A secret imported for one-off deliveries, and a credential in a custom
    // header, are as secret as the rest.
    let imported = "whsec_aW1wb3J0ZWQtc2VjcmV0LWZvci10ZXN0cw==";
    let (status, _) = h
        .call("PUT", "/v1/tenants/t2/one-off", Some(json!({"secret": imported, "retry_schedule": ["1s"]})))
        .await;
    assert_eq!(status, 200);
    secrets.push(imported.to_owned());
    let credential = "Bearer header-credential-sentinel";
    let (status, _) = h
        .call(
            "POST",
            "/v1/subscriptions",
            Some(json!({"tenant":"t2","url":r.url("/h"),"headers":{"Authorization":credential}})),
        )
        .await;
    assert_eq!(status, 201);
    secrets.push(credential.to_owned());
    let (_, ev) = h
        .call("POST", "/v1/events", Some(json!({"tenant":"t","type":"video.encoded","payload":{"v":1},"webhook_url":r.url("/one-off")})))
        .await;
    let ids: Vec<String> = hookline_tests::delivery_ids(&ev);
    for id in &ids {
        eventually(Duration::from_secs(30), "deliveries to finish", || async {
            let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
            (d["status"] == "succeeded").then_some(())
        })
        .await;
    }
    // And a failed login, whose key must not be echoed either.
    let _ = h
        .client()
        .get(format!("{}/v1/subscriptions?tenant=t", h.base))
        .bearer_auth("wrong-key-sentinel")
        .send()
        .await;
    let log = h.log();
    assert!(log.len() > 10, "the run logged: {} lines", log.len());
    for secret in secrets.iter().chain(std::iter::once(&"wrong-key-sentinel".to_owned())) {
        let needle = secret.trim_start_matches("whsec_");
        assert!(!log.iter().any(|l| l.contains(needle)), "a secret appeared in the log");
    }
}
