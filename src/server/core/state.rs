//! Shared state of the service: engine, store, metrics, config and operational memory, with
//! the operations that change the strategy, audit, snapshot and restore. The ingest path
//! (attempts, failures, the schedule they feed) is in [`super::ingest`].

use super::ops::OpsState;
use super::store_health::StoreHealth;
use crate::config::Config;
use crate::engine::{Engine, StoredSnapshot};
use crate::metrics::Metrics;
use crate::model::{AuditEntry, RetryStrategy, SnapshotReader};
use crate::server::edge::{ApiError, ApiResult};
use crate::store::{Store, StoreError, StoreResult};
use axum::extract::FromRef;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Attempts replayed per store round trip when restoring.
const REPLAY_PAGE: u32 = 5_000;

/// Everything a handler needs; cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    /// The decision engine. Lock briefly; never hold across an `.await`.
    pub engine: Arc<Mutex<Engine>>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    pub started_at: DateTime<Utc>,
    /// Events, rate windows, alerts and per-job locks of the retry schedule.
    pub ops: Arc<OpsState>,
    /// Whether writes to the store work (the degraded state).
    pub(super) store_health: Arc<StoreHealth>,
    /// Held shared while an attempt batch is appended and observed, exclusively while a
    /// snapshot is taken, so a snapshot's watermark never skips an unobserved attempt.
    pub(super) ingest_gate: Arc<tokio::sync::RwLock<()>>,
    /// Highest attempt sequence number the engine has observed.
    pub(super) watermark: Arc<AtomicU64>,
    /// Held while the engine reads and learns a shared log (see [`super::follow`]), so one
    /// reader learns it at a time, in log order.
    pub(super) tail_lock: Arc<tokio::sync::Mutex<()>>,
    /// The rounds of reading a shared log to its end (see [`super::follow::FollowRounds`]).
    pub(super) follow_rounds: Arc<super::follow::FollowRounds>,
    /// Sequence numbers learned before the log reached them (skipped when it does).
    pub(super) learned_ahead: Arc<Mutex<std::collections::BTreeSet<u64>>>,
    /// Attempts learned before the log gave them a position (a `/failures` write in flight;
    /// skipped when the log reaches them, see [`super::follow`]).
    pub(super) pending_ahead: Arc<Mutex<std::collections::HashSet<super::follow::AttemptKey>>>,
    /// Syncs of the pacing counters with a shared ledger (see [`super::ledger`]).
    pub(super) ledger: Arc<super::ledger::LedgerSync>,
    /// Whether this replica holds the chores lease (see [`super::leader`]).
    pub(super) leader: Arc<std::sync::atomic::AtomicBool>,
    /// Whether this replica brought the store's layout up to date (see [`super::leader`]).
    pub(super) layout_upgraded: Arc<std::sync::atomic::AtomicBool>,
    /// This replica's name among those sharing the store: `LISTEN/PID`.
    pub replica: String,
    /// Serialises strategy changes so the store and the engine end in the same order.
    strategy_lock: Arc<tokio::sync::Mutex<()>>,
    /// ML training jobs and the last training failure.
    pub ml: Arc<super::ml::MlOps>,
    /// Serialises ML deployments and rollbacks.
    pub(super) ml_lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.name())
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

