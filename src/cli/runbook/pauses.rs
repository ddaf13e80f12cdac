//! `retryctl pause` (`POST /pauses`), `retryctl pauses` (`GET /pauses`) and `retryctl resume`
//! (`DELETE /pauses/{id}`, or every pause in force on a scope).

use super::{ConnArgs, Refused, cell, print, print_json, reason, relative, table, when};
use crate::client::Client;
use crate::model::{Pause, PauseRequest};
use crate::present::overrides::parse_time;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;

/// Options of `retryctl pause`.
#[derive(Debug, Clone, Args)]
pub struct PauseArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The queue to pause
    #[arg(long)]
    pub queue: String,
    /// Pause only this error class on the queue
    #[arg(long, value_name = "CLASS")]
    pub error_class: Option<String>,
    /// Pause only this job type on the queue
    #[arg(long, value_name = "TYPE")]
    pub job_type: Option<String>,
    /// How long, e.g. 10m (at most 30 days); without --for or --until: until resumed
    #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
    pub duration: Option<String>,
    /// When the pause ends: an RFC 3339 time, a UTC time of day (14:30) or a delay (10m)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    /// Print the API's answer (the pause) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl pauses`.
#[derive(Debug, Clone, Args)]
pub struct PausesArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print the API's answer (GET /pauses) as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl resume`.
#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The pause's id (`retryctl pauses` lists them)
    #[arg(required_unless_present = "queue", conflicts_with = "queue")]
    pub id: Option<String>,
    /// Instead of an id: resume every pause in force on this queue
    #[arg(long)]
    pub queue: Option<String>,
    /// With --queue: only the pauses of this error class
    #[arg(long, value_name = "CLASS", requires = "queue")]
    pub error_class: Option<String>,
    /// With --queue: only the pauses of this job type
    #[arg(long, value_name = "TYPE", requires = "queue")]
    pub job_type: Option<String>,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    /// Print the API's answer as JSON: the ended pause for an id, an array of them for --queue
    #[arg(long)]
    pub json: bool,
}

/// `retryctl pause --queue Q … --reason`.
pub async fn pause(args: PauseArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time(t, now).map(super::stamp))
        .transpose()
        .map_err(|e| Refused(format!("pause: --until: {e}")))?;
    if let Some(d) = &args.duration
        && d.trim().chars().all(|c| c.is_ascii_digit())
    {
        return Err(Refused(format!(
            "pause: --for `{d}` has no unit: say `{d}m` or `{d}s`"
        ))
        .into());
    }
    let req = PauseRequest {
        queue: args.queue.clone(),
        error_class: args.error_class.clone(),
        job_type: args.job_type.clone(),
        until,
        r#for: args.duration.clone(),
        reason: reason("pause", &args.reason)?,
    };
    let pause = args.conn.client()?.pause(&req).await.context("pause")?;
    if args.json {
        return print_json(&pause);
    }
    print(&format!(
        "paused {} {} (pause {})\n",
        cell(&pause.scope.label(), 120),
        lasts(&pause, now),
        cell(&pause.id, 60)
    ))
}

/// `until 2026-…Z (in 10m00s)` or `until resumed`.
fn lasts(p: &Pause, now: DateTime<Utc>) -> String {
    p.until.map_or_else(
        || "until resumed".into(),
        |u| format!("until {}", when(u, now)),
    )
}

/// `retryctl pauses`: the pauses in force.
pub async fn pauses(args: PausesArgs) -> anyhow::Result<()> {
    let list = args.conn.client()?.pauses().await.context("pauses")?;
    if args.json {
        return print_json(&list);
    }
    print(&pauses_text(&list, Utc::now()))
}

/// The table of `retryctl pauses`.
pub fn pauses_text(list: &[Pause], now: DateTime<Utc>) -> String {
    if list.is_empty() {
        return "no pauses in force\n".into();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                cell(&p.id, 40),
                cell(&p.scope.label(), 60),
                p.until
                    .map_or_else(|| "resumed".into(), |u| relative(u, now)),
                cell(&p.actor, 40),
                relative(p.created_at, now),
                cell(&p.reason, 120),
            ]
        })
        .collect();
    table(&["ID", "SCOPE", "UNTIL", "BY", "SINCE", "REASON"], &rows)
}

/// `retryctl resume ID|--queue Q --reason`.
pub async fn resume(args: ResumeArgs) -> anyhow::Result<()> {
    let why = reason("resume", &args.reason)?;
    let client = args.conn.client()?;
    let ended = match (&args.id, &args.queue) {
        (Some(id), _) => {
            let ended = client
                .resume(id, &why)
                .await
                .with_context(|| format!("resume {}", cell(id, 60)))?;
            if args.json {
                return print_json(&ended);
            }
            vec![ended]
        }
        (None, Some(queue)) => resume_scope(&client, &args, queue, &why).await?,
        (None, None) => unreachable!("clap requires an id or --queue"),
    };
    if args.json {
        return print_json(&ended);
    }
    let lines: String = ended
        .iter()
        .map(|p| {
            format!(
                "resumed {} (pause {})\n",
                cell(&p.scope.label(), 120),
                cell(&p.id, 60)
            )
        })
        .collect();
    print(&lines)
}

/// Resumes every pause in force whose scope the flags name; refuses when there is none.
async fn resume_scope(
    client: &Client,
    args: &ResumeArgs,
    queue: &str,
    why: &str,
) -> anyhow::Result<Vec<Pause>> {
    let matches = |p: &Pause| {
        p.scope.queue == queue
            && args
                .error_class
                .as_ref()
                .is_none_or(|e| p.scope.error_class.as_ref() == Some(e))
            && args
                .job_type
                .as_ref()
                .is_none_or(|t| p.scope.job_type.as_ref() == Some(t))
    };
    let found: Vec<Pause> = client
        .pauses()
        .await
        .context("resume")?
        .into_iter()
        .filter(matches)
        .collect();
    if found.is_empty() {
        return Err(Refused(format!(
            "resume: no pause in force on queue {}{}; `retryctl pauses` lists them",
            cell(queue, 60),
            args.error_class
                .as_ref()
                .map(|e| format!(" error class {}", cell(e, 60)))
                .unwrap_or_default()
        ))
        .into());
    }
    let mut ended = Vec::new();
    for p in found {
        let done = client
            .resume(&p.id, why)
            .await
            .with_context(|| format!("resume {}", cell(&p.id, 60)))?;
        ended.push(done);
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PauseScope;

    #[test]
    fn the_pause_table_says_until_when_and_why() {
        let now: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let pause = |id: &str, until: Option<&str>| Pause {
            id: id.into(),
            scope: PauseScope {
                queue: "webhooks".into(),
                error_class: Some("connection_refused".into()),
                job_type: None,
            },
            until: until.map(|u| u.parse().unwrap()),
            reason: "vendor down".into(),
            actor: "operator:oncall".into(),
            created_at: "2026-11-23T09:58:00Z".parse().unwrap(),
        };
        let text = pauses_text(
            &[pause("p1", Some("2026-11-23T10:10:00Z")), pause("p2", None)],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  SCOPE"), "{text}");
        assert!(
            lines[1].contains("webhooks/connection_refused")
                && lines[1].contains("in 10m00s")
                && lines[1].contains("2m00s ago")
                && lines[1].ends_with("vendor down"),
            "{text}"
        );
        assert!(lines[2].contains("resumed"), "{text}");
        assert_eq!(pauses_text(&[], now), "no pauses in force\n");
    }
}
