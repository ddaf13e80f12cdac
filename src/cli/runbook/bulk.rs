//! `retryctl bulk retry-now|kill|override|apply-static` on a job filter (`POST /jobs/bulk`).
//!
//! It always asks the service for a dry run first. With `--dry-run` that is the answer;
//! otherwise the count is confirmed (by `--yes`, or by typing it on a terminal; without a
//! terminal the action is refused) and the action sent with the dry run's `as_of`, and with
//! `confirm` set to the count when the service asks for it: jobs that fail for the first time
//! between the dry run and the action are left alone, and if more of the counted jobs would
//! change than were confirmed the service refuses instead of acting.

use super::{ConnArgs, FilterArgs, Refused, cell, print, print_json, reason};
use crate::model::{BulkAction, BulkRequest, BulkResult};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io::{BufRead, IsTerminal, Write};

/// Most skipped jobs named in the human output (the JSON has all the service listed).
const SKIPS_SHOWN: usize = 5;

/// What `bulk` does to each matched job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BulkVerb {
    /// Make each job due now
    RetryNow,
    /// Stop retrying each job
    Kill,
    /// Set each job's next attempt --delay from now
    Override,
    /// Reschedule each job by the static backoff
    ApplyStatic,
}

impl BulkVerb {
    fn action(self) -> BulkAction {
        match self {
            BulkVerb::RetryNow => BulkAction::RetryNow,
            BulkVerb::Kill => BulkAction::Kill,
            BulkVerb::Override => BulkAction::Override,
            BulkVerb::ApplyStatic => BulkAction::ApplyStatic,
        }
    }

    fn name(self) -> &'static str {
        match self {
            BulkVerb::RetryNow => "retry-now",
            BulkVerb::Kill => "kill",
            BulkVerb::Override => "override",
            BulkVerb::ApplyStatic => "apply-static",
        }
    }
}

/// Options of `retryctl bulk`.
#[derive(Debug, Clone, Args)]
pub struct BulkArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// What to do to each job the filter matches
    #[arg(value_enum)]
    pub action: BulkVerb,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Act on every job on the schedule (instead of naming a filter)
    #[arg(long)]
    pub all: bool,
    /// Why (recorded in the audit log, once for the whole action)
    #[arg(long)]
    pub reason: String,
    /// override only: how long from now the next attempt is, e.g. 10m
    #[arg(long, value_name = "DURATION")]
    pub delay: Option<String>,
    /// Only report what would change
    #[arg(long)]
    pub dry_run: bool,
    /// Act without asking for confirmation (needed when stdin is not a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Print the API's answer (POST /jobs/bulk) as JSON
    #[arg(long)]
    pub json: bool,
}

/// `retryctl bulk ACTION FILTER --reason …`.
pub async fn bulk(args: BulkArgs) -> anyhow::Result<()> {
    let verb = format!("bulk {}", args.action.name());
    let req = request(&args, &verb)?;
    let client = args.conn.client()?;
    let dry = client
        .bulk(&BulkRequest {
            dry_run: true,
            ..req.clone()
        })
        .await
        .with_context(|| format!("{verb} (dry run)"))?;
    if args.dry_run {
        return report(&args, &dry);
    }
    if dry.changed == 0 {
        return nothing_to_do(&args, &dry);
    }
    if !args.yes {
        confirm(&args, &dry)?;
    }
    let req = BulkRequest {
        confirm: dry.needs_confirm.then_some(dry.changed),
        as_of: dry.as_of,
        ..req
    };
    let done = client.bulk(&req).await.context(verb)?;
    report(&args, &done)
}

/// The request the flags describe, or what is wrong with them.
fn request(args: &BulkArgs, verb: &str) -> Result<BulkRequest, Refused> {
    match (args.all, args.filter.is_empty()) {
        (false, true) => {
            return Err(Refused(format!(
                "{verb}: name the jobs with a filter (--queue, --error-class, --job-type, \
                 --tenant, --state, --text), or pass --all for every job"
            )));
        }
        (true, false) => {
            return Err(Refused(format!(
                "{verb}: --all acts on every job; leave it out to use the filter"
            )));
        }
        _ => {}
    }
    match (args.action, &args.delay) {
        (BulkVerb::Override, None) => {
            return Err(Refused(format!(
                "{verb}: --delay is required (e.g. --delay 10m)"
            )));
        }
        (BulkVerb::Override, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(Refused(format!(
                "{verb}: --delay is only for bulk override"
            )));
        }
    }
    Ok(BulkRequest {
        filter: args.filter.bulk(),
        action: args.action.action(),
        delay: args.delay.clone(),
        reason: reason(verb, &args.reason)?,
        dry_run: false,
        confirm: None,
        as_of: None,
    })
}

