//! Preview: the whole planned schedule from the failed attempt on, assuming each planned
//! attempt fails too, without spending budget, quota or the engine's random state.
//!
//! Each timeline entry's `estimated_success` is CUMULATIVE: the chance that the job has
//! succeeded by that attempt. The per-attempt figure is in the matching recommendation.
//!
//! A job on the schedule already has its next attempt fixed (`next_attempt_at`, set by the
//! recommendation it got, by applying the static backoff, or by an operator's override):
//! [`job_plan`] starts there, with that step as it was decided, and plans the rest from it.

use super::Engine;
use super::explain::finish;
use super::tier::Ctx;
use crate::model::{RetryFeatures, RetryPreview, RetryRecommendation, ScheduledJob, TimelineEntry};
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

/// Attempts a preview lists at most, whatever the request says.
const MAX_PREVIEW_ATTEMPTS: u32 = 50;

pub fn plan(
    engine: &Engine,
    features: &RetryFeatures,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> RetryPreview {
    plan_with(engine, features, max_attempts, now, engine.rng.clone())
}

/// [`plan`] drawing jitter and exploration from `rng`.
fn plan_with(
    engine: &Engine,
    features: &RetryFeatures,
    max_attempts: u32,
    now: DateTime<Utc>,
    mut rng: Xoshiro256PlusPlus,
) -> RetryPreview {
    let first = engine.context(features, now);
    let (min_delay_ms, max_delay_ms) = (first.min_delay_ms, first.max_delay_ms);
    let limit = if max_attempts == 0 {
        MAX_PREVIEW_ATTEMPTS
    } else {
        max_attempts.min(MAX_PREVIEW_ATTEMPTS)
    };
    let mut current = features.clone();
    let (mut elapsed_ms, mut previous_delay_ms) = (first.elapsed_ms, first.previous_delay_ms);
    let mut at = now;
    let mut survive = 1.0;
    let mut recommendations = Vec::new();
    let mut timeline = Vec::new();
    loop {
        let ctx = Ctx {
            features: &current,
            now: at,
            attempt: current.failed_attempt(),
            elapsed_ms,
            previous_delay_ms,
            max_delay_ms,
            min_delay_ms,
            hour: first.hour,
            view_evidence: first.view_evidence,
        };
        let (draft, _) = engine.draft(&ctx, &mut rng);
        let verdict = engine.verdict(&ctx, &draft);
        let rec = finish(draft, verdict, &ctx);
        let next_attempt = ctx.attempt.saturating_add(1);
        let keep_going = rec.should_retry && next_attempt <= limit;
        let delay = rec.delay_ms;
        if keep_going {
            at = crate::model::after_ms(at, delay);
            survive *= 1.0 - rec.estimated_success.clamp(0.0, 1.0);
            timeline.push(TimelineEntry {
                attempt_number: next_attempt,
                scheduled_time: at,
                estimated_success: 1.0 - survive,
                delay_ms: delay,
                method: rec.method,
                rationale: rec.rationale.clone(),
                overridden: false,
            });
        }
        recommendations.push(rec);
        if !keep_going {
            break;
        }
        // The next step: that attempt failed too, `delay` later.
        current.attempt_number = next_attempt;
        current.retry_after_ms = None;
        elapsed_ms = Some(elapsed_ms.unwrap_or(0) + delay);
        previous_delay_ms = Some(delay);
    }
    RetryPreview {
        job_id: features.job_id.clone().unwrap_or_default(),
        current_attempt: features.failed_attempt(),
        features: features.clone(),
        recommendations,
        timeline,
        generated_at: now,
    }
}

/// The plan of a pending job: its next attempt where the schedule has it, decided as it was
/// (the recommendation it got, the static backoff applied to it, or an operator's override),
/// then what the engine would recommend if that attempt failed too, and so on.
pub fn job_plan(engine: &Engine, job: &ScheduledJob) -> RetryPreview {
    let at = job.next_attempt_at.unwrap_or(job.updated_at);
    let first = first_step(engine, job);
    let limit = job.max_attempts.max(job.attempt_number.saturating_add(1));
    let next_attempt = job.attempt_number.saturating_add(1);
    let mut timeline = vec![TimelineEntry {
        attempt_number: next_attempt,
        scheduled_time: at,
        estimated_success: first.estimated_success.clamp(0.0, 1.0),
        delay_ms: first.delay_ms,
        method: first.method,
        rationale: first.rationale.clone(),
        overridden: job.r#override.is_some(),
    }];
    let mut recommendations = vec![first];
    if next_attempt < limit {
        let mut after = job.features();
        after.attempt_number = next_attempt;
        let rest = plan_with(engine, &after, limit, at, job_rng(job));
        let missed = 1.0 - timeline[0].estimated_success;
        timeline.extend(rest.timeline.into_iter().map(|step| TimelineEntry {
            estimated_success: 1.0 - missed * (1.0 - step.estimated_success),
            ..step
        }));
        recommendations.extend(rest.recommendations);
    }
    RetryPreview {
        job_id: job.job_id.clone(),
        current_attempt: job.attempt_number,
        features: job.features(),
        recommendations,
        timeline,
        generated_at: job.updated_at,
    }
}

/// Jitter and exploration for a job's plan come from the job itself (id and attempt), not
/// from the engine's generator, which every recommendation advances: the plan shown for a job
/// stays the same between polls unless what the engine learned changes it.
fn job_rng(job: &ScheduledJob) -> Xoshiro256PlusPlus {
    // FNV-1a: stable across runs and Rust versions, unlike the standard hasher.
    let seed = job
        .job_id
        .bytes()
        .chain(job.attempt_number.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// The decision behind the job's next attempt: its recommendation, or the override that
/// replaced its delay (with the success estimate at the overridden delay).
fn first_step(engine: &Engine, job: &ScheduledJob) -> RetryRecommendation {
    let rec = job.recommendation.clone();
    let Some(ov) = &job.r#override else {
        return rec;
    };
    let features = job.features();
    let ctx = engine.context(&features, ov.created_at);
    RetryRecommendation {
        delay_ms: ov.delay_ms,
        estimated_success: super::explain::success_estimate(&engine.models, &ctx, ov.delay_ms),
        rationale: format!("set by {}: {}", ov.actor, ov.reason),
        ..rec
    }
}
