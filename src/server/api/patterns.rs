//! `GET /patterns?job_type=&error_class=&tenant=&window=24h`: how the failures of one
//! (job type, error class) ended over a recent window, from the in-memory aggregates of
//! `core::patterns` (bounded work per call, no scan of stored history).

use super::stats::required;
use crate::model::{PATTERN_STEP_SECS, PATTERN_WINDOW_MAX_SECS, Patterns, parse_duration};
use crate::server::core::patterns::PatternQuery;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::ApiJson;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(patterns))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PatternsQuery {
    /// Required.
    #[param(required = true, value_type = crate::model::params::NonBlankParam, inline)]
    job_type: Option<String>,
    /// Required.
    #[param(required = true, value_type = crate::model::params::NonBlankParam, inline)]
    error_class: Option<String>,
    /// Only this tenant; absent: every tenant.
    tenant: Option<String>,
    /// How far back (`90m`, `24h`; default 24h): rounded up to whole 10 minutes, and read as
    /// 10m when shorter and 24h when longer (the answer's `from` says where it starts).
    #[param(value_type = Option<crate::model::params::PositiveDurationParam>, inline)]
    window: Option<String>,
}

#[utoipa::path(get, path = "/patterns",
    summary = "How the failures of one (job type, error class) ended recently (viewer)",
    params(PatternsQuery),
    responses((status = 200, description = "the pattern analysis", body = Patterns)))]
async fn patterns(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<PatternsQuery>, QueryRejection>,
) -> ApiResult<ApiJson<Patterns>> {
    caller.require(Access::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let query = PatternQuery {
        job_type: required(q.job_type, "job_type")?,
        error_class: required(q.error_class, "error_class")?,
        tenant: q.tenant.filter(|t| !t.is_empty()),
        steps: parse_steps(q.window.as_deref().unwrap_or("24h"))?,
    };
    let now = state.now();
    let mut answer = state.ops.lock().patterns.query(&query, now);
    answer.from = answer.from.max(state.started_at);
    if let Some(peak) = answer.peak_failures.as_mut() {
        peak.from = peak.from.max(state.started_at);
    }
    Ok(ApiJson(answer))
}

/// The window as a number of 10-minute steps: rounded up, and kept within 10m..=24h (the
/// pattern window the service keeps); zero is refused.
fn parse_steps(text: &str) -> ApiResult<u32> {
    let d = parse_duration(text).map_err(|e| ApiError::bad_request(format!("window: {e}")))?;
    if d.is_zero() {
        return Err(ApiError::bad_request(format!(
            "window: must be longer than zero (got {text:?})"
        )));
    }
    let secs = d
        .as_secs()
        .clamp(PATTERN_STEP_SECS, PATTERN_WINDOW_MAX_SECS);
    Ok(secs.div_ceil(PATTERN_STEP_SECS) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_become_whole_steps_or_name_the_parameter() {
        assert_eq!(parse_steps("24h").unwrap(), 144);
        assert_eq!(parse_steps("10m").unwrap(), 1);
        assert_eq!(parse_steps("15m").unwrap(), 2);
        assert_eq!(
            parse_steps("5m").unwrap(),
            1,
            "shorter: the shortest window"
        );
        assert_eq!(
            parse_steps("25h").unwrap(),
            144,
            "longer: the longest window"
        );
        for bad in ["soon", "0s"] {
            let e = parse_steps(bad).unwrap_err();
            assert!(e.details.unwrap().starts_with("window:"), "{bad}");
        }
    }
}
