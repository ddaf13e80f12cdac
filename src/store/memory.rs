//! A `Store` in process memory: the reference the contract suite checks the others against,
//! and the backend for unit tests. Nothing survives the process.

mod jobs;

use super::pieces::Pieces;
use super::{
    AttemptAggregate, Claim, ClassTally, JobFilter, JobSortKey, Store, StoreResult, page_limit,
};
use crate::model::{
    Alert, AttemptRecord, AuditEntry, ForcedCircuit, JobPage, JobState, MlVersion, Pause,
    RetryStrategy, ScheduledJob, SnapshotReader, SnapshotSource,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::JobIndex;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Bytes of a piece of a snapshot as it is encoded (the pieces are joined here).
const SNAPSHOT_PIECE_BYTES: usize = 1 << 20;

/// A saved snapshot's document, shared by every reader of it.
#[derive(Debug, Clone)]
struct Document(Arc<Vec<u8>>);

impl AsRef<[u8]> for Document {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Everything behind one mutex: operations are short and never await while holding it.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// An attempt's place in time: (timestamp, seq).
type TimeKey = (DateTime<Utc>, u64);

#[derive(Debug, Default)]
struct Inner {
    attempts: BTreeMap<u64, AttemptRecord>,
    // Indexes, so aggregates and retention touch only what they need.
    // B-trees, not hash maps, for what grows with the jobs: a hash map's doubling rehashes every
    // entry in one insert, a stall of hundreds of milliseconds at 10⁵ jobs under the store's lock.
    by_job: BTreeMap<String, Vec<u64>>,
    by_key: HashMap<(String, String), BTreeSet<TimeKey>>,
    by_time: BTreeSet<TimeKey>,
    last_seq: u64,
    classes: BTreeMap<String, ClassTally>,
    jobs: JobIndex,
    strategy: Option<RetryStrategy>,
    ml_versions: BTreeMap<String, MlVersion>,
    ml_models: BTreeMap<String, Vec<u8>>,
    snapshot: Option<(Document, u64)>,
    audit: Vec<AuditEntry>,
    alerts: BTreeMap<String, Alert>,
    pauses: BTreeMap<String, Pause>,
    forced_circuits: BTreeMap<(String, String), ForcedCircuit>,
}

impl Inner {
    fn append(&mut self, attempt: AttemptRecord) -> u64 {
        self.last_seq += 1;
        let seq = self.last_seq;
        let at = (attempt.timestamp, seq);
        self.by_job
            .entry(attempt.job_id.clone())
            .or_default()
            .push(seq);
        let key = (attempt.job_type.clone(), attempt.error_class.clone());
        self.by_key.entry(key).or_default().insert(at);
        self.by_time.insert(at);
        ClassTally::add_all(&mut self.classes, [&attempt]);
        self.attempts.insert(seq, attempt);
        seq
    }

    fn prune(&mut self, before: DateTime<Utc>) -> u64 {
        let kept = self.by_time.split_off(&(before, 0));
        let old = std::mem::replace(&mut self.by_time, kept);
        for (at, seq) in &old {
            let Some(a) = self.attempts.remove(seq) else {
                continue;
            };
            if let Some(seqs) = self.by_job.get_mut(&a.job_id) {
                seqs.retain(|s| s != seq);
                if seqs.is_empty() {
                    self.by_job.remove(&a.job_id);
                }
            }
            let key = (a.job_type, a.error_class);
            if let Some(times) = self.by_key.get_mut(&key) {
                times.remove(&(*at, *seq));
                if times.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        old.len() as u64
    }
}

fn aggregate<'a>(attempts: impl Iterator<Item = &'a AttemptRecord>) -> AttemptAggregate {
    let mut agg = AttemptAggregate::default();
    for a in attempts {
        agg.total_attempts += 1;
        if a.attempt_number > 1 {
            if a.success {
                agg.successful_retries += 1;
            } else {
                agg.failed_retries += 1;
            }
            agg.retry_delay_ms_sum = agg.retry_delay_ms_sum.saturating_add(a.delay_ms);
        }
        agg.last_attempt_at = agg.last_attempt_at.max(Some(a.timestamp));
    }
    agg
}

#[async_trait]
impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn append_attempts(&self, attempts: Vec<AttemptRecord>) -> StoreResult<Vec<u64>> {
        let mut inner = self.inner.lock();
        Ok(attempts.into_iter().map(|a| inner.append(a)).collect())
    }

    async fn job_attempts(&self, job_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        let inner = self.inner.lock();
        let seqs = inner
            .by_job
            .get(job_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut found: Vec<(u64, &AttemptRecord)> = seqs
            .iter()
            .filter_map(|s| inner.attempts.get(s).map(|a| (*s, a)))
            .collect();
        found.sort_by_key(|(seq, a)| (a.timestamp, *seq));
        Ok(found.into_iter().map(|(_, a)| a.clone()).collect())
    }

    async fn attempts_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>> {
        let inner = self.inner.lock();
        let range = inner.attempts.range(after.saturating_add(1)..);
        Ok(range
            .take(limit as usize)
            .map(|(s, a)| (*s, a.clone()))
            .collect())
    }

    async fn attempt_aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate> {
        let inner = self.inner.lock();
        let key = (job_type.to_string(), error_class.to_string());
        let Some(times) = inner.by_key.get(&key).filter(|_| from < to) else {
            return Ok(AttemptAggregate::default());
        };
        let in_window = times.range((from, 0)..(to, 0));
        Ok(aggregate(
            in_window.filter_map(|(_, seq)| inner.attempts.get(seq)),
        ))
    }

    async fn error_class_counts(&self) -> StoreResult<BTreeMap<String, ClassTally>> {
        Ok(self.inner.lock().classes.clone())
    }

    async fn prune_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(self.inner.lock().prune(before))
    }

    async fn append_attempt_with_job(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
    ) -> StoreResult<u64> {
        let mut inner = self.inner.lock();
        let seq = inner.append(attempt);
        inner.jobs.put(job);
        Ok(seq)
    }

    async fn put_job(&self, job: ScheduledJob) -> StoreResult<()> {
        self.inner.lock().jobs.put(job);
        Ok(())
    }

    async fn put_jobs(&self, jobs: Vec<ScheduledJob>) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        for job in jobs {
            inner.jobs.put(job);
        }
        Ok(())
    }

    async fn get_job(&self, job_id: &str) -> StoreResult<Option<ScheduledJob>> {
        Ok(self.inner.lock().jobs.get(job_id).cloned())
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<JobPage> {
        let after = filter
            .cursor
            .as_deref()
            .map(JobSortKey::decode)
            .transpose()?;
        let limit = page_limit(filter.limit) as usize;
        let inner = self.inner.lock();
        let total = inner.jobs.count(&filter);
        let mut page = inner.jobs.page(&filter, after.as_ref(), limit + 1);
        let next_cursor = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|(key, _)| key.encode())
        } else {
            None
        };
        let jobs = page.into_iter().map(|(_, j)| j.clone()).collect();
        Ok(JobPage {
            jobs,
            next_cursor,
            total,
        })
    }

    async fn claim_due(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>> {
        Ok(self.inner.lock().jobs.claim(&claim))
    }

    async fn count_jobs_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>> {
        Ok(self.inner.lock().jobs.count_by_state())
    }

    async fn save_strategy(&self, strategy: &RetryStrategy) -> StoreResult<()> {
        self.inner.lock().strategy = Some(strategy.clone());
        Ok(())
    }

    async fn load_strategy(&self) -> StoreResult<Option<RetryStrategy>> {
        Ok(self.inner.lock().strategy.clone())
    }

    /// The document (megabytes at 10⁵ open episodes) is encoded, and the previous one freed,
    /// outside the lock every write takes.
    async fn save_snapshot(
        &self,
        snapshot: Box<dyn SnapshotSource>,
        watermark: u64,
    ) -> StoreResult<()> {
        let mut pieces = Pieces::encode(snapshot, SNAPSHOT_PIECE_BYTES);
        let mut document = Vec::new();
        while let Some(piece) = pieces.next().await {
            document.extend_from_slice(&piece);
        }
        pieces.finish().await?;
        let saved = Some((Document(Arc::new(document)), watermark));
        let previous = std::mem::replace(&mut self.inner.lock().snapshot, saved);
        drop(previous);
        Ok(())
    }

    async fn load_snapshot(&self) -> StoreResult<Option<(SnapshotReader, u64)>> {
        let saved = self.inner.lock().snapshot.clone();
        Ok(saved.map(|(document, watermark)| {
            let reader: SnapshotReader = Box::new(std::io::Cursor::new(document));
            (reader, watermark)
        }))
    }

    async fn append_audit(&self, mut entry: AuditEntry) -> StoreResult<u64> {
        let mut inner = self.inner.lock();
        entry.id = inner.audit.last().map_or(1, |e| e.id + 1);
        let id = entry.id;
        inner.audit.push(entry);
        Ok(id)
    }

    async fn list_audit(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let inner = self.inner.lock();
        let start = inner.audit.partition_point(|e| e.id <= after);
        Ok(inner.audit[start..]
            .iter()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn put_alert(&self, alert: &Alert) -> StoreResult<()> {
        self.inner
            .lock()
            .alerts
            .insert(alert.id.clone(), alert.clone());
        Ok(())
    }

    async fn list_alerts(&self) -> StoreResult<Vec<Alert>> {
        let mut alerts: Vec<Alert> = self.inner.lock().alerts.values().cloned().collect();
        alerts.sort_by(|a, b| b.raised_at.cmp(&a.raised_at).then_with(|| a.id.cmp(&b.id)));
        Ok(alerts)
    }

    async fn put_ml_versions(
        &self,
        versions: Vec<(MlVersion, Option<Vec<u8>>)>,
    ) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        for (v, model) in versions {
            if let Some(bytes) = model {
                inner.ml_models.insert(v.version.clone(), bytes);
            }
            inner.ml_versions.insert(v.version.clone(), v);
        }
        Ok(())
    }

    async fn list_ml_versions(&self) -> StoreResult<Vec<MlVersion>> {
        let mut all: Vec<MlVersion> = self.inner.lock().ml_versions.values().cloned().collect();
        all.sort_by_key(|v| std::cmp::Reverse(crate::store::ml_version_seq(&v.version)));
        Ok(all)
    }

    async fn ml_model(&self, version: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.inner.lock().ml_models.get(version).cloned())
    }

    async fn put_pause(&self, pause: &Pause) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        inner.pauses.insert(pause.id.clone(), pause.clone());
        Ok(())
    }

    async fn list_pauses(&self) -> StoreResult<Vec<Pause>> {
        let mut pauses: Vec<Pause> = self.inner.lock().pauses.values().cloned().collect();
        pauses.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(pauses)
    }

    async fn remove_pause(&self, id: &str) -> StoreResult<bool> {
        Ok(self.inner.lock().pauses.remove(id).is_some())
    }

    async fn put_forced_circuit(&self, forced: &ForcedCircuit) -> StoreResult<()> {
        let key = (forced.queue.clone(), forced.error_class.clone());
        self.inner
            .lock()
            .forced_circuits
            .insert(key, forced.clone());
        Ok(())
    }

    async fn list_forced_circuits(&self) -> StoreResult<Vec<ForcedCircuit>> {
        Ok(self
            .inner
            .lock()
            .forced_circuits
            .values()
            .cloned()
            .collect())
    }

    async fn remove_forced_circuit(&self, queue: &str, error_class: &str) -> StoreResult<bool> {
        let key = (queue.to_string(), error_class.to_string());
        Ok(self.inner.lock().forced_circuits.remove(&key).is_some())
    }

    async fn probe_write(&self) -> StoreResult<()> {
        Ok(())
    }
}
