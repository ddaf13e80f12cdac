//! Shared state of the service and the operations that combine engine and store (so handlers
//! stay thin and every path records, learns and audits the same way).

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::ops::OpsState;
use crate::config::Config;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::model::{
    AttemptRecord, AuditEntry, RetryFeatures, RetryRecommendation, RetryStrategy, ScheduledJob,
};
use crate::store::{Store, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Attempts replayed per store round trip when restoring.
const REPLAY_PAGE: u32 = 10_000;

/// Everything a handler needs; cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    /// The decision engine. Lock briefly; never hold across an `.await`.
    pub engine: Arc<Mutex<Engine>>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    pub started_at: DateTime<Utc>,
    /// Events, rate windows, alerts and per-job locks of the retry schedule (`server::ops`).
    pub ops: Arc<OpsState>,
    degraded: Arc<AtomicBool>,
    /// Held shared while an attempt batch is appended and observed, exclusively while a
    /// snapshot is taken, so a snapshot's watermark never skips an unobserved attempt.
    ingest_gate: Arc<tokio::sync::RwLock<()>>,
    /// Highest attempt sequence number the engine has observed.
    watermark: Arc<AtomicU64>,
    /// Serialises strategy changes so the store and the engine end in the same order.
    strategy_lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.name())
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

/// What a strategy change is, for the audit log.
#[derive(Debug, Clone)]
pub struct Change {
    /// `strategy`, `guardrails`, `policy_add`, `policy_remove`, ...
    pub action: &'static str,
    pub target: String,
    pub detail: serde_json::Value,
}

impl AppState {
    /// Builds the state around an engine and a store (see `server::build_state` for start-up).
    pub fn new(config: Config, store: Arc<dyn Store>, engine: Engine) -> Self {
        Self {
            engine: Arc::new(Mutex::new(engine)),
            store,
            metrics: Arc::new(Metrics::new()),
            ops: Arc::new(OpsState::new(super::alerts::config_of(&config.alerts))),
            config: Arc::new(config),
            started_at: Utc::now(),
            degraded: Arc::new(AtomicBool::new(false)),
            ingest_gate: Arc::new(tokio::sync::RwLock::new(())),
            watermark: Arc::new(AtomicU64::new(0)),
            strategy_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Wall-clock now: the one place the service reads the clock for requests.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// True after a store operation failed, until one succeeds again.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Highest attempt sequence number the engine has learned from (what a snapshot covers).
    pub fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::Relaxed)
    }

    /// Passes a store result through, keeping the degraded flag in step (503 on failure).
    pub fn store_ok<T>(&self, result: StoreResult<T>) -> ApiResult<T> {
        match result {
            Ok(value) => {
                self.degraded.store(false, Ordering::Relaxed);
                Ok(value)
            }
            Err(e @ StoreError::Invalid { .. }) => Err(ApiError::from(e)),
            Err(e) => {
                self.degraded.store(true, Ordering::Relaxed);
                Err(ApiError::from(e))
            }
        }
    }

    /// Asks the engine, timing the call and counting the answer in the metrics. What the
    /// static backoff would have said is noted beside it (the console's smart-vs-static view).
    pub fn recommend(&self, features: &RetryFeatures, now: DateTime<Utc>) -> RetryRecommendation {
        let started = Instant::now();
        let mut engine = self.engine.lock();
        let rec = engine.recommend(features, now);
        let took = started.elapsed();
        let shadow = engine.static_shadow(features, now);
        drop(engine);
        self.metrics.record_recommendation(&rec, took);
        let wall = self.now();
        let job_id = features.job_id.as_deref();
        self.ops
            .lock()
            .record_recommendation(&rec, &shadow, job_id, wall);
        rec
    }

    /// Validates, appends durably (waits for the commit), then lets the engine learn. Returns
    /// the sequence numbers. Nothing is learned from a batch the store refused.
    /// Also notes them in the live event stream and finishes scheduled jobs that succeeded.
    pub async fn record_attempts(&self, attempts: Vec<AttemptRecord>) -> ApiResult<Vec<u64>> {
        for (i, a) in attempts.iter().enumerate() {
            a.validate().map_err(|e| {
                if attempts.len() == 1 {
                    ApiError::from(e)
                } else {
                    ApiError::bad_request(format!("[{i}].{e}"))
                }
            })?;
        }
        let gate = self.ingest_gate.read().await;
        let seqs = self.store_ok(self.store.append_attempts(attempts.clone()).await)?;
        self.observe(&attempts);
        if let Some(&max) = seqs.iter().max() {
            self.watermark.fetch_max(max, Ordering::Relaxed);
        }
        drop(gate);
        super::failures::note_attempts(self, &attempts, None);
        super::failures::finish_succeeded(self, &attempts).await;
        Ok(seqs)
    }

    fn observe(&self, attempts: &[AttemptRecord]) {
        self.learn(attempts);
        self.count(attempts);
    }

