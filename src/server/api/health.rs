//! `GET /health`: liveness plus the degraded flag (upstream `{status, timestamp, service}`).

use crate::model::HealthResponse;
use crate::server::core::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// Open to everyone (load balancers carry no token). Always 200 while the process answers:
/// with a failing store the service still recommends from memory, and says `degraded`.
async fn health(State(state): State<AppState>) -> Json<HealthResponse> {
    // The result only feeds the degraded flag.
    let _ = state.store_ok(state.store.ping().await);
    let degraded = state.is_degraded();
    Json(HealthResponse {
        status: if degraded { "degraded" } else { "healthy" }.into(),
        timestamp: state.now(),
        service: "retryctl".into(),
        degraded,
    })
}
