//! Wire types of retryctl's own endpoints: the retry schedule, alerts, events, audit and the
//! console's one-call summary.

use super::{AttemptRecord, FieldError, RetryFeatures};
use super::{MLModel, Method, PolicyGuardrails, RetryPolicy, RetryRecommendation, TimelineEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a job is in its retry life.
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
pub enum JobState {
    /// Waiting for `next_attempt_at`.
    Scheduled,
    /// Claimed by a worker whose lease has not expired.
    Claimed,
    /// A later attempt succeeded.
    Succeeded,
    /// The recommendation said stop (attempts exhausted, validation error, guardrail).
    Exhausted,
    /// An operator killed it.
    Killed,
}

impl JobState {
    pub fn is_pending(self) -> bool {
        matches!(self, JobState::Scheduled | JobState::Claimed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Claimed => "claimed",
            JobState::Succeeded => "succeeded",
            JobState::Exhausted => "exhausted",
            JobState::Killed => "killed",
        }
    }
}

/// An operator's override of a job's next attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobOverride {
    pub delay_ms: u64,
    pub at: DateTime<Utc>,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// One job on the retry schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduledJob {
    pub job_id: String,
    pub job_type: String,
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub error_class: String,
    pub error_code: String,
    /// The last error message a worker reported, if any (untrusted text).
    #[serde(default)]
    pub last_error: String,
    pub state: JobState,
    /// The attempt that last failed.
    pub attempt_number: u32,
    pub max_attempts: u32,
    /// When the next attempt is due (`None` once the job is finished).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub first_failure_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The recommendation that scheduled the next attempt.
    pub recommendation: RetryRecommendation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<JobOverride>,
    /// Lease holder and expiry while claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
}

impl ScheduledJob {
    /// The features of the job's last failure: what the engine needs to re-recommend the job
    /// or to plan the rest of its schedule.
    pub fn features(&self) -> RetryFeatures {
        RetryFeatures {
            job_id: Some(self.job_id.clone()),
            job_type: self.job_type.clone(),
            error_class: self.error_class.clone(),
            error_code: self.error_code.clone(),
            attempt_number: self.attempt_number,
            queue: self.queue.clone(),
            tenant: self.tenant.clone(),
            first_failure_at: Some(self.first_failure_at),
            ..RetryFeatures::default()
        }
    }
}

/// `POST /failures` body: an attempt record whose `success` is false by implication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureReport {
    #[schema(schema_with = super::required_text)]
    pub job_id: String,
    #[serde(default)]
    #[schema(schema_with = super::required_text, required = true)]
    pub job_type: String,
    #[serde(default = "one")]
    #[schema(minimum = 1)]
    pub attempt_number: u32,
    #[serde(default)]
    #[schema(schema_with = super::required_text, required = true)]
    pub error_class: String,
    #[serde(default)]
    pub error_code: String,
    /// Free-form error text shown to operators (sanitised by the console).
    #[serde(default)]
    pub error_message: String,
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
    #[serde(default)]
    pub delay_ms: u64,
    /// Defaults to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The lease this report is made under, as `POST /claim` handed it out. Each of
    /// `claimed_by` and `lease_until` that is given is a precondition: the report is applied
    /// only while the job is claimed by that worker (`claimed_by`) under the lease ending at
    /// that time (`lease_until`), and the lease has not run out; otherwise 409 and nothing is
    /// applied. Give both, as claim returned them; neither: the report is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
}

fn one() -> u32 {
    1
}

impl FailureReport {
    /// The attempt record this report stands for, stamped `now` if it carried no timestamp.
    pub fn to_attempt(&self, now: DateTime<Utc>) -> AttemptRecord {
        AttemptRecord {
            job_id: self.job_id.clone(),
            job_type: self.job_type.clone(),
            attempt_number: self.attempt_number,
            error_class: self.error_class.clone(),
            error_code: self.error_code.clone(),
            status: "failed".into(),
            queue: self.queue.clone(),
            tenant: self.tenant.clone(),
            payload_size: self.payload_size,
            time_of_day: self.time_of_day,
            worker_version: self.worker_version.clone(),
            health: self.health.clone(),
            delay_ms: self.delay_ms,
            success: false,
            timestamp: self.timestamp.unwrap_or(now),
            processing_time: None,
        }
    }

    /// Whether the report names a lease (either field), so it is applied only while it holds.
    pub fn names_lease(&self) -> bool {
        self.claimed_by.is_some() || self.lease_until.is_some()
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        super::require_text("job_type", &self.job_type)?;
        self.to_attempt(Utc::now()).validate()
    }
}

/// `POST /failures` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailureResponse {
    #[serde(flatten)]
    pub recommendation: RetryRecommendation,
    pub job_id: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub state: JobState,
}

/// `GET /jobs` answer: one page, newest cursor first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobPage {
    pub jobs: Vec<ScheduledJob>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Jobs matching the filter in all pages.
    pub total: u64,
}

