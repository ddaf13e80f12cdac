//! `eval --api URL`: the learning strategies (`rules`, `bayesian`) run in a live
//! `retryctl serve`, over HTTP, in virtual time. The static strategies and the oracle need no
//! service and run in process as always. The `ml` strategy is not run here (it is left out of
//! the report): training on one run's warm-up would need the service's `POST /ml/train` to
//! train on that run's namespace only, which it cannot select.
//!
//! A run talks to the service as a worker would, with every record stamped with its virtual
//! time (the service learns from the records' timestamps, not their arrival time): a failure
//! goes through `POST /failures` (recorded, then recommended at the record's time, then put
//! on the retry schedule); successes are held back and sent as one `POST /attempts` batch just
//! before the next failure, so the service has seen exactly what the in-process engine has
//! seen when it decides.
//!
//! Isolation inside one service: each run (scenario × strategy) gets its own namespace, put in
//! front of the job id, error class, queue and tenant (`sim-kqzjxv-j/timeout`). The engine keys
//! its episodes, models, similar cases, circuits, budgets and quotas on those, so no run sees
//! what another learned. Rule patterns still match, because the shipped error patterns search
//! inside the class, and namespaces are made of letters that spell none of them. `rules` and
//! `bayesian` are told apart by switching the service's strategy (`PUT /strategy` with
//! `bayesian_enabled`); the strategy found at the start is put back at the end.
//!
//! The run's cost weights (`eval --cost`) are the service's for the run: `PUT /engine/cost` sets
//! them when they differ from what the service has, and the weights found at the start are put
//! back at the end, as the strategy is.
//!
//! Each run first sends `POST /engine/seed` with the run's seed, so the service's random stream
//! (jitter, exploration) starts where the in-process engine's does: with the namespaces, the
//! service's answers, and so the report, equal the in-process ones figure for figure.

