//! The command line (clap derive). Every flag can also be set through its `RETRYCTL_*`
//! environment variable. Add a subcommand as a variant of [`Command`] with its own `Args`
//! struct, and dispatch it in `main.rs`.

pub mod remote;

use crate::config::Overrides;
use clap::{Args, Parser, Subcommand, ValueEnum};
use remote::{CompletionsArgs, ExportArgs, ImportArgs, OverrideArgs, PreviewArgs, StatusArgs};
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
    after_help = "Quick start:\n  retryctl serve\n  curl -s localhost:7878/api/v1/retry/recommendation \\\n    -d '{\"job_type\":\"email\",\"error_class\":\"timeout\",\"attempt_number\":1}'\n\nMore: README.md (API, configuration) and `retryctl <COMMAND> --help`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Export the configuration (strategy, policies, guardrails) as TOML, JSON or YAML
    Export(ExportArgs),
    /// Replace the service's strategy with a file written by `retryctl export`
    Import(ImportArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
}

const SERVE_ENV_HELP: &str = "\
More environment variables (settings without a flag):
  RETRYCTL_OPERATOR_TOKEN, RETRYCTL_VIEWER_TOKEN, RETRYCTL_WORKER_TOKEN
                               add an access token for that role
  RETRYCTL_BAYESIAN_THRESHOLD  success probability a delay must reach (0-1)
  RETRYCTL_RETENTION_DAYS      drop attempts older than this
  RETRYCTL_SNAPSHOT_INTERVAL   how often learning is saved, e.g. 30s
  RETRYCTL_LOG                 log filter, e.g. info or retryctl=debug

Precedence: built-in defaults < config file < environment < flags.";

/// Options of `retryctl serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:7878]. A non-loopback address needs
    /// access tokens in the config file (or --insecure)
    #[arg(long, value_name = "ADDR", env = "RETRYCTL_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Directory for the database (attempts, schedule, audit log, learned models) [default:
    /// the XDG data directory, e.g. ~/.local/share/retryctl]
    #[arg(long, value_name = "DIR", env = "RETRYCTL_DATA")]
    pub data: Option<PathBuf>,

    /// TOML config file: tokens, policies, guardrails, thresholds, limits (see
    /// assets/retryctl.example.toml). Flags and RETRYCTL_* variables override it
    #[arg(long, value_name = "FILE", env = "RETRYCTL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Where to keep data: `sqlite` (durable, in --data) or `memory` (lost on exit; for demos
    /// and experiments)
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite, env = "RETRYCTL_STORE")]
    pub store: StoreKind,

    /// Allow listening on a non-loopback address without access tokens. Anyone who can reach
    /// the port could then change the retry strategy
    #[arg(long, env = "RETRYCTL_INSECURE")]
    pub insecure: bool,
}

/// Storage backends selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Sqlite,
    Memory,
}

impl ServeArgs {
    /// The flag layer of the configuration.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            data_dir: self.data.clone(),
            insecure: self.insecure,
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

    #[test]
    fn serve_flags_become_overrides() {
        let cli = Cli::try_parse_from([
            "retryctl",
            "serve",
            "--listen",
            "0.0.0.0:80",
            "--data",
            "/d",
            "--insecure",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("parsed as another command")
        };
        let o = args.overrides();
        assert_eq!(o.listen.unwrap().port(), 80);
        assert_eq!(o.data_dir.unwrap(), PathBuf::from("/d"));
        assert!(o.insecure);
        let err = Cli::try_parse_from(["retryctl", "serve", "--listen", "nowhere"]).unwrap_err();
        assert!(err.to_string().contains("--listen"), "{err}");
    }
}
