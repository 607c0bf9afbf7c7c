//! One way in for configuration: [`Config::from_env`] reads every
//! `HOOKLINE_*` variable once at start-up, checks it, and fills in the
//! documented defaults. Handlers receive what they need from it.
//!
//! Every variable, its default and its meaning: `docs/configuration.md`,
//! the one table (a test below holds it to what the code reads).
//!
//! Each binary turns this into the shape it needs: the Lambda functions
//! cannot start without a table and a queue, the ingest function without a
//! key; the embedded binary generates a key when none is set.

use std::time::Duration;

use crate::auth::ApiKeys;
use crate::context::{MAX_PAYLOAD_LIMIT_BYTES, MAX_SUBSCRIPTIONS_LIMIT, ServiceSettings};
use crate::guard::TargetGuard;
use crate::policy::RetrySchedule;
use crate::policy::retry::parse_duration;

/// A variable that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// The service's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Handler settings.
    pub settings: ServiceSettings,
    /// The accepted API keys, from `HOOKLINE_API_KEY` (hashed at once) and
    /// `HOOKLINE_API_KEY_SHA256` (digests).
    pub api_keys: ApiKeys,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// How long events and finished deliveries are kept.
    pub retention: Duration,
    /// Bounds on client connections (the embedded server's).
    pub http: HttpLimits,
    /// How the embedded binary writes its log lines (the Lambda functions
    /// always write JSON).
    pub log_format: LogFormat,
}

/// How log lines are written (`HOOKLINE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For a person at a terminal (the default).
    #[default]
    Text,
    /// One JSON object per line, every field typed, for a log pipeline.
    Json,
}

impl LogFormat {
    fn from_env(var: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        match var("HOOKLINE_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("" | "text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(ConfigError {
                name: "HOOKLINE_LOG_FORMAT",
                problem: format!("{other:?} is not a log format: use text or json"),
            }),
        }
    }
}

/// Bounds on the embedded server's client connections, so that slow or
/// idle clients cannot hold its file descriptors (docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a request's head may take to arrive: from its first byte,
    /// or on a new connection from when it opened.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, from the end of its head.
    pub body_timeout: Duration,
    /// How long a connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Client connections open at once; `None`: what the process's file
    /// limit leaves room for (the server decides).
    pub max_connections: Option<usize>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: None,
        }
    }
}

impl HttpLimits {
    fn from_env(var: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut limits = Self::default();
        let timeout = |name: &'static str, into: &mut Duration| -> Result<(), ConfigError> {
            if let Some(v) = var(name) {
                let d = duration(name, &v)?;
                if d.is_zero() || d > Duration::from_secs(3600) {
                    return Err(ConfigError { name, problem: format!("{v:?} is not between 1s and 1h") });
                }
                *into = d;
            }
            Ok(())
        };
        timeout("HOOKLINE_HTTP_HEADER_TIMEOUT", &mut limits.header_timeout)?;
        timeout("HOOKLINE_HTTP_BODY_TIMEOUT", &mut limits.body_timeout)?;
        timeout("HOOKLINE_HTTP_IDLE_TIMEOUT", &mut limits.idle_timeout)?;
        if let Some(v) = var("HOOKLINE_HTTP_MAX_CONNECTIONS") {
            limits.max_connections = Some(number("HOOKLINE_HTTP_MAX_CONNECTIONS", &v, 1, 1 << 20)?);
        }
        Ok(limits)
    }
}

/// A variable that must be set and not blank, for the binaries that need it.
pub fn required(var: impl Fn(&str) -> Option<String>, name: &'static str) -> Result<String, ConfigError> {
    var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError { name, problem: "is not set".into() })
}

fn flag(name: &'static str, v: Option<String>) -> Result<bool, ConfigError> {
    match v.as_deref().map(str::trim) {
        None | Some("") | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(other) => Err(ConfigError { name, problem: format!("{other:?} is not 0 or 1") }),
    }
}

/// Origins that may frame the portal: `scheme://host[:port]`, nothing else
/// (the value goes into a `Content-Security-Policy` header).
fn frame_ancestors(v: &str) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "HOOKLINE_PORTAL_FRAME_ANCESTORS";
    let bad = |o: &str| ConfigError {
        name: NAME,
        problem: format!("{o:?} is not an origin like https://app.example.com"),
    };
    v.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let url = url::Url::parse(o).map_err(|_| bad(o))?;
            let origin = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "https" | "http") || o.trim_end_matches('/') != origin {
                return Err(bad(o));
            }
            Ok(origin)
        })
        .collect()
}

