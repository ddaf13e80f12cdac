//! `GET /alerts`, `POST /alerts/{id}/ack`, and the loop that evaluates the alert rules
//! ([`super::alert_rules`]) every `evaluate_every_ms` and persists what changed.

use super::alert_rules::{self, AlertConfig, Change};
use super::auth::{Access, Caller};
use super::error::{ApiError, ApiResult};
use super::events::kind;
use super::json::ApiJson;
use super::ops::EngineView;
use super::state::AppState;
use crate::config::AlertThresholds;
use crate::model::{ActionRequest, Alert, JobState};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(list))
        .route("/alerts/{id}/ack", post(ack))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    /// `true`: only alerts whose condition holds now.
    active: Option<bool>,
}

/// Active alerts first (most severe first), then resolved ones.
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<ApiJson<Vec<Alert>>> {
    caller.require(Access::Read)?;
    let mut alerts = state.ops.lock().alert_list();
    if q.active == Some(true) {
        alerts.retain(|a| a.active);
    }
    Ok(ApiJson(alerts))
}

async fn ack(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ApiJson<Alert>> {
    caller.require(Access::Operate)?;
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        super::json::parse_json::<ActionRequest>(&body)?.reason
    };
    let now = state.now();
    let acked = {
        let mut ops = state.ops.lock();
        let alert = ops.alerts.get_mut(&id).ok_or_else(|| {
            ApiError::not_found("no such alert").with_details(format!("id: no alert {id:?}"))
        })?;
        alert.acked_at = Some(now);
        alert.acked_by = Some(caller.actor());
        alert.clone()
    };
    state.store_ok(state.store.put_alert(&acked).await)?;
    state
        .audit(
            &caller,
            "alert_ack",
            &id,
            &reason,
            json!({ "active": acked.active }),
        )
        .await?;
    Ok(ApiJson(acked))
}

/// The rule thresholds from the service config (`[alerts]`); the rest keep their defaults.
pub fn config_of(thresholds: &AlertThresholds) -> AlertConfig {
    AlertConfig {
        retry_storm_per_minute: u64::from(thresholds.retry_storm_per_minute),
        guardrail_overrides_max: u64::from(thresholds.guardrail_overrides),
        guardrail_window_secs: u32::try_from(thresholds.guardrail_window.as_secs())
            .unwrap_or(u32::MAX),
        queue_thresholds: thresholds
            .retry_storm_queues
            .iter()
            .map(|(queue, n)| (queue.clone(), u64::from(*n)))
            .collect(),
        fallback_window_secs: u32::try_from(thresholds.fallback_window.as_secs())
            .unwrap_or(u32::MAX),
        fallback_min_recommendations: thresholds.fallback_min_recommendations,
        static_share: thresholds.fallback_static_share,
        fallback_share: thresholds.fallback_share,
        ..AlertConfig::default()
    }
}

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
/// Also refreshes the schedule gauges.
pub async fn evaluate(state: AppState) {
    let now = state.now();
    let engine = engine_view(&state, now);
    state
        .metrics
        .set_open_circuits(engine.circuits.iter().filter(|c| c.state == "open").count() as u64);
    let changes = {
        let mut ops = state.ops.lock();
        let inputs = ops.alert_inputs(&state.ops.alert_config, engine, now);
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
        changes
    };
    for (alert, _) in changes {
        if let Err(e) = state.store_ok(state.store.put_alert(&alert).await) {
            tracing::warn!(id = %alert.id, error = %e, "could not persist the alert");
        }
    }
    refresh_gauges(&state).await;
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
    if let Ok(counts) = state.store_ok(state.store.count_jobs_by_state().await) {
        let pending = [JobState::Scheduled, JobState::Claimed];
        let n = pending.iter().filter_map(|s| counts.get(s)).sum();
        state.metrics.set_scheduled_jobs(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides, parse_file, resolve};

    #[test]
    fn per_queue_storm_thresholds_come_from_the_config_file() {
        let text =
            "[alerts]\nretry_storm_per_minute = 50\n\n[alerts.retry_storm_queues]\npayments = 5\n";
        let file = parse_file("retryctl.toml", text).unwrap();
        let defaults = Config::defaults("/tmp/unused".into());
        let config = resolve(
            defaults,
            Some(file),
            &Default::default(),
            &Overrides::default(),
        )
        .unwrap();
        let rules = config_of(&config.alerts);
        assert_eq!(rules.retry_storm_per_minute, 50);
        assert_eq!(rules.queue_thresholds.get("payments"), Some(&5));
        assert_eq!(rules.guardrail_overrides_max, 10);
        assert_eq!(rules.guardrail_window_secs, 300);
    }
}
