//! `GET /health`: liveness plus the degraded flag (upstream `{status, timestamp, service}`).

use crate::model::HealthResponse;
use crate::server::core::state::AppState;
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Open to everyone (load balancers carry no token). Always 200 while the process answers:
/// with a failing store the service still recommends from memory, and says `degraded`.
#[utoipa::path(get, path = "/health",
    summary = "Liveness and the degraded flag (no token needed)",
    security(()),
    responses((status = 200, description = "always, while the process answers", body = HealthResponse)))]
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
