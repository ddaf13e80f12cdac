//! The service's lifecycle: start-up (strategy, engine restore, alerts, pauses, pending jobs), the
//! background housekeeping while it serves (snapshots, retention, alert evaluation, the store's
//! write probe, following a shared attempt log, syncing shared pacing counters), and the
//! shutdown signal.

use super::leader::RENEW_EVERY;
use super::state::AppState;
use super::store_health::PROBE_EVERY;
use crate::config::{Config, Housekeeping};
use crate::engine::Engine;
use crate::model::FieldError;
use crate::store::{Store, StoreError};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How the process gives the heap memory it freed back to the system; set by the binary that
/// owns the allocator (the library has no unsafe code), nothing when unset.
static RELEASE_FREED_MEMORY: OnceLock<fn()> = OnceLock::new();

/// Sets what [`release_freed_memory`] calls (the first call wins). `retryctl serve` on glibc
/// sets `malloc_trim`: without it, the short-lived peaks of a snapshot (the copy of the open
/// episodes and their encoding) and of a restore stay resident in malloc's free lists.
pub fn set_memory_release(release: fn()) {
    let _ = RELEASE_FREED_MEMORY.set(release);
}

/// Gives freed heap memory back, on a blocking thread (it walks the whole heap).
async fn release_freed_memory() {
    if let Some(&release) = RELEASE_FREED_MEMORY.get() {
        let _ = tokio::task::spawn_blocking(release).await;
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not read the store: {0}")]
    Store(#[from] StoreError),
    #[error("the configured strategy is invalid: {0}")]
    Strategy(#[from] FieldError),
}

/// Builds the state: the stored strategy if any (API changes survive restarts), else the
/// configured one; then what the engine learned (snapshot + replay of later attempts).
pub async fn start_state(config: Config, store: Arc<dyn Store>) -> Result<AppState, StartError> {
    let strategy = match store.load_strategy().await? {
        Some(stored) => {
            tracing::info!(name = %stored.name, "using the strategy saved in the store");
            stored
        }
        None => config.strategy.clone(),
    };
    let mut engine = Engine::new(
        config.strategy.clone(),
        config.engine.clone(),
        config.engine.seed.unwrap_or_else(rand::random),
    );
    if store.shares_guardrails() {
        engine.keep_pacing_for_ledger();
    }
    engine.set_strategy(config.strategy.clone())?;
    if let Err(e) = engine.set_strategy(strategy) {
        // An older version may have stored something this one refuses: keep serving with the
        // configured strategy rather than refusing to start.
        tracing::warn!(error = %e, "the stored strategy is invalid; using the configured one");
    }
    let state = AppState::new(config, store, engine);
    state.contend().await;
    let replayed = state.restore().await?;
    tracing::info!(replayed, "engine restored");
    let alerts = super::alerts::restore(&state).await?;
    tracing::info!(alerts, "alerts restored");
    let classes = state.store.error_class_counts().await?;
    tracing::info!(
        error_classes = classes.len(),
        "attempt counts by error class restored"
    );
    state.ops.lock().seed_error_classes(classes);
    let pauses = state.restore_pauses().await?;
    tracing::info!(pauses, "operator pauses restored");
    let forced = state.restore_forced_circuits().await?;
    tracing::info!(forced, "forced circuits restored");
    let pending = state.restore_pending().await?;
    tracing::info!(pending, "pending jobs on the schedule");
    let models = super::ml::restore(&state).await?;
    tracing::info!(models, "ML model versions loaded to serve or shadow");
    release_freed_memory().await;
    Ok(state)
}

/// The background tasks of a running service: snapshots, retention pruning, the alert loop
/// and the store's write probe. [`Background::stop`] ends them and writes a final snapshot.
#[derive(Debug)]
pub struct Background {
    state: AppState,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts the tasks, each on its own interval from the config.
    pub fn start(state: &AppState) -> Self {
        let housekeeping = &state.config.housekeeping;
        let mut tasks = vec![
            spawn_snapshots(state.clone(), housekeeping),
            spawn_every(housekeeping.prune_interval, state.clone(), prune),
            spawn_every(
                state
                    .ops
                    .alert_config
                    .evaluate_every
                    .max(Duration::from_millis(100)),
                state.clone(),
                super::alerts::evaluate,
            ),
            spawn_every(PROBE_EVERY, state.clone(), probe),
        ];
        if state.follows_log() {
            tasks.push(tokio::spawn(super::follow::run(state.clone())));
            tasks.push(spawn_every(
                super::ml::FOLLOW_DEPLOYMENTS_EVERY,
                state.clone(),
                super::ml::follow_deployments,
            ));
        }
        if state.store.shares_guardrails() {
            tasks.push(tokio::spawn(super::ledger::run(state.clone())));
        }
        tasks.push(spawn_now_and_every(
            RENEW_EVERY,
            state.clone(),
            super::leader::contend,
        ));
        Self {
            state: state.clone(),
            tasks,
        }
    }

    /// Ends the tasks, sends the pacing spends not yet in a shared ledger, then saves what the
    /// engine learned since the last snapshot (the leader only, when replicas share the store).
    pub async fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
        if self.state.store.shares_guardrails() {
            self.state.sync_pacing(1).await;
        }
        snapshot(self.state).await;
    }
}

/// [`spawn_every`], with a first run at once.
fn spawn_now_and_every<F, Fut>(period: Duration, state: AppState, job: F) -> JoinHandle<()>
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            job(state.clone()).await;
        }
    })
}

