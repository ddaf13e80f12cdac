//! `GET /patterns`: how the failures of one (job type, error class) ended over a recent window.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Recovery at or under this many milliseconds counts as `within_5s`.
pub const FAST_RECOVERY_MS: u64 = 5_000;
/// Recovery at or under this many milliseconds (and over 5 s) counts as `within_30s`.
pub const SLOW_RECOVERY_MS: u64 = 30_000;
/// The longest window `/patterns` answers for: the aggregates keep 24 hours.
pub const PATTERN_WINDOW_MAX_SECS: u64 = 24 * 3600;
/// The step of the aggregates: windows are whole steps, the peak window is three of them.
pub const PATTERN_STEP_SECS: u64 = 600;

/// How the failures of one (job type, error class), optionally one tenant, ended between
/// `from` and `to` (the service's clock: when the service heard of each event). Recovery times
/// are measured on the workers' clock: from the timestamp of the job's first failure
/// (attempt 1) to the timestamp of its success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Patterns {
    pub job_type: String,
    pub error_class: String,
    /// The tenant asked for; absent: every tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Start of what the figures cover: the window's first 10-minute step, or the service's
    /// start when that is later (the aggregates are kept in memory from start-up).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Failed attempts recorded in the window.
    pub failures: u64,
    /// Jobs whose first failure was seen and that then succeeded, by how long that took.
    pub recovered: RecoveredCounts,
    /// Jobs the service stopped retrying before their last attempt (not retryable, maximum
    /// retry age, emergency stop).
    pub given_up: u64,
    /// Jobs that failed their last allowed attempt.
    pub hit_max_attempts: u64,
    /// Time from first failure to success of the recovered jobs; absent when none recovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryTimes>,
    /// The busiest 30 minutes of failures (three 10-minute steps); absent without failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_failures: Option<PeakWindow>,
}

/// Recovered jobs by time from first failure to success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveredCounts {
    pub within_5s: u64,
    pub within_30s: u64,
    pub later: u64,
}

impl RecoveredCounts {
    pub fn total(&self) -> u64 {
        self.within_5s + self.within_30s + self.later
    }
}

/// Recovery times in milliseconds. Median and p90 come from a log-scale histogram (steps of
/// 2^(1/8), so within about 4.5 % of the exact value); mean and sd are exact.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryTimes {
    pub count: u64,
    pub mean_ms: f64,
    /// Population standard deviation.
    pub sd_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
}

/// A 30-minute window and the failures recorded in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeakWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub failures: u64,
}
