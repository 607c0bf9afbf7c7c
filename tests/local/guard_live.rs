//! The target guard and the sender, live on loopback: hostile spellings of
//! loopback and a name that rebinds to it are refused at send time, and a
//! listener on 127.0.0.1 sees no connection at all. Redirects are not
//! followed, huge responses are cut, slow ones time out. Only loopback is
//! ever connected to: non-loopback targets are judged by the guard alone
//! (see the guard's unit tests and tests in server/tests/embedded/adversarial.rs).
//! And a busy endpoint keeps its connections from one wave of sends to the
//! next.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hookline::guard::TargetGuard;
use hookline::policy::{AttemptOutcome, FailureKind};
use hookline::ports::Sender;
use hookline::target::TargetUrl;
use hookline::wire::OutgoingRequest;
use hookline_sender::{EXCERPT_BYTES, HttpSender};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP listener on 127.0.0.1 that counts connections and answers each
/// with `response` after `delay`.
struct Listener {
    port: u16,
    connections: Arc<AtomicUsize>,
}

async fn listener(response: Vec<u8>, delay: Duration) -> Listener {
    listener_at("127.0.0.1:0", response, delay).await
}

async fn listener_at(addr: &str, response: Vec<u8>, delay: Duration) -> Listener {
    let l = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Listener { port, connections }
}

fn ok_response() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_vec()
}

