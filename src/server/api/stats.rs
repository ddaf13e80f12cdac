//! `GET /stats?job_type=&error_class=&window=24h` (upstream `RetryStats`).

use crate::model::RetryStats;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::ApiJson;
use crate::store::AttemptAggregate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest window accepted (ten years): beyond it the arithmetic on timestamps overflows.
const MAX_WINDOW_DAYS: u64 = 3650;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// Required.
    #[param(required = true, value_type = crate::model::params::NonBlankParam, inline)]
    job_type: Option<String>,
    /// Required.
    #[param(required = true, value_type = crate::model::params::NonBlankParam, inline)]
    error_class: Option<String>,
    /// A duration (`90m`, `24h`, `7d`) longer than zero and at most 3650 days; default 24h.
    #[param(value_type = Option<crate::model::params::PositiveDurationParam>, inline)]
    window: Option<String>,
}

#[utoipa::path(get, path = "/stats",
    summary = "Attempt statistics of one (job type, error class) (viewer)",
    params(StatsQuery),
    responses((status = 200, description = "the statistics", body = RetryStats)))]
async fn stats(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> ApiResult<ApiJson<RetryStats>> {
    caller.require(Access::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let job_type = required(q.job_type, "job_type")?;
    let error_class = required(q.error_class, "error_class")?;
    let window = parse_window(q.window.as_deref().unwrap_or("24h"))?;
    let window_end = state.now();
    let window_start = window_end - window;
    let aggregate = state.store_read(
        state
            .store
            .attempt_aggregate(&job_type, &error_class, window_start, window_end)
            .await,
    )?;
    Ok(ApiJson(to_stats(
        job_type,
        error_class,
        &aggregate,
        (window_start, window_end),
    )))
}

pub(super) fn required(value: Option<String>, field: &str) -> ApiResult<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{field}: required query parameter")))
}

fn parse_window(text: &str) -> ApiResult<chrono::Duration> {
    let d = crate::model::parse_window(text)
        .map_err(|e| ApiError::bad_request(format!("window: {e}")))?;
    if d.is_zero() || d.as_secs() > MAX_WINDOW_DAYS * 86_400 {
        return Err(ApiError::bad_request(format!(
            "window: must be longer than zero and at most {MAX_WINDOW_DAYS} days (got {text:?})"
        )));
    }
    chrono::Duration::from_std(d).map_err(|e| ApiError::bad_request(format!("window: {e}")))
}

fn to_stats(
    job_type: String,
    error_class: String,
    a: &AttemptAggregate,
    (window_start, window_end): (DateTime<Utc>, DateTime<Utc>),
) -> RetryStats {
    let retries = a.successful_retries + a.failed_retries;
    let ratio = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    RetryStats {
        job_type,
        error_class,
        total_attempts: a.total_attempts,
        successful_retries: a.successful_retries,
        failed_retries: a.failed_retries,
        avg_delay_ms: ratio(a.retry_delay_ms_sum, retries),
        success_rate: ratio(a.successful_retries, retries),
        last_updated: a.last_attempt_at.unwrap_or(window_end),
        window_start,
        window_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_or_name_the_parameter() {
        assert_eq!(parse_window("24h").unwrap(), chrono::Duration::hours(24));
        assert_eq!(parse_window("90m").unwrap(), chrono::Duration::minutes(90));
        for bad in ["0s", "soon", "100000d"] {
            let e = parse_window(bad).unwrap_err();
            assert!(e.details.unwrap().starts_with("window:"), "{bad}");
        }
    }

    #[test]
    fn rates_are_over_retries() {
        let a = AttemptAggregate {
            total_attempts: 10,
            successful_retries: 3,
            failed_retries: 1,
            retry_delay_ms_sum: 8_000,
            last_attempt_at: None,
        };
        let now = Utc::now();
        let s = to_stats("j".into(), "e".into(), &a, (now, now));
        assert_eq!((s.success_rate, s.avg_delay_ms), (0.75, 2_000.0));
    }
}
