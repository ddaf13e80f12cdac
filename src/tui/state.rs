//! The data the console shows: snapshots of API answers, sanitised once on entry.
//!
//! Nothing here is computed by the console: every number comes from the service. The only
//! derived values are for display (countdowns, the age of stale data) and live in the views.

use crate::model::{
    Alert, AuditEntry, Event, JobDetail, JobPage, Patterns, RetryPolicy, RetryPreview,
    RetryRecommendation, ScheduledJob, Series, SmartVsStatic, Summary, TimelineEntry,
};
use crate::present::sanitize::{is_clean, sanitize};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// How many recent events the console keeps: far more than any screen shows, so the error
/// stream can be scrolled back through a burst (a few hundred KB at most).
pub const EVENT_RING: usize = 1_000;

/// One poll of the service: the summary, the visible page of jobs, the selected job's detail,
/// and the events that are new since the previous poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub summary: Summary,
    pub jobs: JobPage,
    pub detail: Option<JobDetail>,
    /// When the poll completed (the console's clock).
    pub fetched_at: DateTime<Utc>,
    /// Events from `/events` new since the last poll, oldest first.
    pub events: Vec<Event>,
    /// `/patterns` for the selected job's (job type, error class), when the service answered.
    pub patterns: Option<Patterns>,
    /// `/series` (per-queue counts over the last minutes), when the service answered.
    pub series: Option<Series>,
    /// `/smart-vs-static` (per 10-minute step over the last day), when the service answered.
    pub trend: Option<SmartVsStatic>,
}

impl Snapshot {
    /// A snapshot whose untrusted text has been made safe to print.
    pub fn new(
        mut summary: Summary,
        mut jobs: JobPage,
        mut detail: Option<JobDetail>,
        fetched_at: DateTime<Utc>,
    ) -> Snapshot {
        summary.clean();
        jobs.jobs.iter_mut().for_each(Clean::clean);
        if let Some(d) = detail.as_mut() {
            d.clean();
        }
        Snapshot {
            summary,
            jobs,
            detail,
            fetched_at,
            events: Vec::new(),
            patterns: None,
            series: None,
            trend: None,
        }
    }

    /// The snapshot with the new events of the stream, made safe to print.
    pub fn with_events(mut self, mut events: Vec<Event>) -> Snapshot {
        events.iter_mut().for_each(Clean::clean);
        self.events = events;
        self
    }

    /// The snapshot with the per-queue series, its queue and error class names made safe.
    pub fn with_series(mut self, mut series: Option<Series>) -> Snapshot {
        if let Some(x) = series.as_mut() {
            x.queues.iter_mut().for_each(|q| s(&mut q.queue));
            x.top_error_classes
                .iter_mut()
                .for_each(|e| s(&mut e.error_class));
        }
        self.series = series;
        self
    }

    /// The snapshot with smart vs static over time (numbers only: nothing to sanitise).
    pub fn with_trend(mut self, trend: Option<SmartVsStatic>) -> Snapshot {
        self.trend = trend;
        self
    }

    /// The snapshot with the selected job's pattern analysis, made safe to print.
    pub fn with_patterns(mut self, mut patterns: Option<Patterns>) -> Snapshot {
        if let Some(p) = patterns.as_mut() {
            s(&mut p.job_type);
            s(&mut p.error_class);
            opt(&mut p.tenant);
        }
        self.patterns = patterns;
        self
    }
}

/// Everything the job detail shows that the poll does not bring: the job's detail fetched when
/// it was opened, and the audit log's entries about it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    pub detail: JobDetail,
    /// Audit entries whose target is the job, oldest first.
    pub audit: Vec<AuditEntry>,
    /// Whether older entries were not read (the log was longer than the console reads).
    pub audit_truncated: bool,
}

impl JobInfo {
    /// The job's detail and audit entries, made safe to print.
    pub fn new(
        mut detail: JobDetail,
        mut audit: Vec<AuditEntry>,
        audit_truncated: bool,
    ) -> JobInfo {
        detail.clean();
        for e in &mut audit {
            for t in [&mut e.actor, &mut e.action, &mut e.target, &mut e.reason] {
                s(t);
            }
        }
        JobInfo {
            detail,
            audit,
            audit_truncated,
        }
    }
}

/// The most recent events of the stream, oldest first, at most [`EVENT_RING`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventRing {
    events: VecDeque<Event>,
}

