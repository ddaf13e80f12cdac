//! Wire types shared by the server, the client, the console and the simulator.
//!
//! Field names follow the upstream smart-retry API (the Redis work queue this API grew from) so a client
//! written for it works unchanged; our additions are optional on input and extra on output.
//! `schedule` holds the types of our own endpoints (jobs, alerts, events, audit, summary).

mod cost;
pub mod diff;
mod duration;
pub mod guardrail;
mod health;
mod incident;
mod json_shapes;
mod ml;
pub mod pacing;
pub mod params;
mod patterns;
pub mod position;
mod schedule;
mod snapshot;
pub mod validate;
mod views;

pub use cost::CostWeights;
pub use duration::{
    WireDuration, after_ms, before_ms, optional_positive_duration, optional_short_duration,
    parse_duration, parse_short_duration, parse_window, positive_duration,
};
pub use health::{Degradation, HealthResponse, StoreFailureKind, redact_url};
pub use incident::*;
pub use ml::*;
pub use patterns::*;
pub use schedule::*;
pub use snapshot::{EngineSnapshot, SnapshotReader, SnapshotSource};
pub use views::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Base path of the API (the upstream smart-retry API's, so its clients work unchanged).
pub const API_BASE: &str = "/api/v1/retry";

/// A field of a request that failed validation: the service answers 400 naming `field`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The features of a failed attempt (upstream `RetryFeatures`, plus our optional fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct RetryFeatures {
    /// Ours: links the request to a job's episode (elapsed time since its first failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = optional_text)]
    pub job_id: Option<String>,
    #[schema(schema_with = required_text, required = true)]
    pub job_type: String,
    #[schema(schema_with = required_text, required = true)]
    pub error_class: String,
    pub error_code: String,
    /// The attempt that just failed; 1 is the job's first run.
    pub attempt_number: u32,
    pub queue: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub payload_size: u64,
    #[schema(maximum = 23)]
    pub time_of_day: u8,
    pub worker_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_last_failure: Option<WireDuration>,
    pub recent_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_processing_time: Option<WireDuration>,
    /// Ours: a Retry-After / rate-limit reset hint from the failed call, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Ours: when the job's episode began (its first failure), if the client knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure_at: Option<DateTime<Utc>>,
}

impl RetryFeatures {
    /// Checks what serde cannot: required strings present, ranges respected.
    pub fn validate(&self) -> Result<(), FieldError> {
        require_text("job_type", &self.job_type)?;
        require_text("error_class", &self.error_class)?;
        check_hour("time_of_day", self.time_of_day)?;
        check_health(self.health.as_ref())?;
        if let Some(id) = &self.job_id {
            require_text("job_id", id)?;
        }
        Ok(())
    }

    /// The attempt that failed; the upstream sends 0 when it does not know, which means 1.
    pub fn failed_attempt(&self) -> u32 {
        self.attempt_number.max(1)
    }
}

/// One attempt of a job (upstream `AttemptHistory`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    #[schema(schema_with = required_text)]
    pub job_id: String,
    #[serde(default)]
    pub job_type: String,
    /// 1 is the job's first run.
    #[serde(default = "one")]
    #[schema(minimum = 1)]
    pub attempt_number: u32,
    #[serde(default)]
    pub error_class: String,
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default)]
    pub payload_size: u64,
    #[serde(default)]
    #[schema(maximum = 23)]
    pub time_of_day: u8,
    #[serde(default)]
    pub worker_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<BTreeMap<String, f64>>,
    /// The wait before this attempt (0 for the first).
    #[serde(default)]
    pub delay_ms: u64,
    pub success: bool,
    /// When the attempt ran; learning uses this, not the arrival time.
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_time: Option<WireDuration>,
}

fn one() -> u32 {
    1
}

impl AttemptRecord {
    pub fn validate(&self) -> Result<(), FieldError> {
        require_text("job_id", &self.job_id)?;
        if self.attempt_number == 0 {
            return Err(FieldError::new(
                "attempt_number",
                "must be at least 1 (1 is the first run)",
            ));
        }
        check_hour("time_of_day", self.time_of_day)?;
        check_health(self.health.as_ref())?;
        if !self.success && self.error_class.trim().is_empty() {
            return Err(FieldError::new(
                "error_class",
                "required when success is false",
            ));
        }
        if !self.success {
            require_text("error_class", &self.error_class)?;
        }
        Ok(())
    }

