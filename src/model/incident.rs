//! Wire types of the incident operations: bulk actions on a job filter, pauses, the
//! emergency stop and forced circuits from the API, the time series and the change log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which jobs a bulk action touches: the fields of `GET /jobs` (all given must match).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// A job state; only pending jobs (scheduled, claimed) can be acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Jobs whose id or last error contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What a bulk action does to each matched job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Make the job due now.
    RetryNow,
    /// Stop retrying the job.
    Kill,
    /// Set the next attempt `delay` from now.
    Override,
    /// Reschedule by the static backoff.
    ApplyStatic,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetryNow => "retry_now",
            Self::Kill => "kill",
            Self::Override => "override",
            Self::ApplyStatic => "apply_static",
        }
    }
}

/// `POST /jobs/bulk` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    #[serde(default, deserialize_with = "super::object")]
    pub filter: BulkFilter,
    pub action: BulkAction,
    /// `override` only: how long from now, e.g. `"10m"`; at most 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::optional_short_duration)]
    pub delay: Option<String>,
    /// Required: why (goes to the audit log).
    #[serde(default)]
    #[schema(schema_with = super::non_blank_text, required = true)]
    pub reason: String,
    /// Report what would change without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Required when the action would change more jobs than the service's `bulk_confirm_over`:
    /// the most jobs it may change (the dry run's `changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<u64>,
    /// Act only on jobs whose episode started (first failure) at or before this time: the dry
    /// run's `as_of`, so jobs that fail for the first time after the count are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
}

/// A matched job the bulk action left alone, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BulkSkip {
    pub job_id: String,
    pub why: String,
}

/// `POST /jobs/bulk` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BulkResult {
    pub action: BulkAction,
    pub dry_run: bool,
    /// Jobs the filter matched.
    pub matched: u64,
    /// Jobs changed (or, in a dry run, that would be).
    pub changed: u64,
    /// Matched jobs left alone (finished ones), at most 100 listed.
    pub skipped: Vec<BulkSkip>,
    /// The audit entry of the action (none for a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<u64>,
    /// Whether `changed` is over `bulk_confirm_over` (then `confirm` must be at least it).
    pub needs_confirm: bool,
    /// The latest first failure among the matched jobs: send it back as the request's `as_of`
    /// to act on these jobs only (none when nothing matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
    /// Jobs the filter matches whose first failure is after the request's `as_of`: left alone.
    #[serde(default)]
    pub arrived_after: u64,
}

/// `POST /emergency-stop` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyStopRequest {
    /// `true`: every recommendation says stop until released.
    pub engaged: bool,
    /// Required: why (goes to the audit log).
    #[serde(default)]
    #[schema(schema_with = super::non_blank_text, required = true)]
    pub reason: String,
}

/// `POST /emergency-stop` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmergencyStopState {
    pub engaged: bool,
    /// Whether this request changed it (false: it already was so).
    pub changed: bool,
}

/// What a pause covers: a queue, optionally narrowed to one error class and/or one job type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PauseScope {
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
}

impl PauseScope {
    /// Whether a job of `job_type` on `queue` failing with `error_class` is inside the scope.
    pub fn covers(&self, queue: &str, error_class: &str, job_type: &str) -> bool {
        self.queue == queue
            && self.error_class.as_deref().is_none_or(|e| e == error_class)
            && self.job_type.as_deref().is_none_or(|t| t == job_type)
    }

    /// `queue`, `queue/error_class`, with `type=…` when narrowed to a job type.
    pub fn label(&self) -> String {
        let mut text = self.queue.clone();
        if let Some(class) = &self.error_class {
            text.push('/');
            text.push_str(class);
        }
        if let Some(job_type) = &self.job_type {
            text.push_str(&format!(" type={job_type}"));
        }
        text
    }
}

/// A paused scope: its due jobs are not handed out by `/claim`, and new failures in it are
/// scheduled no earlier than `until`. Without `until` it lasts until resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Pause {
    pub id: String,
    #[serde(flatten)]
    pub scope: PauseScope,
    /// When the pause ends on its own; absent: until resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    pub reason: String,
    /// Who paused (`role:name`).
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

impl Pause {
    /// Whether the pause holds at `now` (it has not reached its `until`).
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    /// Orders pauses by when they end: a later `until` ranks higher, and a pause without end
    /// (until resumed) above every other.
    pub fn end_rank(&self) -> (u8, DateTime<Utc>) {
        self.until.map_or((1, DateTime::<Utc>::MIN_UTC), |u| (0, u))
    }