/// Asks for the matched count on a terminal; refuses without one.
fn confirm(args: &BulkArgs, dry: &BulkResult) -> anyhow::Result<()> {
    let verb = args.action.name();
    let count = dry.changed;
    let what = format!("{verb} {count} jobs matching {}", args.filter.label());
    if !std::io::stdin().is_terminal() {
        return Err(Refused(format!(
            "bulk {verb}: {count} pending jobs match {}; nothing changed: confirming needs a terminal \
             and stdin is not one. Check with --dry-run, then run again with --yes",
            args.filter.label()
        ))
        .into());
    }
    let mut err = std::io::stderr().lock();
    write!(err, "{what}? Type {count} to confirm: ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if confirmed(&answer, count) {
        return Ok(());
    }
    Err(Refused(format!("bulk {verb}: not confirmed; nothing changed")).into())
}

/// Whether the operator typed the count.
fn confirmed(answer: &str, count: u64) -> bool {
    answer.trim().parse::<u64>() == Ok(count)
}

fn report(args: &BulkArgs, result: &BulkResult) -> anyhow::Result<()> {
    if args.json {
        return print_json(result);
    }
    let verb = format!("bulk {}", args.action.name());
    print(&result_text(&verb, &args.filter.label(), result))
}

/// No pending job matches: nothing is sent (the dry run's answer is the JSON output).
fn nothing_to_do(args: &BulkArgs, dry: &BulkResult) -> anyhow::Result<()> {
    if args.json {
        return print_json(dry);
    }
    let verb = args.action.name();
    let filter = args.filter.label();
    print(&match dry.matched {
        0 => format!("bulk {verb}: no jobs match {filter}; nothing changed\n"),
        n => format!(
            "bulk {verb}: none of the {n} jobs matching {filter} is pending; nothing changed\n"
        ),
    })
}

/// The human form of a bulk answer.
pub fn result_text(verb: &str, filter: &str, r: &BulkResult) -> String {
    let skipped = r.matched.saturating_sub(r.changed);
    let mut out = if r.dry_run {
        format!(
            "dry run: {verb} would change {} of {} jobs matching {filter}",
            r.changed, r.matched
        )
    } else {
        format!(
            "{verb}: changed {} of {} jobs matching {filter}",
            r.changed, r.matched
        )
    };
    if skipped > 0 {
        out.push_str(&format!(" ({skipped} finished, skipped)"));
    }
    if r.arrived_after > 0 {
        out.push_str(&format!(
            "; {} new since the count (first failure after its as_of) left alone",
            r.arrived_after
        ));
    }
    if let Some(id) = r.audit_id {
        out.push_str(&format!("; audit entry {id}"));
    }
    if r.dry_run && r.needs_confirm {
        out.push_str("; the service asks to confirm this count");
    }
    out.push('\n');
    for s in r.skipped.iter().take(SKIPS_SHOWN) {
        out.push_str(&format!(
            "  skipped {}: {}\n",
            cell(&s.job_id, 80),
            cell(&s.why, 120)
        ));
    }
    if r.skipped.len() > SKIPS_SHOWN {
        out.push_str(&format!(
            "  … {} more skipped (--json lists them)\n",
            r.skipped.len() - SKIPS_SHOWN
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BulkSkip;

    #[test]
    fn only_the_count_confirms() {
        assert!(confirmed("412\n", 412));
        assert!(!confirmed("y\n", 412));
        assert!(!confirmed("41\n", 412));
        assert!(!confirmed("", 412));
    }

    #[test]
    fn a_result_names_counts_skips_and_audit() {
        let r = BulkResult {
            action: BulkAction::Kill,
            dry_run: false,
            matched: 3,
            changed: 2,
            skipped: vec![BulkSkip {
                job_id: "j\u{1b}3".into(),
                why: "finished (succeeded)".into(),
            }],
            audit_id: Some(9),
            needs_confirm: false,
            as_of: None,
            arrived_after: 0,
        };
        let text = result_text("kill", "queue:q", &r);
        assert_eq!(
            text,
            "kill: changed 2 of 3 jobs matching queue:q (1 finished, skipped); audit entry 9\n  \
             skipped j␛3: finished (succeeded)\n"
        );
    }
}