    /// The features of this attempt, as a recommendation request would carry them.
    pub fn features(&self) -> RetryFeatures {
        RetryFeatures {
            job_id: Some(self.job_id.clone()),
            job_type: self.job_type.clone(),
            error_class: self.error_class.clone(),
            error_code: self.error_code.clone(),
            attempt_number: self.attempt_number,
            queue: self.queue.clone(),
            tenant: self.tenant.clone(),
            payload_size: self.payload_size,
            time_of_day: self.time_of_day,
            worker_version: self.worker_version.clone(),
            health: self.health.clone(),
            ..RetryFeatures::default()
        }
    }
}

/// Which tier produced a recommendation.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Rules,
    Bayesian,
    Ml,
    /// Fixed exponential backoff used when every other tier failed.
    Static,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Ml, Method::Bayesian, Method::Rules, Method::Static];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Rules => "rules",
            Method::Bayesian => "bayesian",
            Method::Ml => "ml",
            Method::Static => "static",
        }
    }
}

/// The answer to "this attempt failed: what now?" (upstream `RetryRecommendation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryRecommendation {
    pub should_retry: bool,
    pub delay_ms: u64,
    pub max_attempts: u32,
    pub confidence: f64,
    pub rationale: String,
    pub method: Method,
    pub estimated_success: f64,
    pub next_evaluation: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_guardrails: Vec<String>,
    /// Ours: the structured "why".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Why a recommendation is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Explanation {
    /// Other delays the engine weighed, with their chance of success and expected cost.
    pub alternatives: Vec<Alternative>,
    /// Recent attempts of the same (job type, error class) and how they ended.
    pub similar_cases: Vec<SimilarCase>,
    /// The posterior behind the chosen delay, when a Bayesian model decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posterior: Option<Posterior>,
    /// Each guardrail that changed the answer and what it changed.
    pub guardrails: Vec<GuardrailEffect>,
    /// Tiers that were tried and fell back, with the reason.
    pub fallbacks: Vec<Fallback>,
    /// The policy (rules tier) that matched, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The model key used: `job_type/error_class[/tenant]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_key: Option<String>,
    /// Elapsed time since the episode's first failure, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// The ML model behind the answer (served, or scoring in shadow), when one was consulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml: Option<MlExplanation>,
}

/// What an ML model said about a recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlExplanation {
    /// The model version.
    pub version: String,
    /// `logistic` or `gradient_boost`.
    pub model_type: String,
    /// How the model took part: `active` (serves every job), `canary` (serves this job's share),
    /// or `shadow` (scored beside the served answer, not served).
    pub arm: String,
    /// The model's P(success) at the delay it would choose.
    pub success_probability: f64,
    /// The delay the model would choose (for a shadow, what it would have served).
    pub delay_ms: u64,
    /// The features that moved this prediction most, in log-odds, largest first.
    pub contributions: Vec<FeatureContribution>,
}

