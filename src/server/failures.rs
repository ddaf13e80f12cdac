//! `POST /failures`: record a failed attempt, get the recommendation and put the job on the
//! retry schedule in one call; and the hook that finishes a scheduled job when a success is
//! recorded through `/attempt` or `/attempts`.

use super::auth::{Access, Caller};
use super::error::ApiResult;
use super::events::kind;
use super::json::ApiJson;
use super::schedule;
use super::state::AppState;
use crate::model::{AttemptRecord, FailureReport, FailureResponse, JobState, ScheduledJob};
use crate::store::{JobFilter, MAX_PAGE};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new().route("/failures", post(record_failure))
}

/// The report's `timestamp` (or now) places the failure in time, so a client in virtual time
/// gets `next_attempt_at` on its own clock.
async fn record_failure(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(report): ApiJson<FailureReport>,
) -> ApiResult<ApiJson<FailureResponse>> {
    caller.require(Access::Work)?;
    report.validate()?;
    let at = report.timestamp.unwrap_or_else(|| state.now());
    let _job_lock = state.ops.lock_job(&report.job_id).await;
    let previous = state.store_ok(state.store.get_job(&report.job_id).await)?;
    let attempt = report.to_attempt(at);
    let job = state
        .record_failure(attempt, &report.error_message, |state| {
            let features = schedule::failure_features(&report, previous.as_ref(), at);
            let rec = state.recommend(&features, at);
            schedule::job_from_failure(&report, previous.as_ref(), &rec, at)
        })
        .await?;
    announce_schedule(&state, &job);
    Ok(ApiJson(FailureResponse {
        job_id: job.job_id,
        next_attempt_at: job.next_attempt_at,
        state: job.state,
        recommendation: job.recommendation,
    }))
}

fn announce_schedule(state: &AppState, job: &ScheduledJob) {
    let (event, message) = match job.next_attempt_at {
        Some(next) => (
            kind::SCHEDULED,
            format!(
                "attempt {}/{} at {next} ({} ms, {})",
                job.attempt_number + 1,
                job.max_attempts,
                job.recommendation.delay_ms,
                job.recommendation.method.as_str()
            ),
        ),
        None => (
            kind::EXHAUSTED,
            format!(
                "no retry after attempt {} ({}): {}",
                job.attempt_number,
                job.state.as_str(),
                job.recommendation.rationale
            ),
        ),
    };
    let now = state.now();
    state
        .ops
        .lock()
        .events
        .push(now, event, Some(&job.job_id), message);
}

/// Notes recorded attempts in the live stream and windows; `error_text` is the worker's error
/// message for a single failure reported through `/failures`.
pub fn note_attempts(state: &AppState, attempts: &[AttemptRecord], error_text: Option<&str>) {
    let now = state.now();
    let mut ops = state.ops.lock();
    // The ring keeps only the newest events: of a large batch, only its tail would survive.
    let first_event = attempts.len().saturating_sub(super::ops::EVENT_CAPACITY);
    for (i, a) in attempts.iter().enumerate() {
        ops.record_attempt(a, now);
        if i < first_event {
            continue;
        }
        let (event, message) = if a.success {
            (
                kind::SUCCESS,
                format!(
                    "attempt {} succeeded ({} on {})",
                    a.attempt_number,
                    a.job_type,
                    queue_name(&a.queue)
                ),
            )
        } else {
            (kind::FAILURE, failure_text(a, error_text))
        };
        ops.events.push(now, event, Some(&a.job_id), message);
    }
}

fn failure_text(a: &AttemptRecord, error_text: Option<&str>) -> String {
    let code = if a.error_code.is_empty() {
        String::new()
    } else {
        format!(" {}", a.error_code)
    };
    let text = match error_text {
        Some(t) if !t.is_empty() => format!(": {t}"),
        _ => String::new(),
    };
    format!(
        "attempt {} failed: {}{code} ({} on {}){text}",
        a.attempt_number,
        a.error_class,
        a.job_type,
        queue_name(&a.queue)
    )
}

fn queue_name(queue: &str) -> &str {
    if queue.is_empty() { "default" } else { queue }
}

/// Marks each job with a recorded success as succeeded, in one store write. The attempts are
/// already durable, so a store failure here is logged (the jobs stay due and are retried:
/// at-least-once), not answered as an error that would make the client send the attempts
/// again.
pub async fn finish_succeeded(state: &AppState, attempts: &[AttemptRecord]) {
    // The first success of each job that may be pending (most attempts belong to none).
    let mut first: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for a in attempts.iter().filter(|a| a.success) {
        if state.ops.may_be_pending(&a.job_id) {
            let at = first.entry(a.job_id.as_str()).or_insert(a.timestamp);
            *at = (*at).min(a.timestamp);
        }
    }
    if first.is_empty() {
        return;
    }
    let _job_locks = state.ops.lock_jobs(first.keys().copied()).await;
    if let Err(e) = finish_all(state, &first).await {
        let jobs = first.len();
        tracing::warn!(jobs, error = %e, "could not mark the jobs succeeded");
    }
}

async fn finish_all(state: &AppState, first: &BTreeMap<&str, DateTime<Utc>>) -> ApiResult<()> {
    let mut done = Vec::with_capacity(first.len());
    for (&id, &at) in first {
        let Some(job) = state.store_ok(state.store.get_job(id).await)? else {
            continue;
        };
        done.extend(schedule::succeeded(&job, at.max(job.updated_at)));
    }
    let finished: Vec<String> = done.iter().map(|j| j.job_id.clone()).collect();
    state.store_ok(state.store.put_jobs(done).await)?;
    for id in finished {
        state.ops.note_pending(&id, false);
    }
    Ok(())
}

/// Stores a job on the schedule and keeps the pending set in step.
pub async fn save_job(state: &AppState, job: ScheduledJob) -> ApiResult<()> {
    let pending = job.state.is_pending();
    let id = job.job_id.clone();
    state.store_ok(state.store.put_job(job).await)?;
    state.ops.note_pending(&id, pending);
    Ok(())
}

/// Loads the ids of the pending jobs at start-up (the set [`finish_succeeded`] consults).
pub async fn restore_pending(state: &AppState) -> crate::store::StoreResult<u64> {
    let mut n = 0;
    for job_state in [JobState::Scheduled, JobState::Claimed] {
        let mut cursor = None;
        loop {
            let filter = JobFilter {
                state: Some(job_state),
                cursor,
                limit: MAX_PAGE,
                ..JobFilter::default()
            };
            let page = state.store.list_jobs(filter).await?;
            for job in &page.jobs {
                state.ops.note_pending(&job.job_id, true);
            }
            n += page.jobs.len() as u64;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(n)
}
