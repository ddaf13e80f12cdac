//! Bulk actions on a job filter: one pass over the matching jobs on the server, each changed
//! by the same per-job state changes as the single-job actions ([`super::schedule`]), stored
//! in one batch write, announced per job on the event stream and audited once (the filter,
//! the action and the counts).
//!
//! While the pass runs every job lock is held, so a failure or an operator action on one of
//! the jobs waits for the batch instead of being overwritten by it. Recommendations take no
//! job lock and are not held up.

use super::events::kind;
use super::job_locks::JobGuard;
use super::schedule::{self, MAX_OVERRIDE_MS};
use super::state::AppState;
use crate::model::{
    BulkAction, BulkFilter, BulkRequest, BulkResult, BulkSkip, FieldError, JobOverride, JobState,
    ScheduledJob, parse_short_duration,
};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::store::{JobFilter, MAX_PAGE};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::HashSet;

/// Most skipped jobs listed in an answer (the count is always complete).
pub const MAX_SKIPS_LISTED: usize = 100;

/// A checked bulk request: the store filter and, for `override`, the delay.
#[derive(Debug, Clone)]
pub struct BulkPlan {
    pub request: BulkRequest,
    pub filter: JobFilter,
    delay_ms: u64,
}

/// Checks the request; every problem names its field.
pub fn plan(request: BulkRequest) -> Result<BulkPlan, FieldError> {
    if request.reason.trim().is_empty() {
        return Err(FieldError::new(
            "reason",
            "required: say why these jobs are changed",
        ));
    }
    let delay_ms = match (request.action, &request.delay) {
        (BulkAction::Override, None) => {
            return Err(FieldError::new(
                "delay",
                "required for action override, e.g. \"10m\"",
            ));
        }
        (BulkAction::Override, Some(text)) => parse_delay(text)?,
        (_, Some(_)) => {
            return Err(FieldError::new(
                "delay",
                "only action override takes a delay",
            ));
        }
        (_, None) => 0,
    };
    let filter = store_filter(&request.filter)?;
    Ok(BulkPlan {
        request,
        filter,
        delay_ms,
    })
}

fn parse_delay(text: &str) -> Result<u64, FieldError> {
    let d = parse_short_duration(text).map_err(|e| FieldError::new("delay", e))?;
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms > MAX_OVERRIDE_MS {
        return Err(FieldError::new("delay", "must be at most 30 days"));
    }
    Ok(ms)
}

fn store_filter(f: &BulkFilter) -> Result<JobFilter, FieldError> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let state = match given(&f.state) {
        None => None,
        Some(text) => Some(
            serde_json::from_value::<JobState>(json!(text)).map_err(|_| {
                FieldError::new(
                    "filter.state",
                    format!("unknown state {text:?}: one of scheduled, claimed, succeeded, exhausted, killed"),
                )
            })?,
        ),
    };
    Ok(JobFilter {
        queue: given(&f.queue),
        state,
        error_class: given(&f.error_class),
        job_type: given(&f.job_type),
        tenant: given(&f.tenant),
        text: given(&f.text),
        cursor: None,
        limit: MAX_PAGE,
    })
}

/// Runs the plan for `actor` at `now`: dry runs only count.
pub async fn run(state: &AppState, actor: &str, plan: BulkPlan) -> ApiResult<BulkResult> {
    let (_locked, matched) = lock_matching_jobs(state, &plan.filter).await?;
    let req = &plan.request;
    let (matched, arrived_after) = counted_before(matched, req.as_of);
    let count = matched.len() as u64;
    let as_of = matched.iter().map(|j| j.first_failure_at).max();
    let (pending, finished): (Vec<_>, Vec<_>) =
        matched.into_iter().partition(|j| j.state.is_pending());
    let to_change = pending.len() as u64;
    let over = state.config.limits.bulk_confirm_over;
    let needs_confirm = to_change > over;
    if needs_confirm && !req.dry_run && req.confirm.is_none_or(|c| c < to_change) {
        return Err(unconfirmed(to_change, over, req.confirm));
    }
    let now = state.now();
    let skipped = skips(&finished);
    let mut result = BulkResult {
        action: req.action,
        dry_run: req.dry_run,
        matched: count,
        changed: to_change,
        skipped,
        audit_id: None,
        needs_confirm,
        as_of,
        arrived_after,
    };
    if req.dry_run || count == 0 {
        return Ok(result);
    }
    let changed = off_the_runtime(state, &plan, actor, move |state, plan, actor| {
        pending
            .iter()
            .map(|job| change(state, plan, actor, job, now))
            .collect::<Vec<_>>()
    })
    .await?;
    let ids = store_all(state, changed).await?;
    off_the_runtime(state, &plan, actor, move |state, plan, actor| {
        announce(state, actor, plan, &ids)
    })
    .await?;
    let detail = json!({
        "filter": req.filter, "action": req.action, "delay": req.delay,
        "matched": count, "changed": result.changed, "skipped": finished.len(),
        "as_of": req.as_of, "arrived_after": arrived_after,
    });
    let target = describe(&req.filter);
    let action = format!("bulk_{}", req.action.as_str());
    result.audit_id = Some(
        state
            .audit(actor, &action, &target, &req.reason, detail)
            .await?,
    );
    Ok(result)
}