/// One feature's share of a prediction's log-odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeatureContribution {
    pub feature: String,
    pub log_odds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alternative {
    pub delay_ms: u64,
    pub success_probability: f64,
    /// JSON has no infinity: serde_json writes an infinite cost as `null`, so `null` reads back
    /// as infinite, and a stored job whose plan had one stays readable.
    #[serde(deserialize_with = "json_shapes::infinite_when_null")]
    pub expected_cost: f64,
    pub chosen: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SimilarCase {
    pub job_id: String,
    pub attempt_number: u32,
    pub delay_ms: u64,
    pub elapsed_ms: u64,
    pub success: bool,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Posterior {
    /// Elapsed time (since the first failure) the failure is known to have lasted.
    pub bucket_min_ms: u64,
    /// Elapsed time of the planned attempt: the posterior is of "recovered by then".
    pub bucket_max_ms: u64,
    pub alpha: f64,
    pub beta: f64,
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    pub credibility: f64,
    pub samples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuardrailEffect {
    /// Guardrail name as in `policy_guardrails` and metrics: `max_attempts`, `min_delay`,
    /// `max_delay`, `retry_budget`, `tenant_quota`, `circuit_breaker`, `emergency_stop`, and
    /// `pause` (an operator pause of the queue or error class).
    pub name: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fallback {
    pub from: Method,
    pub to: Method,
    pub reason: String,
}

/// `POST /preview` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    pub features: RetryFeatures,
    /// How many attempts to plan; at most 100 (`MAX_PREVIEW_ATTEMPTS` of the server).
    #[serde(default)]
    #[schema(maximum = 100)]
    pub max_attempts: u32,
}

/// The whole planned schedule for a failed job (upstream `RetryPreview`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryPreview {
    pub job_id: String,
    pub current_attempt: u32,
    pub features: RetryFeatures,
    pub recommendations: Vec<RetryRecommendation>,
    pub timeline: Vec<TimelineEntry>,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub attempt_number: u32,
    pub scheduled_time: DateTime<Utc>,
    /// Cumulative: the chance the job has succeeded by this attempt (the per-attempt figure
    /// is the matching recommendation's `estimated_success`).
    pub estimated_success: f64,
    pub delay_ms: u64,
    pub method: Method,
    pub rationale: String,
    /// True when an operator's override set this attempt's time (its delay and rationale are
    /// the override's; `method` is the tier whose recommendation it replaced).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overridden: bool,
}

/// `GET /stats` answer (upstream `RetryStats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryStats {
    pub job_type: String,
    pub error_class: String,
    pub total_attempts: u64,
    pub successful_retries: u64,
    pub failed_retries: u64,
    pub avg_delay_ms: f64,
    pub success_rate: f64,
    pub last_updated: DateTime<Utc>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

/// How a delay is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JitterKind {
    None,
    /// ± `jitter_percent` around the computed delay (the upstream behaviour).
    #[default]
    Percent,
    /// Uniform in [0, delay] (AWS "full jitter").
    Full,
    /// delay/2 + uniform in [0, delay/2] (AWS "equal jitter").
    Equal,
    /// min(cap, uniform in [base, previous × 3]) (AWS "decorrelated jitter").
    Decorrelated,
}

/// A rules-tier policy (upstream `RetryPolicy`, plus our optional fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryPolicy {
    #[schema(schema_with = required_text)]
    pub name: String,
    /// Matched against error_class and error_code (case-insensitive substring, or regex).
    #[serde(default)]
    #[schema(schema_with = non_blank_list)]
    pub error_patterns: Vec<String>,
    /// Regexes matched against job_type; empty matches every job type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_type_patterns: Vec<String>,
    pub max_attempts: u32,
    #[serde(default)]
    pub base_delay_ms: u64,
    #[serde(default)]
    pub max_delay_ms: u64,
    #[serde(default = "two")]
    #[schema(minimum = 1.0)]
    pub backoff_multiplier: f64,
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub jitter_percent: f64,
    #[serde(default)]
    pub stop_on_validation: bool,
    /// Higher is evaluated first.
    #[serde(default)]
    pub priority: i32,
    /// Ours: how the delay is randomised (default `percent`, using `jitter_percent`).
    #[serde(default)]
    pub jitter: JitterKind,
}

fn two() -> f64 {
    2.0
}

/// Hard limits on every recommendation (upstream `PolicyGuardrails`, plus ours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PolicyGuardrails {
    #[schema(minimum = 1)]
    pub max_attempts: u32,
    pub max_delay_ms: u64,
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub max_budget_percent: f64,
    pub per_tenant_limits: bool,
    pub emergency_stop: bool,
    pub explainability_required: bool,
    /// Ours: no retry sooner than this.
    pub min_delay_ms: u64,
    /// Ours: no retry later than this after the job's first failure (default 24 h); the
    /// answer names `max_retry_age` when it ends a job.
    pub max_retry_age: WireDuration,
    /// Ours: retry budget per queue, a token bucket.
    #[serde(deserialize_with = "json_shapes::object_only")]
    pub retry_budget: RetryBudget,
    /// Ours: retries a tenant may make per minute when `per_tenant_limits` is on.
    pub tenant_quota_per_minute: u32,
    /// Ours: per-tenant overrides of `tenant_quota_per_minute`.
    pub tenant_quotas: BTreeMap<String, u32>,
    /// Ours: circuit breaker per (queue, error class).
    #[serde(deserialize_with = "json_shapes::object_only")]
    pub circuit_breaker: CircuitBreakerConfig,
}

