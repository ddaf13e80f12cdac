//! Storage behind one trait (DESIGN §5). `sqlite` is the embedded default; `memory` serves unit
//! tests. Every backend passes the same contract suite (`tests/store_contract.rs`).
//!
//! Durability contract: when `append_attempts` returns `Ok`, the attempts are on disk (for a
//! persistent backend). Writes are group-committed, so many concurrent callers share one commit.

use crate::engine::EngineSnapshot;
use crate::model::{
    Alert, AttemptRecord, AuditEntry, JobPage, JobState, RetryStrategy, ScheduledJob,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or refused the write; the service reports itself degraded.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data on disk could not be read back.
    #[error("store data corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which jobs `list_jobs` returns. Jobs come in order of `next_attempt_at` (finished jobs, which
/// have none, by `updated_at`), then job id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobFilter {
    pub queue: Option<String>,
    pub state: Option<JobState>,
    pub error_class: Option<String>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: u32,
}

/// Counts over the attempts of one (job type, error class) in a time window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AttemptAggregate {
    pub total_attempts: u64,
    /// Attempts with `attempt_number > 1` that succeeded / failed.
    pub successful_retries: u64,
    pub failed_retries: u64,
    /// Sum of `delay_ms` over retries.
    pub retry_delay_ms_sum: u64,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// A claim: jobs due at `now` (scheduled with `next_attempt_at <= now`, or claimed with an
/// expired lease) move to `Claimed` with `lease_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub worker: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
    pub queue: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Short backend name for `/summary` and logs: `sqlite`, `memory`, `redis`.
    fn name(&self) -> &'static str;

    /// Appends attempts; returns each one's sequence number. Durable when it returns.
    async fn append_attempts(&self, attempts: Vec<AttemptRecord>) -> StoreResult<Vec<u64>>;
    /// Every attempt of one job, oldest first.
    async fn job_attempts(&self, job_id: &str) -> StoreResult<Vec<AttemptRecord>>;
    /// Attempts with a sequence number above `after`, in order, at most `limit`: for replaying
    /// what a snapshot does not hold.
    async fn attempts_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>>;
    /// Counts over the attempts of (job type, error class) with `timestamp` in `[from, to)`.
    async fn attempt_aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate>;
    /// Drops attempts with `timestamp` before `before`; returns how many.
    async fn prune_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Inserts or replaces a job on the schedule.
    async fn put_job(&self, job: ScheduledJob) -> StoreResult<()>;
    async fn get_job(&self, job_id: &str) -> StoreResult<Option<ScheduledJob>>;
    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<JobPage>;
    /// Atomically claims due jobs (no two claims get the same job while its lease holds).
    async fn claim_due(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>>;
    async fn count_jobs_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>>;

    async fn save_strategy(&self, strategy: &RetryStrategy) -> StoreResult<()>;
    async fn load_strategy(&self) -> StoreResult<Option<RetryStrategy>>;

    /// Saves what the engine learned up to attempt sequence `watermark`.
    async fn save_snapshot(&self, snapshot: &EngineSnapshot, watermark: u64) -> StoreResult<()>;
    async fn load_snapshot(&self) -> StoreResult<Option<(EngineSnapshot, u64)>>;

    /// Appends to the audit log; the entry's `id` is assigned by the store and returned.
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<u64>;
    /// Audit entries with id above `after`, oldest first, at most `limit`.
    async fn list_audit(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    /// Inserts or replaces an alert (by id).
    async fn put_alert(&self, alert: &Alert) -> StoreResult<()>;
    async fn list_alerts(&self) -> StoreResult<Vec<Alert>>;

    /// Cheap round trip to the backend, for health and the degraded flag.
    async fn ping(&self) -> StoreResult<()>;
}
