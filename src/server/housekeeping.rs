//! Start-up (strategy, engine restore), serving with background housekeeping (snapshots,
//! retention) and a graceful shutdown that writes a final snapshot.

use super::state::AppState;
use crate::config::Config;
use crate::engine::Engine;
use crate::model::FieldError;
use crate::store::{Store, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

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
    engine.set_strategy(config.strategy.clone())?;
    if let Err(e) = engine.set_strategy(strategy) {
        // An older version may have stored something this one refuses: keep serving with the
        // configured strategy rather than refusing to start.
        tracing::warn!(error = %e, "the stored strategy is invalid; using the configured one");
    }
    let state = AppState::new(config, store, engine);
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
    let pending = super::failures::restore_pending(&state).await?;
    tracing::info!(pending, "pending jobs on the schedule");
    Ok(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then flushes a final snapshot.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tasks = [
        spawn_every(
            state.config.housekeeping.snapshot_interval,
            state.clone(),
            snapshot,
        ),
        spawn_every(
            state.config.housekeeping.prune_interval,
            state.clone(),
            prune,
        ),
        spawn_every(
            Duration::from_millis(state.ops.alert_config.evaluate_every_ms.max(100)),
            state.clone(),
            super::alerts::evaluate,
        ),
    ];
    let served = axum::serve(listener, super::app(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    for task in tasks {
        task.abort();
    }
    snapshot(state).await;
    served
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

async fn snapshot(state: AppState) {
    match state.snapshot().await {
        Ok(watermark) => tracing::debug!(watermark, "engine snapshot saved"),
        Err(e) => tracing::warn!(error = %e, "engine snapshot failed"),
    }
}

async fn prune(state: AppState) {
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
    match state.store_ok(state.store.prune_attempts(before).await) {
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