impl Default for PolicyGuardrails {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_delay_ms: 300_000,
            max_budget_percent: 20.0,
            per_tenant_limits: false,
            emergency_stop: false,
            explainability_required: true,
            min_delay_ms: 0,
            max_retry_age: WireDuration::from_millis(24 * 3_600_000),
            retry_budget: RetryBudget::default(),
            tenant_quota_per_minute: 600,
            tenant_quotas: BTreeMap::new(),
            circuit_breaker: CircuitBreakerConfig::default(),
        }
    }
}

/// A token bucket of retries per queue: `capacity` tokens, refilled at `refill_per_second`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RetryBudget {
    pub enabled: bool,
    #[schema(minimum = 0.0)]
    pub capacity: f64,
    #[schema(minimum = 0.0)]
    pub refill_per_second: f64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            enabled: true,
            capacity: 1000.0,
            refill_per_second: 100.0,
        }
    }
}

/// Opens when the failure rate of retries into (queue, error class) stays above the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CircuitBreakerConfig {
    pub enabled: bool,
    /// Fraction of failed attempts in the window that opens the circuit.
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub failure_rate_threshold: f64,
    /// Attempts needed in the window before the circuit may open.
    pub min_samples: u32,
    pub window_ms: u64,
    /// How long the circuit stays open before a probe is allowed.
    pub open_ms: u64,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_rate_threshold: 0.95,
            min_samples: 50,
            window_ms: 60_000,
            open_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DataCollection {
    pub enabled: bool,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub sample_rate: f64,
    pub retention_days: u32,
    pub aggregation_interval: WireDuration,
    pub feature_extraction: bool,
}

impl Default for DataCollection {
    fn default() -> Self {
        Self {
            enabled: true,
            sample_rate: 1.0,
            retention_days: 30,
            aggregation_interval: WireDuration::from_millis(60_000),
            feature_extraction: true,
        }
    }
}

/// The whole strategy (upstream `RetryStrategy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryStrategy {
    #[schema(schema_with = required_text)]
    pub name: String,
    pub enabled: bool,
    pub policies: Vec<RetryPolicy>,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub bayesian_threshold: f64,
    pub ml_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml_model: Option<MLModel>,
    #[serde(default)]
    pub guardrails: PolicyGuardrails,
    #[serde(default)]
    pub data_collection: DataCollection,
    /// Ours: false switches the Bayesian tier off, so the rules tier decides (an operator's
    /// "stop learning" switch; `eval --api` uses it to measure the rules tier). Shown only when
    /// false.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub bayesian_enabled: bool,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// A delay bucket of a Bayesian model (upstream shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DelayBucket {
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    pub successes: u64,
    pub failures: u64,
    pub probability: f64,
    pub upper_bound: f64,
    pub lower_bound: f64,
}

/// A Bayesian model of one (job type, error class[, tenant]) (upstream `BayesianModel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BayesianModel {
    pub job_type: String,
    pub error_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Ours: set on a model of the episodes that began in this hour of the day (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour_utc: Option<u8>,
    pub buckets: Vec<DelayBucket>,
    pub last_updated: DateTime<Utc>,
    pub sample_count: u64,
    pub confidence: f64,
    /// Ours: the learned recovery curve — the chance a failure has ended by each elapsed time
    /// since the episode's first failure, with one-sided credible bounds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_curve: Vec<RecoveryPoint>,
}

