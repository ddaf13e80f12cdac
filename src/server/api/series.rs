//! `GET /series`: per-queue failures, retries, successes and give-ups in fixed steps over a
//! recent window, plus the top error classes, for the console's sparklines.

use crate::model::Series;
use crate::server::core::series;
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
    OpenApiRouter::new().routes(routes!(get_series))
}

/// `GET /series` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SeriesQuery {
    /// How far back, e.g. `15m` (default): rounded up to a whole number of steps and kept
    /// within the hour the service holds (the answer's `window_ms` says what was used).
    #[param(value_type = Option<crate::model::params::PositiveDurationParam>, inline)]
    window: Option<String>,
    /// Width of each step, e.g. `10s` (default), `1m`: rounded up to a whole number of 10 s.
    #[param(value_type = Option<crate::model::params::PositiveDurationParam>, inline)]
    step: Option<String>,
}

#[utoipa::path(get, path = "/series",
    summary = "Per-queue failures, retries, successes and give-ups in fixed steps (viewer)",
    description = "Counts per step (not rates: divide by the step in seconds for a rate per \
        second), oldest step first; the last step is still filling. `failures` and \
        `successes` are recorded attempts, `retries` recorded attempts with an attempt number \
        of 2 or more, `give_ups` recommendations that said stop. Also the error classes with \
        the most failures in the window (at most 10). Counted by this process in memory in \
        10-second steps over the last hour, by arrival time: not persisted, a restart starts \
        empty. Memory is bounded: 100 queues and 100 error classes keep their own counts, \
        more are counted as `other`. Queues without counts in the window are left out.",
    params(SeriesQuery),
    responses(
        (status = 200, description = "the series", body = Series),
        (status = 400, description = "window or step malformed or zero (the error names it)")))]
async fn get_series(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<SeriesQuery>,
) -> ApiResult<ApiJson<Series>> {
    caller.require(Access::Read)?;
    let (window_ms, step_ms) = series::resolve(q.window.as_deref(), q.step.as_deref())?;
    let now = state.now();
    Ok(ApiJson(
        state.ops.lock().series.series(window_ms, step_ms, now),
    ))
}
