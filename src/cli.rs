//! The command line (clap derive). Every flag can also be set through its `RETRYCTL_*`
//! environment variable. Add a subcommand as a variant of [`Command`] with its own `Args`
//! struct, and dispatch it in `main.rs`.

pub mod demo;
pub mod eval;
pub mod man;
pub mod remote;
pub mod runbook;
pub mod service;
pub mod simulate;

use crate::config::{Overrides, StoreChoice};
use clap::{Args, Parser, Subcommand};
use demo::DemoArgs;
use eval::EvalArgs;
use man::ManArgs;
use remote::{CompletionsArgs, ExportArgs, ImportArgs, OverrideArgs, PreviewArgs, StatusArgs};
use runbook::EXIT_HELP;
use runbook::bulk::BulkArgs;
use runbook::controls::{AckArgs, ChangesArgs, CircuitArgs, CircuitsArgs, EstopArgs};
use runbook::jobs::{ActArgs, JobArgs, JobsArgs};
use runbook::pauses::{PauseArgs, PausesArgs, ResumeArgs};
use simulate::SimulateArgs;
use std::net::SocketAddr;
use std::path::PathBuf;

/// retryctl: smart, visible retries for job queues.
///
/// A retry service that learns when each kind of failure recovers, recommends the next delay
/// with a reason, enforces guardrails and keeps the schedule of pending retries.
#[derive(Debug, Parser)]
#[command(
    name = "retryctl",
    version,
    max_term_width = 100,
    after_help = "Quick start:\n  retryctl demo                  (service + workload + console, one command)\n  retryctl serve\n  curl -s localhost:7878/api/v1/retry/recommendation \\\n    -d '{\"job_type\":\"email\",\"error_class\":\"timeout\",\"attempt_number\":1}'\n\nMore: README.md (API, configuration) and `retryctl <COMMAND> --help`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try it all in one command: the service, a simulated workload and the console
    ///
    /// Starts the service in-process (temporary data, a free loopback port), drives it with a
    /// realistic mix of failures in real time (payment 503s that clear in seconds, a burst of
    /// 429s with Retry-After, an outage that opens a circuit, validation errors, a noisy
    /// tenant) and opens the console on it. Within a minute the service has learned. Quit the
    /// console (q) to stop everything; the workload's report is printed on exit.
    ///
    /// Without the console: retryctl demo --headless --duration 60s
    Demo(DemoArgs),
    /// Run the retry service: the HTTP API workers call when a job fails
    ///
    /// Workers POST failed attempts and get back when (and whether) to retry. The API lives
    /// under /api/v1/retry (compatible with the upstream smart-retry API); Prometheus metrics
    /// are at /metrics. Stop with Ctrl-C or SIGTERM: in-flight requests finish and what the
    /// service learned is saved.
    ///
    /// Example: retryctl serve --listen 127.0.0.1:7878 --data ./retry-data
    #[command(after_long_help = SERVE_ENV_HELP)]
    Serve(ServeArgs),
    /// Open the operator console: live retries, recommendations, alerts, overrides
    ///
    /// A full-screen terminal console polling a running service. Press ? inside for the keys.
    /// Keeps running (and says RECONNECTING) while the service is unreachable.
    ///
    /// Example: retryctl tui --api http://127.0.0.1:7878 --token $RETRYCTL_TOKEN
    Tui(crate::tui::TuiArgs),
    /// Print a summary of a running service: status counts, jobs, counters, active alerts
    Status(StatusArgs),
    /// Show the planned retry schedule of a job, with estimated success per attempt
    Preview(PreviewArgs),
    /// Override when a job is retried next (recorded in the audit log with the reason)
    ///
    /// Example: retryctl override pay-1201 --delay 2m --reason "db failover in progress"
    Override(OverrideArgs),
    /// List jobs on the retry schedule, filtered by queue, state, error class, type, tenant
    ///
    /// Example: retryctl jobs --queue webhooks --error-class connection_refused --limit 200
    #[command(after_help = EXIT_HELP)]
    Jobs(JobsArgs),
    /// Show one job: its state, attempts, planned retries and the operator actions on it
    ///
    /// Example: retryctl job pay-1201
    #[command(after_help = EXIT_HELP)]
    Job(JobArgs),
    /// Stop retrying jobs (operator; recorded in the audit log with the reason)
    ///
    /// Example: retryctl kill pay-1201 pay-1202 --reason "poison payload, see INC-42"
    #[command(after_help = EXIT_HELP)]
    Kill(ActArgs),
    /// Make jobs due now (operator; recorded in the audit log with the reason)
    ///
    /// Example: retryctl retry-now pay-1201 --reason "db is back"
    #[command(name = "retry-now", after_help = EXIT_HELP)]
    RetryNow(ActArgs),
    /// Act on every job a filter matches: retry-now, kill, override or apply-static
    ///
    /// Runs on the service in one pass, with one audit entry. A dry run comes first; its count
    /// must be confirmed: by typing it on a terminal, or with --yes (without a terminal the
    /// action is refused). With --dry-run only the count is printed.
    ///
    /// Example: retryctl bulk kill --queue webhooks --reason "vendor gone" --dry-run
    #[command(after_help = EXIT_HELP)]
    Bulk(BulkArgs),
    /// Pause a queue (or one error class or job type on it): hold its retries, give none up
    ///
    /// While paused, workers are not handed the scope's due jobs and new failures in it are
    /// scheduled no earlier than the pause's end. Without --for or --until it lasts until
    /// `retryctl resume`.
    ///
    /// Example: retryctl pause --queue webhooks --for 10m --reason "vendor outage INC-42"
    #[command(after_help = EXIT_HELP)]
    Pause(PauseArgs),
    /// List the pauses in force
    ///
    /// Example: retryctl pauses
    #[command(after_help = EXIT_HELP)]
    Pauses(PausesArgs),
    /// Resume a paused scope: by pause id, or every pause in force on --queue
    ///
    /// Example: retryctl resume --queue webhooks --reason "vendor recovered"
    #[command(after_help = EXIT_HELP)]
    Resume(ResumeArgs),
    /// Engage (on) or release (off) the emergency stop: no retries while it is on
    ///
    /// Example: retryctl estop on --reason "retries are hurting the db, INC-42"
    #[command(after_help = EXIT_HELP)]
    Estop(EstopArgs),
    /// Force a circuit (queue, error class) open or closed, or release it to the breaker
    ///
    /// Example: retryctl circuit webhooks connection_refused open --reason "vendor down, INC-42"
    #[command(after_help = EXIT_HELP)]
    Circuit(CircuitArgs),
    /// The ML tier: train a model version, list versions, deploy, roll back
    ///
    /// Example: retryctl ml train && retryctl ml models && retryctl ml deploy ml-1 --canary 10
    #[command(after_help = EXIT_HELP, disable_help_subcommand = true)]
    Ml(runbook::ml::MlArgs),
    /// List open, half-open and forced circuits
    ///
    /// Example: retryctl circuits --json
    #[command(after_help = EXIT_HELP)]
    Circuits(CircuitsArgs),
    /// Acknowledge an alert (recorded in the audit log with the reason)
    ///
    /// Example: retryctl ack circuit_open:webhooks/connection_refused --reason "known, INC-42"
    #[command(after_help = EXIT_HELP)]
    Ack(AckArgs),
    /// What operators changed, newest first, with who and why
    ///
    /// Example: retryctl changes --since 1h --kind pause,bulk,emergency_stop
    #[command(after_help = EXIT_HELP)]
    Changes(ChangesArgs),
    /// Export the configuration (strategy, policies, guardrails) as TOML, JSON or YAML
    Export(ExportArgs),
    /// Replace the service's strategy with a file written by `retryctl export`
    Import(ImportArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Write the manual pages (retryctl.1 and one per subcommand) into a directory
    ///
    /// Example: retryctl man --dir /usr/local/share/man/man1 && man retryctl-serve
    Man(ManArgs),
    /// Compare retry strategies on failure scenarios, offline, in virtual time
    ///
    /// Runs each scenario file (TOML; format in README "Scenario files") through the seed's
    /// traditional backoff (2s doubling to 32s, 5 attempts), AWS full jitter (1s base, 60s cap,
    /// 8 attempts), the engine's rules tier, the full engine (Bayesian) and an oracle that knows
    /// when each outage ends. Prints, per strategy, the success rate, retries per job, first-retry
    /// success, time to success and a cost per job, with the ratio to the best static strategy.
    /// The same --seed gives the same figures. With --api, rules and Bayesian run in a live
    /// `retryctl serve` instead, over HTTP in virtual time (use a service of its own: eval
    /// switches its strategy while it runs and puts it back at the end).
    ///
    /// Example: retryctl eval scenarios/payment-503.toml --seed 7 --json
    ///
    /// Example: retryctl eval --api http://127.0.0.1:7878 scenarios/payment-503.toml
    Eval(EvalArgs),
    /// Drive a running service with a scenario in real time, like a fleet of workers
    ///
    /// Each failing job of the scenario is reported (POST /failures), retried when the service
    /// says (claimed through POST /claim, or after sleeping the recommended delay), and its
    /// outcome recorded; the scenario's hidden truth decides which retry succeeds. Prints a
    /// live summary on stderr and a final report on stdout, with what the service's /metrics
    /// counted over the run beside what the driver had acknowledged; its last line is the
    /// verdict. With --check, a run whose counts disagree or whose requests failed exits with
    /// status 3 (for CI).
    ///
    /// Example: retryctl simulate --scenario scenarios/payment-503.toml --rate 5 --duration 2m
    Simulate(SimulateArgs),
}