/// `GET /jobs/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobDetail {
    pub job: ScheduledJob,
    pub attempts: Vec<AttemptRecord>,
    pub timeline: Vec<TimelineEntry>,
}

/// `POST /jobs/{id}/override` body: either `delay_ms` (or `delay`, a duration string) from now,
/// or an absolute `at`; a `reason` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct OverrideRequest {
    /// At most 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 2_592_000_000_u64)]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::optional_short_duration)]
    pub delay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[schema(schema_with = super::non_blank_text, required = true)]
    pub reason: String,
}

/// Body of the operator actions that only need a reason (apply, retry-now, kill).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct ActionRequest {
    #[serde(default)]
    pub reason: String,
    /// `POST /jobs/{id}/apply` only: use the static backoff instead of the smart recommendation.
    #[serde(default)]
    pub use_static: bool,
}

impl ActionRequest {
    /// An action explained by `reason`.
    pub fn because(reason: &str) -> ActionRequest {
        ActionRequest {
            reason: reason.to_string(),
            use_static: false,
        }
    }
}

/// `POST /claim` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimRequest {
    #[schema(schema_with = super::non_blank_text)]
    pub worker: String,
    /// At most this many jobs (1–1000, default 10).
    #[serde(default = "default_claim_limit")]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: u32,
    /// How long the claim holds before the job is due again (at-least-once), 1 ms to 1 h.
    #[serde(default = "default_lease_ms")]
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub lease_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The claimer's clock, for clients that run in virtual time; defaults to the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<DateTime<Utc>>,
}

fn default_claim_limit() -> u32 {
    10
}

fn default_lease_ms() -> u64 {
    30_000
}

/// `POST /claim` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimResponse {
    pub jobs: Vec<ScheduledJob>,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// An alert raised by the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: String,
    /// `retry_storm`, `guardrail_overrides`, `circuit_open`, `emergency_stop`, `fallback_tier`.
    pub name: String,
    pub severity: Severity,
    pub message: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub raised_at: DateTime<Utc>,
    /// Still true while the condition holds.
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
}

/// Something that happened, for the console's live stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Monotonic cursor: pass the last seen value as `since`.
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// `failure`, `success`, `scheduled`, `override`, `kill`, `retry_now`, `alert`, `guardrail`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The cursor to pass as `since` next time.
    pub cursor: u64,
}

/// Who changed what, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: u64,
    pub at: DateTime<Utc>,
    /// Role and token name of the caller, e.g. `operator:alice`.
    pub actor: String,
    /// `override`, `apply`, `retry_now`, `kill`, `policy_add`, `policy_remove`, `strategy`,
    /// `guardrails`, `bayesian_update`, `alert_ack`, ...
    pub action: String,
    pub target: String,
    pub reason: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Monotonic counters, identical to `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Counters {
    pub recommendations_by_method: BTreeMap<String, u64>,
    pub attempts_by_outcome: BTreeMap<String, u64>,
    pub retries: u64,
    pub guardrail_triggers: BTreeMap<String, u64>,
    pub fallbacks: u64,
    pub overrides: u64,
}

/// The console's status text `(errors - processed / total)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct StatusCounts {
    /// Jobs that ended without success (exhausted or killed).
    pub errors: u64,
    /// Jobs that reached an end state.
    pub processed: u64,
    /// Jobs the service has seen fail.
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Rates {
    pub recommendations_per_second: f64,
    pub attempts_per_second: f64,
    pub retries_per_minute: f64,
    /// Success rate of retries over the last five minutes.
    pub retry_success_rate_5m: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BudgetUse {
    pub queue: String,
    pub tokens_available: f64,
    pub capacity: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantUse {
    pub tenant: String,
    pub retries_last_minute: u32,
    pub quota_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CircuitView {
    pub queue: String,
    pub error_class: String,
    /// `closed`, `open`, `half_open` (a forced circuit is `open` or `closed`).
    pub state: String,
    pub failure_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_at: Option<DateTime<Utc>>,
    /// Set while an operator forces the circuit (`state` then says the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forced: Option<super::ForcedCircuit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorClassStats {
    pub error_class: String,
    pub attempts: u64,
    pub successes: u64,
    pub success_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct ModelStatus {
    pub bayesian_models: u64,
    /// Models with enough samples to be used.
    pub warm_models: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml: Option<MLModel>,
    /// When a Bayesian model was last trained (recomputed from its data: on its own as
    /// samples arrive, or by `POST /bayesian/update`); absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trained: Option<DateTime<Utc>>,
}

/// Recommended backoff histogram, cumulative like Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistogramBucket {
    /// Upper bound in seconds; the last bucket's is infinite, written `"+Inf"` (JSON has no
    /// infinity) and read back from that string.
    #[serde(with = "upper_bound")]
    #[schema(schema_with = upper_bound::schema)]
    pub le_seconds: f64,
    pub count: u64,
}

/// `f64` bucket bounds with `+Inf` as a string, as Prometheus writes it.
mod upper_bound {
    use serde::{Deserialize, Deserializer, Serializer, de};
    use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Type};

    /// A number, or the string `"+Inf"`.
    pub fn schema() -> utoipa::openapi::schema::Schema {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["+Inf"])),
            )
            .build()
            .into()
    }

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        if value.is_infinite() && *value > 0.0 {
            s.serialize_str("+Inf")
        } else {
            s.serialize_f64(*value)
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Bound {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Bound::deserialize(d)? {
            Bound::Number(n) => Ok(n),
            Bound::Text(t) if t == "+Inf" => Ok(f64::INFINITY),
            Bound::Text(t) => Err(de::Error::custom(format!(
                "expected a number or \"+Inf\", got {t:?}"
            ))),
        }
    }
}

/// What the smart strategy did compared with the static backoff it replaced (shadow data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct Comparison {
    pub recommendations: u64,
    /// Jobs compared: each job once, at its first failure, under the models of that moment.
    pub jobs: u64,
    /// Estimated per job (mean over `jobs`) when the smart strategy plans its retries.
    pub smart: JobExpectation,
    /// Estimated per job when the static backoff plans them, judged by the same models.
    pub static_backoff: JobExpectation,
    /// Mean estimated success of the smart choice and of the static choice.
    pub smart_mean_success: f64,
    pub static_mean_success: f64,
    /// Retries the smart strategy stopped that static backoff would have made.
    pub retries_avoided: u64,
}

