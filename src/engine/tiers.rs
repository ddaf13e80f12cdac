//! A tier's answer before guardrails (`Draft`), the request context every tier reads, and the
//! rules and static tiers' drafts.

use super::StaticBackoff;
use super::rules::{self, CompiledPolicy, RulesInput, fmt_ms};
use crate::model::{Explanation, Fallback, Method, RetryFeatures};
use chrono::{DateTime, Utc};

/// What a recommendation is about: the failed attempt, the time, and the episode's view.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub features: &'a RetryFeatures,
    pub now: DateTime<Utc>,
    /// The attempt that failed (≥ 1).
    pub attempt: u32,
    /// Milliseconds since the episode's first failure, when known.
    pub elapsed_ms: Option<u64>,
    /// The wait before the attempt that failed, when known.
    pub previous_delay_ms: Option<u64>,
    /// The largest delay the guardrails allow.
    pub max_delay_ms: u64,
    /// The smallest delay the guardrails allow.
    pub min_delay_ms: u64,
    /// Hour of the day (UTC) the episode began.
    pub hour: u8,
}

/// A tier's answer before the guardrails.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub should_retry: bool,
    pub delay_ms: u64,
    pub max_attempts: u32,
    pub confidence: f64,
    pub estimated_success: f64,
    pub method: Method,
    pub rationale: String,
    pub explanation: Explanation,
    /// The Bayesian tier tried a delay other than its optimum (bounded exploration).
    pub explored: bool,
}

impl Draft {
    pub fn fallback(&mut self, from: Method, to: Method, reason: impl Into<String>) {
        self.explanation.fallbacks.push(Fallback {
            from,
            to,
            reason: reason.into(),
        });
    }
}

/// The static tier: fixed exponential backoff, the last resort.
pub fn static_draft(backoff: &StaticBackoff, ctx: &Ctx<'_>, explanation: Explanation) -> Draft {
    let attempt = ctx.attempt;
    let should_retry = attempt < backoff.max_attempts;
    let delay_ms = if should_retry {
        backoff.delay_ms(attempt)
    } else {
        0
    };
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

/// The rules tier for a matched policy.
pub fn rules_draft<R: rand::Rng>(
    policy: &CompiledPolicy,
    ctx: &Ctx<'_>,
    explanation: Explanation,
    rng: &mut R,
) -> Draft {
    let input = RulesInput {
        attempt: ctx.attempt,
        error_class: &ctx.features.error_class,
        retry_after_ms: ctx.features.retry_after_ms,
        previous_delay_ms: ctx.previous_delay_ms,
        max_delay_ms: ctx.max_delay_ms,
    };
    let answer = rules::decide(policy, input, rng);
    let mut explanation = explanation;
    explanation.policy = Some(answer.policy);
    Draft {
        should_retry: answer.should_retry,
        delay_ms: answer.delay_ms,
        max_attempts: answer.max_attempts,
        // A fixed policy is certain of what it says, not of the outcome.
        confidence: if answer.should_retry { 0.5 } else { 1.0 },
        estimated_success: 0.0,
        method: Method::Rules,
        rationale: answer.rationale,
        explanation,
        explored: false,
    }
}
