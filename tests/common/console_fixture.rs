//! Fixed console data for snapshot tests and benches: the JSON answers in
//! `tests/data/console/`, a fixed clock, and an `App` built from them.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use retryctl::model::{
    AuditEntry, BulkResult, JobDetail, JobPage, Patterns, Pause, ScheduledJob, Series,
    SmartVsStatic, Summary,
};
use retryctl::tui::app::{App, AppConfig};
use retryctl::tui::keymap::Keymap;
use retryctl::tui::state::{JobInfo, Snapshot};

/// The clock every fixture is relative to.
pub fn now() -> DateTime<Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

pub fn summary() -> Summary {
    serde_json::from_str(include_str!("../data/console/summary.json")).unwrap()
}

pub fn jobs() -> JobPage {
    serde_json::from_str(include_str!("../data/console/jobs.json")).unwrap()
}

pub fn detail() -> JobDetail {
    serde_json::from_str(include_str!("../data/console/detail.json")).unwrap()
}

/// `/patterns` for the fixture's selected job (payment, timeout).
pub fn patterns() -> Patterns {
    serde_json::from_str(include_str!("../data/console/patterns.json")).unwrap()
}

/// `/pauses` (and the summary's `pauses`) with two scopes paused: one for 10 minutes, one
/// until resumed.
pub fn pauses() -> Vec<Pause> {
    serde_json::from_str(include_str!("../data/console/pauses.json")).unwrap()
}

/// The dry run of a bulk kill: 415 jobs match, 412 pending would be killed, 3 finished.
pub fn bulk_dry_run() -> BulkResult {
    serde_json::from_str(include_str!("../data/console/bulk_dry_run.json")).unwrap()
}

/// `/series?window=15m&step=10s`: four queues (webhooks in a burst of connection refusals,
/// payments after an earlier one, emails steady, reports nearly idle) and the top error classes.
pub fn series() -> Series {
    serde_json::from_str(include_str!("../data/console/series.json")).unwrap()
}

/// The fixture's app after a poll that also brought the series.
pub fn app_with_series() -> App {
    let mut app = app();
    let snap = app.data.clone().unwrap().with_series(Some(series()));
    app.on_snapshot(snap);
    app
}

/// The job detail of the fixture's selected job, with the audit entries naming it.
pub fn job_info() -> JobInfo {
    let audit: Vec<AuditEntry> =
        serde_json::from_str(include_str!("../data/console/audit.json")).unwrap();
    JobInfo::new(detail(), audit, false)
}

/// `n` jobs in backoff, copies of the fixture's first job with distinct ids and due times.
pub fn many_jobs(n: usize) -> JobPage {
    let template: ScheduledJob = jobs().jobs[0].clone();
    let jobs = (0..n)
        .map(|i| {
            let mut j = template.clone();
            j.job_id = format!("job-{i:06}");
            j.next_attempt_at = Some(now() + chrono::Duration::milliseconds(500 + 37 * i as i64));
            j
        })
        .collect();
    JobPage {
        jobs,
        next_cursor: None,
        total: n as u64,
    }
}

pub fn app_with(summary: Summary, jobs: JobPage, detail: Option<JobDetail>) -> App {
    let mut app = App::new(AppConfig {
        api: "http://127.0.0.1:7878".into(),
        keymap: Keymap::defaults().unwrap(),
        read_only: false,
        export_path: "retryctl-config.toml".into(),
    });
    // The live stream sends events oldest first; the fixture's summary lists them newest first.
    let events = summary.recent_errors.iter().rev().cloned().collect();
    // The poller fetches the analysis for the selected job's kind only.
    let p = patterns();
    let patterns = detail
        .as_ref()
        .filter(|d| d.job.job_type == p.job_type && d.job.error_class == p.error_class)
        .map(|_| p);
    let snap = Snapshot::new(summary, jobs, detail, now())
        .with_events(events)
        .with_patterns(patterns);
    app.on_snapshot(snap);
    app
}

pub fn app() -> App {
    app_with(summary(), jobs(), Some(detail()))
}

/// `/smart-vs-static?window=24h`: 144 ten-minute cohorts (none at night, an incident in the
/// afternoon where both estimates dip), the newest still mostly open.
pub fn trend() -> SmartVsStatic {
    serde_json::from_str(include_str!("../data/console/trend.json")).unwrap()
}

/// The fixture's app after a poll that brought the series and smart vs static over the last
/// day, from a service up for three days (so the window is the whole day).
pub fn app_with_trend() -> App {
    let mut summary = summary();
    summary.started_at = now() - chrono::Duration::days(3);
    let mut app = app_with(summary, jobs(), Some(detail()));
    let snap = app.data.clone().unwrap();
    app.on_snapshot(snap.with_series(Some(series())).with_trend(Some(trend())));
    app
}

/// A strategy with the summary's name and policies, as an import file would hold it.
pub fn strategy() -> retryctl::model::RetryStrategy {
    let s = summary();
    serde_json::from_value(serde_json::json!({
        "name": s.strategy_name, "enabled": true, "policies": s.policies,
        "bayesian_threshold": s.bayesian_threshold, "ml_enabled": false,
    }))
    .unwrap()
}
