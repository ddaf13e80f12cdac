//! `retryctl demo`: the service, a simulated workload and the console in one process.
//!
//! The only place besides `serve` that starts the service; it does so through
//! [`Service::start`], and talks to it like any other client: the workload through the load
//! driver, the console through its own poller.

use super::ServeArgs;
use super::listen_address;
use super::service::Service;
use super::simulate::{WorkerArgs, duration};
use crate::client::Client;
use crate::config::StoreChoice;
use crate::config::{Config, Role};
use crate::sim::driver::{self, DriverConfig, tally::Report};
use crate::sim::scenario::Scenario;
use crate::tui::TuiArgs;
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// The built-in workload (a copy of scenarios/demo.toml, so `demo` runs from any directory).
const DEMO_SCENARIO: &str = include_str!("../../scenarios/demo.toml");

/// The service configuration of the demo unless `--config` names another.
const DEMO_SERVICE_CONFIG: &str = include_str!("../../assets/demo-service.toml");

/// How long a headless demo runs unless `--duration` says otherwise.
const HEADLESS_DEFAULT: Duration = Duration::from_secs(60);

/// Options of `retryctl demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Address of the embedded service [default: a free port on 127.0.0.1]
    #[arg(long, value_name = "ADDR", value_parser = listen_address)]
    pub listen: Option<SocketAddr>,

    /// Keep the service's data in DIR [default: a temporary directory, removed at exit]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Service config file (as for `retryctl serve`) [default: the built-in
    /// assets/demo-service.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Scenario file for the workload [default: the built-in scenarios/demo.toml]
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// How long jobs keep arriving, e.g. 30s, 5m [default: 60s with --headless; else the
    /// scenario's length (the console stays until you quit)]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub duration: Option<Duration>,

    /// No console: run the workload, then print the final report (with what the service's
    /// /metrics counted over the run) on stdout
    #[arg(long)]
    pub headless: bool,

    /// Console theme: dark, light, high-contrast, ansi16, or a theme file
    #[arg(long, conflicts_with = "headless")]
    pub theme: Option<String>,

    /// ASCII spinners and borders in the console
    #[arg(long, conflicts_with = "headless")]
    pub ascii: bool,

    #[command(flatten)]
    pub workers: WorkerArgs,
}

/// Where the demo keeps its data: a directory it was given, or a temporary one.
enum DataDir {
    Given(PathBuf),
    Temporary(tempfile::TempDir),
}

impl DataDir {
    fn new(given: Option<&Path>) -> anyhow::Result<Self> {
        Ok(match given {
            Some(dir) => Self::Given(dir.to_path_buf()),
            None => Self::Temporary(
                tempfile::Builder::new()
                    .prefix("retryctl-demo-")
                    .tempdir()
                    .context("cannot create a temporary data directory")?,
            ),
        })
    }

    fn path(&self) -> &Path {
        match self {
            Self::Given(dir) => dir,
            Self::Temporary(dir) => dir.path(),
        }
    }
}

/// `retryctl demo`: starts everything, and stops everything (workload, then the service,
/// which saves what it learned) when the console quits or the headless run ends.
pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let scenario = load_scenario(args.scenario.as_deref())?;
    let data = DataDir::new(args.data.as_deref())?;
    let default_config = ("assets/demo-service.toml (built in)", DEMO_SERVICE_CONFIG);
    let service =
        Service::start_with(&serve_args(&args, data.path()), Some(default_config)).await?;
    let url = service.url();
    let token = operator_token(&service.state.config);
    eprintln!(
        "retryctl demo: service at {url} (data: {})",
        data.path().display()
    );
    let (shutdown, on_shutdown) = oneshot::channel::<()>();
    let server = tokio::spawn(service.run(async {
        let _ = on_shutdown.await;
    }));
    let outcome = drive(&args, scenario, &url, token).await;
    let _ = shutdown.send(());
    let stopped = server.await.context("the service task failed")?;
    let report = outcome?;
    stopped.context("the service stopped with an error")?;
    args.workers.finish(&report)
}

/// Runs the workload (and the console unless headless) against the service at `url`.
async fn drive(
    args: &DemoArgs,
    scenario: Scenario,
    url: &str,
    token: Option<String>,
) -> anyhow::Result<Report> {
    let client = Client::new(url, token.clone(), Duration::from_secs(10))?;
    let (stop_tx, stop) = watch::channel(false);
    if args.headless {
        let duration = args.duration.unwrap_or(HEADLESS_DEFAULT);
        let config = args.workers.driver(scenario, Some(duration), true);
        // Ctrl-C or SIGTERM ends the run early: the report still comes, the service stops cleanly.
        tokio::spawn(async move {
            crate::server::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        return Ok(driver::run(client, config, stop).await?);
    }
    let config = DriverConfig {
        keep_retrying: true,
        ..args.workers.driver(scenario, args.duration, false)
    };
    let workload = tokio::spawn(driver::run(client, config, stop));
    let console = tokio::select! {
        done = crate::tui::run(console_args(args, url, token)) => done,
        // The terminal went away (SSH dropped): stop everything as on quit.
        () = hangup() => Ok(()),
    };
    let _ = stop_tx.send(true);
    let report = workload.await.context("the workload task failed")?;
    console?;
    Ok(report?)
}

async fn hangup() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => {
            hup.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

fn load_scenario(path: Option<&Path>) -> anyhow::Result<Scenario> {
    Ok(match path {
        Some(path) => Scenario::load(path)?,
        None => Scenario::parse(DEMO_SCENARIO, "scenarios/demo.toml (built in)")?,
    })
}

/// The embedded service: SQLite in the demo's data directory, on loopback unless told.
fn serve_args(args: &DemoArgs, data: &Path) -> ServeArgs {
    ServeArgs {
        listen: Some(
            args.listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        ),
        data: Some(data.to_path_buf()),
        config: args.config.clone(),
        store: Some(StoreChoice::Sqlite),
        redis_prefix: None,
        require_durable: false,
        insecure: false,
    }
}

/// When tokens are configured (RETRYCTL_*_TOKEN), the workload and console use an operator's.
fn operator_token(config: &Config) -> Option<String> {
    config
        .tokens
        .iter()
        .find(|t| t.role == Role::Operator)
        .map(|t| t.token.clone())
}

fn console_args(args: &DemoArgs, url: &str, token: Option<String>) -> TuiArgs {
    TuiArgs {
        api: Some(url.to_string()),
        token,
        theme: args.theme.clone(),
        ascii: args.ascii,
        ..TuiArgs::default()
    }
}