/// One point of a model's recovery curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryPoint {
    /// Elapsed time since the episode's first failure.
    pub elapsed_ms: u64,
    /// Posterior mean chance the failure has ended by then.
    pub probability: f64,
    pub lower_bound: f64,
    pub upper_bound: f64,
}

/// `POST /bayesian/update` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BayesianUpdateRequest {
    #[schema(schema_with = required_text)]
    pub job_type: String,
    #[schema(schema_with = required_text)]
    pub error_class: String,
}

impl BayesianUpdateRequest {
    pub fn validate(&self) -> Result<(), FieldError> {
        require_text("job_type", &self.job_type)?;
        require_text("error_class", &self.error_class)
    }
}

/// `POST /engine/seed` body and answer: the seed the engine's random stream (jitter,
/// exploration) restarts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSeed {
    pub seed: u64,
}

/// `POST /ml/train` body (upstream `MLTrainingConfig`, plus our `async`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MLTrainingConfig {
    #[schema(pattern = "^(logistic|gradient_boost)$")]
    pub model_type: String,
    /// Features to use (`delay` and `retry_elapsed` are always used); empty: all of
    /// job_type, error_class, error_code, queue, tenant, attempt_number, payload_size,
    /// time_of_day, since_first_failure, recent_failures, delay, retry_elapsed.
    #[serde(default)]
    #[schema(max_items = 12, inline, value_type = Vec<MlFeatureName>)]
    pub features: Vec<String>,
    /// Train on attempts within this long before the newest one; absent or zero: all.
    #[serde(default)]
    pub training_period: Option<WireDuration>,
    /// Share of the most recent retries held out for the final test; 0 means 0.2.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 0.5)]
    pub validation_set: f64,
    /// Forward-chaining cross-validation folds; 0 means 3.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10)]
    pub cross_validation: u32,
    /// `iterations` (1–1000), `learning_rate` (0–1], `max_depth` (1–10) for gradient_boost;
    /// `ridge` [0, 1000] for logistic. Keys of the other model type are kept but unused.
    #[serde(default)]
    #[schema(value_type = Option<MlHyperparameters>)]
    pub hyperparameters: Option<BTreeMap<String, serde_json::Value>>,
    /// Ours: answer at once with the training job (`GET /ml/jobs/{id}`) instead of waiting.
    #[serde(default, rename = "async", skip_serializing_if = "std::ops::Not::not")]
    pub run_async: bool,
}

impl MLTrainingConfig {
    /// A training of `model_type` with every other field at its default: all features, all
    /// attempts, 0.2 held out, 3 folds, default hyperparameters, synchronous.
    pub fn defaults(model_type: &str) -> Self {
        MLTrainingConfig {
            model_type: model_type.into(),
            features: Vec::new(),
            training_period: None,
            validation_set: 0.0,
            cross_validation: 0,
            hyperparameters: None,
            run_async: false,
        }
    }
}

/// The feature names `MLTrainingConfig.features` accepts.
#[derive(utoipa::ToSchema, Serialize)]
#[schema(as = MlFeatureName)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
enum MlFeatureName {
    JobType,
    ErrorClass,
    ErrorCode,
    Queue,
    Tenant,
    AttemptNumber,
    PayloadSize,
    TimeOfDay,
    SinceFirstFailure,
    RecentFailures,
    Delay,
    RetryElapsed,
}

/// Hyperparameters of `POST /ml/train` (schema only).
#[derive(utoipa::ToSchema, Deserialize)]
#[schema(as = MlHyperparameters)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MlHyperparameters {
    #[schema(minimum = 1, maximum = 1000)]
    iterations: Option<u32>,
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    learning_rate: Option<f64>,
    #[schema(minimum = 1, maximum = 10)]
    max_depth: Option<u32>,
    #[schema(minimum = 0.0, maximum = 1000.0)]
    ridge: Option<f64>,
}

/// A trained model (upstream `MLModel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MLModel {
    pub version: String,
    pub model_type: String,
    pub features: Vec<String>,
    /// Go encodes `[]byte` as base64 in JSON.
    #[serde(default)]
    pub model_data: String,
    pub trained_at: DateTime<Utc>,
    pub accuracy: f64,
    pub f1_score: f64,
    #[serde(default)]
    pub validation_set: String,
    pub enabled: bool,
    pub canary_percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
}

