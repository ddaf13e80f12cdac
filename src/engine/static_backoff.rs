//! The static tier: a fixed exponential backoff, the last resort when no other tier answers,
//! and the baseline every recommendation is compared with.

use super::rules::fmt_ms;
use super::tier::{Ctx, Draft};
use crate::model::{Explanation, Method};
use serde::{Deserialize, Serialize};

/// The fixed exponential backoff of the last tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticBackoff {
    pub base_ms: u64,
    pub max_ms: u64,
    pub max_attempts: u32,
}

impl Default for StaticBackoff {
    fn default() -> Self {
        Self {
            base_ms: 2_000,
            max_ms: 32_000,
            max_attempts: 5,
        }
    }
}

impl StaticBackoff {
    /// Delay before the retry that follows failed attempt `attempt` (1-based).
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(40);
        self.base_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms)
    }

    /// Whether to retry after failed attempt `attempt`, and the delay (0 when not).
    pub fn decide(&self, attempt: u32) -> (bool, u64) {
        if attempt < self.max_attempts {
            (true, self.delay_ms(attempt))
        } else {
            (false, 0)
        }
    }
}

/// The static tier's draft.
pub fn draft(backoff: &StaticBackoff, ctx: &Ctx<'_>, explanation: Explanation) -> Draft {
    let attempt = ctx.attempt;
    let (should_retry, delay_ms) = backoff.decide(attempt);
    let rationale = if should_retry {
        format!(
            "static: exponential backoff {} doubling to {}: attempt {attempt} of {} → {}",
            fmt_ms(backoff.base_ms),
            fmt_ms(backoff.max_ms),
            backoff.max_attempts,
            fmt_ms(delay_ms)
        )
    } else {
        format!(
            "static: attempt {attempt} failed and static backoff allows {} attempts: stop",
            backoff.max_attempts
        )
    };
    Draft {
        should_retry,
        delay_ms,
        max_attempts: backoff.max_attempts,
        confidence: 0.0,
        estimated_success: 0.0,
        method: Method::Static,
        rationale,
        explanation,
        explored: false,
    }
}
