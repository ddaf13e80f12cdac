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
    let count = matched.len() as u64;
    let req = &plan.request;
    let needs_confirm = count > state.config.limits.bulk_confirm_over;
    if needs_confirm && !req.dry_run && req.confirm != Some(count) {
        return Err(ApiError::conflict(format!(
            "confirm: {count} jobs match, more than {} at once: send \"confirm\": {count} to act on them",
            state.config.limits.bulk_confirm_over
        )));
    }
    let now = state.now();
    let (pending, finished): (Vec<_>, Vec<_>) =
        matched.into_iter().partition(|j| j.state.is_pending());
    let skipped = skips(&finished);
    let mut result = BulkResult {
        action: req.action,
        dry_run: req.dry_run,
        matched: count,
        changed: pending.len() as u64,
        skipped,
        audit_id: None,
        needs_confirm,
    };
    if req.dry_run || count == 0 {
        return Ok(result);
    }
    let changed: Vec<ScheduledJob> = pending
        .iter()
        .map(|job| change(state, &plan, actor, job, now))
        .collect();
    store_all(state, &changed).await?;
    announce(state, actor, &plan, &changed);
    let detail = json!({
        "filter": req.filter, "action": req.action, "delay": req.delay,
        "matched": count, "changed": changed.len(), "skipped": finished.len(),
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

/// The jobs the filter matches, each locked and read again under its lock, so a failure or
/// an operator action on one of them meanwhile is not overwritten. Jobs that start to match
/// after the first read are left out: they arrived after the command.
async fn lock_matching_jobs(
    state: &AppState,
    filter: &JobFilter,
) -> ApiResult<(Vec<JobGuard>, Vec<ScheduledJob>)> {
    let first = matching_jobs(state, filter).await?;
    let locked = state
        .ops
        .lock_jobs(first.iter().map(|j| j.job_id.as_str()))
        .await;
    let ids: HashSet<&str> = first.iter().map(|j| j.job_id.as_str()).collect();
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

/// Stores the changed jobs in one batch write and keeps the pending and killed sets in step.
async fn store_all(state: &AppState, jobs: &[ScheduledJob]) -> ApiResult<()> {
    state.store_write(state.store.put_jobs(jobs.to_vec()).await)?;
    for job in jobs {
        state.ops.note_stored(&job.job_id, job.state);
        state.metrics.record_override();
    }
    Ok(())
}

/// One event per changed job, so each job's history shows the bulk action.
fn announce(state: &AppState, actor: &str, plan: &BulkPlan, jobs: &[ScheduledJob]) {
    let name = match plan.request.action {
        BulkAction::RetryNow => kind::RETRY_NOW,
        BulkAction::Kill => kind::KILL,
        BulkAction::Override => kind::OVERRIDE,
        BulkAction::ApplyStatic => kind::APPLY,
    };
    let now = state.now();
    let mut ops = state.ops.lock();
    for job in jobs {
        let message = format!(
            "{actor} bulk {} ({}): {}",
            plan.request.action.as_str(),
            describe(&plan.request.filter),
            plan.request.reason
        );
        ops.events.push(now, name, Some(&job.job_id), message);
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
