//! A store that can be switched to fail, to see how the service behaves when its backend is
//! down (a test double: delegates to the memory store until `fail(true)`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use retryctl::model::{
    Alert, AttemptRecord, AuditEntry, EngineSnapshot, JobPage, JobState, RetryStrategy,
    ScheduledJob,
};
use retryctl::store::memory::MemoryStore;
use retryctl::store::{
    AttemptAggregate, Claim, ClassTally, JobFilter, Store, StoreError, StoreResult,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct FailingStore {
    inner: MemoryStore,
    failing: AtomicBool,
}

impl FailingStore {
    pub fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    fn check(&self) -> StoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "disk I/O error (injected by the test)".into(),
            ))
        } else {
            Ok(())
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
        self.check()?;
        self.inner.job_attempts(job_id).await
    }
    async fn attempts_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>> {
        self.check()?;
        self.inner.attempts_after(after, limit).await
    }
    async fn attempt_aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate> {
        self.check()?;
        self.inner
            .attempt_aggregate(job_type, error_class, from, to)
            .await
    }
    async fn prune_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.check()?;
        self.inner.prune_attempts(before).await
    }
    async fn error_class_counts(&self) -> StoreResult<BTreeMap<String, ClassTally>> {
        self.check()?;
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
        self.check()?;
        self.inner.get_job(job_id).await
    }
    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<JobPage> {
        self.check()?;
        self.inner.list_jobs(filter).await
    }
    async fn claim_due(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>> {
        self.check()?;
        self.inner.claim_due(claim).await
    }
    async fn count_jobs_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>> {
        self.check()?;
        self.inner.count_jobs_by_state().await
    }
    async fn save_strategy(&self, strategy: &RetryStrategy) -> StoreResult<()> {
        self.check()?;
        self.inner.save_strategy(strategy).await
    }
    async fn load_strategy(&self) -> StoreResult<Option<RetryStrategy>> {
        self.check()?;
        self.inner.load_strategy().await
    }
    async fn save_snapshot(&self, snapshot: &EngineSnapshot, watermark: u64) -> StoreResult<()> {
        self.check()?;
        self.inner.save_snapshot(snapshot, watermark).await
    }
    async fn load_snapshot(&self) -> StoreResult<Option<(EngineSnapshot, u64)>> {
        self.check()?;
        self.inner.load_snapshot().await
    }
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<u64> {
        self.check()?;
        self.inner.append_audit(entry).await
    }
    async fn list_audit(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.check()?;
        self.inner.list_audit(after, limit).await
    }
    async fn put_alert(&self, alert: &Alert) -> StoreResult<()> {
        self.check()?;
        self.inner.put_alert(alert).await
    }
    async fn list_alerts(&self) -> StoreResult<Vec<Alert>> {
        self.check()?;
        self.inner.list_alerts().await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.check()
    }
}
