//! The retry engine: pure, synchronous, time passed in (DESIGN §3).
//!
//! `Engine` is the facade the server and the simulator use. It never reads a clock, a socket or
//! a file; randomness (jitter, exploration) comes from a seeded generator it owns, so a run with
//! the same seed and inputs gives the same answers.
//!
//! Tiers: ml (later) → bayesian → rules → static, then guardrails on the result, then the
//! explanation.

mod bayes;
mod bayes_tier;
mod episodes;
mod guardrails;
mod models;
mod pipeline;
mod preview;
mod rules;
mod stats;
mod tiers;

pub use crate::model::EngineSnapshot;
pub use crate::model::guardrail::{
    CIRCUIT_BREAKER, EMERGENCY_STOP, MAX_ATTEMPTS, MAX_DELAY, MIN_DELAY, RETRY_BUDGET, TENANT_QUOTA,
};
pub use rules::fmt_ms;

use crate::model::validate;
use crate::model::{
    AttemptRecord, BayesianModel, BudgetUse, CircuitView, Explanation, FieldError, JitterKind,
    Method, ModelStatus, RetryFeatures, RetryPolicy, RetryPreview, RetryRecommendation,
    RetryStrategy, TenantUse,
};
use chrono::{DateTime, Utc};
use episodes::Episodes;
use guardrails::GuardrailState;
use models::{Models, ModelsSnapshot};
use pipeline::{finish, guard_input, next_episode, solve_params};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rules::RuleSet;
use serde::{Deserialize, Serialize};
use tiers::static_draft;

/// Weights of the cost the Bayesian tier minimises: attempts × `per_attempt` + seconds waited ×
/// `per_second`; a job that never succeeds costs `give_up_penalty`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostWeights {
    pub per_attempt: f64,
    pub per_second: f64,
    pub give_up_penalty: f64,
}

impl Default for CostWeights {
    fn default() -> Self {
        Self {
            per_attempt: 1.0,
            per_second: 0.05,
            give_up_penalty: 100.0,
        }
    }
}

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
}

/// Engine tuning that is not part of the upstream `RetryStrategy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Credibility of the lower Beta quantile used to decide (0.8 = 80 % credible).
    pub credibility: f64,
    /// Share of recommendations that try an under-sampled delay bucket (bounded exploration).
    pub exploration_rate: f64,
    /// Samples a (job type, error class) model needs before it is used.
    pub min_samples: u64,
    /// Samples a tenant needs before it gets a model of its own.
    pub tenant_min_samples: u64,
    pub cost: CostWeights,
    pub static_backoff: StaticBackoff,
    /// When false the Bayesian tier is skipped and the rules tier decides (used by `eval` to
    /// measure the rules tier on its own, and by operators to switch learning off).
    pub bayesian_enabled: bool,
    /// Seed of the service's random stream (jitter, exploration) at start-up; absent, a new
    /// random one each start. `POST /engine/seed` restarts the stream while it runs.
    pub seed: Option<u64>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            credibility: 0.8,
            exploration_rate: 0.05,
            min_samples: 10,
            tenant_min_samples: 50,
            cost: CostWeights::default(),
            static_backoff: StaticBackoff::default(),
            bayesian_enabled: true,
            seed: None,
        }
    }
}

impl EngineSettings {
    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let unit = |name: &str, v: f64, open: bool| {
            let ok = v.is_finite()
                && if open {
                    v > 0.0 && v < 1.0
                } else {
                    (0.0..=1.0).contains(&v)
                };
            if ok {
                Ok(())
            } else {
                let range = if open { "(0, 1)" } else { "[0, 1]" };
                Err(FieldError::new(
                    name,
                    format!("must be in {range} (got {v})"),
                ))
            }
        };
        unit("credibility", self.credibility, true)?;
        unit("exploration_rate", self.exploration_rate, false)?;
        let c = &self.cost;
        for (name, v) in [
            ("cost.per_attempt", c.per_attempt),
            ("cost.per_second", c.per_second),
            ("cost.give_up_penalty", c.give_up_penalty),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(FieldError::new(
                    name,
                    format!("must be a finite number ≥ 0 (got {v})"),
                ));
            }
        }
        if self.static_backoff.max_ms < self.static_backoff.base_ms {
            return Err(FieldError::new(
                "static_backoff.max_ms",
                "must be at least static_backoff.base_ms",
            ));
        }
        Ok(())
    }
}

/// Version of `EngineSnapshot::data`'s layout.
const SNAPSHOT_VERSION: u32 = 1;

/// What a snapshot holds: every learned count, open episodes and guardrail state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SnapshotData {
    models: ModelsSnapshot,
    episodes: Episodes,
    guardrails: GuardrailState,
    explore: ExploreShare,
}

/// `SnapshotData` by reference, for writing a snapshot without copying the episode table.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    models: ModelsSnapshot,
    episodes: &'a Episodes,
    guardrails: &'a GuardrailState,
    explore: ExploreShare,
}

