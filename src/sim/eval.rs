//! Offline evaluation: every strategy faces the same jobs of a scenario in virtual time.
//!
//! For each strategy an event queue replays the scenario: a job's first attempt fails on
//! arrival; the strategy is told about every attempt (`observe`, with virtual timestamps) and
//! asked after every failure (`decide`, with virtual `now`); a retry is an event at
//! `now + delay` whose outcome the hidden truth decides. Jobs arriving during the warm-up teach
//! the learners and are not scored.

use super::ml::{MlPolicy, MlReport};
use super::policy::{Decision, EnginePolicy, FullJitter, Oracle, Policy, PolicyError, Traditional};
use super::scenario::{Scenario, Workload};
use super::world::{self, Job};
use crate::engine::ml::ModelKind;
use crate::engine::{CostWeights, EngineSettings};
use crate::model::{AttemptRecord, Method, RetryFeatures, WireDuration};
use chrono::{DateTime, Duration, Timelike, Utc};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// A job is given up after this many attempts whatever the strategy says (a safety net
/// against a strategy that never stops; counted as a failure).
pub const ATTEMPT_CAP: u32 = 50;
/// Window of `recent_failures` in the features.
const RECENT_WINDOW_MS: u64 = 60_000;
/// Strategies that do not learn; the cost ratio is taken against the best of them.
pub const STATIC_STRATEGIES: [&str; 2] = ["traditional", "full_jitter"];

/// How to run an evaluation.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Drives the scenario's randomness and every strategy's own.
    pub seed: u64,
    /// Weights of the cost figure (also given to the engine, which minimises the same cost).
    pub cost: CostWeights,
    /// Jobs per point of the post-drift learning curve.
    pub drift_block: usize,
    /// The model kind of the `ml` strategy; `None` leaves the strategy out.
    pub ml_model: Option<ModelKind>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            cost: CostWeights::default(),
            drift_block: 100,
            ml_model: Some(ModelKind::GradientBoost),
        }
    }
}

/// The figures of one strategy on one scenario (measured jobs only).
#[derive(Debug, Clone, Serialize)]
pub struct StrategyResult {
    pub strategy: String,
    pub jobs: u64,
    pub succeeded: u64,
    pub success_rate: f64,
    pub retries_per_job: f64,
    /// Share of first retries that succeeded (among jobs retried at least once).
    pub first_retry_success: Option<f64>,
    pub mean_time_to_success_s: Option<f64>,
    pub p90_time_to_success_s: Option<f64>,
    /// Mean cost per job: retries × per retry + seconds to resolution × per second + penalty
    /// when the job never succeeded.
    pub cost_per_job: f64,
    /// `cost_per_job` divided by the best static strategy's.
    pub cost_vs_best_static: Option<f64>,
    /// `cost_per_job` divided by the oracle's (the lower bound).
    pub cost_vs_oracle: Option<f64>,
    /// How many decisions each engine tier made (engine-backed strategies only).
    pub methods: BTreeMap<String, u64>,
    /// For drift scenarios: mean cost per job before the change, then per block of
    /// `drift_block` jobs after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftCurve>,
    /// The `ml` strategy's model: its training, held-out metrics and drift windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ml: Option<MlReport>,
    /// The same figures per workload, in the scenario's order, with how its lost jobs ended
    /// (so a scenario mixing kinds of failure shows which kind a strategy loses).
    pub workloads: Vec<WorkloadResult>,
}

/// One workload's measured jobs under one strategy.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadResult {
    pub workload: String,
    pub jobs: u64,
    pub succeeded: u64,
    /// Jobs the strategy stopped while they had attempts left.
    pub given_up: u64,
    /// Jobs that used every attempt the strategy allows (or the evaluation's cap).
    pub out_of_attempts: u64,
    pub retries_per_job: f64,
    pub cost_per_job: f64,
}

/// Cost per job around a drift.
#[derive(Debug, Clone, Serialize)]
pub struct DriftCurve {
    pub before: f64,
    pub after_blocks: Vec<f64>,
}

