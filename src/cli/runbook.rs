//! The runbook verbs, for an incident: `jobs`, `job`, `kill`, `retry-now`, `bulk`, `pause`,
//! `pauses`, `resume`, `estop`, `ack`, `changes`. Each is one or a few API calls through
//! [`crate::client`] with the connection flags of the other remote verbs ([`ConnArgs`]).
//! `--json` prints the API's answer; otherwise short lines and tables, untrusted text
//! sanitised. A refusal (bad input, a 4xx answer, a bulk action not confirmed) exits with
//! status [`REFUSED_EXIT`].

pub mod bulk;
pub mod controls;
pub mod jobs;
pub mod ml;
pub mod pauses;

pub use super::remote::ConnArgs;
pub(crate) use super::remote::print;
use crate::client::{ClientError, JobQuery};
use crate::model::BulkFilter;
use crate::present::fmt;
use crate::present::sanitize::sanitize_capped;
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use std::io::Write;
use unicode_width::UnicodeWidthStr;

/// Exit status of a refused verb: bad input, a 4xx answer, or a bulk action not confirmed.
pub const REFUSED_EXIT: u8 = 2;

/// The exit statuses, shown under each runbook verb's help.
pub const EXIT_HELP: &str = "Exit status: 0 done; 1 the service could not be reached or failed; \
     2 refused (bad input, a 4xx answer from the service, a bulk action not confirmed).";

/// Something the CLI refused before (or instead of) asking the service.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether `e` is a refusal (exit status [`REFUSED_EXIT`]) rather than a failure: the CLI
/// refused it, or the service answered 4xx.
pub fn is_refusal(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<Refused>().is_some()
            || cause
                .downcast_ref::<ClientError>()
                .and_then(ClientError::status)
                .is_some_and(|s| (400..500).contains(&s))
    })
}

/// The job filter of `jobs` and `bulk`: the fields of `GET /jobs` (all given must match).
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only jobs of this queue
    #[arg(long)]
    pub queue: Option<String>,
    /// Only jobs in this state
    #[arg(long, value_parser = ["scheduled", "claimed", "succeeded", "exhausted", "killed"])]
    pub state: Option<String>,
    /// Only jobs whose last failure had this error class
    #[arg(long, value_name = "CLASS")]
    pub error_class: Option<String>,
    /// Only jobs of this job type
    #[arg(long, value_name = "TYPE")]
    pub job_type: Option<String>,
    /// Only jobs of this tenant
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only jobs whose id or last error contains this text
    #[arg(long)]
    pub text: Option<String>,
}

impl FilterArgs {
    fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            ("queue", &self.queue),
            ("state", &self.state),
            ("error_class", &self.error_class),
            ("job_type", &self.job_type),
            ("tenant", &self.tenant),
            ("text", &self.text),
        ]
    }

    /// True when no field is given (every job matches).
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, v)| v.is_none())
    }

    /// `queue:webhooks error_class:connection_refused`, or `every job` for no filter.
    pub fn label(&self) -> String {
        let terms: Vec<String> = self
            .fields()
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}:{v}")))
            .collect();
        if terms.is_empty() {
            "every job".into()
        } else {
            sanitize_capped(&terms.join(" "), 200)
        }
    }

    pub fn query(&self, limit: Option<u32>) -> JobQuery {
        JobQuery {
            queue: self.queue.clone(),
            state: self.state.clone(),
            error_class: self.error_class.clone(),
            job_type: self.job_type.clone(),
            tenant: self.tenant.clone(),
            text: self.text.clone(),
            cursor: None,
            limit,
        }
    }

    pub fn bulk(&self) -> BulkFilter {
        BulkFilter {
            queue: self.queue.clone(),
            state: self.state.clone(),
            error_class: self.error_class.clone(),
            job_type: self.job_type.clone(),
            tenant: self.tenant.clone(),
            text: self.text.clone(),
        }
    }
}

/// `--reason`, trimmed; an empty one is refused (every change is audited with its reason).
pub fn reason(verb: &str, text: &str) -> Result<String, Refused> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Refused(format!(
            "{verb}: --reason must say why (it goes to the audit log)"
        )));
    }
    Ok(text.to_string())
}

/// `in 4m02s` or `3m04s ago`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = fmt::until(at, now);
    if secs >= 0.0 {
        format!("in {}", fmt::whole_secs(secs))
    } else {
        fmt::ago(at, now)
    }
}

/// `2026-11-23T14:30:00Z (in 4m02s)`.
pub fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ({})", stamp(at), relative(at, now))
}

/// `2026-11-23T14:30:00Z`.
pub fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Untrusted text for a table cell: sanitised and capped at `max` characters.
pub fn cell(text: &str, max: usize) -> String {
    sanitize_capped(text, max)
}

/// Rows under a header, columns padded to their widest cell (the last column is not).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(c);
            if i < last {
                out.push_str(&" ".repeat(w - c.width() + 2));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A line on stderr; if stderr fails there is no one to tell (`eprintln!` would panic).
pub fn warn(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Prints `value` as pretty JSON.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    print(&(serde_json::to_string_pretty(value)? + "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn times_read_both_ways() {
        let now = at("2026-11-23T10:00:00Z");
        assert_eq!(
            when(at("2026-11-23T10:04:02Z"), now),
            "2026-11-23T10:04:02Z (in 4m02s)"
        );
        assert_eq!(relative(at("2026-11-23T09:59:30Z"), now), "30s ago");
    }

    #[test]
    fn tables_align_columns_and_leave_no_trailing_space() {
        let rows = vec![
            vec!["a-long-id".into(), "x".into(), "".into()],
            vec!["b".into(), "yy".into(), "last".into()],
        ];
        let text = table(&["ID", "S", "NOTE"], &rows);
        assert_eq!(
            text,
            "ID         S   NOTE\na-long-id  x\nb          yy  last\n"
        );
    }

    #[test]
    fn a_filter_names_its_terms() {
        let f = FilterArgs {
            queue: Some("webhooks".into()),
            error_class: Some("connection_refused".into()),
            ..FilterArgs::default()
        };
        assert_eq!(f.label(), "queue:webhooks error_class:connection_refused");
        assert!(!f.is_empty());
        assert_eq!(FilterArgs::default().label(), "every job");
    }

    #[test]
    fn an_empty_reason_is_refused_with_the_verb() {
        let err = reason("kill", "  ").unwrap_err();
        assert!(err.0.starts_with("kill: --reason"), "{err}");
        assert_eq!(reason("kill", " db down ").unwrap(), "db down");
    }
}
