//! The ML tier as the first of the engine's tiers: which arm a request is in, the model's
//! draft (its choice by [`ml::serve::choose`], explained), and the shadow's forecast. Every
//! reason not to serve is returned, so the facade records it as a fall-back to the Bayesian
//! tier and counts model errors.

use super::ml::deployment::{Arm, Deployed, Deployment};
use super::ml::features::Situation;
use super::ml::live_check::{Decisions, Pairing, Valued, scope};
use super::ml::serve::{self, Choice, Setting};
use super::registry::{Models, Selected, Thresholds};
use super::rules::fmt_ms;
use super::tier::{Ctx, Draft};
use crate::model::{Explanation, Method, MlExplanation};
use chrono::Timelike;

/// What the ML tier did for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// ML was not asked (switched off in the strategy, nothing deployed to serve).
    NotAsked,
    /// The model served the draft; its prediction at the drift reference delay.
    Served { reference_prediction: f64 },
    /// A canary runs and this job is in the Bayesian share.
    Control,
    /// The tier could not answer for a reason that is not the model's fault.
    Declined(String),
    /// The model failed (error or non-finite output).
    Failed(String),
}

/// The request's situation as the features see it, counted at the decision time.
pub fn situation<'a>(ctx: &Ctx<'a>, deployment: &Deployment) -> Situation<'a> {
    let f = ctx.features;
    Situation {
        job_type: &f.job_type,
        error_class: &f.error_class,
        error_code: &f.error_code,
        queue: &f.queue,
        tenant: f.tenant.as_deref(),
        attempt: ctx.attempt,
        payload_size: f.payload_size,
        hour: ctx.now.hour() as u8,
        elapsed_ms: ctx.elapsed_ms.unwrap_or(0),
        recent_failures: deployment
            .recent
            .count(&f.queue, &f.error_class, ctx.now.timestamp()),
    }
}

/// What the tier needs from the engine besides the request.
pub struct Inputs<'a> {
    pub deployment: &'a Deployment,
    pub models: &'a Models,
    pub thresholds: Thresholds,
    pub max_attempts: u32,
}

/// The ML draft for `ctx`, or why not.
pub fn draft(
    inputs: &Inputs<'_>,
    ctx: &Ctx<'_>,
    explanation: &Explanation,
) -> (Option<Draft>, Step) {
    let dep = inputs.deployment;
    let Some((deployed, arm)) = &dep.serving else {
        let reason = "no ML model is deployed (POST /ml/deploy)".to_string();
        return (None, Step::Declined(reason));
    };
    if let Some(reason) = dep.off_reason(ctx.now) {
        return (None, Step::Declined(reason));
    }
    if let Arm::Canary(percent) = arm
        && !Deployment::in_canary(ctx.features.job_id.as_deref(), *percent)
    {
        return (None, Step::Control);
    }
    if ctx.features.retry_after_ms.is_some() {
        let reason = "a Retry-After hint decides the delay".to_string();
        return (None, Step::Declined(reason));
    }
    let attempts = inputs.max_attempts.saturating_sub(ctx.attempt) as usize;
    if attempts == 0 {
        let reason = format!("attempt {} was the last allowed", ctx.attempt);
        return (None, Step::Declined(reason));
    }
    let f = ctx.features;
    let chosen = match inputs.models.select(
        &f.job_type,
        &f.error_class,
        f.tenant.as_deref(),
        Some(ctx.hour),
        inputs.thresholds,
    ) {
        Ok(chosen) => chosen,
        Err(why) => {
            let reason = format!("no Bayesian model to value the attempts after this one: {why}");
            return (None, Step::Declined(reason));
        }
    };
    let situation = situation(ctx, dep);
    let setting = Setting {
        situation,
        survival: chosen.model,
        view: chosen.view,
        attempts,
    };
    match serve_draft(deployed, *arm, setting, inputs.max_attempts, explanation) {
        Ok((d, reference_prediction)) => (
            Some(d),
            Step::Served {
                reference_prediction,
            },
        ),
        Err(e) => (
            None,
            Step::Failed(format!("model {}: {e}", deployed.version)),
        ),
    }
}