fn spawn_every<F, Fut>(period: Duration, state: AppState, job: F) -> JoinHandle<()>
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            job(state.clone()).await;
        }
    })
}

/// How often the snapshot task looks at the volume recorded.
const SNAPSHOT_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Snapshots every `snapshot_interval`, and sooner once `snapshot_after_attempts` attempts were
/// recorded since the last one. On a shared log the volume is the log's (what every replica
/// appended, as the follower learns it), so the leader's snapshots keep what a joining replica
/// replays near that many attempts at any ingestion rate.
fn spawn_snapshots(state: AppState, housekeeping: &Housekeeping) -> JoinHandle<()> {
    let (interval, after) = (
        housekeeping.snapshot_interval,
        housekeeping.snapshot_after_attempts,
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SNAPSHOT_CHECK_EVERY.min(interval));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut taken_at, mut taken_watermark) = (tokio::time::Instant::now(), state.watermark());
        loop {
            tick.tick().await;
            let recorded = state.watermark().saturating_sub(taken_watermark);
            if snapshot_due(taken_at.elapsed(), interval, recorded, after) {
                (taken_at, taken_watermark) = (tokio::time::Instant::now(), state.watermark());
                snapshot(state.clone()).await;
            }
        }
    })
}

/// Whether a snapshot is due `elapsed` after the last one, with `recorded` attempts since.
fn snapshot_due(elapsed: Duration, interval: Duration, recorded: u64, after: u64) -> bool {
    elapsed >= interval || recorded >= after
}

async fn snapshot(state: AppState) {
    if !state.is_leader() {
        return;
    }
    match state.snapshot().await {
        Ok(watermark) => tracing::debug!(watermark, "engine snapshot saved"),
        Err(e) => tracing::warn!(error = %e, "engine snapshot failed"),
    }
    release_freed_memory().await;
}

async fn probe(state: AppState) {
    state.probe_store().await;
}

async fn prune(state: AppState) {
    if !state.is_leader() {
        return;
    }
    let days = state
        .engine
        .lock()
        .strategy()
        .data_collection
        .retention_days;
    if days == 0 {
        return;
    }
    let before = state.now() - chrono::Duration::days(i64::from(days));
    match state.store_write(state.store.prune_attempts(before).await) {
        Ok(n) => tracing::info!(pruned = n, days, "retention: old attempts dropped"),
        Err(e) => tracing::warn!(error = %e, "retention pruning failed"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests, saving a final snapshot");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_come_by_time_or_by_volume() {
        let (interval, after) = (Duration::from_secs(30), 200_000);
        assert!(!snapshot_due(
            Duration::from_secs(1),
            interval,
            1_000,
            after
        ));
        assert!(!snapshot_due(
            Duration::from_secs(1),
            interval,
            after - 1,
            after
        ));
        assert!(snapshot_due(Duration::from_secs(30), interval, 0, after));
        assert!(snapshot_due(Duration::from_secs(1), interval, after, after));
    }
}
