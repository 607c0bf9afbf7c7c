//! A receiver written in another language, run as a child process: it
//! prints `listening <port>`, then one JSON line per request
//! (`{"ok", "headers", "body"}`). Killed when dropped.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running external receiver.
pub struct External {
    /// Its port on 127.0.0.1.
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
    _child: Child,
}

impl External {
    /// Runs `program args…` and waits for its `listening` line.
    pub async fn start(program: &std::path::Path, args: &[&str], dir: &std::path::Path) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(port) = line.strip_prefix("listening ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(port.trim().parse::<u16>().unwrap_or(0));
                    }
                } else if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().expect("lock").push(v);
                }
            }
        });
        let port = tokio::time::timeout(Duration::from_secs(120), rx)
            .await
            .unwrap_or_else(|_| panic!("{} did not listen within 120 s", program.display()))
            .expect("the receiver exited before listening");
        Self { port, lines, _child: child }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/transcodely", self.port)
    }

    /// The requests it reported.
    pub fn seen(&self) -> Vec<Value> {
        self.lines.lock().expect("lock").clone()
    }
}