fn serve_draft(
    deployed: &Deployed,
    arm: Arm,
    s: Setting<'_>,
    max_attempts: u32,
    explanation: &Explanation,
) -> Result<(Draft, f64), super::ml::MlError> {
    let choice = serve::choose(&deployed.model, s)?;
    let reference_delay = deployed.reference.reference_delay_ms;
    let reference = deployed
        .model
        .predict_delays(&s.situation, &[reference_delay])?[0];
    let at = choice.delay_ms.unwrap_or(0);
    let mut explanation = explanation.clone();
    explanation.ml = Some(ml_explanation(
        deployed,
        arm.name(),
        &s.situation,
        &choice,
        at,
    )?);
    let rationale = rationale(deployed, arm, &s.situation, &choice);
    explanation.alternatives = choice.alternatives;
    let confidence = choice.success.max(1.0 - choice.success);
    Ok((
        Draft {
            should_retry: choice.delay_ms.is_some(),
            delay_ms: at,
            max_attempts,
            confidence,
            estimated_success: if choice.delay_ms.is_some() {
                choice.success
            } else {
                0.0
            },
            method: Method::Ml,
            rationale,
            explanation,
            explored: false,
        },
        reference,
    ))
}

fn ml_explanation(
    deployed: &Deployed,
    arm: &str,
    situation: &Situation<'_>,
    choice: &Choice,
    delay_ms: u64,
) -> Result<MlExplanation, super::ml::MlError> {
    Ok(MlExplanation {
        version: deployed.version.clone(),
        model_type: model_type(&deployed.model),
        arm: arm.to_string(),
        success_probability: choice.success,
        delay_ms,
        contributions: serve::top_contributions(&deployed.model, situation, delay_ms)?,
    })
}

pub fn model_type(model: &super::ml::fitted::Fitted) -> String {
    super::ml::model_type_name(model.kind()).to_string()
}

fn rationale(deployed: &Deployed, arm: Arm, s: &Situation<'_>, c: &Choice) -> String {
    let who = format!(
        "ml {} ({}, {})",
        deployed.version,
        model_type(&deployed.model),
        arm.name()
    );
    match c.delay_ms {
        Some(delay) => format!(
            "{who}: P(success) {:.0}% for a retry in {} ({} after the first failure); expected cost {:.2} (giving up: {:.2})",
            c.success * 100.0,
            fmt_ms(delay),
            fmt_ms(s.elapsed_ms + delay),
            c.cost,
            c.give_up_cost
        ),
        None => format!(
            "{who}: stop: the best retry ({:.0}% success) costs more than giving up ({:.2})",
            c.success * 100.0,
            c.give_up_cost
        ),
    }
}

/// What the live check ([`super::ml::live_check`]) keeps of the retry `answer` schedules:
/// the serving model's and the Bayesian tier's P(success) at its delay (after the guardrails),
/// its scope, and — when that delay is the model's own choice — what the model's delay and
/// the Bayesian tier's cost-optimal choice cost by the expected-cost rule; `None` where either
/// tier cannot forecast it. The Bayesian forecast is the one the deploy gate compared on the
/// held-out retries: the survival model of the job's (job type, error class) in its deciding
/// view, at the first grid boundary at or after the retry's elapsed time.
pub fn paired(
    inputs: &Inputs<'_>,
    ctx: &Ctx<'_>,
    answer: &crate::model::RetryRecommendation,
) -> Option<Pairing> {
    let (deployed, _) = inputs.deployment.serving.as_ref()?;
    let delay_ms = answer.delay_ms;
    let situation = situation(ctx, inputs.deployment);
    let chosen = class_model(inputs, ctx)?;
    let model = *deployed
        .model
        .predict_delays(&situation, &[delay_ms])
        .ok()?
        .first()?;
    let j = boundary(situation.elapsed_ms + delay_ms);
    let bayesian = chosen
        .model
        .candidate_in(chosen.view, situation.elapsed_ms, j, 1)
        .success;
    let valid = |p: f64| (0.0..=1.0).contains(&p);
    if !(valid(model) && valid(bayesian)) {
        return None;
    }
    let own = answer
        .explanation
        .as_ref()
        .and_then(|e| e.ml.as_ref())
        .is_some_and(|m| m.delay_ms == delay_ms);
    let attempts = inputs.max_attempts.saturating_sub(ctx.attempt) as usize;
    let decisions =
        (own && attempts > 0).then(|| decisions(&chosen, &situation, delay_ms, attempts));
    Some(Pairing {
        model,
        bayesian,
        scope: scope(&ctx.features.queue, &ctx.features.error_class),
        decisions,
    })
}