/// Bayesian retries recommended and how many of them explored (never more than the share).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct ExploreShare {
    decided: u64,
    explored: u64,
}

/// The engine. One instance per service (behind a mutex) or per evaluation run.
#[derive(Debug)]
pub struct Engine {
    strategy: RetryStrategy,
    settings: EngineSettings,
    rules: RuleSet,
    rng: Xoshiro256PlusPlus,
    guard: GuardrailState,
    episodes: Episodes,
    models: Models,
    explore: ExploreShare,
}

impl Engine {
    /// `seed` drives jitter and exploration, so equal seeds and inputs give equal answers.
    /// An invalid strategy is used as far as it compiles; validate configuration first with
    /// [`validate::strategy`].
    pub fn new(strategy: RetryStrategy, settings: EngineSettings, seed: u64) -> Self {
        Self {
            rules: RuleSet::compile(&strategy.policies),
            models: Models::new(solve_params(&strategy, &settings)),
            strategy,
            settings,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            guard: GuardrailState::default(),
            episodes: Episodes::default(),
            explore: ExploreShare::default(),
        }
    }

    pub fn strategy(&self) -> &RetryStrategy {
        &self.strategy
    }

    /// Restarts the random stream (jitter, exploration) from `seed` and the count behind the
    /// exploration share. From here on the engine answers as a fresh `Engine::new(.., seed)`
    /// that had learned the same would: a run that keeps its keys (queues, classes, tenants)
    /// apart from earlier ones is reproducible, e.g. `eval --api` against a long-lived service.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        self.explore = ExploreShare::default();
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Replaces the strategy (policies, guardrails, threshold) after validating it.
    pub fn set_strategy(&mut self, strategy: RetryStrategy) -> Result<(), FieldError> {
        validate::strategy(&strategy)?;
        self.rules = RuleSet::compile(&strategy.policies);
        self.models
            .set_params(solve_params(&strategy, &self.settings));
        self.strategy = strategy;
        Ok(())
    }

    /// Recommends what to do after the failed attempt described by `features`. Consumes retry
    /// budget and tenant quota when it says retry.
    pub fn recommend(
        &mut self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let ctx = self.context(features, now);
        let mut rng = self.rng.clone();
        let draft = self.draft(&ctx, &mut rng);
        self.rng = rng;
        if draft.method == Method::Bayesian && draft.should_retry {
            self.explore.decided += 1;
            self.explore.explored += u64::from(draft.explored);
        }
        let input = guard_input(&ctx);
        let verdict = self.guard.evaluate(
            &self.strategy.guardrails,
            input,
            draft.should_retry,
            draft.delay_ms,
            draft.max_attempts,
        );
        self.guard
            .commit(&self.strategy.guardrails, input, &verdict);
        finish(draft, verdict, &ctx)
    }

    /// The full planned schedule from `features` on, without consuming any budget.
    pub fn preview(
        &self,
        features: &RetryFeatures,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> RetryPreview {
        preview::plan(self, features, max_attempts, now)
    }

    /// Learns from one attempt (its `timestamp`, not the arrival time, places it in time).
    pub fn observe(&mut self, attempt: &AttemptRecord) {
        let episode = self.episodes.get(&attempt.job_id).cloned();
        self.guard
            .observe_attempt(&attempt.queue, attempt.timestamp);
        self.feed_circuit(episode.as_ref(), attempt);
        self.learn(episode.as_ref(), attempt);
        if attempt.success {
            self.episodes.remove(&attempt.job_id);
            self.episodes.tick(attempt.timestamp);
            return;
        }
        let next = next_episode(episode, attempt);
        self.episodes.put(&attempt.job_id, next);
    }

    /// What the static tier says, used as the last fall-back and as the shadow comparison.
    pub fn static_recommendation(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let ctx = self.context(features, now);
        let mut draft = static_draft(&self.settings.static_backoff, &ctx, Explanation::default());
        self.annotate(&mut draft, &ctx);
        let verdict = self.guard.evaluate(
            &self.strategy.guardrails,
            guard_input(&ctx),
            draft.should_retry,
            draft.delay_ms,
            draft.max_attempts,
        );
        finish(draft, verdict, &ctx)
    }

    /// What the static tier would have said, in brief, for the smart-vs-static comparison
    /// that runs beside every recommendation: the answer after the guardrails and its
    /// estimated success, without rationale, explanation or similar cases (so it costs a
    /// fraction of [`Self::static_recommendation`] while the engine is locked).
    pub fn static_shadow(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let ctx = self.context(features, now);
        let backoff = &self.settings.static_backoff;
        let should_retry = ctx.attempt < backoff.max_attempts;
        let delay_ms = if should_retry {
            backoff.delay_ms(ctx.attempt)
        } else {
            0
        };
        let verdict = self.guard.evaluate(
            &self.strategy.guardrails,
            guard_input(&ctx),
            should_retry,
            delay_ms,
            backoff.max_attempts,
        );
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
            estimated_success: if verdict.should_retry {
                self.success_estimate(&ctx, delay_ms)
            } else {
                0.0
            },
            next_evaluation: now + chrono::Duration::milliseconds(delay_ms as i64),
            policy_guardrails: Vec::new(),
            explanation: None,
        }
    }