/// All strategies on one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub warmup_jobs: u64,
    pub measured_jobs: u64,
    pub strategies: Vec<StrategyResult>,
}

/// Runs every strategy on `scenario` in this process and scores them.
pub fn evaluate(scenario: &Scenario, config: &EvalConfig) -> ScenarioReport {
    match evaluate_with(scenario, config, &mut InProcess) {
        Ok(report) => report,
        // In-process strategies do no I/O: none of them has a way to fail.
        Err(e) => unreachable!("an in-process strategy failed: {e}"),
    }
}

/// The strategies that learn, which `evaluate_with` takes from a [`Learners`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learner {
    /// The engine with its Bayesian tier off.
    Rules,
    /// The full engine.
    Bayesian,
    /// The full engine with an ML tier of this kind, trained when the warm-up ends (at
    /// `trained_at`, scenario `start` plus the warm-up).
    Ml {
        kind: ModelKind,
        start: DateTime<Utc>,
        trained_at: DateTime<Utc>,
    },
}

/// Where the learning strategies run: in this process ([`InProcess`]) or in a live service
/// (`sim::api`). Each call gives a fresh strategy for one run over one scenario.
pub trait Learners {
    /// Whether this place can run `kind`; the strategies it cannot run are left out.
    fn runs(&self, _kind: Learner) -> bool {
        true
    }
    fn learner(
        &mut self,
        kind: Learner,
        config: &EvalConfig,
    ) -> Result<Box<dyn Policy + '_>, PolicyError>;
}

/// The engine in this process, one fresh instance per run, seeded with the run's seed.
#[derive(Debug, Default)]
pub struct InProcess;

impl Learners for InProcess {
    fn learner(
        &mut self,
        kind: Learner,
        config: &EvalConfig,
    ) -> Result<Box<dyn Policy + '_>, PolicyError> {
        let settings = EngineSettings {
            cost: config.cost.clone(),
            ..EngineSettings::default()
        };
        let policy: Box<dyn Policy> = match kind {
            Learner::Rules => Box::new(EnginePolicy::rules(settings, config.seed)),
            Learner::Bayesian => Box::new(EnginePolicy::bayesian(settings, config.seed)),
            Learner::Ml {
                kind,
                start,
                trained_at,
            } => Box::new(MlPolicy::new(
                settings,
                config.seed,
                kind,
                (start, trained_at),
            )),
        };
        Ok(policy)
    }
}

/// Runs every strategy on `scenario` — the static ones and the oracle here, the learning ones
/// from `learners` — and scores them.
pub fn evaluate_with(
    scenario: &Scenario,
    config: &EvalConfig,
    learners: &mut dyn Learners,
) -> Result<ScenarioReport, PolicyError> {
    let jobs = world::generate(scenario, config.seed);
    let scored = |policy: &mut dyn Policy| -> Result<StrategyResult, PolicyError> {
        let outcomes = run(scenario, &jobs, policy)?;
        let mut result = score(policy.name(), scenario, &jobs, &outcomes, config);
        result.ml = policy.ml_report();
        Ok(result)
    };
    let mut results = vec![
        scored(&mut Traditional::default())?,
        scored(&mut FullJitter::new(config.seed))?,
    ];
    for kind in learner_kinds(scenario, config) {
        if learners.runs(kind) {
            results.push(scored(learners.learner(kind, config)?.as_mut())?);
        }
    }
    results.push(scored(&mut Oracle::new(scenario.start, &jobs))?);
    compare_costs(&mut results);
    let measured = jobs.iter().filter(|j| j.measured).count() as u64;
    Ok(ScenarioReport {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        seed: config.seed,
        warmup_jobs: jobs.len() as u64 - measured,
        measured_jobs: measured,
        strategies: results,
    })
}

