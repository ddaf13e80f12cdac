//! The engine's insides: the request context, the tiers in order, learning from attempts,
//! and turning a draft plus the guardrails' verdict into the wire answer.

use super::bayes::{self, GRID_MS, SurvivalModel};
use super::bayes_tier;
use super::episodes::Episode;
use super::guardrails::{GuardInput, Verdict};
use super::models::{ModelKey, Outcome, Thresholds};
use super::rules::{self, fmt_ms};
use super::tiers::{Ctx, Draft, rules_draft, static_draft};
use super::{Engine, EngineSettings};
use crate::model::{
    AttemptRecord, Explanation, Fallback, Method, RetryFeatures, RetryRecommendation,
    RetryStrategy, SimilarCase,
};
use chrono::{DateTime, Duration, Timelike, Utc};

/// Similar cases shown in an explanation.
const SIMILAR_CASES: usize = 5;

impl Engine {
    /// The request context: attempt, elapsed time since the episode began, previous delay.
    /// Elapsed comes from the job's episode (record times), else `first_failure_at`, else
    /// `since_last_failure`.
    pub(super) fn context<'a>(&self, features: &'a RetryFeatures, now: DateTime<Utc>) -> Ctx<'a> {
        let attempt = features.failed_attempt();
        let episode = features
            .job_id
            .as_deref()
            .and_then(|id| self.episodes.get(id));
        let began = episode
            .map(|e| e.first_failure)
            .or(features.first_failure_at);
        let (elapsed_ms, previous_delay_ms) = match episode {
            Some(e) if e.last_attempt == attempt => {
                (Some(e.last_elapsed_ms), Some(e.last_delay_ms))
            }
            Some(e) => (Some(e.elapsed_at(now)), None),
            None => {
                let since_first = features
                    .first_failure_at
                    .map(|t| (now - t).num_milliseconds().max(0) as u64);
                let since_last = features.since_last_failure.map(|d| d.as_millis());
                (since_first.or(since_last), None)
            }
        };
        let g = &self.strategy.guardrails;
        Ctx {
            features,
            now,
            attempt,
            elapsed_ms,
            previous_delay_ms,
            max_delay_ms: g.max_delay_ms.max(g.min_delay_ms),
            min_delay_ms: g.min_delay_ms,
            hour: began
                .unwrap_or_else(|| now - Duration::milliseconds(elapsed_ms.unwrap_or(0) as i64))
                .hour() as u8,
        }
    }

    /// The tiers in order (ML → Bayesian → rules → static), each falling back to the next
    /// with the reason recorded.
    pub(super) fn draft<R: rand::Rng>(&self, ctx: &Ctx<'_>, rng: &mut R) -> Draft {
        let f = ctx.features;
        let mut explanation = Explanation {
            elapsed_ms: ctx.elapsed_ms,
            ..Explanation::default()
        };
        if !self.strategy.enabled {
            let mut d = static_draft(&self.settings.static_backoff, ctx, explanation);
            d.fallback(
                Method::Rules,
                Method::Static,
                format!("strategy '{}' is disabled", self.strategy.name),
            );
            return d;
        }
        if self.strategy.ml_enabled {
            explanation.fallbacks.push(Fallback {
                from: Method::Ml,
                to: Method::Bayesian,
                reason: "no ML model is deployed in this build".into(),
            });
        }
        let policy = self
            .rules
            .matching(&f.job_type, &f.error_class, &f.error_code);
        if let Some(p) = policy.filter(|p| p.stops_at_once()) {
            explanation.fallbacks.push(Fallback {
                from: Method::Bayesian,
                to: Method::Rules,
                reason: format!("policy '{}' stops this error at once", p.policy.name),
            });
        } else if self.settings.bayesian_enabled && self.strategy.bayesian_enabled {
            match self.bayes_draft(ctx, &explanation, rng) {
                Ok(d) => return d,
                Err(reason) => explanation.fallbacks.push(Fallback {
                    from: Method::Bayesian,
                    to: Method::Rules,
                    reason,
                }),
            }
        }
        let mut d = self.rules_or_static(policy, ctx, explanation, rng);
        self.annotate(&mut d, ctx);
        d
    }

    /// The Bayesian tier, or why it cannot answer.
    fn bayes_draft<R: rand::Rng>(
        &self,
        ctx: &Ctx<'_>,
        explanation: &Explanation,
        rng: &mut R,
    ) -> Result<Draft, String> {
        let f = ctx.features;
        let (key, model) = self.models.select(
            &f.job_type,
            &f.error_class,
            f.tenant.as_deref(),
            Some(ctx.hour),
            self.thresholds(),
        )?;
        let rate = self.settings.exploration_rate;
        let share_left =
            (self.explore.explored + 1) as f64 <= rate * (self.explore.decided + 1) as f64;
        let input = bayes_tier::BayesInput {
            key: &key,
            model,
            credibility: self.settings.credibility,
            threshold: self.strategy.bayesian_threshold,
            max_attempts: self.strategy.guardrails.max_attempts.max(1),
            explore_rate: if share_left { rate } else { 0.0 },
        };
        let mut d = bayes_tier::draft(input, ctx, explanation.clone(), rng).ok_or_else(|| {
            format!(
                "elapsed time {} is past the horizon of model {}",
                fmt_ms(ctx.elapsed_ms.unwrap_or(0)),
                key.label()
            )
        })?;
        d.explanation.similar_cases = self.similar(ctx, d.delay_ms);
        Ok(d)
    }

    fn similar(&self, ctx: &Ctx<'_>, delay_ms: u64) -> Vec<SimilarCase> {
        let target = ctx.elapsed_ms.unwrap_or(0) + delay_ms;
        self.models.similar(
            &ctx.features.job_type,
            &ctx.features.error_class,
            target,
            SIMILAR_CASES,
        )
    }

    /// What a model, even one too young to decide, says about a rules/static delay: the
    /// chance that retry succeeds, from the retries of (job type, error class) observed so far,
    /// else from the model's prior. The rationale says which.
    pub(super) fn annotate(&self, d: &mut Draft, ctx: &Ctx<'_>) {
        let f = ctx.features;
        let found = self.observed_model(ctx);
        if d.should_retry {
            let model = found.as_ref().map_or(self.models.prior(), |(_, m)| *m);
            d.estimated_success = success_at(model, ctx, d.delay_ms);
            let source = match &found {
                Ok((key, m)) => format!(
                    "observed: {} {} of {}",
                    m.samples(),
                    if m.samples() == 1 { "retry" } else { "retries" },
                    key.label()
                ),
                Err(_) => format!(
                    "prior: no retry of {}/{} observed yet",
                    f.job_type, f.error_class
                ),
            };
            d.rationale.push_str(&format!(
                " (P(success) {:.0}%, {source})",
                d.estimated_success * 100.0
            ));
        }
        if let Ok((key, _)) = found {
            d.explanation.model_key.get_or_insert(key.label());
        }
        d.explanation.similar_cases = self.similar(ctx, d.delay_ms);
    }

    /// The chance a retry after `delay_ms` succeeds: from the retries of (job type, error
    /// class) observed so far, else the prior (what [`Self::annotate`] reports, without the
    /// text).
    pub(super) fn success_estimate(&self, ctx: &Ctx<'_>, delay_ms: u64) -> f64 {
        let model = self
            .observed_model(ctx)
            .map_or(self.models.prior(), |(_, m)| m);
        success_at(model, ctx, delay_ms)
    }

    /// The (job type, error class) model with at least one observed retry, whatever its age.
    fn observed_model(&self, ctx: &Ctx<'_>) -> Result<(ModelKey, &SurvivalModel), String> {
        let f = ctx.features;
        let any = Thresholds {
            min_samples: 1,
            tenant_min_samples: u64::MAX,
        };
        self.models
            .select(&f.job_type, &f.error_class, None, None, any)
    }

    fn rules_or_static<R: rand::Rng>(
        &self,
        policy: Option<&rules::CompiledPolicy>,
        ctx: &Ctx<'_>,
        explanation: Explanation,
        rng: &mut R,
    ) -> Draft {
        let f = ctx.features;
        match policy {
            Some(policy) => rules_draft(policy, ctx, explanation, rng),
            None => {
                let mut d = static_draft(&self.settings.static_backoff, ctx, explanation);
                let reason = format!(
                    "no policy matches error_class '{}' / error_code '{}'",
                    f.error_class, f.error_code
                );
                d.fallback(Method::Rules, Method::Static, reason);
                d
            }
        }
    }

    pub(super) fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_samples: self.settings.min_samples,
            tenant_min_samples: self.settings.tenant_min_samples,
        }
    }

    /// Retry outcomes feed the circuit of (queue, error class); a success carries no class of
    /// its own, so it takes its episode's.
    pub(super) fn feed_circuit(&mut self, episode: Option<&Episode>, a: &AttemptRecord) {
        if a.attempt_number < 2 {
            return;
        }
        let class = episode
            .map(|e| &*e.error_class)
            .filter(|_| a.success || a.error_class.is_empty())
            .unwrap_or(&a.error_class);
        if class.is_empty() {
            return;
        }
        let queue = episode.map_or(a.queue.as_str(), |e| &e.queue);
        self.guard.observe_retry(
            &self.strategy.guardrails,
            queue,
            class,
            a.success,
            a.timestamp,
        );
    }

    /// Feeds a retry's outcome to the models of its episode. A first run teaches nothing about
    /// recovery; a retry of an unknown job is usable only as a second attempt (its `delay_ms`
    /// places the first failure); a repeated attempt number (at-least-once delivery) is
    /// learned once; a failure with another error class starts a new episode instead.
    pub(super) fn learn(&mut self, episode: Option<&Episode>, a: &AttemptRecord) {
        if a.attempt_number < 2 {
            return;
        }
        let began = episode.map_or(
            a.timestamp - Duration::milliseconds(a.delay_ms as i64),
            |e| e.first_failure,
        );
        let (job_type, class, tenant, previous_ms, elapsed_ms) = match episode {
            Some(e)
                if a.attempt_number > e.last_attempt
                    && (a.success || *a.error_class == *e.error_class) =>
            {
                (
                    &*e.job_type,
                    &*e.error_class,
                    e.tenant.as_deref(),
                    e.last_elapsed_ms,
                    e.elapsed_at(a.timestamp),
                )
            }
            None if a.attempt_number == 2 && !a.error_class.is_empty() => (
                a.job_type.as_str(),
                a.error_class.as_str(),
                a.tenant.as_deref(),
                0,
                a.delay_ms,
            ),
            _ => return,
        };
        let case = SimilarCase {
            job_id: a.job_id.clone(),
            attempt_number: a.attempt_number,
            delay_ms: a.delay_ms,
            elapsed_ms,
            success: a.success,
            timestamp: a.timestamp,
        };
        self.models.observe(Outcome {
            job_type,
            error_class: class,
            tenant,
            hour: began.hour() as u8,
            previous_ms,
            case,
        });
    }
}

