//! The Bayesian tier: the most specific model in the registry with enough data, and its
//! decision — the cost-optimal next attempt from the survival model (or stop), Retry-After
//! hints honoured, bounded exploration within a share of the decisions — with the rationale,
//! alternatives, posterior and similar cases behind it. Until a retry of its job type has
//! succeeded, a job that has spent half its attempts spreads the rest in log-time to its
//! maximum retry age ([`in_reserve`], [`sparing_floor`]).

use super::explain;
use super::registry::{ModelKey, sample_confidence};
use super::registry::{Models, Thresholds};
use super::rules::fmt_ms;
use super::stats::BetaSummary;
use super::survival::{Candidate, Decision, GRID_MS, SurvivalModel, View, job_view};
use super::tier::{Ctx, Draft};
use crate::model::{Alternative, Explanation, Method, Posterior};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Boundaries on each side of the optimum that exploration may try.
const EXPLORE_SPAN: usize = 3;
/// Exploration tries only delays whose expected cost is within this factor of the optimum's.
const EXPLORE_SLACK: f64 = 1.1;

/// Bayesian retries recommended and how many of them explored (never more than the share).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ExploreShare {
    pub(super) decided: u64,
    pub(super) explored: u64,
}

impl ExploreShare {
    /// The chance to explore now: `rate`, or 0 when one more exploration would exceed the
    /// share `rate` of the decisions.
    pub fn rate_now(&self, rate: f64) -> f64 {
        let share_left = (self.explored + 1) as f64 <= rate * (self.decided + 1) as f64;
        if share_left { rate } else { 0.0 }
    }

    /// Counts a draft of this tier that says retry.
    pub fn record(&mut self, draft: &Draft) {
        if draft.method == Method::Bayesian && draft.should_retry {
            self.decided += 1;
            self.explored += u64::from(draft.explored);
        }
    }
}

/// What the tier needs from the engine's settings and strategy to pick and use a model.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub thresholds: Thresholds,
    pub credibility: f64,
    pub threshold: f64,
    /// Attempts the guardrails allow in all.
    pub max_attempts: u32,
    /// How long after its first failure a job may still retry (`max_retry_age`, ms).
    pub max_retry_age_ms: u64,
    /// Probability of exploring this time (see [`ExploreShare::rate_now`]).
    pub explore_rate: f64,
    /// No retry of the job's (job type, error class) has succeeded yet: once it has spent half
    /// its attempts, the rest are spread ([`in_reserve`], [`sparing_floor`]).
    pub spread: bool,
}

/// The tier's draft from the most specific model with enough data, or why it cannot answer.
pub fn tier<R: rand::Rng>(
    models: &Models,
    setup: Setup,
    ctx: &Ctx<'_>,
    explanation: &Explanation,
    rng: &mut R,
) -> Result<Draft, String> {
    let f = ctx.features;
    let chosen = models
        .select(
            &f.job_type,
            &f.error_class,
            f.tenant.as_deref(),
            Some(ctx.hour),
            setup.thresholds,
        )
        .map_err(|none| none.to_string())?;
    let key = &chosen.key;
    let input = BayesInput {
        key,
        model: chosen.model,
        view: chosen.view,
        spread: setup.spread,
        credibility: setup.credibility,
        threshold: setup.threshold,
        max_attempts: setup.max_attempts,
        max_retry_age_ms: setup.max_retry_age_ms,
        explore_rate: setup.explore_rate,
    };
    let mut d = draft(input, ctx, explanation.clone(), rng).ok_or_else(|| {
        format!(
            "elapsed time {} is past the horizon of model {}",
            fmt_ms(ctx.elapsed_ms.unwrap_or(0)),
            key.label()
        )
    })?;
    d.explanation.similar_cases = explain::similar(models, ctx, d.delay_ms);
    Ok(d)
}

/// What the tier needs besides the model.
#[derive(Debug, Clone, Copy)]
pub struct BayesInput<'a> {
    pub key: &'a ModelKey,
    pub model: &'a SurvivalModel,
    /// The view the model decides in (its own, or its class's: `Models::select`) unless the
    /// job's own evidence chooses.
    pub view: View,
    /// No retry of the job's type has succeeded: spread its reserve ([`Setup::spread`]).
    pub spread: bool,
    pub credibility: f64,
    pub threshold: f64,
    /// Attempts the guardrails allow in all.
    pub max_attempts: u32,
    /// How long after its first failure the job may still retry (ms): the spread's end.
    pub max_retry_age_ms: u64,
    /// Probability of exploring this time; 0 when the exploration share is used up.
    pub explore_rate: f64,
}

