//! The service's Prometheus metrics (all `retryctl_*`), served at `/metrics` in the OpenMetrics
//! text format.
//!
//! Every counter here is monotonic. `Metrics::counters()` reads the very same counter objects the
//! exporter encodes, so `/summary` and `/metrics` can never disagree.

pub mod log_sink;
mod ml;
mod store;

pub use ml::MlMetrics;
pub use store::{StoreMetrics, StoreOp};

use crate::model::{
    AttemptRecord, Counters, HistogramBucket, Method, RetryRecommendation, guardrail,
};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Content type of the OpenMetrics text exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the recommended-backoff histogram.
pub const BACKOFF_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabel {
    queue: String,
    error_class: String,
    outcome: String,
}

/// Distinct `queue` / `error_class` label values kept before new ones count as `other`: the
/// values come from clients, and every distinct one is a series held for the process's life.
pub const MAX_LABEL_VALUES: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForcedLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GuardrailLabel {
    guardrail: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    method: String,
    path: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    method: String,
    path: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s: recommendations are microseconds in-process, requests milliseconds.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_05, 2.0, 16,
    ))
}

/// The metric set of one service instance.
pub struct Metrics {
    registry: Registry,
    recommendations: Family<MethodLabel, Counter>,
    attempts: Family<OutcomeLabel, Counter>,
    retries: Counter,
    retry_attempts: Family<RetryLabel, Counter>,
    retry_label_values: Mutex<(BTreeSet<String>, BTreeSet<String>)>,
    guarded: Counter,
    emergency_stop: Gauge,
    guardrail_triggers: Family<GuardrailLabel, Counter>,
    guardrail_names: Mutex<BTreeSet<String>>,
    fallbacks: Counter,
    overrides: Counter,
    recommendation_latency: Histogram,
    backoff_seconds: Histogram,
    backoff_counts: [AtomicU64; BACKOFF_BUCKETS.len() + 1],
    scheduled_jobs: Gauge,
    open_circuits: Gauge,
    pauses_active: Gauge,
    log_position: Gauge,
    circuits_forced: Family<ForcedLabel, Gauge>,
    requests: Family<RequestLabel, Counter>,
    request_latency: Family<RouteLabel, Histogram>,
    /// The store's health: up, errors by operation and kind, last successful write.
    pub store: StoreMetrics,
    /// The ML tier: trainings, drift, live outcomes per arm.
    pub ml: MlMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric, with the known label values pre-set to zero.
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::with_prefix("retryctl"),
            recommendations: Family::default(),
            attempts: Family::default(),
            retries: Counter::default(),
            retry_attempts: Family::default(),
            retry_label_values: Mutex::default(),
            guarded: Counter::default(),
            emergency_stop: Gauge::default(),
            guardrail_triggers: Family::default(),
            guardrail_names: Mutex::new(guardrail::ALL.iter().map(|g| g.to_string()).collect()),
            fallbacks: Counter::default(),
            overrides: Counter::default(),
            recommendation_latency: latency_histogram(),
            backoff_seconds: Histogram::new(BACKOFF_BUCKETS),
            backoff_counts: Default::default(),
            scheduled_jobs: Gauge::default(),
            open_circuits: Gauge::default(),
            pauses_active: Gauge::default(),
            log_position: Gauge::default(),
            circuits_forced: Family::default(),
            requests: Family::default(),
            request_latency: Family::new_with_constructor(latency_histogram),
            store: StoreMetrics::default(),
            ml: MlMetrics::default(),
        };
        metrics.register_all();
        metrics.preset_labels();
        metrics
    }

    fn register_all(&mut self) {
        let r = &mut self.registry;
        r.register(
            "log_position",
            "Sequence number of the last attempt the engine learned (the replica's place in a shared log)",
            self.log_position.clone(),
        );
        r.register(
            "recommendations",
            "Recommendations answered, by the tier that decided",
            self.recommendations.clone(),
        );
        r.register(
            "attempts",
            "Attempts recorded, by outcome",
            self.attempts.clone(),
        );
        r.register(
            "retries",
            "Recorded attempts that were retries (attempt_number > 1)",
            self.retries.clone(),
        );
        r.register(
            "retry_attempts",
            "Recorded retries (attempt_number > 1), by queue, error class and outcome",
            self.retry_attempts.clone(),
        );
        r.register(
            "guarded_recommendations",
            "Recommendations changed by at least one guardrail",
            self.guarded.clone(),
        );
        r.register(
            "emergency_stop",
            "1 while the emergency stop is engaged (no retries are recommended), else 0",
            self.emergency_stop.clone(),
        );
        r.register(
            "guardrail_triggers",
            "Recommendations changed by a guardrail, by guardrail",
            self.guardrail_triggers.clone(),
        );
        r.register(
            "fallbacks",
            "Recommendations where a tier fell back to the next one",
            self.fallbacks.clone(),
        );
        r.register(
            "overrides",
            "Operator overrides of a job's schedule",
            self.overrides.clone(),
        );
        self.register_distributions();
        self.store.register(&mut self.registry);
        self.ml.register(&mut self.registry);
        self.registry.register(
            "log_write_errors",
            "Log lines dropped because the log sink (stderr) refused them",
            log_sink::LOG_WRITE_ERRORS.clone(),
        );
    }

    fn register_distributions(&mut self) {
        let r = &mut self.registry;
        r.register(
            "recommendation_latency_seconds",
            "Time the engine took to recommend",
            self.recommendation_latency.clone(),
        );
        r.register(
            "recommended_backoff_seconds",
            "Recommended delays before the next attempt",
            self.backoff_seconds.clone(),
        );
        r.register(
            "scheduled_jobs",
            "Jobs waiting on the retry schedule",
            self.scheduled_jobs.clone(),
        );
        r.register(
            "open_circuits",
            "Circuit breakers currently open",
            self.open_circuits.clone(),
        );
        r.register(
            "pauses_active",
            "Operator pauses in force (paused queues or error classes)",
            self.pauses_active.clone(),
        );
        r.register(
            "circuits_forced",
            "Circuits an operator forced, by forced state (open, closed)",
            self.circuits_forced.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests, by method, matched path and status",
            self.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method and matched path",
            self.request_latency.clone(),
        );
    }

    fn preset_labels(&self) {
        for method in Method::ALL {
            let _ = self.recommendations.get_or_create(&method_label(method));
        }
        for outcome in ["success", "failure"] {
            let _ = self.attempts.get_or_create(&outcome_label(outcome));
        }
        for guardrail in guardrail::ALL {
            let _ = self
                .guardrail_triggers
                .get_or_create(&guardrail_label(guardrail));
        }
    }

    /// Counts one answered recommendation: its tier, its guardrails, fall-backs, latency, delay.
    pub fn record_recommendation(&self, rec: &RetryRecommendation, took: Duration) {
        self.recommendations
            .get_or_create(&method_label(rec.method))
            .inc();
        for name in &rec.policy_guardrails {
            self.record_guardrail(name);
        }
        if !rec.policy_guardrails.is_empty() {
            self.guarded.inc();
        }
        let fell_back = rec
            .explanation
            .as_ref()
            .is_some_and(|e| !e.fallbacks.is_empty());
        if fell_back || rec.method == Method::Static {
            self.fallbacks.inc();
        }
        self.recommendation_latency.observe(took.as_secs_f64());
        if rec.should_retry {
            self.observe_backoff(rec.delay_ms as f64 / 1000.0);
        }
    }

    fn record_guardrail(&self, name: &str) {
        if !self.guardrail_names.lock().contains(name) {
            self.guardrail_names.lock().insert(name.to_string());
        }
        self.guardrail_triggers
            .get_or_create(&guardrail_label(name))
            .inc();
    }

    fn observe_backoff(&self, seconds: f64) {
        self.backoff_seconds.observe(seconds);
        let slot = BACKOFF_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BACKOFF_BUCKETS.len());
        self.backoff_counts[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one recorded attempt (outcome, and whether it was a retry, by queue and class).
    pub fn record_attempt(&self, a: &AttemptRecord) {
        let outcome = if a.success { "success" } else { "failure" };
        self.attempts.get_or_create(&outcome_label(outcome)).inc();
        if a.attempt_number > 1 {
            self.retries.inc();
            let label = self.retry_label(&a.queue, &a.error_class, outcome);
            self.retry_attempts.get_or_create(&label).inc();
        }
    }

    fn retry_label(&self, queue: &str, error_class: &str, outcome: &str) -> RetryLabel {
        let mut seen = self.retry_label_values.lock();
        let (queues, classes) = &mut *seen;
        RetryLabel {
            queue: capped(queues, if queue.is_empty() { "default" } else { queue }),
            error_class: capped(classes, error_class),
            outcome: outcome.to_string(),
        }
    }

    /// Sets whether the emergency stop is engaged.
    pub fn set_emergency_stop(&self, engaged: bool) {
        self.emergency_stop.set(i64::from(engaged));
    }

    /// Counts one operator override (override, apply, retry-now, kill of a scheduled job).
    pub fn record_override(&self) {
        self.overrides.inc();
    }

    /// Sets the number of jobs waiting on the schedule.
    pub fn set_scheduled_jobs(&self, n: u64) {
        self.scheduled_jobs
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets the number of open circuit breakers.
    pub fn set_open_circuits(&self, n: u64) {
        self.open_circuits.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets the replica's place in the attempt log (the last sequence number learned).
    pub fn set_log_position(&self, seq: u64) {
        self.log_position
            .set(i64::try_from(seq).unwrap_or(i64::MAX));
    }

    /// Sets the number of operator pauses in force.
    pub fn set_pauses_active(&self, n: u64) {
        self.pauses_active.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Sets the number of circuits forced open and forced closed.
    pub fn set_circuits_forced(&self, open: u64, closed: u64) {
        for (state, n) in [("open", open), ("closed", closed)] {
            let label = ForcedLabel {
                state: state.to_string(),
            };
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            self.circuits_forced.get_or_create(&label).set(n);
        }
    }

    /// Counts one HTTP request by its matched route (never the raw path: ids would explode it).
    pub fn record_request(&self, method: &str, path: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabel {
                method: method.to_string(),
                path: path.to_string(),
                status,
            })
            .inc();
        self.request_latency
            .get_or_create(&RouteLabel {
                method: method.to_string(),
                path: path.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The monotonic counters, read from the same objects `/metrics` encodes.
    pub fn counters(&self) -> Counters {
        let guardrail_names = self.guardrail_names.lock().clone();
        Counters {
            recommendations_by_method: Method::ALL
                .iter()
                .map(|m| (m.as_str().to_string(), self.recommendations_of(*m)))
                .collect(),
            attempts_by_outcome: ["success", "failure"]
                .iter()
                .map(|o| {
                    let value = self.attempts.get_or_create(&outcome_label(o)).get();
                    (o.to_string(), value)
                })
                .collect(),
            retries: self.retries.get(),
            guardrail_triggers: guardrail_names
                .into_iter()
                .map(|g| {
                    let value = self
                        .guardrail_triggers
                        .get_or_create(&guardrail_label(&g))
                        .get();
                    (g, value)
                })
                .collect(),
            fallbacks: self.fallbacks.get(),
            overrides: self.overrides.get(),
        }
    }

    fn recommendations_of(&self, method: Method) -> u64 {
        self.recommendations
            .get_or_create(&method_label(method))
            .get()
    }

    /// The recommended-backoff histogram, cumulative like Prometheus (`le = +Inf` last).
    pub fn backoff_histogram(&self) -> Vec<HistogramBucket> {
        let mut cumulative = 0;
        let bounds = BACKOFF_BUCKETS.iter().copied().chain([f64::INFINITY]);
        bounds
            .zip(&self.backoff_counts)
            .map(|(le_seconds, count)| {
                cumulative += count.load(Ordering::Relaxed);
                HistogramBucket {
                    le_seconds,
                    count: cumulative,
                }
            })
            .collect()
    }

    /// The whole exposition in the OpenMetrics text format (serve with
    /// [`OPENMETRICS_CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// `value` if it is known or there is room for it, else `other`.
fn capped(seen: &mut BTreeSet<String>, value: &str) -> String {
    if seen.contains(value) || seen.len() < MAX_LABEL_VALUES && seen.insert(value.to_string()) {
        value.to_string()
    } else {
        "other".to_string()
    }
}

fn method_label(method: Method) -> MethodLabel {
    MethodLabel {
        method: method.as_str().to_string(),
    }
}

fn outcome_label(outcome: &str) -> OutcomeLabel {
    OutcomeLabel {
        outcome: outcome.to_string(),
    }
}

fn guardrail_label(name: &str) -> GuardrailLabel {
    GuardrailLabel {
        guardrail: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;

    fn rec(method: Method, delay_ms: u64, guardrails: &[&str]) -> RetryRecommendation {
        RetryRecommendation {
            should_retry: true,
            delay_ms,
            max_attempts: 3,
            confidence: 0.5,
            rationale: String::new(),
            method,
            estimated_success: 0.5,
            next_evaluation: Utc::now(),
            policy_guardrails: guardrails.iter().map(|g| g.to_string()).collect(),
            explanation: None,
        }
    }

    fn attempt(success: bool, attempt_number: u32, queue: &str, class: &str) -> AttemptRecord {
        serde_json::from_value(serde_json::json!({
            "job_id": "j1", "attempt_number": attempt_number, "queue": queue,
            "error_class": class, "success": success, "timestamp": "2026-01-01T00:00:00Z",
        }))
        .expect("a valid attempt")
    }

    #[derive(Debug, Clone)]
    enum Op {
        Recommend(usize, u64, usize),
        Attempt(bool, u32),
        Override,
        Gauge(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4usize, 0..1_000_000u64, 0..8usize).prop_map(|(m, d, g)| Op::Recommend(m, d, g)),
            (any::<bool>(), 1..6u32).prop_map(|(s, n)| Op::Attempt(s, n)),
            Just(Op::Override),
            (0..1000u64).prop_map(Op::Gauge),
        ]
    }

    fn apply(metrics: &Metrics, op: &Op) {
        match op {
            Op::Recommend(m, delay, g) => {
                let guardrails: Vec<&str> = guardrail::ALL.iter().take(*g).copied().collect();
                let r = rec(Method::ALL[*m], *delay, &guardrails);
                metrics.record_recommendation(&r, Duration::from_micros(5));
            }
            Op::Attempt(success, n) => {
                metrics.record_attempt(&attempt(*success, *n, "q", "timeout"))
            }
            Op::Override => metrics.record_override(),
            Op::Gauge(n) => metrics.set_scheduled_jobs(*n),
        }
    }

    fn never_below(before: &Counters, after: &Counters) -> bool {
        let maps = [
            (
                &before.recommendations_by_method,
                &after.recommendations_by_method,
            ),
            (&before.attempts_by_outcome, &after.attempts_by_outcome),
            (&before.guardrail_triggers, &after.guardrail_triggers),
        ];
        let maps_ok = maps.iter().all(|(b, a)| {
            b.iter()
                .all(|(k, v)| a.get(k).is_some_and(|after| after >= v))
        });
        maps_ok
            && after.retries >= before.retries
            && after.fallbacks >= before.fallbacks
            && after.overrides >= before.overrides
    }

    proptest! {
        #[test]
        fn counters_never_decrease(ops in proptest::collection::vec(op(), 1..60)) {
            let metrics = Metrics::new();
            let mut last = metrics.counters();
            for op in &ops {
                apply(&metrics, op);
                let now = metrics.counters();
                prop_assert!(never_below(&last, &now), "{last:?} -> {now:?} after {op:?}");
                last = now;
            }
            let histogram = metrics.backoff_histogram();
            prop_assert!(histogram.windows(2).all(|w| w[0].count <= w[1].count));
        }
    }

    #[test]
    fn counters_match_the_exposition() {
        let metrics = Metrics::new();
        metrics.record_recommendation(&rec(Method::Rules, 2_000, &["max_delay"]), Duration::ZERO);
        metrics.record_recommendation(&rec(Method::Static, 1_000, &[]), Duration::ZERO);
        metrics.record_attempt(&attempt(false, 2, "", "timeout"));
        metrics.record_override();
        let counters = metrics.counters();
        assert_eq!(counters.recommendations_by_method["rules"], 1);
        assert_eq!(counters.guardrail_triggers["max_delay"], 1);
        assert_eq!(
            (counters.retries, counters.fallbacks, counters.overrides),
            (1, 1, 1)
        );
        let text = metrics.encode();
        assert!(
            text.contains("retryctl_recommendations_total{method=\"rules\"} 1"),
            "{text}"
        );
        assert!(text.contains("retryctl_guardrail_triggers_total{guardrail=\"max_delay\"} 1"));
        assert!(text.contains("retryctl_attempts_total{outcome=\"failure\"} 1"));
        assert!(text.contains("retryctl_retries_total 1"));
        assert!(text.contains("retryctl_guarded_recommendations_total 1"));
        assert!(text.contains(
            "retryctl_retry_attempts_total{queue=\"default\",error_class=\"timeout\",outcome=\"failure\"} 1"
        ));
        assert!(text.contains("retryctl_overrides_total 1"));
        assert!(text.ends_with("# EOF\n"));
        let le_2s = metrics.backoff_histogram()[3].clone();
        assert_eq!((le_2s.le_seconds, le_2s.count), (2.0, 2));
    }

    #[test]
    fn retry_labels_are_capped_so_clients_cannot_grow_series_without_bound() {
        let metrics = Metrics::new();
        metrics.record_attempt(&attempt(true, 1, "first-run", "timeout"));
        for i in 0..MAX_LABEL_VALUES + 5 {
            metrics.record_attempt(&attempt(true, 2, &format!("q{i}"), "timeout"));
        }
        metrics.set_emergency_stop(true);
        let text = metrics.encode();
        assert!(!text.contains("first-run"), "a first run is no retry");
        assert!(text.contains("queue=\"q99\""));
        assert!(!text.contains("queue=\"q100\""), "{text}");
        assert!(text.contains(
            "retryctl_retry_attempts_total{queue=\"other\",error_class=\"timeout\",outcome=\"success\"} 5"
        ));
        assert!(text.contains("retryctl_emergency_stop 1"));
    }
}
