//! Preview: the whole planned schedule from the failed attempt on, assuming each planned
//! attempt fails too, without spending budget, quota or the engine's random state.
//!
//! Each timeline entry's `estimated_success` is CUMULATIVE: the chance that the job has
//! succeeded by that attempt. The per-attempt figure is in the matching recommendation.

use super::Engine;
use super::explain::finish;
use super::tier::Ctx;
use crate::model::{RetryFeatures, RetryPreview, TimelineEntry};
use chrono::{DateTime, Duration, Utc};

/// Attempts a preview lists at most, whatever the request says.
const MAX_PREVIEW_ATTEMPTS: u32 = 50;

pub fn plan(
    engine: &Engine,
    features: &RetryFeatures,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> RetryPreview {
    let mut rng = engine.rng.clone();
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
        let draft = engine.draft(&ctx, &mut rng);
        let verdict = engine.verdict(&ctx, &draft);
        let rec = finish(draft, verdict, &ctx);
        let next_attempt = ctx.attempt + 1;
        let keep_going = rec.should_retry && next_attempt <= limit;
        let delay = rec.delay_ms;
        if keep_going {
            at += Duration::milliseconds(delay as i64);
            survive *= 1.0 - rec.estimated_success.clamp(0.0, 1.0);
            timeline.push(TimelineEntry {
                attempt_number: next_attempt,
                scheduled_time: at,
                estimated_success: 1.0 - survive,
                delay_ms: delay,
                method: rec.method,
                rationale: rec.rationale.clone(),
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