/// A model's chance that the attempt `delay_ms` after the failure in `ctx` succeeds.
fn success_at(model: &bayes::SurvivalModel, ctx: &Ctx<'_>, delay_ms: u64) -> f64 {
    let elapsed = ctx.elapsed_ms.unwrap_or(0);
    let j = GRID_MS
        .partition_point(|&b| b < elapsed + delay_ms)
        .min(GRID_MS.len() - 1);
    model.candidate(elapsed, j, 1).success
}

/// The dynamic program's inputs from the strategy and settings.
pub(super) fn solve_params(
    strategy: &RetryStrategy,
    settings: &EngineSettings,
) -> bayes::SolveParams {
    let g = &strategy.guardrails;
    bayes::SolveParams {
        per_attempt: settings.cost.per_attempt,
        per_second: settings.cost.per_second,
        give_up: settings.cost.give_up_penalty,
        min_delay_ms: g.min_delay_ms,
        max_delay_ms: g.max_delay_ms.max(g.min_delay_ms),
    }
}

pub(super) fn guard_input<'a>(ctx: &Ctx<'a>) -> GuardInput<'a> {
    GuardInput {
        attempt: ctx.attempt,
        queue: &ctx.features.queue,
        tenant: ctx.features.tenant.as_deref(),
        error_class: &ctx.features.error_class,
        now: ctx.now,
    }
}

