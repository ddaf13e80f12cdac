//! The `/summary` blocks behind the design's per-queue status lines and its "today at a
//! glance" figures. Each carries the window its figures cover.

use super::Method;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Per-queue status lines over the last `window_seconds` (service clock).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct QueueStatusLines {
    pub window_seconds: u64,
    /// Queues that had recommendations in the window, an open circuit or a retry-storm
    /// alert, by name (`""` is the default queue).
    pub queues: Vec<QueueStatus>,
}

/// One queue: the tier deciding its retries and a status mark with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueStatus {
    pub queue: String,
    /// The tier that answered most of the queue's recommendations in the window; absent when
    /// it had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Method>,
    /// The ML model's version when `strategy` is `ml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    pub recommendations: u64,
    pub mark: QueueMark,
    /// Why the mark: `normal`, `failing: 2000 failed, none succeeded` (20 or more failed
    /// attempts in the window and not one success), `high retry rate`, `open circuit
    /// (timeout)`, `mostly falling back (62 % of 40)`, `ml v3 in canary (10 %)`.
    pub reason: String,
}

/// ✓ normal, ⚠ needs a look, → changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueMark {
    Normal,
    Warning,
    Changing,
}

/// Today's figures (since 00:00 UTC, or since the service started when that is later).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TodayAtAGlance {
    /// Start of what `retries` and the delay figures cover.
    pub from: Option<DateTime<Utc>>,
    /// Retries recorded today (attempts after a job's first).
    pub retries: u64,
    /// Estimated relative change of retries per job against the static backoff for the same
    /// failures (−0.18 = 18 % fewer), from the shadow comparison of `comparison_jobs` jobs
    /// since the service started; absent before any job was compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries_vs_static: Option<f64>,
    pub comparison_jobs: u64,
    /// Recommendations today that said retry, and the mean and standard deviation of their
    /// delay in milliseconds (absent before the first).
    pub delays: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_delay_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd_delay_ms: Option<f64>,
}

/// `GET /smart-vs-static`: success after retry under the smart plans and the static backoff's
/// estimate for the same jobs, per step over a recent window (service clock).
///
/// Jobs are grouped by the step in which their first failure was heard of (a cohort), so
/// each step's estimates and its measured outcome are about the same jobs. Estimates come
/// from the recovery models at the job's first failure (the shadow comparison); the measured
/// figures from how the jobs the service followed actually ended.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct SmartVsStatic {
    /// Width of each step in seconds (600).
    pub step_seconds: u64,
    /// Start of the first step, or when the service started if that is later.
    pub from: Option<DateTime<Utc>>,
    /// When the answer was computed; the last step is still filling.
    pub to: Option<DateTime<Utc>>,
    /// One entry per step, oldest first.
    pub steps: Vec<CohortStep>,
    /// The whole window as one cohort.
    pub total: CohortStep,
    /// Estimated difference in success after retry, smart minus static, over the window
    /// (0.17 = 17 points better); absent before any job was compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
}

/// The jobs whose first failure fell in one step (or in the whole window).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct CohortStep {
    /// Jobs compared (each once, at its first failure).
    pub jobs: u64,
    /// Estimated chance that a job succeeds after retry under the smart plan (mean over
    /// `jobs`); absent without jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_estimated: Option<f64>,
    /// The same under the static backoff, judged by the same models (shadow estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_estimated: Option<f64>,
    /// Estimated retries per job under each (the difference is the retries avoided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_retries: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_retries: Option<f64>,
    /// Estimated milliseconds from first failure to success, for jobs that succeed (weighted
    /// by their chance of success); absent when none is expected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_time_to_success_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_time_to_success_ms: Option<f64>,
    /// Measured: jobs of the cohort followed from their first failure that have ended so
    /// far, and how many of them succeeded after retry.
    pub ended: u64,
    pub recovered: u64,
    /// `recovered / ended`; absent while none has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart_measured: Option<f64>,
}
