//! The retry schedule's state changes, pure: each function takes the job and the time and
//! returns the job as it should be stored. Handlers do the I/O around them.

use crate::model::{
    AttemptRecord, ClaimRequest, FailureReport, FieldError, JobOverride, JobState, OverrideRequest,
    RetryFeatures, RetryRecommendation, ScheduledJob, parse_short_duration,
};
use chrono::{DateTime, Utc};

/// Longest delay an operator may set (30 days): further out is almost surely a typo.
pub const MAX_OVERRIDE_MS: u64 = 30 * 24 * 3_600_000;
/// Longest error text kept on a job (the rest is in the worker's logs, not our database).
pub const MAX_ERROR_TEXT: usize = 2_000;
/// Longest claim lease (1 hour) and most jobs per claim.
pub const MAX_LEASE_MS: u64 = 3_600_000;
pub const MAX_CLAIM_LIMIT: u32 = 1_000;

/// An operator action on a job that has already finished.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("job {job_id} is {state} and can no longer be changed")]
pub struct Finished {
    pub job_id: String,
    pub state: &'static str,
}

fn after(at: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    crate::model::after_ms(at, ms)
}

/// The features the engine needs for a reported failure. A failure of attempt 1 starts a new
/// episode; a later attempt continues the episode of the job already on the schedule.
pub fn failure_features(
    report: &FailureReport,
    previous: Option<&ScheduledJob>,
    at: DateTime<Utc>,
) -> RetryFeatures {
    attempt_features(report, &report.to_attempt(at), previous, at)
}

/// [`failure_features`] from the attempt `report` makes at `at` (`report.to_attempt(at)`),
/// already built by the caller: the same features without building the attempt twice.
pub fn attempt_features(
    report: &FailureReport,
    attempt: &AttemptRecord,
    previous: Option<&ScheduledJob>,
    at: DateTime<Utc>,
) -> RetryFeatures {
    let mut features = attempt.features();
    features.retry_after_ms = report.retry_after_ms;
    features.first_failure_at = episode_start(report, previous, at);
    features
}

fn episode_start(
    report: &FailureReport,
    previous: Option<&ScheduledJob>,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match previous {
        _ if report.attempt_number <= 1 => Some(at),
        Some(job) => Some(job.first_failure_at.min(at)),
        None => None,
    }
}

/// Whether the answer to `report` depends on the job as stored whatever its state: a later
/// attempt continues the stored episode, and a report under a lease is checked against the
/// stored claim. A first failure without a lease depends on it only if the job was killed (it
/// stays killed).
pub fn needs_stored_job(report: &FailureReport) -> bool {
    report.attempt_number > 1 || report.names_lease()
}

/// The job as scheduled by `rec` after the failure `report` at `at`: due at `at + delay` when
/// the recommendation says retry, exhausted otherwise. A killed job stays killed.
pub fn job_from_failure(
    report: &FailureReport,
    previous: Option<&ScheduledJob>,
    rec: RetryRecommendation,
    at: DateTime<Utc>,
) -> ScheduledJob {
    let (state, next) = match rec.should_retry {
        true => (JobState::Scheduled, Some(after(at, rec.delay_ms))),
        false => (JobState::Exhausted, None),
    };
    let first_failure_at = episode_start(report, previous, at).unwrap_or(at);
    let job = ScheduledJob {
        job_id: report.job_id.clone(),
        job_type: report.job_type.clone(),
        queue: report.queue.clone(),
        tenant: report.tenant.clone(),
        error_class: report.error_class.clone(),
        error_code: report.error_code.clone(),
        last_error: capped(&report.error_message, MAX_ERROR_TEXT),
        state,
        attempt_number: report.attempt_number,
        max_attempts: rec.max_attempts,
        next_attempt_at: next,
        first_failure_at,
        updated_at: at,
        recommendation: rec,
        r#override: None,
        claimed_by: None,
        lease_until: None,
    };
    match previous {
        Some(p) if p.state == JobState::Killed => stays_killed(job),
        _ => job,
    }
}

/// A job scheduled after a failure, as it is stored when an operator had killed it: still
/// killed, nothing due (a kill is final).
pub fn stays_killed(job: ScheduledJob) -> ScheduledJob {
    ScheduledJob {
        state: JobState::Killed,
        next_attempt_at: None,
        ..job
    }
}

fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A report made under a lease that no longer holds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("stale lease on job {job_id}: {why}; the report was not applied")]
pub struct StaleLease {
    pub job_id: String,
    pub why: String,
}

/// Whether a report made under a lease may be applied to the job as stored, at `at`: the job
/// is still claimed, by the worker the report names (`claimed_by`, when given) under the lease
/// it names (`lease_until`, when given), and that lease has not run out. A report naming
/// neither is not checked.
pub fn check_lease(
    report: &FailureReport,
    job: Option<&ScheduledJob>,
    at: DateTime<Utc>,
) -> Result<(), StaleLease> {
    if !report.names_lease() {
        return Ok(());
    }
    let stale = |why: String| {
        Err(StaleLease {
            job_id: report.job_id.clone(),
            why,
        })
    };
    let Some(job) = job else {
        return stale("the job is not on the schedule".into());
    };
    if job.state != JobState::Claimed {
        return stale(format!("the job is {} now", job.state.as_str()));
    }
    let other_worker = report
        .claimed_by
        .as_deref()
        .is_some_and(|worker| job.claimed_by.as_deref() != Some(worker));
    let other_lease = report
        .lease_until
        .is_some_and(|until| job.lease_until != Some(until));
    if other_worker || other_lease {
        let holder = job.claimed_by.as_deref().unwrap_or("nobody");
        return stale(format!("it was claimed again (by {holder})"));
    }
    match job.lease_until {
        Some(until) if until <= at => stale(format!("the lease ran out at {until}")),
        _ => Ok(()),
    }
}