/// `{"status": "..."}` answers of the upstream API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusResponse {
    pub status: String,
}

impl StatusResponse {
    pub fn new(status: &str) -> Self {
        Self {
            status: status.to_string(),
        }
    }
}

/// `PUT /strategy` answer: `{"status": "updated"}` (upstream), or for a dry run `valid` with
/// the fields that would change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StrategyUpdate {
    pub status: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<diff::FieldChange>,
}

/// The error shape of every 4xx/5xx (upstream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Checks a required identifier: not blank ([`NOT_BLANK`]) and at most [`MAX_TEXT_LEN`]
/// characters. [`required_text`] is its schema.
pub fn require_text(field: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "required and must not be empty"));
    }
    if value.chars().count() > MAX_TEXT_LEN {
        return Err(FieldError::new(
            field,
            format!("longer than {MAX_TEXT_LEN} characters"),
        ));
    }
    Ok(())
}

/// Longest identifier (job id, job type, error class, tenant) the service accepts, in
/// characters (as JSON Schema's `maxLength` counts them).
pub const MAX_TEXT_LEN: usize = 512;

/// A regex matching any character `str::trim` keeps (outside Unicode `White_Space`), spelled out
/// because `\S` differs between Rust, Python and ECMAScript: a text is blank unless it matches.
pub const NOT_BLANK: &str = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

/// The schema of what [`require_text`] accepts.
pub fn required_text() -> utoipa::openapi::Object {
    text_schema(utoipa::openapi::Type::String.into())
}

/// [`required_text`], or `null` (an optional identifier that is checked when given).
pub fn optional_text() -> utoipa::openapi::Object {
    use utoipa::openapi::{Type, schema::SchemaType};
    text_schema(SchemaType::Array(vec![Type::String, Type::Null]))
}

/// Reads a nested struct only from a JSON object: serde's derive would also build it from an
/// array of its fields in order (`[null, null]`), which the API does not document.
pub fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    T::deserialize(serde_json::Value::Object(map)).map_err(serde::de::Error::custom)
}

/// The schema of a list of [`non_blank_text`].
pub fn non_blank_list() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(non_blank_text())
        .build()
}

/// The schema of a required free-text reason (audited): not blank, any length.
pub fn non_blank_text() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length(Some(1))
        .pattern(Some(NOT_BLANK))
        .build()
}

fn text_schema(kind: utoipa::openapi::schema::SchemaType) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(kind)
        .min_length(Some(1))
        .max_length(Some(MAX_TEXT_LEN))
        .pattern(Some(NOT_BLANK))
        .build()
}

fn check_hour(field: &str, hour: u8) -> Result<(), FieldError> {
    if hour > 23 {
        return Err(FieldError::new(
            field,
            format!("must be an hour 0–23 (got {hour})"),
        ));
    }
    Ok(())
}

fn check_health(health: Option<&BTreeMap<String, f64>>) -> Result<(), FieldError> {
    for (name, value) in health.into_iter().flatten() {
        if !value.is_finite() {
            return Err(FieldError::new(
                format!("health.{name}"),
                "must be a finite number",
            ));
        }
    }
    Ok(())
}

/// `POST /attempts` answer (ours): how many attempts the batch recorded, durably.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchRecorded {
    /// Always `recorded` (the upstream word for an accepted attempt).
    pub status: String,
    pub recorded: u64,
    pub successes: u64,
    pub failures: u64,
}

/// `GET /policies` answer (upstream shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyList {
    pub policies: Vec<RetryPolicy>,
}

/// A configuration export: what `retryctl export` and the console's export write, and what
/// `retryctl import` reads back (then `PUT /strategy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigExport {
    /// Version of this file's layout (currently 1).
    pub export_version: u32,
    pub exported_at: DateTime<Utc>,
    /// The service URL it was exported from.
    #[serde(default)]
    pub source: String,
    /// The whole strategy: policies, guardrails, Bayesian threshold, data collection.
    pub strategy: RetryStrategy,
}