/// A request to `url`; an odd spelling, which the API refuses as given
/// (URLs are kept byte for byte), in the parser's form: the address it
/// stands for is what the sender must refuse.
fn request(url: &str, timeout: Duration) -> OutgoingRequest {
    let parsed = url::Url::parse(url).expect("syntactically valid URL");
    OutgoingRequest {
        url: TargetUrl::parse(parsed.as_str()).expect("the parser's form is accepted"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"{}".to_vec(),
        timeout,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_spellings_of_loopback_never_reach_a_loopback_listener() {
    let l = listener(ok_response(), Duration::ZERO).await;
    let sender = HttpSender::new(TargetGuard::default()).expect("sender");
    let p = l.port;
    let spellings = [
        format!("http://127.0.0.1:{p}/"),
        format!("http://127.1:{p}/"),
        format!("http://127.0.1:{p}/"),
        format!("http://2130706433:{p}/"),
        format!("http://0x7f000001:{p}/"),
        format!("http://0x7f.0.0.1:{p}/"),
        format!("http://0177.0.0.1:{p}/"),
        format!("http://017700000001:{p}/"),
        format!("http://127.000.000.001:{p}/"),
        format!("http://127.255.255.254:{p}/"),
        format!("http://0.0.0.0:{p}/"),
        format!("http://0:{p}/"),
        format!("http://[::1]:{p}/"),
        format!("http://[::]:{p}/"),
        format!("http://[::ffff:127.0.0.1]:{p}/"),
        format!("http://[::ffff:7f00:1]:{p}/"),
        format!("http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/"),
        format!("http://[::127.0.0.1]:{p}/"),
        format!("http://[::ffff:0:127.0.0.1]:{p}/"),
        format!("http://[64:ff9b:1::7f00:1]:{p}/"),
        format!("http://localhost:{p}/"),
        format!("http://LOCALHOST:{p}/"),
        format!("http://localhost.:{p}/"),
        format!("http://api.localhost:{p}/"),
        format!("https://127.0.0.1:{p}/"),
    ];
    for url in &spellings {
        let result = sender.send(&request(url, Duration::from_secs(5))).await;
        assert_eq!(result.outcome, AttemptOutcome::Failed(FailureKind::Blocked), "{url}");
        assert!(
            result.error_message.as_deref().is_some_and(|m| m.contains("not sent")),
            "{url}: a reason is recorded"
        );
    }
    assert_eq!(l.connections.load(Ordering::SeqCst), 0, "the loopback listener saw a connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_loopback_at_send_time_is_refused_before_connecting() {
    let l = listener(ok_response(), Duration::ZERO).await;
    let table = HashMap::from([
        ("rebind.example".to_owned(), vec!["127.0.0.1".parse::<IpAddr>().expect("ip")]),
        ("metadata.example".to_owned(), vec!["169.254.169.254".parse().expect("ip")]),
    ]);
    let sender = HttpSender::with_static_dns(TargetGuard::default(), table, None).expect("sender");
    for host in ["rebind.example", "metadata.example"] {
        let url = format!("http://{host}:{}/", l.port);
        // The URL passes every check a creation can make without DNS…
        TargetGuard::default()
            .check_url(&TargetUrl::parse(&url).expect("url"))
            .expect("no IP literal to refuse");
        // …and is refused once its name resolves.
        let result = sender.send(&request(&url, Duration::from_secs(5))).await;
        assert_eq!(result.outcome, AttemptOutcome::Failed(FailureKind::Blocked), "{host}");
    }
    assert_eq!(l.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_an_egress_proxy_a_delivery_goes_by_it_and_a_private_name_is_still_refused() {
    // The proxy (on loopback, as an operator's in a private subnet is) is
    // reached though the guard would refuse its address; a target whose
    // name resolves to a private address is refused before anything is
    // asked of the proxy.
    let proxy = hookline_tests::proxy::Proxy::start().await;
    let proxy_url = url::Url::parse(&proxy.url).expect("url");
    let l = listener(ok_response(), Duration::ZERO).await;
    let table =
        HashMap::from([("private.example".to_owned(), vec!["10.0.0.5".parse::<IpAddr>().expect("ip")])]);
    let guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    let sender = HttpSender::with_static_dns(guard, table, Some(&proxy_url)).expect("sender");
    let refused =
        sender.send(&request(&format!("http://private.example:{}/", l.port), Duration::from_secs(5))).await;
    assert_eq!(refused.outcome, AttemptOutcome::Failed(FailureKind::Blocked), "{refused:?}");
    assert!(proxy.asked().is_empty(), "nothing asked of the proxy: {:?}", proxy.asked());
    let sent = sender.send(&request(&format!("http://127.0.0.1:{}/", l.port), Duration::from_secs(5))).await;
    assert!(sent.outcome.is_success(), "{sent:?}");
    assert_eq!(proxy.asked(), [format!("127.0.0.1:{}", l.port)], "the delivery went by the proxy");
    assert_eq!(l.connections.load(Ordering::SeqCst), 1);
    // Without the proxy running, the attempt fails as a connection failure
    // (the receiver is not tried around it).
    drop(proxy);
    let alone = sender.send(&request(&format!("http://127.0.0.1:{}/", l.port), Duration::from_secs(5))).await;
    assert!(!alone.outcome.is_success(), "{alone:?}");
    assert_eq!(l.connections.load(Ordering::SeqCst), 1, "no way around the proxy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_address_the_guard_accepted_is_connected_to() {
    // A name with a refused address first (0.0.0.0, which would land on a
    // decoy listening on 127.0.0.1) and an allowed one second (127.0.0.2,
    // loopback being allowed here). Everything stays on loopback, and the
    // decoy tells whether the refused address was dialled.
    let allowed = listener_at("127.0.0.2:0", ok_response(), Duration::ZERO).await;
    let decoy = listener_at(&format!("127.0.0.1:{}", allowed.port), ok_response(), Duration::ZERO).await;
    let table = HashMap::from([(
        "mixed.example".to_owned(),
        vec!["0.0.0.0".parse::<IpAddr>().expect("ip"), "127.0.0.2".parse().expect("ip")],
    )]);
    let guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    let sender = HttpSender::with_static_dns(guard, table, None).expect("sender");
    let result = sender
        .send(&request(&format!("http://mixed.example:{}/", allowed.port), Duration::from_secs(5)))
        .await;
    assert!(result.outcome.is_success(), "{result:?}");
    assert_eq!(allowed.connections.load(Ordering::SeqCst), 1);
    assert_eq!(decoy.connections.load(Ordering::SeqCst), 0, "the refused address was dialled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_failures_and_never_followed() {
    let target = listener(ok_response(), Duration::ZERO).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        target.port
    );
    let l = listener(redirect.into_bytes(), Duration::ZERO).await;
    let guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    let sender = HttpSender::new(guard).expect("sender");
    let result =
        sender.send(&request(&format!("http://127.0.0.1:{}/", l.port), Duration::from_secs(5))).await;
    assert!(matches!(result.outcome, AttemptOutcome::Response { status: 302, .. }), "{result:?}");
    assert!(!result.outcome.is_success());
    assert_eq!(target.connections.load(Ordering::SeqCst), 0, "the redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_response_is_cut_and_a_slow_one_times_out() {
    let mut huge =
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 10000000\r\nconnection: close\r\n\r\n"
            .to_vec();
    huge.extend(std::iter::repeat_n(b'x', 10_000_000));
    let big = listener(huge, Duration::ZERO).await;
    let slow = listener(ok_response(), Duration::from_secs(30)).await;
    let guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    let sender = HttpSender::new(guard).expect("sender");

    let result =
        sender.send(&request(&format!("http://127.0.0.1:{}/", big.port), Duration::from_secs(10))).await;
    assert!(matches!(result.outcome, AttemptOutcome::Response { status: 500, .. }));
    assert!(
        result.response_excerpt.as_ref().is_some_and(|e| e.len() <= EXCERPT_BYTES),
        "only the first bytes are kept"
    );

    let result =
        sender.send(&request(&format!("http://127.0.0.1:{}/", slow.port), Duration::from_secs(1))).await;
    assert_eq!(result.outcome, AttemptOutcome::Failed(FailureKind::Timeout));
    assert!(
        result.duration < Duration::from_secs(10),
        "the timeout bounds the attempt: {:?}",
        result.duration
    );
}

type Peers = Arc<std::sync::Mutex<Vec<std::net::SocketAddr>>>;

/// A keep-alive receiver that answers `wave` requests at a time, once all
/// of them have arrived (so each wave needs `wave` connections at once),
/// and records the peer (client address and port) of every request: one
/// peer, one connection.
async fn wave_receiver(wave: usize) -> (String, Peers) {
    use axum::extract::{ConnectInfo, State};
    async fn record(
        State((peers, all_in)): State<(Peers, Arc<tokio::sync::Barrier>)>,
        ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    ) {
        peers.lock().expect("lock").push(peer);
        all_in.wait().await;
    }
    let peers: Peers = Arc::default();
    let app = axum::Router::new()
        .fallback(record)
        .with_state((peers.clone(), Arc::new(tokio::sync::Barrier::new(wave))));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    (url, peers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_endpoint_keeps_its_connections_from_one_wave_of_sends_to_the_next() {
    // 200 sends at once (as the embedded mode's 256 in flight can make to
    // one endpoint), twice. The second wave finds the first's connections
    // idle in the pool; a pool that kept fewer closed the rest, and every
    // delivery past them paid a new connection (at 64 kept, ~40 % of the
    // deliveries of a load run opened one: BENCHMARKS.md).
    const WAVE: usize = 200;
    let (url, peers) = wave_receiver(WAVE).await;
    let guard = TargetGuard { allow_loopback: true, ..TargetGuard::default() };
    let sender = Arc::new(HttpSender::new(guard).expect("sender"));
    let mut seen = std::collections::HashSet::new();
    for wave in 0..2 {
        let sends: Vec<_> = (0..WAVE)
            .map(|_| {
                let (sender, url) = (sender.clone(), url.clone());
                tokio::spawn(async move { sender.send(&request(&url, Duration::from_secs(10))).await })
            })
            .collect();
        for s in sends {
            let result = s.await.expect("a send");
            assert!(result.outcome.is_success(), "{result:?}");
        }
        let wave_peers: std::collections::HashSet<_> = peers.lock().expect("lock").drain(..).collect();
        let new = wave_peers.difference(&seen).count();
        if wave == 0 {
            assert_eq!(new, WAVE, "the first wave needs a connection for each send");
        } else {
            assert!(new <= WAVE / 10, "the second wave opened {new} new connections for {WAVE} sends");
        }
        seen.extend(wave_peers);
    }
}
