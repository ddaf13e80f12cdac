//! CLI subcommands for scripts and runbooks that talk to a running service through
//! [`crate::client`]: `status`, `preview`, `override`, `export`, `import`, and `completions`.
//! They print plain text (or JSON with `--json`) and exit non-zero with a message on failure.

use crate::client::{Client, DEFAULT_API};
use crate::model::diff::FieldChange;
use crate::model::{ScheduledJob, Summary, TimelineEntry};
use crate::present::export::{self, ExportFormat};
use crate::present::fmt;
use crate::present::overrides::parse_override;
use crate::present::sanitize::sanitize_multiline;
use chrono::Utc;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the service.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Service URL
    #[arg(long, env = "RETRYCTL_API", default_value = DEFAULT_API, value_name = "URL")]
    pub api: String,
    /// Bearer token (operator for changes, viewer for reading)
    #[arg(long, env = "RETRYCTL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the bearer token (kept out of argv and the environment); wins over
    /// --token
    #[arg(long, env = "RETRYCTL_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl ConnArgs {
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(
            &self.api,
            self.bearer_token()?,
            Duration::from_secs(10),
        )?)
    }

    /// The token to send: from `--token-file` if given, else `--token`.
    pub(crate) fn bearer_token(&self) -> anyhow::Result<Option<String>> {
        match &self.token_file {
            Some(path) => Ok(Some(read_token_file(path)?)),
            None => Ok(self.token.clone()),
        }
    }
}

/// The token in `path`, without the surrounding whitespace editors and `echo` add.
fn read_token_file(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", path.display()))?;
    let token = text.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the token file {} is empty",
        path.display()
    );
    Ok(token.to_string())
}

/// Options of `retryctl status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print the whole `/summary` answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl preview`.
#[derive(Debug, Clone, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Job id on the retry schedule
    pub job: String,
    /// Print the preview as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl override`.
#[derive(Debug, Clone, Args)]
pub struct OverrideArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Job id on the retry schedule
    pub job: String,
    /// When to retry: a delay (30s, 2m, 1h30m), a UTC time of day (14:30) or an RFC 3339 time
    #[arg(long)]
    pub delay: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
}

/// File formats of `retryctl export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Toml,
    Json,
    Yaml,
}

impl From<FormatArg> for ExportFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Toml => ExportFormat::Toml,
            FormatArg::Json => ExportFormat::Json,
            FormatArg::Yaml => ExportFormat::Yaml,
        }
    }
}

/// Options of `retryctl export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// File format
    #[arg(long, value_enum, default_value_t = FormatArg::Toml)]
    pub format: FormatArg,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Options of `retryctl import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// A file written by `retryctl export` (.toml, .json or .yaml)
    pub file: PathBuf,
    /// Ask the service to validate the file as it would for a real import and show what
    /// would change, applying nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `retryctl completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for
    pub shell: clap_complete::Shell,
}

/// `retryctl status`: one summary of the service.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let summary = args.conn.client()?.summary().await?;
    let text = if args.json {
        serde_json::to_string_pretty(&summary)? + "\n"
    } else {
        status_text(&summary)
    };
    print(&text)
}

/// `, DEGRADED: store full` while the store refuses writes, else nothing.
fn degraded_text(s: &Summary) -> String {
    match (&s.degradation, s.degraded) {
        (Some(d), _) => format!(", DEGRADED: {}", d.reason),
        (None, true) => ", DEGRADED".into(),
        (None, false) => String::new(),
    }
}

/// The human form of `retryctl status`.
pub fn status_text(s: &Summary) -> String {
    let st = s.status;
    let mut out = format!(
        "{} {} ({} store{}) up {}, role {}\nstatus ({} - {} / {})  remaining {}\n",
        s.service,
        s.version,
        s.store,
        degraded_text(s),
        fmt::secs(s.uptime_seconds as f64),
        s.role,
        st.errors,
        st.processed,
        st.total,
        st.total.saturating_sub(st.processed),
    );
    out.push_str(&format!(
        "strategy {} tier {} threshold {:.2}\n",
        s.strategy_name,
        s.active_tier.as_str(),
        s.bayesian_threshold
    ));
    let states: Vec<String> = s
        .jobs_by_state
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    out.push_str(&format!("jobs {}\n", states.join(", ")));
    let outcomes: Vec<String> = s
        .counters
        .attempts_by_outcome
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    out.push_str(&format!(
        "attempts {}; retries {}; overrides {}\n",
        outcomes.join(", "),
        s.counters.retries,
        s.counters.overrides
    ));
    for a in s.alerts.iter().filter(|a| a.active) {
        out.push_str(&format!(
            "alert {:?} {}: {}\n",
            a.severity, a.name, a.message
        ));
    }
    sanitize_multiline(&out)
}

