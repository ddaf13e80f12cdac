//! The strategies `eval` compares, behind one small trait.

use super::ml::MlReport;
use super::world::{Job, Truth};
use crate::engine::{Engine, EngineSettings, StaticBackoff, default_strategy};
use crate::model::{AttemptRecord, Method, RetryFeatures, RetryRecommendation};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;

/// What a strategy says after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub retry: bool,
    pub delay_ms: u64,
    /// The engine tier that decided, for engine-backed strategies.
    pub method: Option<Method>,
    /// Attempts in all (the first run included) the strategy allows this job, when it has a
    /// limit: a stop at that count is running out of attempts, not giving up.
    pub max_attempts: Option<u32>,
}

impl Decision {
    /// What an engine's (or the service's) recommendation decides.
    pub fn from_recommendation(rec: &RetryRecommendation) -> Self {
        Decision {
            retry: rec.should_retry,
            delay_ms: rec.delay_ms,
            method: Some(rec.method),
            max_attempts: Some(rec.max_attempts),
        }
    }
}

/// Why a strategy could not answer. Only a strategy behind the service API can fail.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the service at {url}: {what}: {error}")]
pub struct PolicyError {
    /// The service URL as given (`eval --api`).
    pub url: String,
    /// What was being done, e.g. "reporting the failure of job ...".
    pub what: String,
    /// What went wrong (the client's message: unreachable, refused with a status, ...).
    pub error: String,
}

/// A retry decider: told about every attempt, asked after every failure.
pub trait Policy {
    /// Name shown in reports.
    fn name(&self) -> &str;
    /// The attempt described by `features` failed at `now`: retry, and after how long?
    fn decide(
        &mut self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> Result<Decision, PolicyError>;
    /// Learns from an attempt (successful or not). Static strategies ignore it.
    fn observe(&mut self, _attempt: &AttemptRecord) -> Result<(), PolicyError> {
        Ok(())
    }
    /// The run is over: deliver anything still held back.
    fn finish(&mut self) -> Result<(), PolicyError> {
        Ok(())
    }
    /// What the strategy's ML model was and did (the `ml` strategy only).
    fn ml_report(&self) -> Option<MlReport> {
        None
    }
}

/// The seed's "traditional" backoff: 2 s doubling to 32 s, 5 attempts in all.
#[derive(Debug, Default)]
pub struct Traditional {
    backoff: StaticBackoff,
}

impl Policy for Traditional {
    fn name(&self) -> &str {
        "traditional"
    }

    fn decide(
        &mut self,
        features: &RetryFeatures,
        _now: DateTime<Utc>,
    ) -> Result<Decision, PolicyError> {
        let attempt = features.failed_attempt();
        Ok(Decision {
            retry: attempt < self.backoff.max_attempts,
            delay_ms: self.backoff.delay_ms(attempt),
            method: None,
            max_attempts: Some(self.backoff.max_attempts),
        })
    }
}

/// AWS "full jitter": uniform in [0, min(cap, base × 2^(n-1))], base 1 s, cap 60 s.
///
/// AWS leaves the attempt limit to the caller; we use 8 attempts in all, so the expected total
/// wait (about a minute) matches the cap and the strategy is not handicapped on outages that
/// outlast the traditional 30 s schedule.
#[derive(Debug)]
pub struct FullJitter {
    rng: StdRng,
}

/// Attempts in all (the first run included) that [`FullJitter`] makes.
pub const FULL_JITTER_MAX_ATTEMPTS: u32 = 8;
const FULL_JITTER_BASE_MS: u64 = 1_000;
const FULL_JITTER_CAP_MS: u64 = 60_000;

impl FullJitter {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Policy for FullJitter {
    fn name(&self) -> &str {
        "full_jitter"
    }

