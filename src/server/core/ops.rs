//! The service's operational memory: the event ring, sliding windows for rates and alerts, the
//! smart-vs-static shadow comparison, success by error class, the pattern analysis and the
//! current alerts.
//!
//! Everything here is synchronous and takes time as an argument; the handlers and the alert
//! loop hold it behind a mutex for a few microseconds at a time.

use super::alert_rules::{AlertInputs, window_secs};
use super::cohorts::CohortBook;
use super::events::{EventLog, kind};
use super::job_locks::{JobGuard, JobLocks};
use super::known_jobs::KnownJobs;
use super::patterns::{Ending, PatternBook};
use super::pauses::PauseBook;
use super::series::SeriesBook;
use super::shadow_cache::ShadowCache;
use super::views::{QueueBook, Today};
use super::window::WindowCounter;
use crate::config::AlertThresholds;
use crate::model::{
    Alert, AttemptRecord, CircuitView, Comparison, ErrorClassStats, JobExpectation, JobState,
    Method, Rates, RetryRecommendation,
};
use crate::store::ClassTally;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// How many events the ring keeps.
pub const EVENT_CAPACITY: usize = 10_000;
/// The longest window any rate or rule looks at.
const WINDOW_SECS: u32 = 300;

// Keys of the sliding windows.
const RECS: &str = "recommendations";
const STATIC: &str = "static";
const FROM_BAYES: &str = "from_bayesian";
const FROM_ML: &str = "from_ml";
const GUARDED: &str = "guardrail_changed";
const ATTEMPTS: &str = "attempts";
const RETRY_OK: &str = "retry_success";
const RETRY_FAILED: &str = "retry_failure";

/// See the module docs.
#[derive(Debug)]
pub struct Ops {
    pub events: EventLog,
    /// Current and resolved alerts by id.
    pub alerts: BTreeMap<String, Alert>,
    totals: WindowCounter,
    retries_by_queue: WindowCounter,
    comparison: Comparison,
    smart_success_sum: f64,
    static_success_sum: f64,
    /// Attempts and successes per error class: seeded from the store at start-up, so they
    /// cover every attempt recorded, then counted as attempts arrive.
    error_classes: BTreeMap<String, ClassTally>,
    /// How failures ended, per (job type, error class, tenant), over the last 24 hours.
    pub patterns: PatternBook,
    /// Which tier decides each queue's retries, over the last five minutes.
    pub queues: QueueBook,
    /// Today's retries and recommended delays.
    pub today: Today,
    /// Per-queue counts in 10-second steps over the last hour (`GET /series`).
    pub series: SeriesBook,
    /// Smart vs static per 10-minute cohort of first failures (`GET /smart-vs-static`).
    pub cohorts: CohortBook,
}

impl Default for Ops {
    fn default() -> Self {
        Self::new(super::patterns::MAX_OPEN_EPISODES)
    }
}

impl Ops {
    /// Empty, following at most `max_followed_jobs` jobs in the pattern analysis.
    pub fn new(max_followed_jobs: usize) -> Self {
        Self {
            events: EventLog::new(EVENT_CAPACITY),
            alerts: BTreeMap::new(),
            totals: WindowCounter::new(WINDOW_SECS),
            retries_by_queue: WindowCounter::new(60),
            comparison: Comparison::default(),
            smart_success_sum: 0.0,
            static_success_sum: 0.0,
            error_classes: BTreeMap::new(),
            patterns: PatternBook::new(max_followed_jobs),
            queues: QueueBook::default(),
            today: Today::default(),
            series: SeriesBook::default(),
            cohorts: CohortBook::default(),
        }
    }

    /// Notes a recommendation the service gave at `now` and what the static backoff would have
    /// said for the same failure (shadow comparison).
    pub fn record_recommendation(
        &mut self,
        smart: &RetryRecommendation,
        shadow: &RetryRecommendation,
        job_id: Option<&str>,
        now: DateTime<Utc>,
    ) {
        self.totals.add(RECS, 1, now);
        self.totals.add(method_key(smart.method), 1, now);
        if smart.method == Method::Static {
            self.totals.add(STATIC, 1, now);
        }
        for from in fallen_back_from(smart) {
            match from {
                Method::Bayesian => self.totals.add(FROM_BAYES, 1, now),
                Method::Ml => self.totals.add(FROM_ML, 1, now),
                Method::Rules | Method::Static => {}
            }
        }
        if !smart.policy_guardrails.is_empty() {
            self.totals.add(GUARDED, 1, now);
            let names = smart.policy_guardrails.join(", ");
            self.events.push(
                now,
                kind::GUARDRAIL,
                job_id,
                format!("guardrails changed the recommendation: {names}"),
            );
        }
        self.compare(smart, shadow);
    }