use super::eval::{EvalConfig, Learner, Learners};
use super::policy::{Decision, Policy, PolicyError};
use crate::client::{Client, ClientResult};
use crate::model::{AttemptRecord, CostWeights, FailureReport, RetryFeatures, RetryStrategy};
use chrono::{DateTime, Utc};
use rand::RngExt;
use std::future::Future;
use std::time::Duration;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most successes sent in one `POST /attempts` (well under the service's batch limit).
const BATCH: usize = 5_000;
/// Namespace letters: none of the shipped error patterns (or any digit) can match them.
const LETTERS: &[u8] = b"jkqvxz";

/// The learning strategies of a live service, one namespaced run at a time.
pub struct ApiLearners {
    runtime: tokio::runtime::Runtime,
    client: Client,
    url: String,
    tag: String,
    runs: u64,
    original: RetryStrategy,
    bayesian: Option<bool>,
    /// The service's cost weights found at the start, and those set for the runs.
    original_cost: CostWeights,
    cost: Option<CostWeights>,
}

impl std::fmt::Debug for ApiLearners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiLearners")
            .field("url", &self.url)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl ApiLearners {
    /// Connects to the service at `url` and reads its strategy (so it can be put back).
    /// Runs its own single-threaded async runtime: call it outside any other.
    pub fn connect(url: &str, token: Option<String>) -> Result<Self, PolicyError> {
        let fail = |what: &str, error: String| PolicyError {
            url: url.to_string(),
            what: what.to_string(),
            error,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail("starting the async runtime", e.to_string()))?;
        let client = {
            let _inside = runtime.enter();
            Client::new(url, token, REQUEST_TIMEOUT)
                .map_err(|e| fail("preparing the client", e.to_string()))?
        };
        let original = runtime
            .block_on(client.strategy())
            .map_err(|e| fail("reading the strategy (GET /strategy)", e.to_string()))?;
        let original_cost = runtime
            .block_on(client.cost())
            .map_err(|e| fail("reading the cost weights (GET /engine/cost)", e.to_string()))?;
        Ok(Self {
            runtime,
            client,
            url: url.to_string(),
            tag: random_tag(),
            runs: 0,
            original,
            bayesian: None,
            original_cost,
            cost: None,
        })
    }

    /// Puts back the strategy and the cost weights found at the start, if a run changed them.
    pub fn restore(&mut self) -> Result<(), PolicyError> {
        if self.cost.take().is_some_and(|c| c != self.original_cost) {
            let original = self.original_cost.clone();
            self.call(
                || "putting the original cost weights back (PUT /engine/cost)".into(),
                self.client.put_cost(&original),
            )?;
        }
        if self.bayesian.take().is_none() {
            return Ok(());
        }
        let original = self.original.clone();
        self.call(
            || "putting the original strategy back (PUT /strategy)".into(),
            self.client.put_strategy(&original),
        )?;
        Ok(())
    }

    /// Sets the service's cost weights to the run's (`eval --cost`), unless they already are.
    fn use_cost(&mut self, cost: &CostWeights) -> Result<(), PolicyError> {
        let current = self.cost.as_ref().unwrap_or(&self.original_cost);
        if current == cost {
            return Ok(());
        }
        self.call(
            || "setting the run's cost weights (PUT /engine/cost; needs an operator token)".into(),
            self.client.put_cost(cost),
        )?;
        self.cost = Some(cost.clone());
        Ok(())
    }

    /// Turns the service's Bayesian tier on or off, unless it already is.
    fn switch(&mut self, bayesian: bool) -> Result<(), PolicyError> {
        if self.bayesian == Some(bayesian) {
            return Ok(());
        }
        let strategy = RetryStrategy {
            bayesian_enabled: bayesian,
            ..self.original.clone()
        };
        let tier = if bayesian { "on" } else { "off" };
        self.call(
            || format!("turning the Bayesian tier {tier} (PUT /strategy; needs an operator token)"),
            self.client.put_strategy(&strategy),
        )?;
        self.bayesian = Some(bayesian);
        Ok(())
    }

    /// Runs one request to completion; a failure says what was being done.
    fn call<T>(
        &self,
        what: impl FnOnce() -> String,
        request: impl Future<Output = ClientResult<T>>,
    ) -> Result<T, PolicyError> {
        self.runtime.block_on(request).map_err(|e| PolicyError {
            url: self.url.clone(),
            what: what(),
            error: e.to_string(),
        })
    }
}

impl Learners for ApiLearners {
    fn runs(&self, kind: Learner) -> bool {
        !matches!(kind, Learner::Ml { .. })
    }

    fn learner(
        &mut self,
        kind: Learner,
        config: &EvalConfig,
    ) -> Result<Box<dyn Policy + '_>, PolicyError> {
        let name = match kind {
            Learner::Rules => "rules",
            Learner::Bayesian => "bayesian",
            Learner::Ml { .. } => {
                return Err(PolicyError {
                    url: self.url.clone(),
                    what: "running the ml strategy".into(),
                    error: "the ml strategy runs in process only (eval without --api)".into(),
                });
            }
        };
        self.switch(kind == Learner::Bayesian)?;
        self.use_cost(&config.cost)?;
        // The in-process engine of a run starts from the run's seed: so does the service's.
        self.call(
            || {
                format!(
                    "seeding the engine with {} (POST /engine/seed)",
                    config.seed
                )
            },
            self.client.reseed_engine(config.seed),
        )?;
        self.runs += 1;
        let namespace = format!("sim-{}-{}", self.tag, letters(self.runs));
        Ok(Box::new(ApiPolicy {
            service: self,
            name,
            namespace,
            successes: Vec::new(),
            failure: None,
        }))
    }
}

/// One run's strategy: the service, seen through the run's namespace.
struct ApiPolicy<'a> {
    service: &'a ApiLearners,
    name: &'static str,
    namespace: String,
    /// Successes not yet sent.
    successes: Vec<AttemptRecord>,
    /// The failed attempt the next decision is about.
    failure: Option<AttemptRecord>,
}