/// The tier's draft, or `None` when the elapsed time is past the model's horizon.
pub fn draft<R: rand::Rng>(
    input: BayesInput<'_>,
    ctx: &Ctx<'_>,
    mut explanation: Explanation,
    rng: &mut R,
) -> Option<Draft> {
    let model = input.model;
    let elapsed = ctx.elapsed_ms.unwrap_or(0);
    let attempts = input.max_attempts.saturating_sub(ctx.attempt) as usize;
    explanation.model_key = Some(input.key.label());
    let samples = model.samples();
    if attempts == 0 {
        let rationale = format!(
            "bayesian ({}): attempt {} failed and at most {} attempts are allowed: stop; {samples} samples",
            input.key.label(),
            ctx.attempt,
            input.max_attempts
        );
        return Some(stop_draft(input, 0.0, 1.0, rationale, explanation));
    }
    if let Some(hint) = ctx.features.retry_after_ms {
        return Some(hinted(input, ctx, hint, elapsed, attempts, explanation));
    }
    let own = job_view(ctx.view_evidence).filter(|v| *v != input.view);
    let floor = (input.spread && in_reserve(attempts, input.max_attempts))
        .then(|| sparing_floor(model, elapsed, attempts, input.max_retry_age_ms))
        .filter(|&at| at > elapsed);
    let earliest = floor.unwrap_or(0);
    let decision = model.best_as(own.unwrap_or(input.view), elapsed, attempts, earliest)?;
    let best = decision.best;
    explanation.alternatives = alternatives(model, decision.view, elapsed, attempts, best.index);
    if best.cost >= model.give_up_cost() {
        let spared = floor.map_or_else(String::new, |at| {
            let (why, spread) = spread_reason(input, ctx, attempts);
            format!(" ({why}, so {spread}: none before {} elapsed)", fmt_ms(at))
        });
        let rationale = format!(
            "bayesian ({}): stop: the best retry (at {} elapsed, {:.1}% success){spared} has expected cost {:.2}, not less than giving up ({:.2}); {samples} samples",
            input.key.label(),
            fmt_ms(GRID_MS[best.index]),
            best.success * 100.0,
            best.cost,
            model.give_up_cost()
        );
        let posterior =
            model.success_posterior_in(decision.view, elapsed, best.index, input.credibility);
        return Some(stop_draft(
            input,
            best.success,
            1.0 - (posterior.upper - posterior.lower),
            rationale,
            explanation,
        ));
    }
    let explored = explore(input, decision, elapsed, attempts, earliest, rng);
    let chosen = explored.unwrap_or(best);
    for alt in &mut explanation.alternatives {
        alt.chosen = alt.delay_ms == chosen.delay_ms;
    }
    let pick = Decision {
        best: chosen,
        ..decision
    };
    let mut d = retry_draft(input, ctx, pick, elapsed, explanation);
    d.rationale.push_str(&format!(
        "; expected cost {:.2} (giving up: {:.2})",
        chosen.cost,
        model.give_up_cost()
    ));
    if let Some(view) = own {
        d.rationale.push_str(&format!(
            "; this job's own retries favour the {} view (log-likelihood ratio {:+.1})",
            view_name(view),
            ctx.view_evidence
        ));
    } else if input.view != model.view() {
        d.rationale.push_str(&format!(
            "; its own outcomes do not yet tell the views apart: it plans in the {} view its class chose",
            view_name(input.view)
        ));
    }
    if let Some(at) = floor {
        let (why, spread) = spread_reason(input, ctx, attempts);
        d.rationale.push_str(&format!(
            "; {why}: {spread}, none before {} elapsed",
            fmt_ms(at)
        ));
    }
    if explored.is_some() {
        d.rationale.push_str(&format!(
            "; exploring: {} instead of the cost-optimal {} to keep that delay learning (at most {:.0}% of recommendations explore)",
            fmt_ms(chosen.delay_ms),
            fmt_ms(best.delay_ms),
            input.explore_rate.max(0.0) * 100.0
        ));
        d.explored = true;
    }
    Some(d)
}

fn view_name(view: View) -> &'static str {
    match view {
        View::Elapsed => "elapsed-time",
        View::PerAttempt => "per-attempt",
    }
}

/// A Retry-After hint says when the limit resets: retry just after it.
fn hinted(
    input: BayesInput<'_>,
    ctx: &Ctx<'_>,
    hint: u64,
    elapsed: u64,
    attempts: usize,
    explanation: Explanation,
) -> Draft {
    let margin = (hint / 50).clamp(50, 1_000);
    let (delay, note) = if hint > ctx.max_delay_ms {
        (
            ctx.max_delay_ms,
            format!(
                "Retry-After {} exceeds the maximum delay {}: capped there",
                fmt_ms(hint),
                fmt_ms(ctx.max_delay_ms)
            ),
        )
    } else {
        (
            (hint + margin).min(ctx.max_delay_ms),
            format!(
                "Retry-After {} honoured (+{} margin)",
                fmt_ms(hint),
                fmt_ms(margin)
            ),
        )
    };
    let target = elapsed + delay;
    let j = GRID_MS
        .partition_point(|&b| b < target)
        .min(GRID_MS.len() - 1);
    let mut c = input.model.candidate_in(input.view, elapsed, j, attempts);
    c.delay_ms = delay;
    let pick = Decision {
        best: c,
        view: input.view,
        overridden: None,
    };
    let mut d = retry_draft(input, ctx, pick, elapsed, explanation);
    d.rationale.push_str(&format!("; {note}"));
    // The hint is the server's word on when it recovers, stronger than the model.
    d.confidence = d.confidence.max(0.9);
    d
}