    fn compare(&mut self, smart: &RetryRecommendation, shadow: &RetryRecommendation) {
        let c = &mut self.comparison;
        c.recommendations += 1;
        if shadow.should_retry && !smart.should_retry {
            c.retries_avoided += 1;
        }
        self.smart_success_sum += smart.estimated_success;
        self.static_success_sum += shadow.estimated_success;
        c.smart_mean_success = self.smart_success_sum / c.recommendations as f64;
        c.static_mean_success = self.static_success_sum / c.recommendations as f64;
    }

    /// Adds one job's expectations (smart, static) from its first failure at `now` to the
    /// running means of the comparison and to its cohort.
    pub fn compare_job(
        &mut self,
        smart: JobExpectation,
        fixed: JobExpectation,
        now: DateTime<Utc>,
    ) {
        self.cohorts.compare(smart, fixed, now);
        let c = &mut self.comparison;
        c.jobs += 1;
        let n = c.jobs as f64;
        for (mean, job) in [(&mut c.smart, smart), (&mut c.static_backoff, fixed)] {
            mean.attempts += (job.attempts - mean.attempts) / n;
            mean.give_up += (job.give_up - mean.give_up) / n;
            mean.time_to_success_ms += (job.time_to_success_ms - mean.time_to_success_ms) / n;
        }
    }

    /// Notes an attempt recorded at `now` (service clock) for rates, storms and error classes.
    pub fn record_attempt(&mut self, attempt: &AttemptRecord, now: DateTime<Utc>) {
        self.totals.add(ATTEMPTS, 1, now);
        if attempt.attempt_number > 1 {
            self.retries_by_queue.add(&attempt.queue, 1, now);
            let key = if attempt.success {
                RETRY_OK
            } else {
                RETRY_FAILED
            };
            self.totals.add(key, 1, now);
        }
        ClassTally::add_all(&mut self.error_classes, [attempt]);
        if let Some(opened) = self.patterns.record_attempt(attempt, now) {
            self.cohorts.ended(opened, true, now);
        }
        self.today.note_attempt(attempt, now);
        self.series.record_attempt(attempt, now);
    }

    /// Notes that a job ended at `now` without success (given up or out of attempts).
    pub fn record_end(&mut self, job_id: &str, ending: Ending, now: DateTime<Utc>) {
        if let Some(opened) = self.patterns.record_end(job_id, ending, now) {
            self.cohorts.ended(opened, false, now);
        }
    }

    /// Starts the per-class counts from what the store counted before this process started.
    pub fn seed_error_classes(&mut self, stored: BTreeMap<String, ClassTally>) {
        self.error_classes = stored;
    }

    /// The shadow comparison so far.
    pub fn comparison(&self) -> Comparison {
        self.comparison.clone()
    }

    /// Attempts and successes per error class (see the field's docs).
    pub fn error_classes(&self) -> Vec<ErrorClassStats> {
        let stats = self.error_classes.iter().map(|(class, t)| ErrorClassStats {
            error_class: class.clone(),
            attempts: t.attempts,
            successes: t.successes,
            success_rate: ratio(t.successes, t.attempts),
        });
        stats.collect()
    }

    /// Rates over the last minute (retry success over five).
    pub fn rates(&self, now: DateTime<Utc>) -> Rates {
        let ok = self.totals.sum(RETRY_OK, WINDOW_SECS, now);
        let failed = self.totals.sum(RETRY_FAILED, WINDOW_SECS, now);
        Rates {
            recommendations_per_second: self.totals.sum(RECS, 60, now) as f64 / 60.0,
            attempts_per_second: self.totals.sum(ATTEMPTS, 60, now) as f64 / 60.0,
            retries_per_minute: self.retries_by_queue.sums(60, now).values().sum::<u64>() as f64,
            retry_success_rate_5m: ratio(ok, ok + failed),
        }
    }

    /// What the alert rules need, from these windows plus the engine's state.
    pub fn alert_inputs(
        &self,
        cfg: &AlertThresholds,
        engine: EngineView,
        now: DateTime<Utc>,
    ) -> AlertInputs {
        let in_fallback_window = |key| self.totals.sum(key, window_secs(cfg.fallback_window), now);
        AlertInputs {
            retries_last_minute: self.retries_by_queue.sums(60, now),
            guardrail_overrides: self
                .totals
                .sum(GUARDED, window_secs(cfg.guardrail_window), now),
            circuits: engine.circuits,
            emergency_stop: engine.emergency_stop,
            recommendations: in_fallback_window(RECS),
            static_answers: in_fallback_window(STATIC),
            bayesian_fallbacks: in_fallback_window(FROM_BAYES),
            ml_fallbacks: in_fallback_window(FROM_ML),
            warm_models: engine.warm_models,
            ml_enabled: engine.ml_enabled,
            store_degraded: None,
            pauses: Vec::new(),
            ml_drift: None,
            ml_calibration: None,
            training_failed: None,
            ml_rolled_back: None,
        }
    }

