//! Hostile input over real HTTP against the `hookline` binary: every hostile
//! target is refused with a reason when it is given, every malformed
//! request gets its own JSON 4xx, nothing is stored by either, and no
//! secret ever appears in a log line. Nothing here connects anywhere but
//! loopback: non-loopback targets are only ever judged, never dialled.

use std::path::Path;
use std::time::{Duration, Instant};

use hookline_tests::process::{API_KEY, Hookline, eventually};
use hookline_tests::receiver::Receiver;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
        // IPv4 inside IPv6: translated (::ffff:0:0:0/96) and local-use NAT64
        // (64:ff9b:1::/48), in the parser's form and in others
        "http://[::ffff:0:7f00:1]/",
        "http://[::ffff:0:127.0.0.1]/",
        "http://[64:ff9b:1::7f00:1]/",
        "http://[64:ff9b:1::a9fe:a9fe]:8080/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "http://[5f00::1]/",
        // what the URL parser would change is refused, not rewritten
        "https://example.com/h\u{0}",
        "https://example.com/h\r\nX-Injected: 1",
        "https://example.com/\th",
        "https://example.com:0/",
        "HTTPS://example.com/",
        "https://example.com/a/../b",
        "https://example.com:443/",
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
        ("GET", p("/v1/dead-letters?limit=0"), None, vec![], 422),
        ("GET", p("/v1/dead-letters?limit=101"), None, vec![], 422),
        ("GET", p("/v1/subscriptions?tenant=t&limit=0"), None, vec![], 422),
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

/// A raw connection to the API with `bytes` written to it.
async fn raw(h: &Hookline, bytes: &[u8]) -> TcpStream {
    let addr = h.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect to the API");
    stream.write_all(bytes).await.expect("write");
    stream
}

/// Reads until the server closes the connection (within `within`): what it
/// sent, and when it closed.
async fn until_closed(mut stream: TcpStream, within: Duration) -> (String, Instant) {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open past {within:?}");
    (String::from_utf8_lossy(&got).into_owned(), Instant::now())
}

/// One counter of a Prometheus scrape, 0 when absent.
fn counter(scrape: &str, series: &str) -> u64 {
    scrape
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

async fn scrape(h: &Hookline) -> String {
    let url = eventually(Duration::from_secs(10), "the metrics address", || async { h.metrics_url() }).await;
    reqwest::get(url).await.expect("scrape").text().await.expect("scrape text")
}

/// A client that opens a new connection for every request.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("a client")
}

async fn healthz_within_a_second(h: &Hookline) {
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        fresh_client().get(format!("{}/healthz", h.base)).send(),
    )
    .await;
    let status = answer.expect("GET /healthz answered within a second").expect("GET /healthz").status();
    assert_eq!(status, 200);
}

