//! `GET /metrics` (at the API base and at the top level, where Prometheus looks by default).

use crate::metrics::OPENMETRICS_CONTENT_TYPE;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// `/metrics` outside the API base.
pub fn top_level_routes() -> OpenApiRouter<AppState> {
    routes()
}

#[utoipa::path(get, path = "/metrics",
    summary = "Prometheus metrics in the OpenMetrics text format (viewer)",
    responses((status = 200, description = "the metrics", body = String,
        content_type = "application/openmetrics-text")))]
async fn metrics(caller: Caller, State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    caller.require(Access::Read)?;
    Ok((
        [(CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    ))
}