/// What a job can expect from its first failure on under one strategy, estimated from the
/// engine's recovery models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct JobExpectation {
    /// Retries made, on average.
    pub attempts: f64,
    /// Milliseconds from the first failure to success, for the jobs that succeed.
    pub time_to_success_ms: f64,
    /// The chance the job gives up (every planned retry fails).
    pub give_up: f64,
}

/// `GET /summary`: everything the console needs for one refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    pub service: String,
    pub version: String,
    pub generated_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub uptime_seconds: u64,
    /// The caller's role: `worker`, `viewer` or `operator`.
    pub role: String,
    pub degraded: bool,
    /// While degraded: why and since when (the same facts `/health` gives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degradation: Option<super::Degradation>,
    pub store: String,
    /// The tier most recommendations come from right now.
    pub active_tier: Method,
    pub strategy_name: String,
    pub bayesian_threshold: f64,
    pub credibility: f64,
    pub exploration_rate: f64,
    pub ml_enabled: bool,
    pub guardrails: PolicyGuardrails,
    pub policies: Vec<RetryPolicy>,
    pub counters: Counters,
    pub status: StatusCounts,
    pub rates: Rates,
    pub jobs_by_state: BTreeMap<String, u64>,
    pub budgets: Vec<BudgetUse>,
    pub tenants: Vec<TenantUse>,
    pub circuits: Vec<CircuitView>,
    pub error_classes: Vec<ErrorClassStats>,
    pub models: ModelStatus,
    pub backoff_histogram: Vec<HistogramBucket>,
    pub comparison: Comparison,
    pub alerts: Vec<Alert>,
    pub recent_errors: Vec<Event>,
    /// Per-queue status lines: the deciding tier and a status mark with its reason.
    #[serde(default)]
    pub queue_status: super::QueueStatusLines,
    /// Today's retries against static backoff and the recommended delays.
    #[serde(default)]
    pub today: super::TodayAtAGlance,
    /// Operator pauses in force, oldest first.
    #[serde(default)]
    pub pauses: Vec<super::Pause>,
    /// The ML tier: what serves, drift, live outcomes per arm, training.
    #[serde(default)]
    pub ml: super::MlSummary,
    /// On a store shared by replicas: the replica that answered (`LISTEN/PID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// On a store shared by replicas: the replica that leads (evaluates alerts, snapshots,
    /// prunes), when one holds the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

/// The smallest set of method names, for counters keyed by method.
pub fn method_names() -> impl Iterator<Item = &'static str> {
    Method::ALL.into_iter().map(Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bounds_round_trip_including_infinity() {
        let buckets = vec![
            HistogramBucket {
                le_seconds: 0.5,
                count: 1,
            },
            HistogramBucket {
                le_seconds: f64::INFINITY,
                count: 3,
            },
        ];
        let text = serde_json::to_string(&buckets).unwrap();
        assert_eq!(
            text,
            r#"[{"le_seconds":0.5,"count":1},{"le_seconds":"+Inf","count":3}]"#
        );
        let back: Vec<HistogramBucket> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, buckets);
        assert!(
            serde_json::from_str::<HistogramBucket>(r#"{"le_seconds":"lots","count":1}"#).is_err()
        );
    }
}