/// The draft of retrying as `pick` says; its rationale, posterior and confidence come from the
/// view whose figures `pick` carries.
fn retry_draft(
    input: BayesInput<'_>,
    ctx: &Ctx<'_>,
    pick: Decision,
    elapsed: u64,
    mut explanation: Explanation,
) -> Draft {
    let (model, c) = (input.model, pick.best);
    let post = model.success_posterior_in(pick.view, elapsed, c.index, input.credibility);
    let samples = model.samples();
    explanation.posterior = Some(Posterior {
        bucket_min_ms: elapsed,
        bucket_max_ms: elapsed + c.delay_ms,
        alpha: post.alpha,
        beta: post.beta,
        mean: post.mean,
        lower: post.lower,
        upper: post.upper,
        credibility: input.credibility,
        samples,
    });
    let verdict = if post.lower >= input.threshold {
        "clears"
    } else {
        "is below"
    };
    let mut claim = claim(input, ctx, pick.view, &post, c, elapsed);
    if let Some(stop) = pick.overridden {
        claim = format!("{}{claim}", override_note(model, stop));
    }
    let rationale = format!(
        "bayesian ({}): {claim}; retry in {}; {verdict} the {:.0}% threshold; {samples} samples",
        input.key.label(),
        fmt_ms(c.delay_ms),
        input.threshold * 100.0,
    );
    Draft {
        should_retry: true,
        delay_ms: c.delay_ms,
        max_attempts: input.max_attempts,
        confidence: confidence(model, post.upper - post.lower),
        estimated_success: c.success,
        method: Method::Bayesian,
        rationale,
        explanation,
        explored: false,
    }
}

/// What `view` says of the retry `c`, with the posterior `post` behind it.
fn claim(
    input: BayesInput<'_>,
    ctx: &Ctx<'_>,
    view: View,
    post: &BetaSummary,
    c: Candidate,
    elapsed: u64,
) -> String {
    let who = format!(
        "'{}' failures of '{}'",
        ctx.features.error_class, ctx.features.job_type
    );
    let figures = format!(
        "{:.0}% ({:.0}% credible ≥ {:.2})",
        post.mean * 100.0,
        input.credibility * 100.0,
        post.lower
    );
    if view == View::PerAttempt {
        return format!(
            "{who} end independently of time: {figures} of retries {} after the first failure succeed",
            fmt_ms(GRID_MS[c.index]),
        );
    }
    let scope = if elapsed == 0 {
        who
    } else {
        format!("{who} still failing after {}", fmt_ms(elapsed))
    };
    format!(
        "{figures} of {scope} recover by {} after the first failure",
        fmt_ms(elapsed + c.delay_ms),
    )
}

/// Says that the per-attempt view would have stopped (its best retry `stop` costs at least
/// giving up) and that the elapsed view, which follows, expects recovery.
fn override_note(model: &SurvivalModel, stop: Candidate) -> String {
    format!(
        "the per-attempt view would give up (its best retry, at {} elapsed, {:.1}% success, has expected cost {:.2}, not less than giving up ({:.2})), but the elapsed view expects recovery: ",
        fmt_ms(GRID_MS[stop.index]),
        stop.success * 100.0,
        stop.cost,
        model.give_up_cost()
    )
}

fn stop_draft(
    input: BayesInput<'_>,
    success: f64,
    certainty: f64,
    rationale: String,
    explanation: Explanation,
) -> Draft {
    Draft {
        should_retry: false,
        delay_ms: 0,
        max_attempts: input.max_attempts,
        confidence: confidence(input.model, 1.0 - certainty),
        estimated_success: success,
        method: Method::Bayesian,
        rationale,
        explanation,
        explored: false,
    }
}

/// Narrow posteriors from many samples are confident; below 50 samples it is penalised.
fn confidence(model: &SurvivalModel, width: f64) -> f64 {
    ((1.0 - width).clamp(0.0, 1.0) * sample_confidence(model.effective_samples())).clamp(0.0, 1.0)
}