/// Refuses an action on a finished job.
pub fn ensure_pending(job: &ScheduledJob) -> Result<(), Finished> {
    if job.state.is_pending() {
        Ok(())
    } else {
        Err(Finished {
            job_id: job.job_id.clone(),
            state: job.state.as_str(),
        })
    }
}

/// A success was recorded for the job at `at`: it is done. `None` when it was not pending
/// (already finished, or a success from an older episode).
pub fn succeeded(job: &ScheduledJob, at: DateTime<Utc>) -> Option<ScheduledJob> {
    job.state.is_pending().then(|| ScheduledJob {
        state: JobState::Succeeded,
        next_attempt_at: None,
        claimed_by: None,
        lease_until: None,
        updated_at: at,
        ..job.clone()
    })
}

/// When an override asks the next attempt to run, and the delay from `now` that means.
pub fn resolve_override(
    req: &OverrideRequest,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, u64), FieldError> {
    let given = [
        req.delay_ms.is_some(),
        req.delay.is_some(),
        req.at.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(FieldError::new(
            "delay_ms",
            "give only one of delay_ms, delay or at",
        ));
    }
    let (field, delay_ms) = if let Some(ms) = req.delay_ms {
        ("delay_ms", ms)
    } else if let Some(text) = &req.delay {
        ("delay", parse_delay(text)?)
    } else if let Some(at) = req.at {
        (
            "at",
            u64::try_from((at - now).num_milliseconds()).unwrap_or(0),
        )
    } else {
        return Err(FieldError::new(
            "delay_ms",
            "one of delay_ms, delay or at is required",
        ));
    };
    if req.reason.trim().is_empty() {
        return Err(FieldError::new(
            "reason",
            "required: say why the schedule is changed",
        ));
    }
    if delay_ms > MAX_OVERRIDE_MS {
        return Err(FieldError::new(field, "must be at most 30 days from now"));
    }
    let at = req.at.unwrap_or_else(|| after(now, delay_ms));
    Ok((at, delay_ms))
}

fn parse_delay(text: &str) -> Result<u64, FieldError> {
    let d = parse_short_duration(text).map_err(|e| FieldError::new("delay", e))?;
    Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The job rescheduled by an operator to run at `at`. A claimed job is released.
pub fn overridden(job: &ScheduledJob, ov: JobOverride) -> ScheduledJob {
    ScheduledJob {
        state: JobState::Scheduled,
        next_attempt_at: Some(ov.at),
        claimed_by: None,
        lease_until: None,
        updated_at: ov.created_at,
        r#override: Some(ov),
        ..job.clone()
    }
}

/// The job rescheduled by a fresh recommendation made at `now` (apply / use static).
pub fn rescheduled(
    job: &ScheduledJob,
    rec: RetryRecommendation,
    now: DateTime<Utc>,
) -> ScheduledJob {
    let (state, next) = if rec.should_retry {
        (JobState::Scheduled, Some(after(now, rec.delay_ms)))
    } else {
        (JobState::Exhausted, None)
    };
    ScheduledJob {
        state,
        next_attempt_at: next,
        max_attempts: rec.max_attempts,
        recommendation: rec,
        r#override: None,
        claimed_by: None,
        lease_until: None,
        updated_at: now,
        ..job.clone()
    }
}

/// The job due at once.
pub fn due_now(job: &ScheduledJob, now: DateTime<Utc>) -> ScheduledJob {
    ScheduledJob {
        state: JobState::Scheduled,
        next_attempt_at: Some(now),
        claimed_by: None,
        lease_until: None,
        updated_at: now,
        ..job.clone()
    }
}

/// The job killed by an operator: never retried again.
pub fn killed(job: &ScheduledJob, now: DateTime<Utc>) -> ScheduledJob {
    ScheduledJob {
        state: JobState::Killed,
        next_attempt_at: None,
        claimed_by: None,
        lease_until: None,
        updated_at: now,
        ..job.clone()
    }
}

/// Checks a claim request.
pub fn validate_claim(req: &ClaimRequest) -> Result<(), FieldError> {
    if req.worker.trim().is_empty() {
        return Err(FieldError::new("worker", "required and must not be empty"));
    }
    if req.limit == 0 || req.limit > MAX_CLAIM_LIMIT {
        return Err(FieldError::new(
            "limit",
            format!("must be 1–{MAX_CLAIM_LIMIT}"),
        ));
    }
    if req.lease_ms == 0 || req.lease_ms > MAX_LEASE_MS {
        return Err(FieldError::new(
            "lease_ms",
            format!("must be 1–{MAX_LEASE_MS} ms"),
        ));
    }
    Ok(())
}

/// When a lease taken at `now` for `lease_ms` ends.
pub fn lease_end(now: DateTime<Utc>, lease_ms: u64) -> DateTime<Utc> {
    after(now, lease_ms)
}

#[cfg(test)]
mod tests;
