//! The explanation of an answer: what a model says about a rules or static delay, the similar
//! cases behind it, and the wire answer built from a draft and the guardrails' verdict (each
//! guardrail that changed the answer named in `policy_guardrails` and the rationale).

use super::guardrails::Verdict;
use super::registry::{Models, Selected, Thresholds};
use super::survival::{GRID_MS, SurvivalModel};
use super::tier::{Ctx, Draft};
use crate::model::{Method, RetryRecommendation, SimilarCase};
use chrono::{DateTime, Utc};

/// Similar cases shown in an explanation.
const SIMILAR_CASES: usize = 5;

/// Recent outcomes of the request's (job type, error class) nearest to the attempt
/// `delay_ms` from now.
pub fn similar(models: &Models, ctx: &Ctx<'_>, delay_ms: u64) -> Vec<SimilarCase> {
    let target = ctx.elapsed_ms.unwrap_or(0) + delay_ms;
    models.similar(
        &ctx.features.job_type,
        &ctx.features.error_class,
        target,
        SIMILAR_CASES,
        // A job's own earlier attempts are its history, not a similar case.
        ctx.features.job_id.as_deref(),
    )
}

/// What a model, even one too young to decide, says about a rules/static delay: the
/// chance that retry succeeds, from the retries of (job type, error class) observed so far,
/// else from the model's prior. The rationale says which.
pub fn annotate(models: &Models, d: &mut Draft, ctx: &Ctx<'_>) {
    let f = ctx.features;
    let found = observed_model(models, ctx);
    if d.should_retry {
        let model = found.as_ref().map_or(models.prior(), |c| c.model);
        d.estimated_success = success_at(model, ctx, d.delay_ms);
        let source = match &found {
            Some(Selected { key, model: m, .. }) => format!(
                "observed: {} {} of {}",
                m.samples(),
                if m.samples() == 1 { "retry" } else { "retries" },
                key.label()
            ),
            None => format!(
                "prior: no retry of {}/{} observed yet",
                f.job_type, f.error_class
            ),
        };
        d.rationale.push_str(&format!(
            " (P(success) {:.0}%, {source})",
            d.estimated_success * 100.0
        ));
    }
    if let Some(chosen) = found {
        d.explanation.model_key.get_or_insert(chosen.key.label());
    }
    d.explanation.similar_cases = similar(models, ctx, d.delay_ms);
}

/// The chance a retry after `delay_ms` succeeds: from the retries of (job type, error
/// class) observed so far, else the prior (what [`annotate`] reports, without the text).
pub fn success_estimate(models: &Models, ctx: &Ctx<'_>, delay_ms: u64) -> f64 {
    let model = observed_model(models, ctx).map_or(models.prior(), |c| c.model);
    success_at(model, ctx, delay_ms)
}

/// The (job type, error class) model with at least one observed retry, whatever its age.
fn observed_model<'m>(models: &'m Models, ctx: &Ctx<'_>) -> Option<Selected<'m>> {
    let f = ctx.features;
    let any = Thresholds {
        min_samples: 1,
        tenant_min_samples: u64::MAX,
    };
    models
        .select(&f.job_type, &f.error_class, None, None, any)
        .ok()
}

/// A model's chance that the attempt `delay_ms` after the failure in `ctx` succeeds.
fn success_at(model: &SurvivalModel, ctx: &Ctx<'_>, delay_ms: u64) -> f64 {
    let elapsed = ctx.elapsed_ms.unwrap_or(0);
    let j = GRID_MS
        .partition_point(|&b| b < elapsed + delay_ms)
        .min(GRID_MS.len() - 1);
    model.candidate(elapsed, j, 1).success
}

/// The wire answer: the draft with the guardrails' verdict, named in `policy_guardrails`.
pub fn finish(draft: Draft, verdict: Verdict, ctx: &Ctx<'_>) -> RetryRecommendation {
    let mut rationale = draft.rationale;
    let mut explanation = draft.explanation;
    for effect in &verdict.effects {
        rationale.push_str(&format!("; guardrail {}: {}", effect.name, effect.detail));
    }
    let policy_guardrails = verdict.effects.iter().map(|e| e.name.clone()).collect();
    explanation.guardrails = verdict.effects;
    let delay = if verdict.should_retry {
        verdict.delay_ms
    } else {
        0
    };
    for alt in &mut explanation.alternatives {
        alt.chosen = verdict.should_retry && alt.delay_ms == delay;
    }
    RetryRecommendation {
        should_retry: verdict.should_retry,
        delay_ms: delay,
        max_attempts: verdict.max_attempts,
        confidence: draft.confidence,
        rationale,
        method: draft.method,
        estimated_success: draft.estimated_success,
        next_evaluation: crate::model::after_ms(ctx.now, delay),
        policy_guardrails,
        explanation: Some(explanation),
    }
}

/// The static tier's answer in brief (no rationale, explanation or similar cases): the
/// verdict and the given `estimated_success`.
pub fn brief(verdict: &Verdict, estimated_success: f64, now: DateTime<Utc>) -> RetryRecommendation {
    let delay_ms = if verdict.should_retry {
        verdict.delay_ms
    } else {
        0
    };
    RetryRecommendation {
        should_retry: verdict.should_retry,
        delay_ms,
        max_attempts: verdict.max_attempts,
        confidence: 0.0,
        rationale: String::new(),
        method: Method::Static,
        estimated_success,
        next_evaluation: crate::model::after_ms(now, delay_ms),
        policy_guardrails: Vec::new(),
        explanation: None,
    }
}
