//! The service side of alerts: the loop that evaluates the alert rules
//! ([`super::alert_rules`]) every `evaluate_every`, persists what changed and announces it
//! in the event stream; and the start-up restore of the alerts an earlier run persisted.

use super::alert_rules::{self, Change};
use super::events::kind;
use super::ops::EngineView;
use super::replica_counts::ReplicaCounts;
use super::state::AppState;
use crate::model::{Alert, JobState};
use chrono::{DateTime, Utc};

/// Loads the alerts persisted by an earlier run, so ids, acks and resolutions carry over.
pub async fn restore(state: &AppState) -> crate::store::StoreResult<usize> {
    let alerts = state.store.list_alerts().await?;
    let n = alerts.len();
    let mut ops = state.ops.lock();
    for alert in alerts {
        ops.alerts.insert(alert.id.clone(), alert);
    }
    Ok(n)
}

/// One evaluation: gather the inputs, apply the rules, persist and announce what changed.
/// Also refreshes the schedule gauges, after ending the pauses that reached their end.
///
/// On a store shared by replicas only the leader applies the rules, to the counts of every
/// replica (`replica_counts`); every replica publishes its own counts and takes the shared
/// alert list from the store, so any replica shows the same alerts and acknowledgements.
pub async fn evaluate(state: AppState) {
    if let Err(e) = state.expire_pauses().await {
        tracing::warn!(error = %e, "could not end the expired pauses");
    }
    if let Err(e) = super::ml::store_auto_changes(&state).await {
        tracing::warn!(error = ?e, "could not store the ML rollback or promotion the engine made; retried next time");
    }
    let now = state.now();
    let engine = engine_view(&state, now);
    state
        .metrics
        .set_open_circuits(engine.circuits.iter().filter(|c| c.state == "open").count() as u64);
    state.metrics.set_emergency_stop(engine.emergency_stop);
    let shared = state.follows_log();
    let leads = !shared || state.is_leader();
    let mut others = Vec::new();
    if shared {
        take_shared_alerts(&state).await;
        if leads {
            others = state.other_counts(now).await;
        }
    }
    let (own, changes) = apply_rules(&state, engine, &others, leads, now);
    if shared {
        state.publish_counts(&own).await;
    }
    for (alert, _) in changes {
        if let Err(e) = state.store_write(state.store.put_alert(&alert).await) {
            tracing::warn!(id = %alert.id, error = %e, "could not persist the alert");
        }
    }
    state.metrics.ml.update(&super::ml::summary(&state));
    refresh_gauges(&state).await;
}

/// The watched ML version's drift score (the serving version's, or the shadow's when nothing
/// serves) and the serving version's live calibration, for the alert rules.
fn ml_watch(
    state: &AppState,
) -> (
    Option<alert_rules::DriftInput>,
    Option<alert_rules::CalibrationInput>,
) {
    let live = state.engine.lock().ml_live();
    let drift = live
        .drift
        .as_ref()
        .map(|d| (d.version.clone(), d.score(), d.same_policy));
    let Some((version, _)) = live.serving else {
        return (drift, None);
    };
    let calibration = live
        .arms
        .iter()
        .find(|(arm, _)| *arm == crate::engine::ml::deployment::LiveArm::Ml)
        .map(|(_, s)| (version.clone(), s.outcomes, s.ece()));
    (drift, calibration)
}

/// This replica's counts, and (when it `leads`) the alerts the rules changed with the
/// `others`' counts added, noted in memory and in the event stream.
fn apply_rules(
    state: &AppState,
    engine: EngineView,
    others: &[ReplicaCounts],
    leads: bool,
    now: DateTime<Utc>,
) -> (ReplicaCounts, Vec<(Alert, Change)>) {
    let mut ops = state.ops.lock();
    let mut inputs = ops.alert_inputs(&state.ops.alert_config, engine, now);
    let own = ReplicaCounts::of(&inputs, now);
    if !leads {
        return (own, Vec::new());
    }
    for counts in others {
        counts.add_to(&mut inputs);
    }
    inputs.store_degraded = state.degradation();
    inputs.pauses = state.ops.pauses.active(now);
    let (ml_drift, ml_calibration) = ml_watch(state);
    inputs.ml_drift = ml_drift;
    inputs.ml_calibration = ml_calibration;
    inputs.training_failed = state.ml.training_failure().map(|(m, _)| m);
    inputs.ml_rolled_back = state
        .engine
        .lock()
        .ml_live()
        .auto_rollback
        .map(|r| (r.version.clone(), r.reason()));
    let conditions = alert_rules::evaluate(&state.ops.alert_config, &inputs);
    let changes = alert_rules::reconcile(&ops.alerts, conditions, now);
    for (alert, change) in &changes {
        ops.alerts.insert(alert.id.clone(), alert.clone());
        if *change != Change::Updated {
            let verb = if *change == Change::Raised {
                "raised"
            } else {
                "resolved"
            };
            ops.events.push(
                now,
                kind::ALERT,
                None,
                format!("alert {verb}: {}", alert.message),
            );
        }
    }
    (own, changes)
}

/// Replaces the alerts in memory with the shared list (raised by the leader, acknowledged
/// through any replica); kept as they are when the store does not answer.
async fn take_shared_alerts(state: &AppState) {
    match state.store.list_alerts().await {
        Ok(alerts) => {
            let mut ops = state.ops.lock();
            ops.alerts = alerts.into_iter().map(|a| (a.id.clone(), a)).collect();
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the shared alerts"),
    }
}

fn engine_view(state: &AppState, now: chrono::DateTime<chrono::Utc>) -> EngineView {
    let engine = state.engine.lock();
    let (_, _, circuits) = engine.guardrail_status(now);
    let strategy = engine.strategy();
    EngineView {
        circuits,
        emergency_stop: strategy.guardrails.emergency_stop,
        warm_models: engine.model_status().warm_models,
        ml_enabled: strategy.ml_enabled,
    }
}

async fn refresh_gauges(state: &AppState) {
    if let Ok(counts) = state.store_read(state.store.count_jobs_by_state().await) {
        let pending = [JobState::Scheduled, JobState::Claimed];
        let n = pending.iter().filter_map(|s| counts.get(s)).sum();
        state.metrics.set_scheduled_jobs(n);
    }
}