/// The egress proxy: an `http://` or `https://` URL of a host and port,
/// nothing after it (its credentials, if any, in the URL: never logged).
fn egress_proxy(v: &str) -> Result<url::Url, ConfigError> {
    let bad = || ConfigError {
        name: "HOOKLINE_EGRESS_PROXY",
        problem:
            "not a proxy URL like http://proxy.internal:4750 (http or https, a host and port, nothing after)"
                .into(),
    };
    let url = url::Url::parse(v.trim()).map_err(|_| bad())?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
        return Err(bad());
    }
    Ok(url)
}

fn number(name: &'static str, v: &str, min: usize, max: usize) -> Result<usize, ConfigError> {
    match v.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError { name, problem: format!("{v:?} is not a number from {min} to {max}") }),
    }
}

fn duration(name: &'static str, v: &str) -> Result<Duration, ConfigError> {
    parse_duration(v.trim())
        .map_err(|_| ConfigError { name, problem: format!("{v:?} is not a duration like 30s, 5m, 2h or 5d") })
}

impl Config {
    /// Reads the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `var` (the environment, or a map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = ServiceSettings::default();
        let mut guard = TargetGuard {
            allow_loopback: flag("HOOKLINE_ALLOW_PRIVATE_TARGETS", var("HOOKLINE_ALLOW_PRIVATE_TARGETS"))?,
            https_only: flag("HOOKLINE_HTTPS_ONLY", var("HOOKLINE_HTTPS_ONLY"))?,
            allowed_ports: None,
        };
        if let Some(ports) = var("HOOKLINE_ALLOWED_PORTS").filter(|p| !p.trim().is_empty()) {
            let list = ports
                .split(',')
                .map(|p| number("HOOKLINE_ALLOWED_PORTS", p, 1, 65535).map(|n| n as u16))
                .collect::<Result<Vec<_>, _>>()?;
            guard.allowed_ports = Some(list);
        }
        settings.guard = guard;
        if let Some(s) = var("HOOKLINE_RETRY_SCHEDULE") {
            settings.retry.schedule = RetrySchedule::parse_list(&s)
                .map_err(|e| ConfigError { name: "HOOKLINE_RETRY_SCHEDULE", problem: e.to_string() })?;
        }
        if let Some(v) = var("HOOKLINE_MAX_PAYLOAD_BYTES") {
            settings.max_payload_bytes =
                number("HOOKLINE_MAX_PAYLOAD_BYTES", &v, 1024, MAX_PAYLOAD_LIMIT_BYTES)?;
        }
        if let Some(v) = var("HOOKLINE_DISABLE_AFTER") {
            let d = duration("HOOKLINE_DISABLE_AFTER", &v)?;
            settings.disable.after = chrono::Duration::from_std(d)
                .map_err(|_| ConfigError { name: "HOOKLINE_DISABLE_AFTER", problem: "too long".into() })?;
        }
        if let Some(v) = var("HOOKLINE_ROTATION_GRACE") {
            settings.rotation_grace = duration("HOOKLINE_ROTATION_GRACE", &v)?;
        }
        if let Some(url) = var("HOOKLINE_OPS_WEBHOOK_URL").filter(|u| !u.trim().is_empty()) {
            let url = crate::target::TargetUrl::parse(url.trim())
                .map_err(|e| ConfigError { name: "HOOKLINE_OPS_WEBHOOK_URL", problem: e.to_string() })?;
            const SECRET: &str = "HOOKLINE_OPS_WEBHOOK_SECRET";
            let secret = required(&var, SECRET).map_err(|_| ConfigError {
                name: SECRET,
                problem: "is required with HOOKLINE_OPS_WEBHOOK_URL: it signs hookline's own events".into(),
            })?;
            let secret = crate::signing::Secret::parse(&secret)
                .and_then(|s| {
                    crate::api::delivery_settings::check_secret_fits(
                        &s,
                        &crate::signing::SignatureFormat::standard(),
                    )
                    .map(|()| s)
                })
                .map_err(|e| ConfigError { name: SECRET, problem: e.to_string() })?;
            settings.ops_url = Some(url);
            settings.ops_secret = Some(secret);
        }
        if let Some(v) = var("HOOKLINE_FAILING_AFTER") {
            let n = number("HOOKLINE_FAILING_AFTER", &v, 1, 100)?;
            settings.failing_after = u32::try_from(n).unwrap_or(100);
        }
        if let Some(v) = var("HOOKLINE_METRICS_BY_TENANT") {
            settings.metrics_by_tenant = flag("HOOKLINE_METRICS_BY_TENANT", Some(v))?;
        }
        if let Some(v) = var("HOOKLINE_PORTAL_KEY").filter(|v| !v.trim().is_empty()) {
            settings.portal_key = Some(
                crate::auth::PortalKey::parse(&v)
                    .map_err(|e| ConfigError { name: "HOOKLINE_PORTAL_KEY", problem: e.to_string() })?,
            );
        }
        if let Some(v) = var("HOOKLINE_PORTAL_FRAME_ANCESTORS") {
            settings.portal_frame_ancestors = frame_ancestors(&v)?;
        }
        if let Some(v) = var("HOOKLINE_EGRESS_PROXY").filter(|v| !v.trim().is_empty()) {
            settings.egress_proxy = Some(egress_proxy(&v)?);
        }
        let brand_error = |name: &'static str| {
            move |e: crate::brand::BadBrand| ConfigError { name, problem: e.to_string() }
        };
        if let Some(v) = var("HOOKLINE_PORTAL_NAME").filter(|v| !v.trim().is_empty()) {
            settings.brand.name = crate::brand::name(&v).map_err(brand_error("HOOKLINE_PORTAL_NAME"))?;
        }
        if let Some(v) = var("HOOKLINE_PORTAL_ACCENT").filter(|v| !v.trim().is_empty()) {
            settings.brand.accent =
                Some(crate::brand::Rgb::accent(&v).map_err(brand_error("HOOKLINE_PORTAL_ACCENT"))?);
        }
        if let Some(v) = var("HOOKLINE_PORTAL_LOGO").filter(|v| !v.trim().is_empty()) {
            settings.brand.logo =
                Some(crate::brand::Logo::parse(&v).map_err(brand_error("HOOKLINE_PORTAL_LOGO"))?);
        }
        settings.declared_types_only =
            flag("HOOKLINE_DECLARED_TYPES_ONLY", var("HOOKLINE_DECLARED_TYPES_ONLY"))?;
        if let Some(v) = var("HOOKLINE_CHARTS") {
            settings.charts = flag("HOOKLINE_CHARTS", Some(v))?;
        }
        if let Some(v) = var("HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT") {
            settings.max_subscriptions_per_tenant =
                number("HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT", &v, 1, MAX_SUBSCRIPTIONS_LIMIT)?;
        }
        let concurrency = match var("HOOKLINE_CONCURRENCY") {
            Some(v) => number("HOOKLINE_CONCURRENCY", &v, 1, 4096)?,
            None => 256,
        };
        let clear = var("HOOKLINE_API_KEY").unwrap_or_default();
        let mut api_keys = ApiKeys::from_keys(clear.split(',').map(str::trim).filter(|k| !k.is_empty()));
        let keys = |name: &'static str, parse: fn(&str) -> Result<ApiKeys, crate::auth::BadKey>| {
            var(name).map(|v| parse(&v).map_err(|e| ConfigError { name, problem: e.to_string() })).transpose()
        };
        for more in [
            keys("HOOKLINE_API_KEY_SHA256", ApiKeys::from_hex_digests)?,
            keys("HOOKLINE_TENANT_API_KEYS", ApiKeys::from_tenant_keys)?,
            keys("HOOKLINE_TENANT_API_KEY_SHA256", ApiKeys::from_tenant_digests)?,
        ]
        .into_iter()
        .flatten()
        {
            api_keys.extend(more);
        }
        let retention = match var("HOOKLINE_RETENTION") {
            Some(v) => duration("HOOKLINE_RETENTION", &v)?,
            None => Duration::from_secs(30 * 86_400),
        };
        let http = HttpLimits::from_env(&var)?;
        let log_format = LogFormat::from_env(&var)?;
        Ok(Self { settings, api_keys, concurrency, retention, http, log_format })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(|k| map.get(k).cloned())
    }

    /// The `HOOKLINE_*` names quoted in `text` (as `"HOOKLINE_X"` in Rust,
    /// `HOOKLINE_X:` in the template, `` `HOOKLINE_X` `` in the docs).
    fn names(text: &str, before: char, after: char) -> std::collections::BTreeSet<String> {
        text.match_indices(&format!("{before}HOOKLINE_"))
            .filter_map(|(i, _)| {
                let rest = &text[i + 1..];
                let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))?;
                rest[end..].starts_with(after).then(|| rest[..end].to_owned())
            })
            .collect()
    }

    /// Every `.rs` file under `dir`, but test code: `tests/` folders and
    /// test-only files.
    fn production_sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && !matches!(name.as_str(), "tests" | "target" | "benches") {
                production_sources(&path, out);
            } else if name.ends_with(".rs") && !name.ends_with("tests.rs") && name != "fakes.rs" {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_variable_read_anywhere_is_in_the_configuration_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for dir in ["shared", "server", "functions"] {
            production_sources(&root.join(dir), &mut files);
        }
        let mut read = std::collections::BTreeSet::new();
        for f in &files {
            // Only the code: a test module's variables are the test's.
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            read.extend(names(code, '"', '"'));
        }
        let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
        let set = names(&template, ' ', ':');
        let docs = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
        let table: std::collections::BTreeSet<String> = docs
            .lines()
            .filter(|l| l.starts_with("| `HOOKLINE_"))
            .flat_map(|l| names(l.split('|').nth(1).unwrap_or_default(), '`', '`'))
            .collect();
        assert!(read.len() >= 30, "the code reads {} variables: {read:?}", read.len());
        let missing: Vec<_> = read.union(&set).filter(|v| !table.contains(*v)).collect();
        assert!(missing.is_empty(), "read or set but not in docs/configuration.md: {missing:?}");
        let unread: Vec<_> = table.iter().filter(|v| !read.contains(*v)).collect();
        assert!(unread.is_empty(), "in docs/configuration.md but read by nothing: {unread:?}");
    }

    #[test]
    fn portal_frame_ancestors_are_bare_origins() {
        let ok =
            env(&[("HOOKLINE_PORTAL_FRAME_ANCESTORS", "https://app.example.com, http://localhost:3000/")])
                .unwrap();
        assert_eq!(ok.settings.portal_frame_ancestors, ["https://app.example.com", "http://localhost:3000"]);
        for bad in ["https://app.example.com/path", "*", "javascript:alert(1)", "https://a.com; script-src *"]
        {
            let e = env(&[("HOOKLINE_PORTAL_FRAME_ANCESTORS", bad)]).unwrap_err();
            assert_eq!(e.name, "HOOKLINE_PORTAL_FRAME_ANCESTORS", "{bad}");
        }
    }

    #[test]
    fn an_egress_proxy_is_an_http_url_of_a_host_and_port() {
        let ok = env(&[("HOOKLINE_EGRESS_PROXY", "http://smokescreen.internal:4750")]).unwrap();
        assert_eq!(
            ok.settings.egress_proxy.map(|u| u.to_string()).as_deref(),
            Some("http://smokescreen.internal:4750/")
        );
        for bad in
            ["socks5://p:1080", "smokescreen:4750", "http://p:3128/path", "http://p:3128/?x=1", "ftp://p"]
        {
            assert_eq!(
                env(&[("HOOKLINE_EGRESS_PROXY", bad)]).unwrap_err().name,
                "HOOKLINE_EGRESS_PROXY",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_brand_is_checked_at_start_and_named_by_its_variable() {
        let ok =
            env(&[("HOOKLINE_PORTAL_NAME", "Acme Video"), ("HOOKLINE_PORTAL_ACCENT", "#0a5c36")]).unwrap();
        assert_eq!(ok.settings.brand.name, "Acme Video");
        assert_eq!(ok.settings.brand.accent.map(|a| a.hex()).as_deref(), Some("#0a5c36"));
        for (name, bad) in [
            ("HOOKLINE_PORTAL_ACCENT", "#ffcc00"),
            ("HOOKLINE_PORTAL_LOGO", "bm90IGFuIGltYWdl"),
            ("HOOKLINE_PORTAL_NAME", "two\nlines"),
        ] {
            assert_eq!(env(&[(name, bad)]).unwrap_err().name, name, "{bad}");
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = env(&[]).unwrap();
        assert_eq!(c.settings.retry.schedule.to_string(), "5s,5m,30m,2h,5h,10h,10h");
        assert_eq!(c.settings.max_payload_bytes, 256 * 1024);
        assert!(!c.settings.guard.allow_loopback);
        assert_eq!(c.concurrency, 256);
        assert!(c.settings.charts);
        assert_eq!(c.settings.max_subscriptions_per_tenant, 1000);
        assert!(c.api_keys.is_empty());
        assert_eq!(c.http.header_timeout, Duration::from_secs(10));
        assert_eq!(c.http.body_timeout, Duration::from_secs(30));
        assert_eq!(c.http.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.http.max_connections, None);
        assert_eq!(required(|_| Some("  ".into()), "HOOKLINE_TABLE").unwrap_err().name, "HOOKLINE_TABLE");
    }

    #[test]
    fn variables_override_the_defaults() {
        let c = env(&[
            ("HOOKLINE_RETRY_SCHEDULE", "1s,2s,5s"),
            ("HOOKLINE_ALLOW_PRIVATE_TARGETS", "1"),
            ("HOOKLINE_API_KEY", "a, b"),
            ("HOOKLINE_ALLOWED_PORTS", "443,8443"),
            ("HOOKLINE_DISABLE_AFTER", "2d"),
            ("HOOKLINE_CHARTS", "0"),
            ("HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT", "20"),
        ])
        .unwrap();
        assert!(!c.settings.charts);
        assert_eq!(c.settings.max_subscriptions_per_tenant, 20);
        assert_eq!(c.settings.retry.schedule.max_attempts(), 4);
        assert!(c.settings.guard.allow_loopback);
        assert!(c.api_keys.caller("a").is_some() && c.api_keys.caller("b").is_some());
        assert!(c.api_keys.caller("a, b").is_none());
        assert_eq!(c.settings.guard.allowed_ports, Some(vec![443, 8443]));
        assert_eq!(c.settings.disable.after, chrono::Duration::days(2));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (k, v) in [
            ("HOOKLINE_RETRY_SCHEDULE", "soon"),
            ("HOOKLINE_ALLOW_PRIVATE_TARGETS", "yes please"),
            ("HOOKLINE_MAX_PAYLOAD_BYTES", "10"),
            ("HOOKLINE_MAX_PAYLOAD_BYTES", "99999999"),
            ("HOOKLINE_CONCURRENCY", "0"),
            ("HOOKLINE_ALLOWED_PORTS", "80,x"),
            ("HOOKLINE_DISABLE_AFTER", "forever"),
            ("HOOKLINE_CHARTS", "maybe"),
            ("HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT", "0"),
            ("HOOKLINE_MAX_SUBSCRIPTIONS_PER_TENANT", "1023"),
            ("HOOKLINE_HTTP_HEADER_TIMEOUT", "0s"),
            ("HOOKLINE_HTTP_IDLE_TIMEOUT", "a while"),
            ("HOOKLINE_HTTP_MAX_CONNECTIONS", "0"),
            ("HOOKLINE_LOG_FORMAT", "xml"),
            ("HOOKLINE_API_KEY_SHA256", "not-a-digest"),
            ("HOOKLINE_TENANT_API_KEYS", "no-tenant-here"),
            ("HOOKLINE_TENANT_API_KEY_SHA256", "acme:not-a-digest"),
        ] {
            assert_eq!(env(&[(k, v)]).unwrap_err().name, k, "{v}");
        }
        let ops = ("HOOKLINE_OPS_WEBHOOK_URL", "https://ops.example.com/hooks");
        assert_eq!(env(&[ops]).unwrap_err().name, "HOOKLINE_OPS_WEBHOOK_SECRET", "the URL needs its secret");
        let weak = ("HOOKLINE_OPS_WEBHOOK_SECRET", "not-a-whsec-secret");
        assert_eq!(env(&[ops, weak]).unwrap_err().name, "HOOKLINE_OPS_WEBHOOK_SECRET");
        let good = ("HOOKLINE_OPS_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(env(&[ops, good]).unwrap().settings.ops_secret.is_some());
    }
}