const SERVE_ENV_HELP: &str = "\
More environment variables (settings without a flag):
  RETRYCTL_OPERATOR_TOKEN, RETRYCTL_VIEWER_TOKEN, RETRYCTL_WORKER_TOKEN
                               add an access token for that role
  RETRYCTL_BAYESIAN_THRESHOLD  success probability a delay must reach (0-1)
  RETRYCTL_RETENTION_DAYS      drop attempts older than this
  RETRYCTL_SNAPSHOT_INTERVAL   how often learning is saved, e.g. 30s
  RETRYCTL_SNAPSHOT_AFTER_ATTEMPTS
                               save it also after this many attempts (200000)
  RETRYCTL_REDIS_PASSWORD      Redis password when the --store URL has none
  RETRYCTL_LOG                 log filter, e.g. info or retryctl=debug

Precedence: built-in defaults < config file < environment < flags.";

/// Options of `retryctl serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:7878]. A non-loopback address needs
    /// access tokens in the config file (or --insecure)
    #[arg(long, value_name = "ADDR", env = "RETRYCTL_LISTEN", value_parser = listen_address)]
    pub listen: Option<SocketAddr>,

    /// Directory for the database (attempts, schedule, audit log, learned models) [default:
    /// the XDG data directory, e.g. ~/.local/share/retryctl]
    #[arg(long, value_name = "DIR", env = "RETRYCTL_DATA")]
    pub data: Option<PathBuf>,

    /// TOML config file: tokens, policies, guardrails, thresholds, limits (see
    /// assets/retryctl.example.toml). Flags and RETRYCTL_* variables override it
    #[arg(long, value_name = "FILE", env = "RETRYCTL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Where to keep data: `sqlite` (durable, in --data), `memory` (lost on exit; for demos and
    /// experiments), or `redis://HOST:PORT/DB` (`rediss://` for TLS; shared by many replicas;
    /// a password in the URL or RETRYCTL_REDIS_PASSWORD) [default: sqlite]
    #[arg(long, value_name = "STORE", env = "RETRYCTL_STORE", value_parser = store_choice)]
    pub store: Option<StoreChoice>,

    /// Redis key prefix: every key is `{PREFIX}:...` (one hash tag, so one Redis Cluster slot)
    /// [default: retryctl]
    #[arg(long, value_name = "PREFIX", env = "RETRYCTL_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,

    /// Refuse to start on a Redis that is not set up to make acknowledged writes durable
    /// (appendonly yes, appendfsync always, maxmemory-policy noeviction); without it, a warning
    #[arg(long, env = "RETRYCTL_REQUIRE_DURABLE")]
    pub require_durable: bool,

    /// Allow listening on a non-loopback address without access tokens. Anyone who can reach
    /// the port could then change the retry strategy
    #[arg(long, env = "RETRYCTL_INSECURE")]
    pub insecure: bool,
}

