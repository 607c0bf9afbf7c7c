//! `hookline serve` and `hookline demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use hookline::config::{Config, LogFormat};

/// mimalloc instead of glibc's allocator: under load glibc's malloc, free
/// and their arena housekeeping were ~17 % of the server's CPU (BENCHMARKS,
/// "The embedded mode"); mimalloc's thread-local free lists cost a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
hookline — webhook delivery service (embedded mode: one process, SQLite)

USAGE:
    hookline serve [--listen ADDR] [--db PATH] [--metrics ADDR]
    hookline demo [--keep]
    hookline --help | --version
    hookline <command> --help

serve    the HTTP API, delivery workers and retry scheduler
demo     a guided tour of signed deliveries, a retry and the portal

Configuration comes from HOOKLINE_* environment variables
(docs/configuration.md).";

const SERVE_USAGE: &str = "\
hookline serve — the HTTP API, delivery workers and retry scheduler

USAGE:
    hookline serve [--listen ADDR] [--db PATH] [--metrics ADDR]

    --listen ADDR   where the API listens (default 127.0.0.1:8080)
    --db PATH       the SQLite database (default ./hookline.db)
    --metrics ADDR  serve /metrics (Prometheus) on this address, apart
                    from the API (e.g. 127.0.0.1:9464); default: none

Configuration comes from HOOKLINE_* environment variables
(docs/configuration.md): HOOKLINE_API_KEY, HOOKLINE_ALLOW_PRIVATE_TARGETS=1,
HOOKLINE_RETRY_SCHEDULE, HOOKLINE_LOG_FORMAT=json, ...";

const DEMO_USAGE: &str = "\
hookline demo — a guided tour

USAGE:
    hookline demo [--keep]

Starts hookline and local receivers on 127.0.0.1, publishes events, shows
signed deliveries, a retry, the delivery log and a link to the portal.

    --keep   serve on until Ctrl-C, so the portal link can be opened";

struct ServeArgs {
    listen: SocketAddr,
    db: PathBuf,
    metrics: Option<SocketAddr>,
}

fn parse_serve(args: &[String]) -> Result<ServeArgs, String> {
    let mut out = ServeArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        db: PathBuf::from("hookline.db"),
        metrics: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value =
            || inline.clone().or_else(|| it.next().cloned()).ok_or(format!("{flag} needs a value"));
        match flag {
            "--listen" => {
                let v = value()?;
                out.listen =
                    v.parse().map_err(|_| format!("--listen {v:?} is not an address like 127.0.0.1:8080"))?;
            }
            "--db" => out.db = PathBuf::from(value()?),
            "--metrics" => {
                let v = value()?;
                out.metrics = Some(
                    v.parse()
                        .map_err(|_| format!("--metrics {v:?} is not an address like 127.0.0.1:9464"))?,
                );
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(out)
}

fn init_logging(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => {
            logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init()
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn serve(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    let (keys, generated) = hookline_server::api_keys(&config);
    let metrics = match args.metrics {
        Some(at) => Some((at, hookline_server::metrics::install()?)),
        None => None,
    };
    let listen = hookline_server::Listen { api: args.listen, metrics };
    let running = hookline_server::start(config, keys, listen, &args.db).await?;
    eprintln!("hookline listening on http://{} (database {})", running.addr, args.db.display());
    if let Some(at) = running.metrics_addr {
        eprintln!("metrics on http://{at}/metrics");
    }
    if let Some(key) = generated {
        eprintln!("no HOOKLINE_API_KEY set; this run's API key is: {key}");
    }
    shutdown_signal().await;
    eprintln!("shutting down: finishing attempts in flight");
    running.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        match command {
            "serve" => println!("{SERVE_USAGE}"),
            "demo" => println!("{DEMO_USAGE}"),
            _ => println!("{USAGE}"),
        }
        return ExitCode::SUCCESS;
    }
    // Read and checked once, before anything starts: a bad variable is an
    // error naming it, and nothing runs.
    let config = || {
        Config::from_process_env().map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })
    };
    let result = match command {
        "serve" => {
            let args = match parse_serve(rest) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: {e}\n\n{SERVE_USAGE}");
                    return ExitCode::from(2);
                }
            };
            let config = match config() {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logging("info,hookline=info", config.log_format);
            runtime.block_on(serve(args, config))
        }
        "demo" if rest.is_empty() || rest == ["--keep"] => {
            let format = match config() {
                Ok(c) => c.log_format,
                Err(code) => return code,
            };
            init_logging("warn", format);
            runtime.block_on(hookline_server::demo::run(!rest.is_empty(), shutdown_signal()))
        }
        "demo" => {
            let bad = rest.iter().find(|a| *a != "--keep").map_or("", String::as_str);
            eprintln!("error: unknown option {bad:?}\n\n{DEMO_USAGE}");
            return ExitCode::from(2);
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        "-V" | "--version" => {
            println!("hookline {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("error: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