impl Policy for ApiPolicy<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn decide(
        &mut self,
        features: &RetryFeatures,
        _now: DateTime<Utc>,
    ) -> Result<Decision, PolicyError> {
        self.flush()?;
        let report = match self.failure.take() {
            Some(record) => failure_report(record, features.retry_after_ms),
            None => return Err(self.out_of_order(features)),
        };
        let answer = self.service.call(
            || {
                format!(
                    "reporting the failure of job {} (POST /failures)",
                    report.job_id
                )
            },
            self.service.client.record_failure(&report),
        )?;
        Ok(Decision::from_recommendation(&answer.recommendation))
    }

    fn observe(&mut self, attempt: &AttemptRecord) -> Result<(), PolicyError> {
        let record = self.namespaced(attempt);
        if record.success {
            self.successes.push(record);
        } else {
            self.failure = Some(record);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PolicyError> {
        self.flush()
    }
}

impl ApiPolicy<'_> {
    /// Sends the held-back successes, in order.
    fn flush(&mut self) -> Result<(), PolicyError> {
        for batch in self.successes.chunks(BATCH) {
            self.service.call(
                || format!("recording {} attempts (POST /attempts)", batch.len()),
                self.service.client.record_attempts(batch),
            )?;
        }
        self.successes.clear();
        Ok(())
    }

    fn namespaced(&self, attempt: &AttemptRecord) -> AttemptRecord {
        let ns = |name: &str| format!("{}/{name}", self.namespace);
        AttemptRecord {
            job_id: ns(&attempt.job_id),
            error_class: ns(&attempt.error_class),
            queue: ns(&attempt.queue),
            tenant: attempt.tenant.as_deref().map(ns),
            ..attempt.clone()
        }
    }

    /// The run loop asks only after telling the failure; anything else is a bug in it.
    fn out_of_order(&self, features: &RetryFeatures) -> PolicyError {
        PolicyError {
            url: self.service.url.clone(),
            what: format!(
                "deciding on job {} (attempt {})",
                features.job_id.as_deref().unwrap_or("?"),
                features.attempt_number
            ),
            error: "asked for a decision before being told of the failure".into(),
        }
    }
}

/// The `POST /failures` body for a failed attempt record.
fn failure_report(record: AttemptRecord, retry_after_ms: Option<u64>) -> FailureReport {
    FailureReport {
        job_id: record.job_id,
        job_type: record.job_type,
        attempt_number: record.attempt_number,
        error_class: record.error_class,
        error_code: record.error_code,
        error_message: String::new(),
        queue: record.queue,
        tenant: record.tenant,
        payload_size: record.payload_size,
        time_of_day: record.time_of_day,
        worker_version: record.worker_version,
        health: record.health,
        delay_ms: record.delay_ms,
        timestamp: Some(record.timestamp),
        retry_after_ms,
        claimed_by: None,
        lease_until: None,
    }
}

/// Six random namespace letters: a new namespace for every `eval --api` invocation.
fn random_tag() -> String {
    let mut rng = rand::rng();
    (0..6)
        .map(|_| char::from(LETTERS[rng.random_range(0..LETTERS.len())]))
        .collect()
}

/// `n` (≥ 1) written in namespace letters, least significant first.
fn letters(mut n: u64) -> String {
    let base = LETTERS.len() as u64;
    let mut out = String::new();
    while n > 0 {
        out.push(char::from(LETTERS[(n % base) as usize]));
        n /= base;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_distinct_and_match_no_shipped_pattern() {
        let names: Vec<String> = (1..500).map(letters).collect();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        let rules = crate::engine::default_policies();
        let patterns = rules.iter().flat_map(|p| &p.error_patterns);
        for pattern in patterns.filter(|p| p.as_str() != "*") {
            let re = regex::Regex::new(&format!("(?i){pattern}")).unwrap();
            for name in names.iter().chain([&random_tag()]) {
                assert!(!re.is_match(&format!("sim-{name}")), "{pattern} in {name}");
            }
        }
    }
}
