//! The engine's tuning that is not part of the upstream `RetryStrategy`: the cost the Bayesian
//! tier minimises, its credibility and exploration, sample thresholds, and the static backoff.

use super::static_backoff::StaticBackoff;
use super::survival::SolveParams;
pub use crate::model::CostWeights;
use crate::model::{FieldError, RetryStrategy, validate};
use serde::{Deserialize, Serialize};

/// The largest `max_open_episodes` accepted.
pub const MAX_OPEN_EPISODES_LIMIT: usize = 10_000_000;

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
    /// Most jobs followed at once, from their first failure, by the engine's episode table and
    /// by the pattern analysis each (1..=10,000,000). What grows with recorded history is
    /// bounded by this: about 190 bytes of heap per followed job in the two tables together
    /// (measured; README "Start-up after `kill -9`, and memory").
    pub max_open_episodes: usize,
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
            max_open_episodes: super::episodes::CAPACITY,
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
        validate::cost_weights(&self.cost)
            .map_err(|e| FieldError::new(format!("cost.{}", e.field), e.message))?;
        if !(1..=MAX_OPEN_EPISODES_LIMIT).contains(&self.max_open_episodes) {
            return Err(FieldError::new(
                "max_open_episodes",
                format!(
                    "must be in 1..={MAX_OPEN_EPISODES_LIMIT} (got {})",
                    self.max_open_episodes
                ),
            ));
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

/// The dynamic program's inputs from the strategy and settings.
pub fn solve_params(strategy: &RetryStrategy, settings: &EngineSettings) -> SolveParams {
    let g = &strategy.guardrails;
    SolveParams {
        per_attempt: settings.cost.per_attempt,
        per_second: settings.cost.per_second,
        give_up: settings.cost.give_up_penalty,
        min_delay_ms: g.min_delay_ms,
        max_delay_ms: g.max_delay_ms.max(g.min_delay_ms),
        max_attempts: g.max_attempts.max(1),
    }
}
