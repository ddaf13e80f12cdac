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
    state
        .record_attempts_noting(vec![report.to_attempt(at)], Some(&report.error_message))
        .await?;
    let features = schedule::failure_features(&report, previous.as_ref(), at);
    let rec = state.recommend(&features, at);
    let job = schedule::job_from_failure(&report, previous.as_ref(), &rec, at);
    save_job(&state, job.clone()).await?;
    announce_schedule(&state, &job);
    Ok(ApiJson(FailureResponse {
        job_id: job.job_id,
        next_attempt_at: job.next_attempt_at,
        state: job.state,
        recommendation: rec,
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

/// Marks each job with a recorded success as succeeded. The attempts are already durable, so a
/// store failure here is logged (the job stays due and is retried: at-least-once), not
/// answered as an error that would make the client send the attempts again.
pub async fn finish_succeeded(state: &AppState, attempts: &[AttemptRecord]) {
    let candidates = attempts
        .iter()
        .filter(|a| a.success && state.ops.may_be_pending(&a.job_id));
    for a in candidates {
        if let Err(e) = finish_one(state, a).await {
            tracing::warn!(job_id = %a.job_id, error = %e, "could not mark the job succeeded");
        }
    }
}

async fn finish_one(state: &AppState, attempt: &AttemptRecord) -> ApiResult<()> {
    let _job_lock = state.ops.lock_job(&attempt.job_id).await;
    let Some(job) = state.store_ok(state.store.get_job(&attempt.job_id).await)? else {
        return Ok(());
    };
    if let Some(done) = schedule::succeeded(&job, attempt.timestamp.max(job.updated_at)) {
        save_job(state, done).await?;
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
