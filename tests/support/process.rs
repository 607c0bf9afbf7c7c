//! A `hookline serve` process for end-to-end tests: started on a free
//! loopback port on the database it is given, killed when dropped. Its log
//! is kept for inspection.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The API key every test process accepts.
pub const API_KEY: &str = "test-api-key-0123456789";

/// A running `hookline serve`.
pub struct Hookline {
    child: Child,
    /// The API's base URL.
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

impl Hookline {
    /// Starts `binary serve` on `db` with the given extra environment.
    pub async fn start(binary: &Path, db: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(binary, db, env, &[]).await
    }

    /// Starts `binary serve` on `db` with the given extra environment and
    /// extra options.
    pub async fn start_with(binary: &Path, db: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut cmd = Command::new(binary);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOOKLINE_API_KEY", API_KEY)
            .env("HOOKLINE_ALLOW_PRIVATE_TARGETS", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start hookline serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("listening on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                sink.lock().expect("lock").push(line);
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("hookline did not start within 30 s")
            .expect("hookline exited before listening");
        Self { child, base: format!("http://{addr}"), log, client: reqwest::Client::new() }
    }

    /// Calls the API with the test key; returns the status and JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, body, &[]).await
    }

    /// Calls the API with extra headers, and with the test key unless they
    /// bring an `Authorization` of their own.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            req = req.bearer_auth(API_KEY);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("API reachable");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The raw client, for requests the tests shape themselves.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The `/metrics` URL, when the process was started with `--metrics`.
    pub fn metrics_url(&self) -> Option<String> {
        self.log().iter().find_map(|l| l.split("metrics on ").nth(1).map(|u| u.trim().to_owned()))
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("lock").clone()
    }

    /// Kills the process with SIGKILL (no chance to clean up).
    pub async fn kill_hard(mut self) {
        let _ = self.child.kill().await;
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("hookline exits within 60 s of SIGTERM")
            .expect("exit status")
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with
/// `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
