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
    #[serde(default)]
    pub filter: BulkFilter,
    pub action: BulkAction,
    /// `override` only: how long from now, e.g. `"10m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// Required: why (goes to the audit log).
    #[serde(default)]
    pub reason: String,
    /// Report what would change without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Required when more jobs match than the service's `bulk_confirm_over`: the matched count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<u64>,
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
    /// Whether the matched count is over `bulk_confirm_over` (then `confirm` must equal it).
    pub needs_confirm: bool,
}

/// `POST /emergency-stop` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyStopRequest {
    /// `true`: every recommendation says stop until released.
    pub engaged: bool,
    /// Required: why (goes to the audit log).
    #[serde(default)]
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
}

/// `POST /pauses` body: the scope, an end (`until` or `for`, or neither: until resumed) and
/// the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    #[serde(default)]
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// When the pause ends (RFC 3339, in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub until: Option<String>,
    /// How long the pause lasts from now, e.g. `"10m"` (instead of `until`).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub r#for: Option<String>,
    /// Required: why (goes to the audit log).
    #[serde(default)]
    pub reason: String,
}

/// `DELETE /pauses/{id}` body: why the scope is resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    #[serde(default)]
    pub reason: String,
}