    /// Whether the pause holds the pending `job`'s next attempt at `now`: the job is in its
    /// scope and due before the pause ends (or the pause lasts until resumed).
    pub fn holds(&self, job: &super::ScheduledJob, now: DateTime<Utc>) -> bool {
        let due = job.next_attempt_at.unwrap_or(job.updated_at);
        job.state == super::JobState::Scheduled
            && self.active_at(now)
            && self
                .scope
                .covers(&job.queue, &job.error_class, &job.job_type)
            && self.until.is_none_or(|u| due < u)
    }
}

/// The pause among `pauses` that holds `job` at `now` the longest (one without end first).
pub fn holding_pause<'a>(
    pauses: &'a [Pause],
    job: &super::ScheduledJob,
    now: DateTime<Utc>,
) -> Option<&'a Pause> {
    pauses
        .iter()
        .filter(|p| p.holds(job, now))
        .max_by_key(|p| p.end_rank())
}

/// `POST /pauses` body: the scope, an end (`until` or `for`, or neither: until resumed) and
/// the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    #[serde(default)]
    #[schema(schema_with = super::non_blank_text, required = true)]
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// When the pause ends (RFC 3339, in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub until: Option<String>,
    /// How long the pause lasts from now, e.g. `"10m"` (instead of `until`); at most 30 days.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::optional_positive_duration)]
    pub r#for: Option<String>,
    /// Required: why (goes to the audit log).
    #[serde(default)]
    #[schema(schema_with = super::non_blank_text, required = true)]
    pub reason: String,
}

/// `DELETE /pauses/{id}` body: why the scope is resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    #[serde(default)]
    #[schema(schema_with = super::non_blank_text, required = true)]
    pub reason: String,
}

/// How an operator forced a circuit: held open (retries into it deferred until released) or
/// held closed (the breaker does not open for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CircuitForce {
    Open,
    Closed,
}

impl CircuitForce {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// A circuit (queue, error class) an operator forced, until released with `"auto"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForcedCircuit {
    pub queue: String,
    pub error_class: String,
    pub state: CircuitForce,
    pub reason: String,
    /// Who forced it (`role:name`).
    pub actor: String,
    pub forced_at: DateTime<Utc>,
}

impl ForcedCircuit {
    /// `queue/error_class`, as in alerts and audit targets.
    pub fn label(&self) -> String {
        format!("{}/{}", self.queue, self.error_class)
    }

    /// Whether the circuit, forced open, holds the scheduled `job` (no claim hands it out).
    pub fn holds(&self, job: &super::ScheduledJob) -> bool {
        self.state == CircuitForce::Open
            && job.state == super::JobState::Scheduled
            && self.queue == job.queue
            && self.error_class == job.error_class
    }
}

/// `POST /circuits/{queue}/{error_class}` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitForceRequest {
    /// `open` (hold retries into it until released), `closed` (the breaker does not open for
    /// it) or `auto` (release: the breaker decides again).
    #[serde(default)]
    #[schema(schema_with = circuit_state, required = true)]
    pub state: String,
    /// Required: why (goes to the audit log).
    #[serde(default)]
    #[schema(schema_with = super::non_blank_text, required = true)]
    pub reason: String,
}

/// The schema of [`CircuitForceRequest::state`].
fn circuit_state() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["open", "closed", "auto"]))
        .build()
}

/// `POST /circuits/{queue}/{error_class}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CircuitForceResult {
    /// The circuit after the request.
    pub circuit: super::CircuitView,
    /// Whether this request changed it (false: it already was so).
    pub changed: bool,
    /// The audit entry of the change (none when nothing changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<u64>,
}

/// One queue's counts per step in `GET /series`, oldest step first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct QueueSeries {
    /// The queue (`default` for none; `other` gathers queues past the service's cap).
    pub queue: String,
    /// Failed attempts recorded.
    pub failures: Vec<u64>,
    /// Retry attempts recorded (attempt number 2 or more), succeeded or failed.
    pub retries: Vec<u64>,
    /// Successful attempts recorded.
    pub successes: Vec<u64>,
    /// Recommendations that said stop (the job is given up).
    pub give_ups: Vec<u64>,
}

/// An error class and its failures in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorClassCount {
    pub error_class: String,
    pub failures: u64,
}

/// `GET /series` answer: counts per step (not rates; divide by `step_ms / 1000` for a rate
/// per second) over the window, from the service's in-memory counters since it started.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct Series {
    pub window_ms: u64,
    pub step_ms: u64,
    /// Start of the first step; step `i` covers `[start + i·step, start + (i+1)·step)`, the
    /// last one ends after now (it is still filling).
    pub start: DateTime<Utc>,
    /// Number of steps (each queue's arrays have this length).
    pub steps: usize,
    /// Queues with any count in the window, by name.
    pub queues: Vec<QueueSeries>,
    /// Error classes with the most failures in the window, most first (at most 10).
    pub top_error_classes: Vec<ErrorClassCount>,
}