    fn learn(&self, attempts: &[AttemptRecord]) {
        let mut engine = self.engine.lock();
        for a in attempts {
            engine.observe(a);
        }
    }

    fn count(&self, attempts: &[AttemptRecord]) {
        for a in attempts {
            self.metrics.record_attempt(a.success, a.attempt_number);
        }
    }

    /// Records one failed attempt and the job it schedules in ONE store write (both or
    /// neither). The engine learns from the attempt first, because the recommendation that
    /// `schedule` asks for depends on it (the episode, the circuit). So if that write fails
    /// the engine has seen an attempt the store does not hold; the client's resend of the same
    /// attempt number is learned once (episodes deduplicate repeated attempts).
    pub async fn record_failure(
        &self,
        attempt: AttemptRecord,
        error_text: &str,
        schedule: impl FnOnce(&Self) -> ScheduledJob,
    ) -> ApiResult<ScheduledJob> {
        attempt.validate()?;
        let gate = self.ingest_gate.read().await;
        self.learn(std::slice::from_ref(&attempt));
        let job = schedule(self);
        let stored = self
            .store
            .append_attempt_with_job(attempt.clone(), job.clone())
            .await;
        let seq = self.store_ok(stored)?;
        self.watermark.fetch_max(seq, Ordering::Relaxed);
        drop(gate);
        self.ops.note_pending(&job.job_id, job.state.is_pending());
        let attempts = std::slice::from_ref(&attempt);
        self.count(attempts);
        super::failures::note_attempts(self, attempts, Some(error_text));
        Ok(job)
    }

    /// Applies `change` to a copy of the current strategy, validates it, persists it, installs
    /// it in the engine and writes the audit entry (actor from the caller's token).
    pub async fn update_strategy(
        &self,
        caller: &Caller,
        reason: &str,
        change: impl FnOnce(&mut RetryStrategy) -> ApiResult<Change>,
    ) -> ApiResult<RetryStrategy> {
        let _serial = self.strategy_lock.lock().await;
        let mut strategy = self.engine.lock().strategy().clone();
        let what = change(&mut strategy)?;
        crate::model::validate::strategy(&strategy)?;
        // The engine validates too; install first so the store never holds a strategy the
        // engine refuses (it would be loaded at the next start), and roll back if saving fails.
        let previous = {
            let mut engine = self.engine.lock();
            let previous = engine.strategy().clone();
            engine.set_strategy(strategy.clone())?;
            previous
        };
        if let Err(e) = self.store_ok(self.store.save_strategy(&strategy).await) {
            // `previous` was accepted before, so putting it back cannot fail.
            let _ = self.engine.lock().set_strategy(previous);
            return Err(e);
        }
        self.audit(caller, what.action, &what.target, reason, what.detail)
            .await?;
        Ok(strategy)
    }

    /// Appends an audit entry for an operator action.
    pub async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        reason: &str,
        detail: serde_json::Value,
    ) -> ApiResult<u64> {
        let entry = AuditEntry {
            id: 0,
            at: self.now(),
            actor: caller.actor(),
            action: action.to_string(),
            target: target.to_string(),
            reason: reason.to_string(),
            detail,
        };
        self.store_ok(self.store.append_audit(entry).await)
    }

    /// Snapshots what the engine learned, with the attempt watermark it covers.
    pub async fn snapshot(&self) -> ApiResult<u64> {
        let (snapshot, watermark) = {
            let _gate = self.ingest_gate.write().await;
            let snapshot = self.engine.lock().snapshot();
            (snapshot, self.watermark.load(Ordering::Relaxed))
        };
        self.store_ok(self.store.save_snapshot(&snapshot, watermark).await)?;
        Ok(watermark)
    }

    /// Restores the last snapshot and replays the attempts recorded after it. Returns how many
    /// attempts were replayed.
    pub async fn restore(&self) -> StoreResult<u64> {
        let mut after = 0;
        if let Some((snapshot, watermark)) = self.store.load_snapshot().await? {
            if let Err(e) = self.engine.lock().restore(snapshot) {
                // A snapshot from another engine version: relearn from every attempt instead.
                tracing::warn!(error = %e, "engine snapshot not usable; replaying all attempts");
            } else {
                after = watermark;
            }
        }
        let replayed = self.replay_after(after).await?;
        Ok(replayed)
    }

    async fn replay_after(&self, mut after: u64) -> StoreResult<u64> {
        let mut replayed = 0;
        self.watermark.fetch_max(after, Ordering::Relaxed);
        loop {
            let page = self.store.attempts_after(after, REPLAY_PAGE).await?;
            let Some((last, _)) = page.last() else {
                return Ok(replayed);
            };
            after = *last;
            let mut engine = self.engine.lock();
            for (_, attempt) in &page {
                engine.observe(attempt);
            }
            drop(engine);
            replayed += page.len() as u64;
            self.watermark.fetch_max(after, Ordering::Relaxed);
        }
    }
}