/// The learning strategies `config` asks for, in report order.
fn learner_kinds(scenario: &Scenario, config: &EvalConfig) -> Vec<Learner> {
    let mut kinds = vec![Learner::Rules, Learner::Bayesian];
    if let Some(kind) = config.ml_model {
        let warmup = i64::try_from(scenario.warmup.0).unwrap_or(i64::MAX);
        kinds.push(Learner::Ml {
            kind,
            start: scenario.start,
            trained_at: scenario.start + Duration::milliseconds(warmup),
        });
    }
    kinds
}

/// Each strategy's cost against the best static strategy's and against the oracle's.
fn compare_costs(results: &mut [StrategyResult]) {
    let lowest = |names: &[&str], results: &[StrategyResult]| {
        results
            .iter()
            .filter(|r| names.contains(&r.strategy.as_str()))
            .map(|r| r.cost_per_job)
            .fold(f64::INFINITY, f64::min)
    };
    let best_static = lowest(&STATIC_STRATEGIES, results);
    let oracle = lowest(&["oracle"], results);
    let ratio = |base: f64, cost: f64| (base > 0.0 && base.is_finite()).then(|| cost / base);
    for r in results {
        r.cost_vs_best_static = ratio(best_static, r.cost_per_job);
        r.cost_vs_oracle = ratio(oracle, r.cost_per_job);
    }
}

/// How one job ended under one strategy.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub attempts: u32,
    pub success: bool,
    /// From the first failure to the last attempt.
    pub resolution_ms: u64,
    pub first_retry_success: Option<bool>,
    pub methods: Vec<Method>,
    /// How the job ended when it never succeeded.
    pub stop: Option<Stop>,
}

/// How a job that never succeeded ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The strategy stopped it while it had attempts left.
    GaveUp,
    /// It used every attempt the strategy allows, or [`ATTEMPT_CAP`].
    OutOfAttempts,
}

impl Stop {
    /// How a stop after failed attempt `attempt` under `decision` ends the job.
    fn after(attempt: u32, decision: &Decision) -> Self {
        let limit = decision
            .max_attempts
            .unwrap_or(ATTEMPT_CAP)
            .min(ATTEMPT_CAP);
        if attempt >= limit {
            Stop::OutOfAttempts
        } else {
            Stop::GaveUp
        }
    }
}

/// The simulation state of one strategy's run.
struct Run<'a> {
    scenario: &'a Scenario,
    jobs: &'a [Job],
    outcomes: Vec<Outcome>,
    last_attempt_ms: Vec<u64>,
    recent: Vec<VecDeque<u64>>,
    queue: BinaryHeap<Reverse<(u64, usize, u32)>>,
}

/// Replays `jobs` against `policy` in virtual time; one outcome per job, in job order.
pub fn run(
    scenario: &Scenario,
    jobs: &[Job],
    policy: &mut dyn Policy,
) -> Result<Vec<Outcome>, PolicyError> {
    let mut state = Run {
        scenario,
        jobs,
        outcomes: vec![Outcome::default(); jobs.len()],
        last_attempt_ms: vec![0; jobs.len()],
        recent: vec![VecDeque::new(); scenario.workloads.len()],
        queue: jobs
            .iter()
            .enumerate()
            .map(|(i, j)| Reverse((j.arrival_ms, i, 1)))
            .collect(),
    };
    while let Some(Reverse((t, job, attempt))) = state.queue.pop() {
        state.attempt(policy, t, job, attempt)?;
    }
    policy.finish()?;
    Ok(state.outcomes)
}