/// True when a job with `attempts_left` of `max_attempts` has fewer than half of them left:
/// its reserve, which [`sparing_floor`] spreads while its job type has never recovered.
///
/// Until a retry of the job type has succeeded, nothing says on what time scale it recovers.
/// The first half of a job's attempts go as the model plans them: a flaky failure clears within
/// a few tries (at a borrowed class's 70 %, five leave 0.2 %), and a job type failing in volume
/// gets its circuit breaker's pacing from those retries. Spreading them as well made `demo`'s
/// first partner-webhook window open its circuit later and taught the model a later first
/// retry for its next windows (+0.34 per job over 20 seeds, second cost setting;
/// `notes/r9-engine.md`, r18-engine).
pub fn in_reserve(attempts_left: usize, max_attempts: u32) -> bool {
    2 * attempts_left < max_attempts as usize
}

/// The earliest elapsed time (ms) for the next retry of a job whose job type has never
/// recovered and that has spent half its attempts ([`in_reserve`]): its `attempts` left spread
/// geometrically from `elapsed_ms` to `horizon_ms` (its maximum retry age; each attempt covering
/// the same ratio of elapsed time), within the maximum delay.
///
/// A borrowed class's chance is other job types' (a flaky 70 %), a new model's per-attempt
/// chance with no success is its prior's few per cent, and the elapsed view's prior spreads
/// recovery evenly over log-time. Planned on those as independent tickets, a maintenance
/// window's first jobs spent their attempts seconds apart and ran out inside the window
/// (`mixed-day`'s cold start, `notes/r9-engine.md`); spread evenly in log-time, the reserve
/// lasts as long as the job may retry, and a retry that the spreading makes dear is a decided
/// stop.
pub fn sparing_floor(
    model: &SurvivalModel,
    elapsed_ms: u64,
    attempts: usize,
    horizon_ms: u64,
) -> u64 {
    if elapsed_ms == 0 || attempts == 0 {
        return 0;
    }
    let ratio = (horizon_ms as f64 / elapsed_ms as f64)
        .max(1.0)
        .powf(1.0 / attempts as f64);
    let reach = model.reachable(elapsed_ms);
    let last = reach.end.checked_sub(1).map_or(elapsed_ms, |j| GRID_MS[j]);
    ((elapsed_ms as f64 * ratio) as u64).min(last)
}

/// Why a job's attempts are spread ([`sparing_floor`]) and how, for its rationale.
fn spread_reason(input: BayesInput<'_>, ctx: &Ctx<'_>, attempts: usize) -> (String, String) {
    let f = ctx.features;
    (
        format!(
            "no retry of '{}' with '{}' has succeeded yet",
            f.job_type, f.error_class
        ),
        format!(
            "its {attempts} attempts left (fewer than half of {}) are spread to its maximum retry age {}",
            input.max_attempts,
            fmt_ms(input.max_retry_age_ms)
        ),
    )
}

/// With probability `explore_rate`, the least-tried boundary near the optimum instead.
fn explore<R: rand::Rng>(
    input: BayesInput<'_>,
    decision: Decision,
    elapsed: u64,
    attempts: usize,
    earliest: u64,
    rng: &mut R,
) -> Option<Candidate> {
    let best = decision.best;
    if input.explore_rate <= 0.0 || !rng.random_bool(input.explore_rate.min(1.0)) {
        return None;
    }
    let model = input.model;
    let reach = model.reachable(elapsed);
    let lo = best.index.saturating_sub(EXPLORE_SPAN).max(reach.start);
    let hi = (best.index + EXPLORE_SPAN + 1).min(reach.end);
    // Only near-optimal delays are tried: exploring must not cost a job its recovery.
    (lo..hi)
        .filter(|&j| j != best.index && GRID_MS[j] >= earliest)
        .map(|j| model.candidate_in(decision.view, elapsed, j, attempts))
        .filter(|c| c.cost <= best.cost * EXPLORE_SLACK)
        .min_by(|a, b| {
            model
                .attempts_at(a.index)
                .total_cmp(&model.attempts_at(b.index))
        })
}

/// The chosen boundary and a few around it, by delay, with `view`'s figures.
fn alternatives(
    model: &SurvivalModel,
    view: View,
    elapsed: u64,
    attempts: usize,
    best: usize,
) -> Vec<Alternative> {
    let reach = model.reachable(elapsed);
    let mut picks: Vec<usize> = vec![reach.start, best];
    for offset in [1usize, 2, 4] {
        picks.push(best.saturating_sub(offset).max(reach.start));
        picks.push((best + offset).min(reach.end.saturating_sub(1)));
    }
    picks.sort_unstable();
    picks.dedup();
    picks.retain(|&j| reach.contains(&j));
    picks
        .into_iter()
        .map(|j| {
            let c = model.candidate_in(view, elapsed, j, attempts);
            Alternative {
                delay_ms: c.delay_ms,
                success_probability: c.success,
                expected_cost: c.cost,
                chosen: j == best,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