    /// Re-solves the models of (job type, error class) from what they learned, now (they
    /// also refresh on their own as samples arrive). False when there is no such model.
    pub fn refresh_model(&mut self, job_type: &str, error_class: &str) -> bool {
        self.models.refresh(job_type, error_class)
    }

    /// Every model in the upstream shape (buckets by elapsed time since the first failure),
    /// with its recovery curve.
    pub fn bayesian_models(&self) -> Vec<BayesianModel> {
        self.models.export(self.settings.credibility)
    }

    pub fn model_status(&self) -> ModelStatus {
        let (models, warm) = self.models.status(self.thresholds());
        ModelStatus {
            bayesian_models: models,
            warm_models: warm,
            ml: None,
            last_trained: None,
        }
    }

    /// Budget, quota and circuit state for the console at `now`.
    pub fn guardrail_status(
        &self,
        now: DateTime<Utc>,
    ) -> (Vec<BudgetUse>, Vec<TenantUse>, Vec<CircuitView>) {
        self.guard.status(&self.strategy.guardrails, now)
    }

    /// Circuits open or half-open right now (for the `open circuits` gauge and alerts).
    pub fn open_circuits(&self) -> usize {
        self.guard.open_circuits()
    }

    /// Everything learned (model counts, similar cases, open episodes, budgets, quotas,
    /// circuits), versioned, so a restarted service answers as before without replaying.
    pub fn snapshot(&self) -> EngineSnapshot {
        let data = SnapshotRef {
            models: self.models.snapshot(),
            episodes: &self.episodes,
            guardrails: &self.guard,
            explore: self.explore,
        };
        EngineSnapshot::new(SNAPSHOT_VERSION, &data).unwrap_or_default()
    }

    /// Loads a snapshot taken by `snapshot`. An empty snapshot (version 0) means "nothing
    /// learned yet"; an unknown version or malformed data is refused and nothing changes.
    pub fn restore(&mut self, snapshot: EngineSnapshot) -> Result<(), String> {
        if snapshot.version == 0 && snapshot.data.get() == "null" {
            return Ok(());
        }
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(format!(
                "engine snapshot version {} is not supported (this build reads version {SNAPSHOT_VERSION})",
                snapshot.version
            ));
        }
        let data: SnapshotData = serde_json::from_str(snapshot.data.get())
            .map_err(|e| format!("engine snapshot data is malformed: {e}"))?;
        self.models.restore(data.models);
        self.episodes = data.episodes.reinterned();
        self.guard = data.guardrails;
        self.explore = data.explore;
        Ok(())
    }
}

/// The strategy shipped by default: the upstream policies, threshold 0.70, upstream guardrails.
pub fn default_strategy() -> RetryStrategy {
    RetryStrategy {
        name: "smart".into(),
        enabled: true,
        policies: default_policies(),
        bayesian_threshold: 0.70,
        ml_enabled: false,
        ml_model: None,
        guardrails: Default::default(),
        data_collection: Default::default(),
        bayesian_enabled: true,
    }
}

fn policy(
    name: &str,
    patterns: &[&str],
    attempts: u32,
    base_ms: u64,
    max_ms: u64,
    jitter: f64,
    priority: i32,
) -> RetryPolicy {
    RetryPolicy {
        name: name.into(),
        error_patterns: patterns.iter().map(|p| p.to_string()).collect(),
        job_type_patterns: Vec::new(),
        max_attempts: attempts,
        base_delay_ms: base_ms,
        max_delay_ms: max_ms,
        backoff_multiplier: 2.0,
        jitter_percent: jitter,
        stop_on_validation: attempts <= 1,
        priority,
        jitter: JitterKind::Percent,
    }
}

/// The upstream defaults (UPSTREAM_API.md "Defaults shipped upstream").
pub fn default_policies() -> Vec<RetryPolicy> {
    vec![
        policy(
            "validation",
            &["400", "validation", "invalid_input"],
            1,
            0,
            0,
            0.0,
            300,
        ),
        policy(
            "rate_limit",
            &["429", "rate_limit", "too_many_requests"],
            5,
            5_000,
            60_000,
            25.0,
            200,
        ),
        policy(
            "service_unavailable",
            &["503", "service_unavailable", "timeout"],
            3,
            2_000,
            30_000,
            20.0,
            100,
        ),
        policy("default", &["*"], 3, 1_000, 30_000, 15.0, 0),
    ]
}

#[cfg(test)]
mod tests;
