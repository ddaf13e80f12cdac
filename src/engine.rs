//! The retry engine: pure, synchronous, time passed in (DESIGN §3).
//!
//! `Engine` is the facade the server and the simulator use. It never reads a clock, a socket or
//! a file; randomness (jitter, exploration) comes from a seeded generator it owns, so a run with
//! the same seed and inputs gives the same answers.
//!
//! Tiers: ml (later) → bayesian → rules → static, then guardrails on the result, then the
//! explanation.

use crate::model::{
    AttemptRecord, BayesianModel, BudgetUse, CircuitView, FieldError, JitterKind, Method,
    ModelStatus, RetryFeatures, RetryPolicy, RetryPreview, RetryRecommendation, RetryStrategy,
    TenantUse,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
        }
    }
}

/// Everything the engine has learned, for persistence and restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EngineSnapshot {
    /// Opaque to callers; versioned by the engine.
    pub version: u32,
    pub data: serde_json::Value,
}

/// The engine. One instance per service (behind a mutex) or per evaluation run.
#[derive(Debug)]
pub struct Engine {
    strategy: RetryStrategy,
    settings: EngineSettings,
}

impl Engine {
    /// `seed` drives jitter and exploration, so equal seeds and inputs give equal answers.
    pub fn new(strategy: RetryStrategy, settings: EngineSettings, _seed: u64) -> Self {
        Self { strategy, settings }
    }

    pub fn strategy(&self) -> &RetryStrategy {
        &self.strategy
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Replaces the strategy (policies, guardrails, threshold) after validating it.
    pub fn set_strategy(&mut self, strategy: RetryStrategy) -> Result<(), FieldError> {
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
        self.static_recommendation(features, now)
    }

    /// The full planned schedule from `features` on, without consuming any budget.
    pub fn preview(
        &self,
        features: &RetryFeatures,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> RetryPreview {
        let _ = max_attempts;
        RetryPreview {
            job_id: features.job_id.clone().unwrap_or_default(),
            current_attempt: features.failed_attempt(),
            features: features.clone(),
            recommendations: vec![self.static_recommendation(features, now)],
            timeline: Vec::new(),
            generated_at: now,
        }
    }

    /// Learns from one attempt (its `timestamp`, not the arrival time, places it in time).
    pub fn observe(&mut self, attempt: &AttemptRecord) {
        let _ = attempt;
    }

    /// What the static tier says, used as the last fall-back and as the shadow comparison.
    pub fn static_recommendation(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let backoff = &self.settings.static_backoff;
        let attempt = features.failed_attempt();
        let should_retry = attempt < backoff.max_attempts;
        let delay_ms = if should_retry {
            backoff.delay_ms(attempt)
        } else {
            0
        };
        RetryRecommendation {
            should_retry,
            delay_ms,
            max_attempts: backoff.max_attempts,
            confidence: 0.0,
            rationale: format!(
                "static exponential backoff: attempt {attempt}, delay {delay_ms} ms"
            ),
            method: Method::Static,
            estimated_success: 0.0,
            next_evaluation: now + chrono::Duration::milliseconds(delay_ms as i64),
            policy_guardrails: Vec::new(),
            explanation: None,
        }
    }

    /// Rebuilds the model of (job type, error class) from its aggregates now.
    pub fn refresh_model(&mut self, job_type: &str, error_class: &str) -> bool {
        let _ = (job_type, error_class);
        false
    }

    pub fn bayesian_models(&self) -> Vec<BayesianModel> {
        Vec::new()
    }

    pub fn model_status(&self) -> ModelStatus {
        ModelStatus::default()
    }

    /// Budget, quota and circuit state for the console at `now`.
    pub fn guardrail_status(
        &self,
        now: DateTime<Utc>,
    ) -> (Vec<BudgetUse>, Vec<TenantUse>, Vec<CircuitView>) {
        let _ = now;
        (Vec::new(), Vec::new(), Vec::new())
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot::default()
    }

    pub fn restore(&mut self, snapshot: EngineSnapshot) -> Result<(), String> {
        let _ = snapshot;
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