/// The jobs whose episode started at or before `as_of` (all without it), and how many
/// matched but started after it: jobs that failed for the first time since the count.
fn counted_before(
    jobs: Vec<ScheduledJob>,
    as_of: Option<DateTime<Utc>>,
) -> (Vec<ScheduledJob>, u64) {
    let Some(as_of) = as_of else {
        return (jobs, 0);
    };
    let before = jobs.len();
    let kept: Vec<_> = jobs
        .into_iter()
        .filter(|j| j.first_failure_at <= as_of)
        .collect();
    let after = (before - kept.len()) as u64;
    (kept, after)
}

/// The 409 for an action over `over` jobs without a `confirm` that covers them.
fn unconfirmed(to_change: u64, over: u64, confirm: Option<u64>) -> ApiError {
    let given = match confirm {
        Some(c) => format!(" (confirmed {c})"),
        None => String::new(),
    };
    ApiError::conflict(format!(
        "confirm: {to_change} pending jobs would change, more than {over} at once{given}: \
         send \"confirm\": {to_change} to act on them (and the dry run's \"as_of\" to leave out \
         jobs that fail for the first time after it)"
    ))
}

/// The jobs the filter matches, each locked and then read, so a failure or an operator
/// action on one of them meanwhile is not overwritten. Only the ids are read before locking
/// (cheap: no bodies); jobs that start to match after that read are left out: they arrived
/// after the command.
async fn lock_matching_jobs(
    state: &AppState,
    filter: &JobFilter,
) -> ApiResult<(Vec<JobGuard>, Vec<ScheduledJob>)> {
    let ids = state.store_read(state.store.list_job_ids(filter.clone()).await)?;
    let locked = state.ops.lock_jobs(ids.iter().map(String::as_str)).await;
    let ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut fresh = matching_jobs(state, filter).await?;
    fresh.retain(|j| ids.contains(j.job_id.as_str()));
    Ok((locked, fresh))
}

/// Every job the filter matches, page by page (10,000 a page).
async fn matching_jobs(state: &AppState, filter: &JobFilter) -> ApiResult<Vec<ScheduledJob>> {
    let mut filter = filter.clone();
    let mut jobs = Vec::new();
    loop {
        let page = state.store_read(state.store.list_jobs(filter.clone()).await)?;
        jobs.extend(page.jobs);
        match page.next_cursor {
            Some(next) => filter.cursor = Some(next),
            None => return Ok(jobs),
        }
    }
}

fn skips(finished: &[ScheduledJob]) -> Vec<BulkSkip> {
    finished
        .iter()
        .take(MAX_SKIPS_LISTED)
        .map(|j| BulkSkip {
            job_id: j.job_id.clone(),
            why: format!("{} and can no longer be changed", j.state.as_str()),
        })
        .collect()
}

/// One job after the action: the same state changes as the single-job actions.
fn change(
    state: &AppState,
    plan: &BulkPlan,
    actor: &str,
    job: &ScheduledJob,
    now: DateTime<Utc>,
) -> ScheduledJob {
    match plan.request.action {
        BulkAction::RetryNow => schedule::due_now(job, now),
        BulkAction::Kill => schedule::killed(job, now),
        BulkAction::Override => {
            let delay = i64::try_from(plan.delay_ms).unwrap_or(i64::MAX / 2);
            let ov = JobOverride {
                delay_ms: plan.delay_ms,
                at: now + Duration::milliseconds(delay),
                reason: plan.request.reason.clone(),
                actor: actor.to_string(),
                created_at: now,
            };
            schedule::overridden(job, ov)
        }
        BulkAction::ApplyStatic => {
            let rec = state
                .engine
                .lock()
                .static_recommendation(&job.features(), now);
            schedule::rescheduled(job, rec, now)
        }
    }
}

