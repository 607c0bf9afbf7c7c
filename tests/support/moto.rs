//! A moto server (the local AWS emulator from PyPI) for one test: started on
//! a free 127.0.0.1 port from the test virtualenv, stopped when dropped.
//! It runs through `moto_server.py`, which takes DynamoDB's requests one at a
//! time: moto alone lets two concurrent conditional writes both succeed,
//! which DynamoDB never does. With `HOOKLINE_TEST_MOTO_URL` set, that server
//! is used instead.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use tokio::process::{Child, Command};

use crate::test_python;

/// A running emulator.
pub struct Moto {
    /// Its endpoint URL.
    pub endpoint: String,
    _child: Option<Child>,
}

impl Moto {
    /// Starts moto (or uses `HOOKLINE_TEST_MOTO_URL`).
    pub async fn start() -> Self {
        if let Ok(url) = std::env::var("HOOKLINE_TEST_MOTO_URL") {
            return Self { endpoint: url, _child: None };
        }
        let python = test_python().expect("test python");
        assert!(
            python.with_file_name("moto_server").exists(),
            "moto is missing from {}: run ./scripts/test (it installs moto[server])",
            python.display()
        );
        let script = crate::repo_root().join("tests/support/moto_server.py");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(&python)
            .arg(&script)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "moto did not listen within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { endpoint, _child: Some(child) }
    }

    /// SDK configuration pointing at this emulator with test credentials.
    pub async fn sdk(&self) -> SdkConfig {
        sdk_at(&self.endpoint).await
    }
}

/// SDK configuration pointing at `endpoint` with test credentials.
pub async fn sdk_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// A name no other test uses, for tables and queues.
pub fn unique(label: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("hookline-{label}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Deletes the item with this key from `table`, as if it had never been
/// written (a test's way to stop a write sequence part-way).
pub async fn forget(client: &aws_sdk_dynamodb::Client, table: &str, pk: String, sk: &str) {
    client
        .delete_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk.into()))
        .send()
        .await
        .expect("delete an item");
}
