//! `GET /metrics` (at the API base and at the top level, where Prometheus looks by default).

use crate::metrics::OPENMETRICS_CONTENT_TYPE;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// `/metrics` outside the API base.
pub fn top_level_routes() -> Router<AppState> {
    routes()
}

async fn metrics(caller: Caller, State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    caller.require(Access::Read)?;
    Ok((
        [(CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    ))
}
