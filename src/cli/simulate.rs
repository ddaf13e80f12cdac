//! `retryctl simulate`: drive a running service with a scenario in real time.

use super::remote::ConnArgs;
use crate::sim::driver::{self, DriverConfig, Mode, tally::Report};
use crate::sim::scenario::Scenario;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// How the workers behave: shared by `simulate` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Mean arrival rate of failing jobs, in jobs per second: every workload of the scenario is
    /// scaled by the same factor [default: the scenario's own rates]
    #[arg(long, value_name = "JOBS_PER_S", value_parser = positive)]
    pub rate: Option<f64>,

    /// Seed of the scenario's randomness (which jobs fail, when they recover)
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// How workers learn that a retry is due
    #[arg(long, value_enum, default_value_t = Mode::Claim)]
    pub mode: Mode,

    /// Requests in flight at most (the size of the worker fleet)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,

    /// Lease of a claimed retry: a job not reported within it is due again (at-least-once)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub lease: Duration,

    /// Print the final report as JSON on stdout
    #[arg(long)]
    pub json: bool,

    /// Fail the run (exit status 3, after the report) when a counter of the driver differs
    /// from what the service's /metrics counted over the run, /metrics cannot be read at the
    /// end, or a request failed; stderr names each. For CI and smoke tests
    #[arg(long)]
    pub check: bool,
}

/// Exit status of `simulate --check` and `demo --check` when the run does not check out
/// (1 is any other error, 2 a usage error).
pub const CHECK_FAILED_EXIT: u8 = 3;

/// `--check` found the run wanting: each counter that disagreed, each kind of failed request.
#[derive(Debug, thiserror::Error)]
#[error(
    "--check: the run does not check out (exit status {CHECK_FAILED_EXIT}):\n  {}",
    .problems.join("\n  ")
)]
pub struct CheckFailed {
    pub problems: Vec<String>,
}

impl WorkerArgs {
    /// The driver settings for `scenario`, running `duration` (default: the scenario's length).
    pub fn driver(
        &self,
        scenario: Scenario,
        duration: Option<Duration>,
        live: bool,
    ) -> DriverConfig {
        let duration = duration.unwrap_or(Duration::from_millis(scenario.end_ms()));
        DriverConfig {
            scenario,
            rate: self.rate,
            duration,
            seed: self.seed,
            mode: self.mode,
            workers: usize::from(self.workers),
            lease: self.lease,
            poll: Duration::from_millis(200),
            live,
            keep_retrying: false,
        }
    }

    /// Prints the report, then with `--check` fails with [`CheckFailed`] if it has problems.
    pub fn finish(&self, report: &Report) -> anyhow::Result<()> {
        self.print(report)?;
        let problems = report.problems();
        if self.check && !problems.is_empty() {
            return Err(CheckFailed { problems }.into());
        }
        Ok(())
    }

    /// Prints the report as text or JSON on stdout.
    fn print(&self, report: &Report) -> anyhow::Result<()> {
        let text = if self.json {
            serde_json::to_string_pretty(report)? + "\n"
        } else {
            report.text()
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the report")
    }
}

/// Options of `retryctl simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub conn: ConnArgs,

    /// Scenario file (TOML, format in README "Scenario files"), e.g. scenarios/payment-503.toml
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,

    /// How long jobs keep arriving, e.g. 60s, 5m [default: the scenario's warm-up + duration]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub duration: Option<Duration>,

    /// No live summary on stderr
    #[arg(long, short)]
    pub quiet: bool,

    #[command(flatten)]
    pub workers: WorkerArgs,
}

/// `retryctl simulate`: runs until the duration is over or Ctrl-C, then prints the report.
pub async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let client = args.conn.client()?;
    let config = args.workers.driver(scenario, args.duration, !args.quiet);
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        // Ctrl-C ends the run early; the report still comes.
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let report = driver::run(client, config, stop).await?;
    args.workers.finish(&report)
}

/// A duration flag: `30s`, `2m30s`, `1500ms`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let d = crate::model::parse_duration(text)?;
    if d.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(d)
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a number > 0, got `{text}`")),
    }
}