    /// The tier that answered most recommendations in the last minute, if any were made.
    pub fn active_tier(&self, now: DateTime<Utc>) -> Option<Method> {
        let counts = self.totals.sums(60, now);
        Method::ALL
            .into_iter()
            .filter_map(|m| counts.get(method_key(m)).map(|&n| (n, m)))
            .max_by_key(|&(n, m)| (n, std::cmp::Reverse(m)))
            .map(|(_, m)| m)
    }

    /// Active alerts first, most severe first, then by id.
    pub fn alert_list(&self) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self.alerts.values().cloned().collect();
        alerts.sort_by(|a, b| (b.active, b.severity, &a.id).cmp(&(a.active, a.severity, &b.id)));
        alerts
    }
}

/// [`Ops`] behind its lock, the alert thresholds, and per-job locks that serialise the
/// read-modify-write of one job on the schedule (a failure, a success and an operator action
/// arriving together for the same job).
#[derive(Debug)]
pub struct OpsState {
    ops: parking_lot::Mutex<Ops>,
    job_locks: JobLocks,
    /// The jobs on the schedule that are not finished, so a batch of successes only looks up
    /// the jobs that can change (most recorded attempts belong to no scheduled job), and those
    /// that may be killed, so a first failure only reads a job that can change its answer.
    known: parking_lot::Mutex<KnownJobs>,
    pub alert_config: AlertThresholds,
    /// Operator pauses in force (stored too; this is the copy claims and failures consult).
    pub pauses: PauseBook,
    /// Serialises forcing and releasing circuits (store, engine and audit in one order).
    pub circuit_changes: tokio::sync::Mutex<()>,
    /// First-failure expectations shared between identical first failures.
    pub shadow: ShadowCache,
}

impl OpsState {
    /// `max_followed_jobs`: see [`Ops::new`].
    pub fn new(alert_config: AlertThresholds, max_followed_jobs: usize) -> Self {
        Self {
            ops: parking_lot::Mutex::new(Ops::new(max_followed_jobs)),
            job_locks: JobLocks::default(),
            known: parking_lot::Mutex::default(),
            alert_config,
            pauses: PauseBook::default(),
            circuit_changes: tokio::sync::Mutex::new(()),
            shadow: ShadowCache::default(),
        }
    }

    /// The operational memory. Lock briefly; never hold across an `.await`.
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, Ops> {
        self.ops.lock()
    }

    /// Keeps the pending and killed sets in step with a job just stored in `state`.
    pub fn note_stored(&self, job_id: &str, state: JobState) {
        self.known.lock().note(job_id, state);
    }

    /// Whether the job may be pending on the schedule (false: it surely is not).
    pub fn may_be_pending(&self, job_id: &str) -> bool {
        self.known.lock().may_be_pending(job_id)
    }

    /// Whether the job may be stored pending or killed (false: it is not on the schedule, or
    /// it finished by succeeding or running out of attempts).
    pub fn may_be_pending_or_killed(&self, job_id: &str) -> bool {
        self.known.lock().may_be_pending_or_killed(job_id)
    }

    /// Serialises changes to one job (held across the store round trips of that change; other
    /// jobs do not wait for it).
    pub async fn lock_job(&self, job_id: &str) -> JobGuard {
        self.job_locks.lock(job_id).await
    }

    /// [`Self::lock_job`] for several jobs at once, without deadlock between overlapping sets.
    pub async fn lock_jobs<'a>(&self, job_ids: impl IntoIterator<Item = &'a str>) -> Vec<JobGuard> {
        self.job_locks.lock_all(job_ids).await
    }
}

/// The engine's state the alert rules need, read under the engine lock.
#[derive(Debug, Clone, Default)]
pub struct EngineView {
    pub circuits: Vec<CircuitView>,
    pub emergency_stop: bool,
    pub warm_models: u64,
    pub ml_enabled: bool,
}

fn method_key(method: Method) -> &'static str {
    match method {
        Method::Rules => "method:rules",
        Method::Bayesian => "method:bayesian",
        Method::Ml => "method:ml",
        Method::Static => "method:static",
    }
}

fn fallen_back_from(rec: &RetryRecommendation) -> impl Iterator<Item = Method> + '_ {
    rec.explanation
        .iter()
        .flat_map(|e| e.fallbacks.iter().map(|f| f.from))
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests;
