//! A store whose writes can be made to fail on command, to see how the service behaves when
//! its backend refuses writes (a disk full, a read-only file): it wraps a real store (memory by
//! default, or SQLite) and, while failing, refuses every write with the chosen kind; reads
//! still reach the real store, as they do on a full disk.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use retryctl::model::{
    Alert, AttemptRecord, AuditEntry, JobPage, JobState, RetryStrategy, ScheduledJob,
    SnapshotReader, SnapshotSource, StoreFailureKind,
};
use retryctl::store::memory::MemoryStore;
use retryctl::store::{
    AttemptAggregate, Claim, ClassTally, JobFilter, Store, StoreError, StoreResult,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct FailingStore {
    inner: Arc<dyn Store>,
    failing: Mutex<Option<StoreFailureKind>>,
}

impl Default for FailingStore {
    fn default() -> Self {
        Self::wrapping(Arc::new(MemoryStore::default()))
    }
}

impl FailingStore {
    pub fn wrapping(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            failing: Mutex::new(None),
        }
    }

    /// From now on every write fails with `kind` (`None`: writes work again).
    pub fn fail_writes(&self, kind: Option<StoreFailureKind>) {
        *self.failing.lock() = kind;
    }

    fn check(&self) -> StoreResult<()> {
        match *self.failing.lock() {
            Some(kind) => Err(StoreError::Unavailable {
                kind,
                message: format!("{} (injected by the test)", kind.reason()),
            }),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Store for FailingStore {
    fn name(&self) -> &'static str {
        "failing"
    }
    async fn append_attempts(&self, attempts: Vec<AttemptRecord>) -> StoreResult<Vec<u64>> {
        self.check()?;
        self.inner.append_attempts(attempts).await
    }
    async fn job_attempts(&self, job_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        self.inner.job_attempts(job_id).await
    }
    async fn attempts_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>> {
        self.inner.attempts_after(after, limit).await
    }
    async fn attempt_aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate> {
        self.inner
            .attempt_aggregate(job_type, error_class, from, to)
            .await
    }
    async fn prune_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.check()?;
        self.inner.prune_attempts(before).await
    }
    async fn error_class_counts(&self) -> StoreResult<BTreeMap<String, ClassTally>> {
        self.inner.error_class_counts().await
    }
    async fn append_attempt_with_job(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
    ) -> StoreResult<u64> {
        self.check()?;
        self.inner.append_attempt_with_job(attempt, job).await
    }
    async fn put_job(&self, job: ScheduledJob) -> StoreResult<()> {
        self.check()?;
        self.inner.put_job(job).await
    }
    async fn get_job(&self, job_id: &str) -> StoreResult<Option<ScheduledJob>> {
        self.inner.get_job(job_id).await
    }
    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<JobPage> {
        self.inner.list_jobs(filter).await
    }
    async fn claim_due(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>> {
        self.check()?;
        self.inner.claim_due(claim).await
    }
    async fn count_jobs_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>> {
        self.inner.count_jobs_by_state().await
    }
    async fn save_strategy(&self, strategy: &RetryStrategy) -> StoreResult<()> {
        self.check()?;
        self.inner.save_strategy(strategy).await
    }
    async fn load_strategy(&self) -> StoreResult<Option<RetryStrategy>> {
        self.inner.load_strategy().await
    }
    async fn save_snapshot(
        &self,
        snapshot: Box<dyn SnapshotSource>,
        watermark: u64,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.save_snapshot(snapshot, watermark).await
    }
    async fn load_snapshot(&self) -> StoreResult<Option<(SnapshotReader, u64)>> {
        self.inner.load_snapshot().await
    }
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<u64> {
        self.check()?;
        self.inner.append_audit(entry).await
    }
    async fn list_audit(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.inner.list_audit(after, limit).await
    }
    async fn put_alert(&self, alert: &Alert) -> StoreResult<()> {
        self.check()?;
        self.inner.put_alert(alert).await
    }
    async fn list_alerts(&self) -> StoreResult<Vec<Alert>> {
        self.inner.list_alerts().await
    }
    async fn put_pause(&self, pause: &retryctl::model::Pause) -> StoreResult<()> {
        self.check()?;
        self.inner.put_pause(pause).await
    }
    async fn put_ml_versions(
        &self,
        versions: Vec<(retryctl::model::MlVersion, Option<Vec<u8>>)>,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.put_ml_versions(versions).await
    }
    async fn list_ml_versions(&self) -> StoreResult<Vec<retryctl::model::MlVersion>> {
        self.inner.list_ml_versions().await
    }
    async fn ml_model(&self, version: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.ml_model(version).await
    }
    async fn list_pauses(&self) -> StoreResult<Vec<retryctl::model::Pause>> {
        self.inner.list_pauses().await
    }
    async fn remove_pause(&self, id: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.remove_pause(id).await
    }
    async fn put_forced_circuit(&self, forced: &retryctl::model::ForcedCircuit) -> StoreResult<()> {
        self.check()?;
        self.inner.put_forced_circuit(forced).await
    }
    async fn list_forced_circuits(&self) -> StoreResult<Vec<retryctl::model::ForcedCircuit>> {
        self.inner.list_forced_circuits().await
    }
    async fn remove_forced_circuit(&self, queue: &str, error_class: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.remove_forced_circuit(queue, error_class).await
    }
    async fn probe_write(&self) -> StoreResult<()> {
        self.check()?;
        self.inner.probe_write().await
    }
}