/// A request that sends 10 of its 1,000 bytes of body, once the server
/// reads it (it answers `100 Continue` when the route starts on the body: the
/// connection is then serving a request).
async fn slow_body(h: &Hookline) -> TcpStream {
    let head = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Authorization: Bearer test-api-key-0123456789\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n";
    let mut stream = raw(h, head.as_bytes()).await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the server reads the head")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 100 Continue"), "{}", String::from_utf8_lossy(&buf[..n]));
    stream.write_all(b"{\"tenant\":").await.expect("write");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_beyond_the_cap_cannot_starve_the_api() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (header, body, idle) = (Duration::from_secs(2), Duration::from_secs(2), Duration::from_secs(4));
    let h = Hookline::start_with(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[
            ("HOOKLINE_HTTP_MAX_CONNECTIONS", "40"),
            ("HOOKLINE_HTTP_HEADER_TIMEOUT", "2s"),
            ("HOOKLINE_HTTP_BODY_TIMEOUT", "2s"),
            ("HOOKLINE_HTTP_IDLE_TIMEOUT", "4s"),
        ],
        &["--metrics", "127.0.0.1:0"],
    )
    .await;
    let margin = Duration::from_secs(3);
    // 5 requests sending 10 of their 1,000 bytes, 30 connections saying
    // nothing, 30 heads never finished: 65 connections for 40 places.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(("body", Instant::now(), slow_body(&h).await));
    }
    for _ in 0..30 {
        held.push(("idle", Instant::now(), raw(&h, b"").await));
    }
    for _ in 0..30 {
        held.push(("head", Instant::now(), raw(&h, b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..5 {
        healthz_within_a_second(&h).await;
    }
    // Idle ones opened after the rest are closed at their own timeout.
    for _ in 0..3 {
        held.push(("idle", Instant::now(), raw(&h, b"").await));
    }
    let waits = held.into_iter().map(|(kind, opened, stream)| async move {
        let (got, closed) = until_closed(stream, Duration::from_secs(15)).await;
        (kind, opened, got, closed)
    });
    for (kind, opened, got, closed) in futures_util::future::join_all(waits).await {
        let limit = match kind {
            "body" => body,
            "idle" => idle,
            _ => header,
        };
        let took = closed - opened;
        assert!(took <= limit + margin, "a {kind} connection closed after {took:?}, its limit {limit:?}");
        if kind == "body" {
            // Serving a request, it is never evicted: it runs to its deadline.
            assert!(took >= body, "a slow body closed after {took:?}");
            assert!(got.contains("HTTP/1.1 408"), "a slow body is told: {got}");
        }
    }
    healthz_within_a_second(&h).await;
    let metrics = scrape(&h).await;
    let closed = |reason: &str| {
        counter(&metrics, &format!("hookline_http_connections_closed_total{{reason=\"{reason}\"}}"))
    };
    assert!(closed("evicted") >= 25, "{metrics}");
    assert_eq!(closed("body_timeout"), 5);
    assert!(closed("header_timeout") >= 1 && closed("idle_timeout") >= 1, "{metrics}");
    assert_eq!(counter(&metrics, "hookline_http_connections_refused_total"), 0, "room was made each time");
    let lines = h.log().iter().filter(|l| l.contains("a connection limit acted")).count();
    assert!((1..=8).contains(&lines), "limits are logged, not once a connection: {lines} lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_with_every_connection_serving_a_new_one_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = Hookline::start_with(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[("HOOKLINE_HTTP_MAX_CONNECTIONS", "3"), ("HOOKLINE_HTTP_BODY_TIMEOUT", "3s")],
        &["--metrics", "127.0.0.1:0"],
    )
    .await;
    let mut busy = Vec::new();
    for _ in 0..3 {
        busy.push(slow_body(&h).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (got, _) =
        until_closed(raw(&h, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await, Duration::from_secs(1))
            .await;
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("retry-after: 1") && got.contains("\"code\":\"unavailable\""), "{got}");
    // The slow bodies run out; the API answers again.
    for stream in busy {
        until_closed(stream, Duration::from_secs(8)).await;
    }
    healthz_within_a_second(&h).await;
    assert!(counter(&scrape(&h).await, "hookline_http_connections_refused_total") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_methods_and_paths_add_no_metric_series_and_no_long_log_fields() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = Hookline::start_with(
        Path::new(BIN),
        &dir.path().join("hookline.db"),
        &[],
        &["--metrics", "127.0.0.1:0"],
    )
    .await;
    let series =
        |scrape: &str| scrape.lines().filter(|l| l.starts_with("hookline_http_requests_total{")).count();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut junk = |n: usize| {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (0..12).map(|i| char::from(b'A' + ((seed >> (i * 5)) % 26) as u8)).collect::<String>()
            })
            .collect::<Vec<_>>()
    };
    let client = h.client().clone();
    let send = |method: String, path: String| {
        let client = client.clone();
        let url = format!("{}{path}", h.base);
        async move {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a token is a method");
            let _ = client.request(method, url).send().await;
        }
    };
    let before = series(&scrape(&h).await);
    for (i, word) in junk(200).into_iter().enumerate() {
        let path = if i % 2 == 0 { "/healthz".to_owned() } else { format!("/v1/{word}") };
        send(format!("X{word}"), path).await;
    }
    // And a few long ones: a 20 KB method, a 10 KB path.
    send("Q".repeat(20_000), "/healthz".into()).await;
    send("GET".into(), format!("/{}", "z".repeat(10_000))).await;
    let after_some = series(&scrape(&h).await);
    for (i, word) in junk(800).into_iter().enumerate() {
        let path = if i % 2 == 0 { "/healthz".to_owned() } else { format!("/v1/{word}/{i}") };
        send(format!("X{word}"), path).await;
    }
    let after_all = series(&scrape(&h).await);
    assert!(after_some <= before + 6, "{before} series, then {after_some}");
    assert_eq!(after_all, after_some, "a thousand junk requests added series");
    let log = h.log();
    assert!(!log.iter().any(|l| l.contains(&"Q".repeat(300))), "a long method was logged whole");
    assert!(!log.iter().any(|l| l.contains(&"z".repeat(300))), "a long path was logged whole");
    assert!(log.iter().any(|l| l.contains(&"z".repeat(100))), "the path is logged, clipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_echoes_its_body_never_shows_the_secret_in_the_delivery() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = start(&dir, &[]).await;
    let r = Receiver::start().await;
    r.script([hookline_tests::receiver::Reply::Echo(200)]);
    let secret = "echoed-secret-sentinel-0123456789";
    let (status, sub) = h
        .call(
            "POST",
            "/v1/subscriptions",
            Some(json!({"tenant":"t","url":r.url("/echo"),"preset":"targetvideo","secret":secret})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let (_, ev) = h
        .call("POST", "/v1/events", Some(json!({"tenant":"t","type":"video.encoded","payload":{"v":1}})))
        .await;
    let id = hookline_tests::delivery_ids(&ev).pop().expect("a delivery");
    let delivery = eventually(Duration::from_secs(20), "the delivery", || async {
        let (_, d) = h.call("GET", &format!("/v1/deliveries/{id}"), None).await;
        (d["status"] == "succeeded").then_some(d)
    })
    .await;
    assert!(String::from_utf8_lossy(&r.received()[0].body).contains(secret), "the preset sent it");
    let excerpt = delivery["attempts"][0]["response_excerpt"].as_str().expect("an excerpt");
    assert!(!excerpt.contains(secret), "{excerpt}");
    assert!(excerpt.contains("(the signing secret; not shown)"), "{excerpt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_is_stored_byte_for_byte_as_it_was_given() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let h = start(&dir, &[("HOOKLINE_ALLOW_PRIVATE_TARGETS", "0")]).await;
    for url in ["https://example.com", "https://example.com/hooks?v=2&x=%20", "https://example.com?a=1"] {
        let (status, sub) = h.call("POST", "/v1/subscriptions", Some(json!({"tenant":"t","url":url}))).await;
        assert_eq!(status, 201, "{url}: {sub}");
        let (_, read) =
            h.call("GET", &format!("/v1/subscriptions/{}", sub["id"].as_str().expect("id")), None).await;
        assert_eq!(read["url"], url);
    }
}

#[tokio::test]
async fn every_subcommand_prints_its_usage_on_help_and_exits_0() {
    for args in [&["--help"][..], &["serve", "--help"], &["demo", "--help"], &["serve", "-h"]] {
        let out = std::process::Command::new(BIN).args(args).output().expect("run hookline");
        assert!(out.status.success(), "{args:?}: {:?}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("USAGE:"), "{args:?}: {text}");
        if args[0] != "--help" {
            assert!(text.contains(&format!("hookline {}", args[0])), "{args:?}: {text}");
        }
    }
    let out = std::process::Command::new(BIN).args(["serve", "--bogus"]).output().expect("run hookline");
    assert_eq!(out.status.code(), Some(2), "an unknown option is still an error");
}