impl Run<'_> {
    fn attempt(
        &mut self,
        policy: &mut dyn Policy,
        t: u64,
        index: usize,
        attempt: u32,
    ) -> Result<(), PolicyError> {
        let job = &self.jobs[index];
        let success = attempt > 1 && job.truth.succeeds(attempt, t);
        let delay = t - if attempt == 1 {
            t
        } else {
            self.last_attempt_ms[index]
        };
        let previous_ms = self.last_attempt_ms[index];
        self.last_attempt_ms[index] = t;
        policy.observe(&self.record(job, attempt, t, delay, success))?;
        let outcome = &mut self.outcomes[index];
        outcome.attempts = attempt;
        outcome.resolution_ms = t - job.arrival_ms;
        if attempt == 2 {
            outcome.first_retry_success = Some(success);
        }
        if success {
            outcome.success = true;
            return Ok(());
        }
        self.note_failure(job.workload, t);
        let since = (attempt > 1).then(|| t - previous_ms);
        let features = self.features(job, attempt, t, since);
        let decision = policy.decide(&features, self.at(t))?;
        let outcome = &mut self.outcomes[index];
        outcome.methods.extend(decision.method);
        if decision.retry && attempt < ATTEMPT_CAP {
            let at = t.saturating_add(decision.delay_ms);
            self.queue.push(Reverse((at, index, attempt + 1)));
        } else {
            outcome.stop = Some(Stop::after(attempt, &decision));
        }
        Ok(())
    }

    fn at(&self, t_ms: u64) -> DateTime<Utc> {
        self.scenario.start + Duration::milliseconds(i64::try_from(t_ms).unwrap_or(i64::MAX))
    }

    fn note_failure(&mut self, workload: usize, t: u64) {
        let recent = &mut self.recent[workload];
        recent.push_back(t);
        while recent.front().is_some_and(|&f| f + RECENT_WINDOW_MS < t) {
            recent.pop_front();
        }
    }

    fn workload(&self, job: &Job) -> &Workload {
        &self.scenario.workloads[job.workload]
    }

    fn record(&self, job: &Job, attempt: u32, t: u64, delay: u64, ok: bool) -> AttemptRecord {
        let w = self.workload(job);
        let at = self.at(t);
        AttemptRecord {
            job_id: job.id.clone(),
            job_type: w.job_type.clone(),
            attempt_number: attempt,
            error_class: w.error_class.clone(),
            error_code: w.error_code.clone(),
            status: if ok { "succeeded" } else { "failed" }.into(),
            queue: w.queue.clone(),
            tenant: w.tenant.clone(),
            payload_size: 0,
            time_of_day: at.hour() as u8,
            worker_version: String::new(),
            health: None,
            delay_ms: delay,
            success: ok,
            timestamp: at,
            processing_time: None,
        }
    }

    fn features(&self, job: &Job, attempt: u32, t: u64, since: Option<u64>) -> RetryFeatures {
        let w = self.workload(job);
        RetryFeatures {
            job_id: Some(job.id.clone()),
            job_type: w.job_type.clone(),
            error_class: w.error_class.clone(),
            error_code: w.error_code.clone(),
            attempt_number: attempt,
            queue: w.queue.clone(),
            tenant: w.tenant.clone(),
            time_of_day: self.at(t).hour() as u8,
            since_last_failure: since.map(WireDuration::from_millis),
            recent_failures: self.recent[job.workload].len() as u32,
            retry_after_ms: job.truth.retry_after_ms(t),
            first_failure_at: Some(self.at(job.arrival_ms)),
            ..RetryFeatures::default()
        }
    }
}

/// The cost of one job's outcome under `weights`.
pub fn job_cost(outcome: &Outcome, weights: &CostWeights) -> f64 {
    let retries = f64::from(outcome.attempts.saturating_sub(1));
    let seconds = outcome.resolution_ms as f64 / 1000.0;
    let penalty = if outcome.success {
        0.0
    } else {
        weights.give_up_penalty
    };
    retries * weights.per_attempt + seconds * weights.per_second + penalty
}