/// `retryctl preview JOB`: the plan of a job on the retry schedule, from its scheduled next
/// attempt on; a finished job says how it ended instead.
pub async fn preview(args: PreviewArgs) -> anyhow::Result<()> {
    let client = args.conn.client()?;
    let job = client.job(&args.job).await?.job;
    let preview = client.job_plan(&args.job).await?;
    if args.json {
        return print(&(serde_json::to_string_pretty(&preview)? + "\n"));
    }
    if let Some(ended) = ended_text(&job) {
        return print(&sanitize_multiline(&format!("{ended}\n")));
    }
    let mut out = format!(
        "{} after attempt {} ({}, at most {} attempts)\n",
        preview.job_id,
        preview.current_attempt,
        job.state.as_str(),
        job.max_attempts
    );
    for step in &preview.timeline {
        out.push_str(&timeline_line(step));
    }
    if preview.timeline.is_empty() {
        out.push_str("no further attempts: the service would stop here\n");
    }
    print(&sanitize_multiline(&out))
}

/// How a finished job ended, in one line; `None` while it is pending.
fn ended_text(job: &ScheduledJob) -> Option<String> {
    let ended = fmt::job_end(job.state)?;
    Some(format!(
        "{} {ended} at {} after attempt {}: nothing is planned",
        job.job_id,
        job.updated_at.format("%Y-%m-%dT%H:%M:%SZ"),
        job.attempt_number
    ))
}

fn timeline_line(step: &TimelineEntry) -> String {
    format!(
        "#{:<3} {}  wait {:<8} P(success by then) {:>4}  {:<8} {}\n",
        step.attempt_number,
        step.scheduled_time.format("%Y-%m-%dT%H:%M:%SZ"),
        fmt::ms(step.delay_ms),
        fmt::pct(step.estimated_success),
        fmt::step_method(step),
        step.rationale
    )
}

/// `retryctl override JOB --delay 30s --reason TEXT`.
pub async fn override_job(args: OverrideArgs) -> anyhow::Result<()> {
    let req = parse_override(&args.delay, &args.reason, Utc::now())
        .map_err(|e| anyhow::anyhow!("--delay/--reason: {e}"))?;
    args.conn.client()?.override_job(&args.job, &req).await?;
    print(&format!("override {}: {}\n", args.job, describe(&req)))
}

fn describe(req: &crate::model::OverrideRequest) -> String {
    match (req.delay_ms, req.at) {
        (Some(ms), _) => format!("next attempt in {}", fmt::ms(ms)),
        (_, Some(at)) => format!("next attempt at {}", at.format("%Y-%m-%dT%H:%M:%SZ")),
        _ => "sent".to_string(),
    }
}

/// `retryctl export`: the strategy as a file (or standard output).
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let client = args.conn.client()?;
    let strategy = client.strategy().await?;
    let doc = export::build(&strategy, client.base().as_str(), Utc::now());
    let text = export::encode(&doc, args.format.into())?;
    match &args.output {
        Some(path) => {
            // `-o FILE` names the file on purpose: it is replaced, as a shell redirect would.
            let written = export::write(path, &text, true)?;
            eprintln!("exported to {}", written.display());
            Ok(())
        }
        None => print(&text),
    }
}

/// `retryctl import FILE`: replace the service's strategy with an export's.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let doc = export::read_for_import(&args.file)?;
    let s = &doc.strategy;
    let what = format!("strategy {} with {} policies", s.name, s.policies.len());
    let client = args.conn.client()?;
    let check = client.check_strategy(s).await?;
    let head = if args.dry_run {
        format!("would import {what}: valid (dry run, nothing applied)\n")
    } else {
        client.put_strategy(s).await?;
        format!("imported {what}\n")
    };
    print(&sanitize_multiline(&(head + &changes_text(&check.changes))))
}

/// `  path: before -> after`, one line per changed field, or that nothing changes.
fn changes_text(changes: &[FieldChange]) -> String {
    if changes.is_empty() {
        return "no field changes\n".to_string();
    }
    let mut out = format!("{} field(s) change:\n", changes.len());
    for c in changes {
        out.push_str(&format!("  {}\n", export::change_line(c)));
    }
    out
}

/// `retryctl completions SHELL`.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = <super::Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "retryctl", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(())
}

/// Writes `text` (already made safe) to standard output.
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
