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
    /// Why the mark: `normal`, `high retry rate`, `open circuit (timeout)`, `mostly falling
    /// back (62 % of 40)`, `ml v3 in canary (10 %)`.
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
