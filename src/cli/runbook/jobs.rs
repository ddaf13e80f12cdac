//! `retryctl jobs` (the schedule, filtered), `retryctl job ID` (one job: attempts, plan,
//! audit) and `retryctl kill|retry-now JOB…`.

use super::{ConnArgs, FilterArgs, cell, print, print_json, reason, relative, stamp, table, when};
use crate::client::{ChangesQuery, Client};
use crate::model::{
    ActionRequest, AuditEntry, ForcedCircuit, JobDetail, JobPage, Pause, ScheduledJob,
    holding_pause,
};
use crate::present::fmt;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;

/// Most audit entries of kind `job` read to find one job's (the newest are kept).
const JOB_AUDIT_SCAN: u32 = 1_000;

/// Options of `retryctl jobs`.
#[derive(Debug, Clone, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Most jobs listed, 1 to 1000 [default: 50]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: Option<u32>,
    /// Print the API's answer (GET /jobs) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl job`.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Job id on the retry schedule
    pub id: String,
    /// Print GET /jobs/{id} as JSON, with the job's audit entries added as `audit`
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl kill` and `retryctl retry-now`.
#[derive(Debug, Clone, Args)]
pub struct ActArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Job ids on the retry schedule
    #[arg(required = true, value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    /// Print the API's answers (the changed jobs) as a JSON array
    #[arg(long)]
    pub json: bool,
}

/// `retryctl jobs`: one page of the schedule.
pub async fn jobs(args: JobsArgs) -> anyhow::Result<()> {
    let query = args.filter.query(args.limit);
    let client = args.conn.client()?;
    let page = client.jobs(&query).await.context("jobs")?;
    if args.json {
        return print_json(&page);
    }
    let holds = Holds::fetch(&client).await.context("jobs")?;
    print(&jobs_text(&page, &args.filter, &holds, Utc::now()))
}

/// What holds scheduled jobs back whatever their time: the pauses in force and the circuits an
/// operator forced open (no claim hands their jobs out).
pub struct Holds {
    pub pauses: Vec<Pause>,
    pub forced_open: Vec<ForcedCircuit>,
}

impl Holds {
    async fn fetch(client: &Client) -> anyhow::Result<Holds> {
        let pauses = client.pauses().await.context("the pauses in force")?;
        let circuits = client.circuits().await.context("the forced circuits")?;
        let forced_open = circuits.into_iter().filter_map(|c| c.forced).collect();
        Ok(Holds {
            pauses,
            forced_open,
        })
    }

    /// The circuit forced open that holds `job`, if any.
    fn circuit(&self, job: &ScheduledJob) -> Option<&ForcedCircuit> {
        self.forced_open.iter().find(|f| f.holds(job))
    }

    /// `paused (9m55s left)`, `paused until resumed` or `held: circuit open`: the next attempt
    /// of a job something holds.
    fn next_text(&self, job: &ScheduledJob, now: DateTime<Utc>) -> Option<String> {
        if let Some(p) = holding_pause(&self.pauses, job, now) {
            return Some(paused_text(p, now));
        }
        self.circuit(job).map(|_| "held: circuit open".to_string())
    }

    /// What holds the job and who decided it, for `retryctl job`'s line of the next attempt.
    fn detail_line(&self, job: &ScheduledJob, now: DateTime<Utc>) -> Option<String> {
        if let Some(p) = holding_pause(&self.pauses, job, now) {
            return Some(format!(
                "{} by pause {} of {} ({}: {})",
                paused_text(p, now),
                p.id,
                cell(&p.scope.label(), 120),
                cell(&p.actor, 60),
                cell(&p.reason, 200)
            ));
        }
        self.circuit(job).map(|f| {
            format!(
                "held until released: circuit {} forced open {} ({}: {})",
                cell(&f.label(), 120),
                when(f.forced_at, now),
                cell(&f.actor, 60),
                cell(&f.reason, 200)
            )
        })
    }
}

/// The table of `retryctl jobs` and a line saying how many more there are.
pub fn jobs_text(page: &JobPage, filter: &FilterArgs, holds: &Holds, now: DateTime<Utc>) -> String {
    if page.jobs.is_empty() {
        return format!("no jobs match {}\n", filter.label());
    }
    let rows: Vec<Vec<String>> = page.jobs.iter().map(|j| job_row(j, holds, now)).collect();
    let mut out = table(
        &[
            "JOB",
            "STATE",
            "ATTEMPT",
            "QUEUE",
            "ERROR",
            "NEXT",
            "LAST ERROR",
        ],
        &rows,
    );
    let shown = page.jobs.len() as u64;
    out.push_str(&format!(
        "{shown} of {} jobs matching {}",
        page.total,
        filter.label()
    ));
    if page.total > shown {
        out.push_str(" (--limit up to 1000 shows more)");
    }
    out.push('\n');
    out
}

fn job_row(j: &ScheduledJob, holds: &Holds, now: DateTime<Utc>) -> Vec<String> {
    let next = match (holds.next_text(j, now), j.next_attempt_at) {
        (Some(held), _) => held,
        (None, Some(at)) => relative(at, now),
        (None, None) => "-".into(),
    };
    vec![
        cell(&j.job_id, 40),
        j.state.as_str().into(),
        format!("{}/{}", j.attempt_number, j.max_attempts),
        cell(&j.queue, 24),
        cell(&j.error_class, 28),
        next,
        cell(&j.last_error, 60),
    ]
}

/// `paused (9m55s left)` or `paused until resumed`: the next attempt of a job a pause holds.
fn paused_text(p: &Pause, now: DateTime<Utc>) -> String {
    match p.until {
        Some(u) => format!("paused ({} left)", fmt::secs(fmt::until(u, now))),
        None => "paused until resumed".into(),
    }
}

/// `retryctl job ID`: the job, its attempts, its plan and its audit entries.
pub async fn job(args: JobArgs) -> anyhow::Result<()> {
    let client = args.conn.client()?;
    let what = || format!("job {}", args.id);
    let detail = client.job(&args.id).await.with_context(what)?;
    let audit = job_audit(&client, &args.id).await.with_context(what)?;
    if args.json {
        let mut value = serde_json::to_value(&detail)?;
        value["audit"] = serde_json::to_value(&audit)?;
        return print_json(&value);
    }
    let holds = Holds::fetch(&client).await.with_context(what)?;
    print(&job_text(&detail, &audit, &holds, Utc::now()))
}

/// The job's entries among the newest [`JOB_AUDIT_SCAN`] single-job changes, oldest first.
async fn job_audit(client: &Client, id: &str) -> anyhow::Result<Vec<AuditEntry>> {
    let query = ChangesQuery {
        kind: Some("job".into()),
        limit: Some(JOB_AUDIT_SCAN),
        ..ChangesQuery::default()
    };
    let mut entries = client.changes(&query).await?;
    entries.retain(|e| e.target == id);
    entries.reverse();
    Ok(entries)
}

/// The human form of `retryctl job`.
pub fn job_text(d: &JobDetail, audit: &[AuditEntry], holds: &Holds, now: DateTime<Utc>) -> String {
    let mut out = job_head(&d.job, holds.detail_line(&d.job, now), now);
    out.push_str("\nattempts\n");
    out.push_str(&attempts_table(d));
    out.push_str("\nplan\n");
    if d.timeline.is_empty() {
        out.push_str("  nothing planned\n");
    } else {
        let rows: Vec<Vec<String>> = d
            .timeline
            .iter()
            .map(|s| {
                vec![
                    format!("#{}", s.attempt_number),
                    when(s.scheduled_time, now),
                    fmt::ms(s.delay_ms),
                    fmt::pct(s.estimated_success),
                    fmt::step_method(s).into(),
                    cell(&s.rationale, 80),
                ]
            })
            .collect();
        out.push_str(&table(&["#", "AT", "WAIT", "P(OK BY)", "BY", "WHY"], &rows));
    }
    out.push_str("\naudit\n");
    out.push_str(&audit_table(audit, now));
    out
}

/// The job's header lines; `held` (what holds it) follows its next attempt's time.
fn job_head(j: &ScheduledJob, held: Option<String>, now: DateTime<Utc>) -> String {
    let mut out = format!(
        "job {}  {}  attempt {}/{}\n",
        cell(&j.job_id, 200),
        j.state.as_str(),
        j.attempt_number,
        j.max_attempts
    );
    out.push_str(&format!(
        "type {}  queue {}  tenant {}  error {}{}\n",
        cell(&j.job_type, 60),
        cell(&j.queue, 60),
        cell(j.tenant.as_deref().unwrap_or("-"), 60),
        cell(&j.error_class, 60),
        match j.error_code.as_str() {
            "" => String::new(),
            code => format!(" ({})", cell(code, 20)),
        }
    ));
    if !j.last_error.is_empty() {
        out.push_str(&format!("last error: {}\n", cell(&j.last_error, 400)));
    }
    out.push_str(&format!(
        "first failure {}\n",
        when(j.first_failure_at, now)
    ));
    match (j.next_attempt_at, fmt::job_end(j.state)) {
        (_, Some(ended)) => out.push_str(&format!("{ended} {}\n", when(j.updated_at, now))),
        (Some(at), None) => {
            let held = held.map(|h| format!(", {h}")).unwrap_or_default();
            out.push_str(&format!("next attempt {}{held}\n", when(at, now)));
        }
        (None, None) => {}
    }
    let r = &j.recommendation;
    out.push_str(&format!(
        "recommended {} by {}, confidence {}, P(success) {}: {}\n",
        if r.should_retry {
            format!("retry in {}", fmt::ms(r.delay_ms))
        } else {
            "stop".into()
        },
        r.method.as_str(),
        fmt::pct(r.confidence),
        fmt::pct(r.estimated_success),
        cell(&r.rationale, 200)
    ));
    if let Some(o) = &j.r#override {
        out.push_str(&format!(
            "overridden to {} by {}: {}\n",
            when(o.at, now),
            cell(&o.actor, 60),
            cell(&o.reason, 200)
        ));
    }
    if let (Some(by), Some(until)) = (&j.claimed_by, j.lease_until) {
        out.push_str(&format!(
            "claimed by {} until {}\n",
            cell(by, 60),
            when(until, now)
        ));
    }
    out
}

fn attempts_table(d: &JobDetail) -> String {
    if d.attempts.is_empty() {
        return "  none recorded\n".into();
    }
    let rows: Vec<Vec<String>> = d
        .attempts
        .iter()
        .map(|a| {
            vec![
                format!("#{}", a.attempt_number),
                stamp(a.timestamp),
                fmt::ms(a.delay_ms),
                if a.success { "ok" } else { "failed" }.into(),
                cell(&format!("{} {}", a.error_class, a.error_code), 60),
            ]
        })
        .collect();
    table(&["#", "AT", "WAITED", "OUTCOME", "ERROR"], &rows)
}

/// Audit entries as a table (AT, AGO, ACTOR, ACTION, TARGET, REASON).
pub fn audit_table(entries: &[AuditEntry], now: DateTime<Utc>) -> String {
    if entries.is_empty() {
        return "  none\n".into();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                stamp(e.at),
                relative(e.at, now),
                cell(&e.actor, 40),
                cell(&e.action, 24),
                cell(&e.target, 60),
                cell(&e.reason, 120),
            ]
        })
        .collect();
    table(&["AT", "AGO", "ACTOR", "ACTION", "TARGET", "REASON"], &rows)
}

/// Which single-job action `kill` / `retry-now` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Kill,
    RetryNow,
}

impl JobAction {
    fn verb(self) -> &'static str {
        match self {
            JobAction::Kill => "kill",
            JobAction::RetryNow => "retry-now",
        }
    }

    async fn run(
        self,
        client: &Client,
        id: &str,
        req: &ActionRequest,
    ) -> anyhow::Result<ScheduledJob> {
        let job = match self {
            JobAction::Kill => client.kill(id, req).await?,
            JobAction::RetryNow => client.retry_now(id, req).await?,
        };
        Ok(job)
    }

    fn done(self, job: &ScheduledJob) -> String {
        let id = cell(&job.job_id, 200);
        match self {
            JobAction::Kill => format!(
                "killed {id} (after attempt {}/{})\n",
                job.attempt_number, job.max_attempts
            ),
            JobAction::RetryNow => format!("{id} is due now\n"),
        }
    }
}

/// `retryctl kill|retry-now JOB… --reason`: each job in turn; a job that fails does not stop
/// the others, and the verb fails if any did.
pub async fn act(action: JobAction, args: ActArgs) -> anyhow::Result<()> {
    let verb = action.verb();
    let req = ActionRequest::because(&reason(verb, &args.reason)?);
    let client = args.conn.client()?;
    let mut changed = Vec::new();
    let mut failed: Vec<anyhow::Error> = Vec::new();
    for id in &args.jobs {
        match action.run(&client, id, &req).await {
            Ok(job) => {
                if !args.json {
                    print(&action.done(&job))?;
                }
                changed.push(job);
            }
            Err(e) => {
                let e = e.context(format!("{verb} {}", cell(id, 200)));
                if args.jobs.len() > 1 {
                    super::warn(&format!("error: {e:#}"));
                }
                failed.push(e);
            }
        }
    }
    if args.json {
        print_json(&changed)?;
    }
    match failed.into_iter().next() {
        None => Ok(()),
        Some(first) if args.jobs.len() == 1 => Err(first),
        Some(first) => Err(first.context(format!(
            "{verb}: {} of {} jobs not changed",
            args.jobs.len() - changed.len(),
            args.jobs.len()
        ))),
    }
}