pub(crate) fn listen_address(text: &str) -> Result<SocketAddr, String> {
    crate::config::parse_listen(text).map_err(|e| match e {
        crate::config::ConfigError::Invalid { message, .. } => message,
        other => other.to_string(),
    })
}

fn store_choice(text: &str) -> Result<StoreChoice, String> {
    crate::config::parse_store(text)
}

impl ServeArgs {
    /// The flag layer of the configuration.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            data_dir: self.data.clone(),
            insecure: self.insecure,
            store: self.store.clone(),
            redis_prefix: self.redis_prefix.clone(),
            require_durable: self.require_durable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[allow(irrefutable_let_patterns)]
    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Serve(serve) = cli.command else {
            panic!("not serve: {args:?}");
        };
        serve
    }

    #[test]
    fn serve_flags_become_overrides() {
        let o = serve_args(&[
            "retryctl",
            "serve",
            "--listen",
            "0.0.0.0:80",
            "--data",
            "/d",
            "--insecure",
        ])
        .overrides();
        assert_eq!(o.listen.unwrap().port(), 80);
        assert_eq!(o.data_dir.unwrap(), PathBuf::from("/d"));
        assert!(o.insecure);
        let named = serve_args(&["retryctl", "serve", "--listen", "localhost:7000"]);
        assert!(named.listen.unwrap().ip().is_loopback());
        let err = Cli::try_parse_from(["retryctl", "serve", "--listen", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("--listen"), "{err}");
    }
}