/// Handlers and the edge read the config and the metrics through the router state.
impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
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
    /// Builds the state around an engine and a store (`start_state` also restores what an
    /// earlier run learned).
    pub fn new(config: Config, store: Arc<dyn Store>, engine: Engine) -> Self {
        let replica = format!("{}/{}", config.listen, std::process::id());
        Self {
            engine: Arc::new(Mutex::new(engine)),
            store,
            metrics: Arc::new(Metrics::new()),
            ops: Arc::new(OpsState::new(
                config.alerts.clone(),
                config.engine.max_open_episodes,
            )),
            config: Arc::new(config),
            started_at: Utc::now(),
            store_health: Arc::default(),
            ingest_gate: Arc::new(tokio::sync::RwLock::new(())),
            watermark: Arc::new(AtomicU64::new(0)),
            tail_lock: Arc::new(tokio::sync::Mutex::new(())),
            follow_rounds: Arc::default(),
            learned_ahead: Arc::default(),
            pending_ahead: Arc::default(),
            ledger: Arc::default(),
            leader: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            layout_upgraded: Arc::default(),
            replica,
            strategy_lock: Arc::new(tokio::sync::Mutex::new(())),
            ml: Arc::default(),
            ml_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Wall-clock now: the one place the service reads the clock for requests.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Highest attempt sequence number the engine has learned from (what a snapshot covers).
    pub fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::Relaxed)
    }

    /// Applies `change` to a copy of the current strategy, validates it, persists it, installs
    /// it in the engine and writes the audit entry naming `actor` (`role:name`).
    pub async fn update_strategy(
        &self,
        actor: &str,
        reason: &str,
        change: impl FnOnce(&mut RetryStrategy) -> ApiResult<Change>,
    ) -> ApiResult<RetryStrategy> {
        let _serial = self.strategy_lock.lock().await;
        let mut strategy = self.engine.lock().strategy().clone();
        let what = change(&mut strategy)?;
        // Installing validates (one check, `model::validate::strategy`); install first so the
        // store never holds a strategy the engine refuses, and roll back if saving fails.
        let previous = {
            let mut engine = self.engine.lock();
            let previous = engine.strategy().clone();
            engine.set_strategy(strategy.clone())?;
            previous
        };
        if let Err(e) = self.store_write(self.store.save_strategy(&strategy).await) {
            // `previous` was accepted before, so putting it back cannot fail.
            let _ = self.engine.lock().set_strategy(previous);
            return Err(e);
        }
        self.audit(actor, what.action, &what.target, reason, what.detail)
            .await?;
        Ok(strategy)
    }

    /// Appends an audit entry for an action of `actor` (`role:name`).
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        reason: &str,
        detail: serde_json::Value,
    ) -> ApiResult<u64> {
        let entry = AuditEntry {
            id: 0,
            at: self.now(),
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            reason: reason.to_string(),
            detail,
        };
        self.store_write(self.store.append_audit(entry).await)
    }

    /// Snapshots what the engine learned, with the attempt watermark it covers. On a shared
    /// log the engine first follows it to its end, so nothing it learned lies beyond the
    /// watermark. Under the gate and the engine lock it only copies what was learned; the
    /// store then encodes the copy (which grows with the open episodes) on a blocking thread
    /// and writes it piece by piece as it fills, so requests do not wait for it and its text
    /// is never held whole.
    pub async fn snapshot(&self) -> ApiResult<u64> {
        let (copy, watermark) = {
            // Gate before tail: the order every holder of both takes them in.
            let _gate = self.ingest_gate.write().await;
            let _tail = self.tail_lock.lock().await;
            if self.follows_log() {
                self.store_read(self.follow_locked(u64::MAX).await)?;
                if !self.learned_ahead.lock().is_empty() {
                    return Err(ApiError::unavailable(
                        "the attempt log is behind what this replica learned; snapshot postponed",
                    ));
                }
            }
            let copy = self.engine.lock().snapshot_copy();
            (copy, self.watermark.load(Ordering::Relaxed))
        };
        self.store_write(self.store.save_snapshot(Box::new(copy), watermark).await)?;
        Ok(watermark)
    }

    /// Restores the last snapshot and replays the attempts recorded after it. Returns how many
    /// attempts were replayed.
    pub async fn restore(&self) -> StoreResult<u64> {
        let mut after = 0;
        if let Some((reader, watermark)) = self.store.load_snapshot().await? {
            let began = std::time::Instant::now();
            match decode_snapshot(reader).await? {
                Ok(stored) => {
                    self.engine.lock().restore_stored(stored);
                    after = watermark;
                    let ms = began.elapsed().as_millis() as u64;
                    tracing::info!(watermark, ms, "engine snapshot read and restored");
                }
                // A snapshot from another engine version: relearn from every attempt instead.
                Err(e) => {
                    tracing::warn!(error = %e, "engine snapshot not usable; replaying all attempts");
                }
            }
        }
        let replayed = self.replay_after(after).await?;
        Ok(replayed)
    }

    /// Learns the log after `after`, page by page; the next page is read while the engine
    /// learns the current one.
    async fn replay_after(&self, mut after: u64) -> StoreResult<u64> {
        let mut replayed = 0;
        self.watermark.fetch_max(after, Ordering::Relaxed);
        let read = |after: u64| {
            let store = self.store.clone();
            tokio::spawn(async move { store.attempts_after(after, REPLAY_PAGE).await })
        };
        let mut next = read(after);
        loop {
            let page = next.await.map_err(|e| {
                StoreError::unavailable(format!("the read of the attempt log stopped: {e}"))
            })??;
            let Some(&(last, _)) = page.last() else {
                return Ok(replayed);
            };
            after = last;
            next = read(after);
            let mut engine = self.engine.lock();
            for (_, attempt) in &page {
                engine.observe(attempt);
            }
            drop(engine);
            replayed += page.len() as u64;
            self.watermark.fetch_max(after, Ordering::Relaxed);
            self.metrics.set_log_position(after);
        }
    }
}

/// Decodes a stored snapshot as the store reads it, on a blocking thread (megabytes at the
/// default cap of open episodes), without a copy of the whole text. A read that fails is the
/// store's error; a document this engine cannot use is the inner error, and the caller
/// replays the log instead.
async fn decode_snapshot(reader: SnapshotReader) -> StoreResult<Result<StoredSnapshot, String>> {
    let decoded = tokio::task::spawn_blocking(move || {
        serde_json::from_reader::<_, StoredSnapshot>(std::io::BufReader::new(reader))
    })
    .await
    .map_err(|e| StoreError::unavailable(format!("decoding the engine snapshot stopped: {e}")))?;
    match decoded {
        Ok(stored) => Ok(Ok(stored)),
        Err(e) if e.is_io() => Err(StoreError::of_read(e.into())),
        Err(e) => Ok(Err(format!("engine snapshot data is malformed: {e}"))),
    }
}