/// The wire answer: the draft with the guardrails' verdict, named in `policy_guardrails`.
pub(super) fn finish(draft: Draft, verdict: Verdict, ctx: &Ctx<'_>) -> RetryRecommendation {
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
        next_evaluation: ctx.now + Duration::milliseconds(delay as i64),
        policy_guardrails,
        explanation: Some(explanation),
    }
}

/// The episode after a failed attempt: a new one on the first failure (or when the job was
/// unknown), else the old one advanced. A changed error class starts a new episode, since a
/// different failure recovers on its own clock.
pub(super) fn next_episode(previous: Option<Episode>, a: &AttemptRecord) -> Episode {
    let fresh = |first: DateTime<Utc>| Episode {
        job_type: a.job_type.as_str().into(),
        error_class: a.error_class.as_str().into(),
        tenant: a.tenant.as_deref().map(Into::into),
        queue: a.queue.as_str().into(),
        first_failure: first,
        last_attempt: a.attempt_number,
        last_failure_at: a.timestamp,
        last_elapsed_ms: (a.timestamp - first).num_milliseconds().max(0) as u64,
        last_delay_ms: a.delay_ms,
    };
    match previous {
        Some(mut e)
            if a.attempt_number > 1
                && *e.error_class == *a.error_class
                && a.timestamp >= e.first_failure =>
        {
            e.last_attempt = a.attempt_number;
            e.last_failure_at = a.timestamp;
            e.last_elapsed_ms = e.elapsed_at(a.timestamp);
            e.last_delay_ms = a.delay_ms;
            e
        }
        // An unknown job's second attempt still places its first failure (`delay_ms` ago).
        None if a.attempt_number == 2 => {
            fresh(a.timestamp - Duration::milliseconds(a.delay_ms as i64))
        }
        _ => fresh(a.timestamp),
    }
}