/// Runs `work`, which goes over thousands of jobs, on a blocking thread: on the runtime's
/// threads it would hold up the recommendations queued behind it for as long.
async fn off_the_runtime<T: Send + 'static>(
    state: &AppState,
    plan: &BulkPlan,
    actor: &str,
    work: impl FnOnce(&AppState, &BulkPlan, &str) -> T + Send + 'static,
) -> ApiResult<T> {
    let (state, plan, actor) = (state.clone(), plan.clone(), actor.to_string());
    tokio::task::spawn_blocking(move || work(&state, &plan, &actor))
        .await
        .map_err(|_| ApiError::internal("the bulk action's worker thread failed"))
}

/// Stores the changed jobs in one batch write and keeps the pending and killed sets in step;
/// the ids of the jobs stored.
async fn store_all(state: &AppState, jobs: Vec<ScheduledJob>) -> ApiResult<Vec<String>> {
    let stored: Vec<(String, JobState)> =
        jobs.iter().map(|j| (j.job_id.clone(), j.state)).collect();
    state.store_write(state.store.put_jobs(jobs).await)?;
    for (job_id, job_state) in &stored {
        state.ops.note_stored(job_id, *job_state);
        state.metrics.record_override();
    }
    Ok(stored.into_iter().map(|(id, _)| id).collect())
}

/// Events announced under one hold of the ops lock: recommendations take that lock too, so a
/// bulk action over thousands of jobs lets them in between chunks.
const EVENTS_PER_LOCK: usize = 500;

/// One event per changed job, so each job's history shows the bulk action.
fn announce(state: &AppState, actor: &str, plan: &BulkPlan, job_ids: &[String]) {
    let name = match plan.request.action {
        BulkAction::RetryNow => kind::RETRY_NOW,
        BulkAction::Kill => kind::KILL,
        BulkAction::Override => kind::OVERRIDE,
        BulkAction::ApplyStatic => kind::APPLY,
    };
    let now = state.now();
    let message = format!(
        "{actor} bulk {} ({}): {}",
        plan.request.action.as_str(),
        describe(&plan.request.filter),
        plan.request.reason
    );
    for chunk in job_ids.chunks(EVENTS_PER_LOCK) {
        let mut ops = state.ops.lock();
        for job_id in chunk {
            ops.events.push(now, name, Some(job_id), message.clone());
        }
    }
}

/// The filter as operators write it: `queue:webhooks error_class:timeout`, or `all jobs`.
pub fn describe(f: &BulkFilter) -> String {
    let parts: Vec<String> = [
        ("queue", &f.queue),
        ("state", &f.state),
        ("error_class", &f.error_class),
        ("job_type", &f.job_type),
        ("tenant", &f.tenant),
        ("text", &f.text),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|v| format!("{k}:{v}"))
    })
    .collect();
    if parts.is_empty() {
        "all jobs".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(action: BulkAction) -> BulkRequest {
        BulkRequest {
            filter: BulkFilter::default(),
            action,
            delay: None,
            reason: "dependency down".into(),
            dry_run: false,
            confirm: None,
            as_of: None,
        }
    }

    #[test]
    fn plan_names_the_field_at_fault() {
        let field = |r: BulkRequest| plan(r).unwrap_err().field;
        let mut no_reason = request(BulkAction::Kill);
        no_reason.reason = "  ".into();
        assert_eq!(field(no_reason), "reason");
        assert_eq!(field(request(BulkAction::Override)), "delay");
        let mut delay_on_kill = request(BulkAction::Kill);
        delay_on_kill.delay = Some("1m".into());
        assert_eq!(field(delay_on_kill), "delay");
        let mut too_far = request(BulkAction::Override);
        too_far.delay = Some("800h".into());
        assert_eq!(field(too_far), "delay");
        let mut bad_state = request(BulkAction::Kill);
        bad_state.filter.state = Some("burning".into());
        assert_eq!(field(bad_state), "filter.state");
    }

    #[test]
    fn describe_lists_the_fields_given() {
        let f = BulkFilter {
            queue: Some("webhooks".into()),
            error_class: Some("connection_refused".into()),
            text: Some(String::new()),
            ..BulkFilter::default()
        };
        assert_eq!(
            describe(&f),
            "queue:webhooks error_class:connection_refused"
        );
        assert_eq!(describe(&BulkFilter::default()), "all jobs");
    }
}
