//! The smart-vs-static comparison per job: what a job can expect from its first failure on
//! (retries made, time to success, the chance of giving up) under the smart plan and under
//! the static backoff, both judged by the same recovery model of its (job type, error class).
//! Sums of recommended waits would mislead: a strategy that waits longer once and then
//! succeeds beats one that retries five times in vain.

use super::explain::success_estimate;
use super::registry::Models;
use super::tier::Ctx;
use crate::model::JobExpectation;

/// The expectation of a job at `ctx` whose next attempts come after `delays` (each counted
/// from the attempt before), until one succeeds or the plan ends.
pub fn expectation(models: &Models, ctx: &Ctx<'_>, delays: &[u64]) -> JobExpectation {
    let start = ctx.elapsed_ms.unwrap_or(0);
    let (mut elapsed, mut survive) = (start, 1.0);
    let (mut attempts, mut time_sum) = (0.0, 0.0);
    for &delay in delays {
        let at = Ctx {
            elapsed_ms: Some(elapsed),
            ..*ctx
        };
        let p = success_estimate(models, &at, delay).clamp(0.0, 1.0);
        attempts += survive;
        elapsed = elapsed.saturating_add(delay);
        time_sum += survive * p * (elapsed - start) as f64;
        survive *= 1.0 - p;
    }
    let succeeds = 1.0 - survive;
    JobExpectation {
        attempts,
        time_to_success_ms: if succeeds > 0.0 {
            time_sum / succeeds
        } else {
            0.0
        },
        give_up: survive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::settings::solve_params;
    use crate::engine::{EngineSettings, default_strategy};
    use crate::model::RetryFeatures;
    use chrono::Utc;

    #[test]
    fn more_attempts_give_up_less_and_each_is_counted_only_if_reached() {
        let models = Models::new(solve_params(
            &default_strategy(),
            &EngineSettings::default(),
        ));
        let features = RetryFeatures {
            job_type: "email".into(),
            error_class: "timeout".into(),
            attempt_number: 1,
            ..RetryFeatures::default()
        };
        let ctx = crate::engine::tier::context(
            &features,
            Utc::now(),
            None,
            &default_strategy().guardrails,
        );
        let none = expectation(&models, &ctx, &[]);
        assert_eq!((none.attempts, none.give_up), (0.0, 1.0));
        let one = expectation(&models, &ctx, &[1_000]);
        let three = expectation(&models, &ctx, &[1_000, 2_000, 4_000]);
        assert_eq!(one.attempts, 1.0);
        assert!(three.give_up < one.give_up, "{three:?} vs {one:?}");
        assert!(three.attempts > 1.0 && three.attempts < 3.0, "{three:?}");
        assert!(three.time_to_success_ms >= 1_000.0, "{three:?}");
        assert!(three.time_to_success_ms <= 7_000.0, "{three:?}");
    }
}