/// The first grid boundary at or after `at_ms` of elapsed time.
fn boundary(at_ms: u64) -> usize {
    let grid = &super::survival::GRID_MS;
    grid.partition_point(|&b| b < at_ms).min(grid.len() - 1)
}

/// The model's served delay and the Bayesian tier's cost-optimal choice (or its stop), each
/// valued by the Bayesian tier: wait cost, continuation, P(success).
fn decisions(
    chosen: &Selected<'_>,
    situation: &Situation<'_>,
    delay_ms: u64,
    attempts: usize,
) -> Decisions {
    let (model, view, elapsed) = (chosen.model, chosen.view, situation.elapsed_ms);
    let params = model.params();
    let valued = |delay_ms: u64, j: usize| Valued {
        wait: (params.per_attempt + params.per_second * delay_ms as f64 / 1000.0) as f32,
        continuation: model.continuation(view, j, attempts) as f32,
        p: model.candidate_in(view, elapsed, j, 1).success as f32,
    };
    let bayesian = model
        .best_as(view, elapsed, attempts, 0)
        .map(|d| d.best)
        .filter(|best| best.cost < model.give_up_cost())
        .map(|best| valued(best.delay_ms, best.index));
    Decisions {
        model: valued(delay_ms, boundary(elapsed + delay_ms)),
        bayesian,
        give_up: model.give_up_cost() as f32,
    }
}

/// The Bayesian tier's model for `ctx`'s job, as it would decide it (most specific level with
/// enough data); `None` when there is none.
fn class_model<'m>(inputs: &Inputs<'m>, ctx: &Ctx<'_>) -> Option<Selected<'m>> {
    let f = ctx.features;
    inputs
        .models
        .select(
            &f.job_type,
            &f.error_class,
            f.tenant.as_deref(),
            Some(ctx.hour),
            inputs.thresholds,
        )
        .ok()
}

/// The shadow's forecast for the served retry after `delay_ms`, its forecast at the drift
/// reference delay, and the answer it would have given (explained), or why it could not.
pub fn shadow(
    inputs: &Inputs<'_>,
    ctx: &Ctx<'_>,
    delay_ms: u64,
) -> Option<Result<(f64, f64, MlExplanation), String>> {
    let deployed = inputs.deployment.shadow.as_ref()?;
    let situation = situation(ctx, inputs.deployment);
    let attempts = inputs.max_attempts.saturating_sub(ctx.attempt).max(1) as usize;
    let chosen = class_model(inputs, ctx)?;
    let run = || -> Result<(f64, f64, MlExplanation), super::ml::MlError> {
        let reference_delay = deployed.reference.reference_delay_ms;
        let p = deployed
            .model
            .predict_delays(&situation, &[delay_ms, reference_delay])?;
        let setting = Setting {
            situation,
            survival: chosen.model,
            view: chosen.view,
            attempts,
        };
        let choice = serve::choose(&deployed.model, setting)?;
        let at = choice.delay_ms.unwrap_or(0);
        Ok((
            p[0],
            p[1],
            ml_explanation(deployed, "shadow", &situation, &choice, at)?,
        ))
    };
    Some(run().map_err(|e| format!("shadow model {}: {e}", deployed.version)))
}
