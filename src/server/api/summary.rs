//! `GET /summary`: everything the console needs for one refresh, in one response.
//!
//! Polled every second by every console, so it is cheap: counters come from the metrics
//! registry (the same values `/metrics` exports), rates and the comparison from in-memory
//! windows, job counts from one `count_jobs_by_state` call. If the store fails the summary is
//! still answered (with no job counts; `degraded` and its reason follow the last write), because that is exactly when an
//! operator is looking.

use crate::model::{JobState, Method, StatusCounts, Summary};
use crate::server::core::events::kind;
use crate::server::core::state::AppState;
use crate::server::core::views::{QUEUE_WINDOW_SECS, QueueFacts};
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use axum::extract::State;
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Errors listed in the summary's `recent_errors`.
pub const RECENT_ERRORS: usize = 20;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
}

#[utoipa::path(get, path = "/summary",
    summary = "Everything the console needs for one refresh (viewer)",
    responses((status = 200, description = "the summary", body = Summary)))]
async fn summary(caller: Caller, State(state): State<AppState>) -> ApiResult<ApiJson<Summary>> {
    caller.require(Access::Read)?;
    let now = state.now();
    let by_state = state
        .store_read(state.store.count_jobs_by_state().await)
        .unwrap_or_default();
    let (replica, leader) = match state.follows_log() {
        true => (Some(state.replica.clone()), state.leader_name().await),
        false => (None, None),
    };
    let mut summary = engine_part(&state, now);
    summary.role = caller.role.as_str().to_string();
    summary.status = status_counts(&by_state);
    summary.jobs_by_state = by_state
        .iter()
        .map(|(s, n)| (s.as_str().to_string(), *n))
        .collect();
    summary.counters = state.metrics.counters();
    summary.backoff_histogram = state.metrics.backoff_histogram();
    summary.degradation = state.degradation();
    summary.degraded = summary.degradation.is_some();
    let ops = state.ops.lock();
    summary.rates = ops.rates(now);
    summary.comparison = ops.comparison();
    summary.error_classes = ops.error_classes();
    summary.alerts = ops.alert_list().into_iter().filter(|a| a.active).collect();
    summary.recent_errors = ops.events.recent(kind::FAILURE, RECENT_ERRORS);
    summary.active_tier = ops.active_tier(now).unwrap_or(summary.active_tier);
    let outcomes = ops.series.outcomes(QUEUE_WINDOW_SECS, now);
    let facts = QueueFacts {
        circuits: &summary.circuits,
        outcomes: &outcomes,
        alerts: &summary.alerts,
        ml: summary.models.ml.as_ref(),
    };
    summary.queue_status = ops.queues.lines(&facts, now);
    summary.today = ops.today.glance(&summary.comparison, state.started_at, now);
    drop(ops);
    summary.pauses = state.ops.pauses.active(now);
    summary.ml = crate::server::core::ml::summary(&state);
    summary.replica = replica;
    summary.leader = leader;
    Ok(ApiJson(summary))
}

/// What the engine knows: strategy, guardrail state, models. The rest is filled in by the
/// caller.
fn engine_part(state: &AppState, now: chrono::DateTime<chrono::Utc>) -> Summary {
    let engine = state.engine.lock();
    let strategy = engine.strategy();
    let settings = engine.settings();
    let models = engine.model_status();
    let (budgets, tenants, circuits) = engine.guardrail_status(now);
    let idle_tier = if models.warm_models > 0 {
        Method::Bayesian
    } else {
        Method::Rules
    };
    let mut policies = strategy.policies.clone();
    policies.sort_by_key(|p| std::cmp::Reverse(p.priority));
    Summary {
        service: "retryctl".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        generated_at: now,
        started_at: state.started_at,
        uptime_seconds: u64::try_from((now - state.started_at).num_seconds()).unwrap_or(0),
        role: String::new(),
        degraded: false,
        degradation: None,
        store: state.store.name().into(),
        active_tier: idle_tier,
        strategy_name: strategy.name.clone(),
        bayesian_threshold: strategy.bayesian_threshold,
        credibility: settings.credibility,
        exploration_rate: settings.exploration_rate,
        ml_enabled: strategy.ml_enabled,
        guardrails: strategy.guardrails.clone(),
        policies,
        counters: Default::default(),
        status: StatusCounts::default(),
        rates: Default::default(),
        jobs_by_state: BTreeMap::new(),
        budgets,
        tenants,
        circuits,
        error_classes: Vec::new(),
        models,
        backoff_histogram: Vec::new(),
        comparison: Default::default(),
        alerts: Vec::new(),
        recent_errors: Vec::new(),
        queue_status: Default::default(),
        today: Default::default(),
        pauses: Vec::new(),
        ml: Default::default(),
        replica: None,
        leader: None,
    }
}

/// `(errors - processed / total)`: jobs that ended without success, jobs that ended, all jobs.
pub fn status_counts(by_state: &BTreeMap<JobState, u64>) -> StatusCounts {
    let n = |s: JobState| by_state.get(&s).copied().unwrap_or(0);
    let errors = n(JobState::Exhausted) + n(JobState::Killed);
    StatusCounts {
        errors,
        processed: errors + n(JobState::Succeeded),
        total: by_state.values().sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_counts_follow_job_states() {
        let by_state = BTreeMap::from([
            (JobState::Scheduled, 4),
            (JobState::Claimed, 1),
            (JobState::Succeeded, 10),
            (JobState::Exhausted, 2),
            (JobState::Killed, 1),
        ]);
        assert_eq!(
            status_counts(&by_state),
            StatusCounts {
                errors: 3,
                processed: 13,
                total: 18
            }
        );
        assert_eq!(status_counts(&BTreeMap::new()), StatusCounts::default());
    }
}