impl EventRing {
    /// Appends events (oldest first), dropping the oldest kept ones beyond the capacity.
    pub fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            if self.events.len() == EVENT_RING {
                self.events.pop_front();
            }
            self.events.push_back(event);
        }
    }

    /// Newest first.
    pub fn newest(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().rev()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Replaces every untrusted string of a wire value with its sanitised form.
pub trait Clean {
    fn clean(&mut self);
}

fn s(text: &mut String) {
    if !is_clean(text) {
        *text = sanitize(text);
    }
}

fn opt(text: &mut Option<String>) {
    if let Some(t) = text.as_mut() {
        s(t);
    }
}

impl Clean for Summary {
    fn clean(&mut self) {
        for t in [
            &mut self.service,
            &mut self.version,
            &mut self.role,
            &mut self.store,
        ] {
            s(t);
        }
        s(&mut self.strategy_name);
        for t in [&mut self.ml.serving, &mut self.ml.shadow, &mut self.ml.arm] {
            opt(t);
        }
        for job in [&mut self.ml.training, &mut self.ml.last_training]
            .into_iter()
            .flatten()
        {
            s(&mut job.progress);
            opt(&mut job.error);
            if let Some(v) = job.model.as_mut() {
                s(&mut v.version);
            }
        }
        if let Some(d) = self.degradation.as_mut() {
            s(&mut d.reason);
            s(&mut d.detail);
        }
        self.policies.iter_mut().for_each(Clean::clean);
        self.alerts.iter_mut().for_each(Clean::clean);
        self.recent_errors.iter_mut().for_each(Clean::clean);
        self.budgets.iter_mut().for_each(|b| s(&mut b.queue));
        self.tenants.iter_mut().for_each(|t| s(&mut t.tenant));
        for c in &mut self.circuits {
            s(&mut c.queue);
            s(&mut c.error_class);
            s(&mut c.state);
        }
        self.error_classes
            .iter_mut()
            .for_each(|e| s(&mut e.error_class));
        self.jobs_by_state = std::mem::take(&mut self.jobs_by_state)
            .into_iter()
            .map(|(k, v)| (sanitize(&k), v))
            .collect();
        if let Some(ml) = self.models.ml.as_mut() {
            s(&mut ml.version);
            s(&mut ml.model_type);
        }
    }
}

impl Clean for RetryPolicy {
    fn clean(&mut self) {
        s(&mut self.name);
        self.error_patterns.iter_mut().for_each(s);
        self.job_type_patterns.iter_mut().for_each(s);
    }
}

impl Clean for Alert {
    fn clean(&mut self) {
        s(&mut self.id);
        s(&mut self.name);
        s(&mut self.message);
        opt(&mut self.acked_by);
        self.labels = std::mem::take(&mut self.labels)
            .into_iter()
            .map(|(k, v)| (sanitize(&k), sanitize(&v)))
            .collect();
    }
}

impl Clean for Event {
    fn clean(&mut self) {
        s(&mut self.kind);
        s(&mut self.message);
        opt(&mut self.job_id);
    }
}

impl Clean for ScheduledJob {
    fn clean(&mut self) {
        for t in [
            &mut self.job_id,
            &mut self.job_type,
            &mut self.queue,
            &mut self.error_class,
            &mut self.error_code,
            &mut self.last_error,
        ] {
            s(t);
        }
        opt(&mut self.tenant);
        opt(&mut self.claimed_by);
        self.recommendation.clean();
        if let Some(o) = self.r#override.as_mut() {
            s(&mut o.reason);
            s(&mut o.actor);
        }
    }
}

impl Clean for RetryRecommendation {
    fn clean(&mut self) {
        s(&mut self.rationale);
        self.policy_guardrails.iter_mut().for_each(s);
        if let Some(x) = self.explanation.as_mut() {
            x.similar_cases.iter_mut().for_each(|c| s(&mut c.job_id));
            for g in &mut x.guardrails {
                s(&mut g.name);
                s(&mut g.detail);
            }
            x.fallbacks.iter_mut().for_each(|f| s(&mut f.reason));
            opt(&mut x.policy);
            opt(&mut x.model_key);
        }
    }
}

impl Clean for TimelineEntry {
    fn clean(&mut self) {
        s(&mut self.rationale);
    }
}

impl Clean for JobDetail {
    fn clean(&mut self) {
        self.job.clean();
        self.timeline.iter_mut().for_each(Clean::clean);
        for a in &mut self.attempts {
            for t in [
                &mut a.job_id,
                &mut a.job_type,
                &mut a.error_class,
                &mut a.error_code,
            ] {
                s(t);
            }
            s(&mut a.status);
            s(&mut a.queue);
            opt(&mut a.tenant);
        }
    }
}

impl Clean for RetryPreview {
    fn clean(&mut self) {
        s(&mut self.job_id);
        self.recommendations.iter_mut().for_each(Clean::clean);
        self.timeline.iter_mut().for_each(Clean::clean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_events() {
        let mut ring = EventRing::default();
        let event = |seq| Event {
            seq,
            at: Utc::now(),
            kind: "failure".into(),
            job_id: None,
            message: String::new(),
        };
        ring.extend((1..=EVENT_RING as u64 + 10).map(event));
        assert_eq!(ring.len(), EVENT_RING);
        let newest: Vec<u64> = ring.newest().take(2).map(|e| e.seq).collect();
        assert_eq!(newest, [EVENT_RING as u64 + 10, EVENT_RING as u64 + 9]);
        assert_eq!(ring.newest().last().map(|e| e.seq), Some(11));
    }
}
