//! `GET /smart-vs-static`: success after retry under the smart plans against the static
//! backoff's shadow estimate, per 10-minute step over a recent window, for the console's
//! "smart vs static over time".

use crate::model::SmartVsStatic;
use crate::server::core::cohorts;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(smart_vs_static))
}

/// `GET /smart-vs-static` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WindowQuery {
    /// How far back (`90m`, `24h`; default 24h): rounded up to whole 10 minutes, and read as
    /// 10m when shorter and 24h when longer (the answer's `from` says where it starts).
    #[param(value_type = Option<crate::model::params::PositiveDurationParam>, inline)]
    window: Option<String>,
}

#[utoipa::path(get, path = "/smart-vs-static",
    summary = "Smart vs static success after retry per 10-minute step (viewer)",
    description = "Jobs are grouped by the step in which their first failure reached the \
        service. For each step: the jobs compared, the ESTIMATED chance of success after \
        retry, retries per job and time to success under the smart plan and under the static \
        backoff (both judged by the same recovery models at the job's first failure: the \
        shadow comparison), and, MEASURED, how many of the jobs followed from their first \
        failure have ended and how many of those recovered. `difference` is the estimated \
        smart minus static success over the window. Kept in memory, one slot per step for 24 \
        hours (bounded whatever the traffic); not persisted, so after a restart `from` is the \
        start.",
    params(WindowQuery),
    responses(
        (status = 200, description = "the steps, oldest first", body = SmartVsStatic),
        (status = 400, description = "window malformed or zero (the error names it)")))]
async fn smart_vs_static(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<WindowQuery>,
) -> ApiResult<ApiJson<SmartVsStatic>> {
    caller.require(Access::Read)?;
    let steps = cohorts::steps(q.window.as_deref())?;
    let now = state.now();
    let view = state.ops.lock().cohorts.view(steps, state.started_at, now);
    Ok(ApiJson(view))
}
