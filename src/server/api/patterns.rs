//! `GET /patterns?job_type=&error_class=&tenant=&window=24h`: how the failures of one
//! (job type, error class) ended over a recent window, from the in-memory aggregates of
//! `core::patterns` (bounded work per call, no scan of stored history).

use super::stats::required;
use crate::model::Patterns;
use crate::server::core::cohorts;
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
        steps: cohorts::steps(q.window.as_deref())?,
    };
    let now = state.now();
    let mut answer = state.ops.lock().patterns.query(&query, now);
    answer.from = answer.from.max(state.started_at);
    if let Some(peak) = answer.peak_failures.as_mut() {
        peak.from = peak.from.max(state.started_at);
    }
    Ok(ApiJson(answer))
}