fn score(
    name: &str,
    scenario: &Scenario,
    jobs: &[Job],
    outcomes: &[Outcome],
    config: &EvalConfig,
) -> StrategyResult {
    let measured: Vec<(&Job, &Outcome)> = jobs
        .iter()
        .zip(outcomes)
        .filter(|(j, _)| j.measured)
        .collect();
    let n = measured.len().max(1) as f64;
    let succeeded = measured.iter().filter(|(_, o)| o.success).count() as u64;
    let retries: u64 = measured
        .iter()
        .map(|(_, o)| u64::from(o.attempts - 1))
        .sum();
    let mut tts: Vec<f64> = measured
        .iter()
        .filter(|(_, o)| o.success)
        .map(|(_, o)| o.resolution_ms as f64 / 1000.0)
        .collect();
    tts.sort_by(f64::total_cmp);
    let firsts: Vec<bool> = measured
        .iter()
        .filter_map(|(_, o)| o.first_retry_success)
        .collect();
    let cost: f64 = measured
        .iter()
        .map(|(_, o)| job_cost(o, &config.cost))
        .sum();
    StrategyResult {
        strategy: name.to_string(),
        jobs: measured.len() as u64,
        succeeded,
        success_rate: succeeded as f64 / n,
        retries_per_job: retries as f64 / n,
        first_retry_success: share(&firsts),
        mean_time_to_success_s: (!tts.is_empty())
            .then(|| tts.iter().sum::<f64>() / tts.len() as f64),
        p90_time_to_success_s: percentile(&tts, 0.9),
        cost_per_job: cost / n,
        cost_vs_best_static: None,
        cost_vs_oracle: None,
        methods: method_counts(&measured),
        drift: drift_curve(&measured, config),
        workloads: by_workload(scenario, &measured, config),
        ml: None,
    }
}

fn by_workload(
    scenario: &Scenario,
    measured: &[(&Job, &Outcome)],
    config: &EvalConfig,
) -> Vec<WorkloadResult> {
    let mut results: Vec<WorkloadResult> = scenario
        .workloads
        .iter()
        .map(|w| WorkloadResult {
            workload: w.name.clone(),
            jobs: 0,
            succeeded: 0,
            given_up: 0,
            out_of_attempts: 0,
            retries_per_job: 0.0,
            cost_per_job: 0.0,
        })
        .collect();
    for (job, o) in measured {
        let r = &mut results[job.workload];
        r.jobs += 1;
        r.succeeded += u64::from(o.success);
        r.given_up += u64::from(o.stop == Some(Stop::GaveUp));
        r.out_of_attempts += u64::from(o.stop == Some(Stop::OutOfAttempts));
        // Sums until divided below.
        r.retries_per_job += f64::from(o.attempts.saturating_sub(1));
        r.cost_per_job += job_cost(o, &config.cost);
    }
    for r in &mut results {
        let n = r.jobs.max(1) as f64;
        r.retries_per_job /= n;
        r.cost_per_job /= n;
    }
    results
}

fn share(flags: &[bool]) -> Option<f64> {
    (!flags.is_empty()).then(|| flags.iter().filter(|f| **f).count() as f64 / flags.len() as f64)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn method_counts(measured: &[(&Job, &Outcome)]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for method in measured.iter().flat_map(|(_, o)| &o.methods) {
        *counts.entry(method.as_str().to_string()).or_insert(0) += 1;
    }
    counts
}

fn drift_curve(measured: &[(&Job, &Outcome)], config: &EvalConfig) -> Option<DriftCurve> {
    let cost = |o: &Outcome| job_cost(o, &config.cost);
    let after: Vec<f64> = measured
        .iter()
        .filter(|(j, _)| j.drifted)
        .map(|(_, o)| cost(o))
        .collect();
    if after.is_empty() {
        return None;
    }
    let before: Vec<f64> = measured
        .iter()
        .filter(|(j, _)| !j.drifted)
        .map(|(_, o)| cost(o))
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Some(DriftCurve {
        before: mean(&before),
        after_blocks: after.chunks(config.drift_block.max(1)).map(mean).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.9), Some(9.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 0.9), None);
    }

    #[test]
    fn cost_adds_retries_time_and_penalty() {
        let w = CostWeights {
            per_attempt: 1.0,
            per_second: 0.1,
            give_up_penalty: 50.0,
        };
        let ok = Outcome {
            attempts: 3,
            success: true,
            resolution_ms: 10_000,
            ..Outcome::default()
        };
        assert!((job_cost(&ok, &w) - 3.0).abs() < 1e-9);
        let lost = Outcome {
            success: false,
            ..ok
        };
        assert!((job_cost(&lost, &w) - 53.0).abs() < 1e-9);
    }
}