    fn decide(
        &mut self,
        features: &RetryFeatures,
        _now: DateTime<Utc>,
    ) -> Result<Decision, PolicyError> {
        let attempt = features.failed_attempt();
        let doublings = attempt.saturating_sub(1).min(30);
        let ceiling = (FULL_JITTER_BASE_MS << doublings).min(FULL_JITTER_CAP_MS);
        Ok(Decision {
            retry: attempt < FULL_JITTER_MAX_ATTEMPTS,
            delay_ms: self.rng.random_range(0..=ceiling),
            method: None,
            max_attempts: Some(FULL_JITTER_MAX_ATTEMPTS),
        })
    }
}

/// The engine the service runs, in process: `rules` (Bayesian tier off) or `bayesian` (all
/// tiers on, ML off).
#[derive(Debug)]
pub struct EnginePolicy {
    name: &'static str,
    engine: Engine,
}

impl EnginePolicy {
    /// The rules tier alone (`EngineSettings::bayesian_enabled = false`).
    pub fn rules(mut settings: EngineSettings, seed: u64) -> Self {
        settings.bayesian_enabled = false;
        Self::with("rules", settings, seed)
    }

    /// The full engine with its Bayesian tier (ML stays off, as shipped).
    pub fn bayesian(mut settings: EngineSettings, seed: u64) -> Self {
        settings.bayesian_enabled = true;
        Self::with("bayesian", settings, seed)
    }

    fn with(name: &'static str, settings: EngineSettings, seed: u64) -> Self {
        let mut strategy = default_strategy();
        strategy.ml_enabled = false;
        Self {
            name,
            engine: Engine::new(strategy, settings, seed),
        }
    }
}

impl Policy for EnginePolicy {
    fn name(&self) -> &str {
        self.name
    }

    fn decide(
        &mut self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> Result<Decision, PolicyError> {
        let rec = self.engine.recommend(features, now);
        Ok(Decision::from_recommendation(&rec))
    }

    fn observe(&mut self, attempt: &AttemptRecord) -> Result<(), PolicyError> {
        self.engine.observe(attempt);
        Ok(())
    }
}

/// Knows each job's hidden truth: retries exactly when the job's dependency has recovered,
/// never retries a job that cannot succeed, retries flaky failures at once.
#[derive(Debug)]
pub struct Oracle {
    start: DateTime<Utc>,
    truths: HashMap<String, Truth>,
}

impl Oracle {
    pub fn new(start: DateTime<Utc>, jobs: &[Job]) -> Self {
        let truths = jobs.iter().map(|j| (j.id.clone(), j.truth)).collect();
        Self { start, truths }
    }
}

impl Policy for Oracle {
    fn name(&self) -> &str {
        "oracle"
    }

    fn decide(
        &mut self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> Result<Decision, PolicyError> {
        let now_ms = u64::try_from((now - self.start).num_milliseconds()).unwrap_or(0);
        let truth = features.job_id.as_ref().and_then(|id| self.truths.get(id));
        Ok(match truth.and_then(|t| t.earliest_success(now_ms)) {
            Some(at_ms) => Decision {
                retry: true,
                delay_ms: at_ms - now_ms,
                method: None,
                max_attempts: None,
            },
            None => Decision {
                retry: false,
                delay_ms: 0,
                method: None,
                max_attempts: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(attempt: u32) -> RetryFeatures {
        RetryFeatures {
            job_id: Some("j".into()),
            attempt_number: attempt,
            ..RetryFeatures::default()
        }
    }

    #[test]
    fn traditional_follows_the_seed_schedule() {
        let mut p = Traditional::default();
        let delays: Vec<u64> = (1..5)
            .map(|n| p.decide(&failed(n), Utc::now()).unwrap().delay_ms)
            .collect();
        assert_eq!(delays, [2_000, 4_000, 8_000, 16_000]);
        assert!(!p.decide(&failed(5), Utc::now()).unwrap().retry);
    }

    #[test]
    fn full_jitter_stays_under_its_ceiling() {
        let mut p = FullJitter::new(1);
        for n in 1..FULL_JITTER_MAX_ATTEMPTS {
            let d = p.decide(&failed(n), Utc::now()).unwrap();
            assert!(d.retry && d.delay_ms <= (1_000u64 << (n - 1)).min(60_000));
        }
        assert!(
            !p.decide(&failed(FULL_JITTER_MAX_ATTEMPTS), Utc::now())
                .unwrap()
                .retry
        );
    }
}
