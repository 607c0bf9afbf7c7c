//! A real headless browser for the portal's tests: Debian's Chromium driven
//! through its ChromeDriver (WebDriver) by fantoccini. `scripts/test`
//! installs both (`chromium`, `chromium-driver`); a test that cannot start
//! them fails with what to install rather than skipping.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use fantoccini::{Client, ClientBuilder};
use tokio::process::{Child, Command};

/// Where the browser tests write their screenshots.
pub fn screenshots() -> std::path::PathBuf {
    crate::repo_root().join("target/portal-screenshots")
}

/// ChromeDriver and one headless Chromium session, ended when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: Child,
}

impl Browser {
    /// Starts ChromeDriver on a free loopback port and opens a session.
    pub async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context(
                "chromedriver is not installed: apt-get install chromium chromium-driver (scripts/test does)",
            )?;
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        // The flags Chromium needs in a container with no network beyond
        // loopback: no sandbox (root), no background connections.
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--no-first-run", "--disable-quic", "--window-size=1200,900"]
            }),
        );
        let mut last = None;
        for _ in 0..50 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => return Ok(Self { client, _driver: driver }),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!("no WebDriver session from chromedriver at {url}: {last:?}")
    }

    /// Saves a screenshot of the page as `name`.png in [`screenshots`].
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::create_dir_all(screenshots())?;
        std::fs::write(screenshots().join(format!("{name}.png")), png)?;
        Ok(())
    }
}

/// Where scripts/test installs axe-core (`npm ci` in tests/a11y).
fn axe_source() -> anyhow::Result<String> {
    let path = crate::repo_root().join("tests/a11y/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).with_context(|| {
        format!("{} is missing: run `npm ci` in tests/a11y (scripts/test does)", path.display())
    })
}

impl Browser {
    /// Runs axe-core's WCAG 2.1 A/AA rules and best practices on the page
    /// as it is; every violation as "rule: what (where)". The script is
    /// injected by WebDriver (the page itself loads no script).
    pub async fn accessibility_violations(&self) -> anyhow::Result<Vec<String>> {
        let axe = axe_source()?;
        self.client.execute(&axe, vec![]).await.context("load axe-core")?;
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
                      .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')))
                      .catch(e => done(['axe failed: ' + e]));"#,
                vec![],
            )
            .await
            .context("run axe-core")?;
        Ok(serde_json::from_value(found)?)
    }
}
