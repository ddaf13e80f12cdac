//! What every tier shares: the request context it reads (`Ctx`) and the answer it drafts
//! before the guardrails (`Draft`).
//!
//! The tiers are tried in order, each falling back to the next with the reason recorded in the
//! explanation: ML (`ml_tier`) → Bayesian (`bayes`) → rules (`rules`) → static backoff
//! (`static_backoff`). Each tier is a file that turns a `Ctx` into a `Draft`; the facade's
//! `Engine::draft` chains them.

use super::episodes::Episode;
use super::guardrails::GuardInput;
use crate::model::{Explanation, Fallback, Method, PolicyGuardrails, RetryFeatures};
use chrono::{DateTime, Timelike, Utc};

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
    /// The job's own evidence on its view (`Episode::view_evidence`; 0 when unknown).
    pub view_evidence: f64,
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
        fall_back(&mut self.explanation, from, to, reason);
    }
}

/// Records in `explanation` that tier `from` gave way to `to`, and why.
pub fn fall_back(
    explanation: &mut Explanation,
    from: Method,
    to: Method,
    reason: impl Into<String>,
) {
    explanation.fallbacks.push(Fallback {
        from,
        to,
        reason: reason.into(),
    });
}

/// The request context: attempt, elapsed time since the episode began, previous delay.
/// Elapsed comes from the job's open `episode` (record times), else `first_failure_at`, else
/// `since_last_failure`.
pub fn context<'a>(
    features: &'a RetryFeatures,
    now: DateTime<Utc>,
    episode: Option<&Episode>,
    guardrails: &PolicyGuardrails,
) -> Ctx<'a> {
    let attempt = features.failed_attempt();
    let began = episode
        .map(|e| e.first_failure)
        .or(features.first_failure_at);
    let (elapsed_ms, previous_delay_ms) = match episode {
        Some(e) if e.last_attempt == attempt => (Some(e.last_elapsed_ms()), Some(e.last_delay_ms)),
        Some(e) => (Some(e.elapsed_at(now)), None),
        None => {
            let since_first = features
                .first_failure_at
                .map(|t| (now - t).num_milliseconds().max(0) as u64);
            let since_last = features.since_last_failure.map(|d| d.as_millis());
            (since_first.or(since_last), None)
        }
    };
    Ctx {
        features,
        now,
        attempt,
        elapsed_ms,
        previous_delay_ms,
        max_delay_ms: guardrails.max_delay_ms.max(guardrails.min_delay_ms),
        min_delay_ms: guardrails.min_delay_ms,
        hour: began
            .unwrap_or_else(|| crate::model::before_ms(now, elapsed_ms.unwrap_or(0)))
            .hour() as u8,
        view_evidence: episode.map_or(0.0, |e| e.view_evidence),
    }
}

/// What the guardrails need to know from the context.
pub fn guard_input<'a>(ctx: &Ctx<'a>) -> GuardInput<'a> {
    GuardInput {
        attempt: ctx.attempt,
        queue: &ctx.features.queue,
        tenant: ctx.features.tenant.as_deref(),
        error_class: &ctx.features.error_class,
        now: ctx.now,
        elapsed_ms: ctx.elapsed_ms,
    }
}
