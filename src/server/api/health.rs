//! `GET /health`: liveness plus whether the store takes writes (upstream
//! `{status, timestamp, service}`; `degraded`, `kind`, `reason`, `detail` and `since` are ours).

use crate::model::{ErrorBody, HealthResponse};
use crate::server::core::state::AppState;
use crate::server::edge::{Access, ApiError, ApiResult, Caller};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HealthQuery {
    /// `true`: answer 503 while degraded (for load balancers and readiness probes). Default
    /// `false`: 200 while the process answers.
    strict: Option<bool>,
}

/// Open to everyone (load balancers carry no token). While writes to the store fail the
/// service still recommends from memory and says `degraded` with the reason and since when;
/// only the last write decides (a read or a probe never hides a failing write). The backend's
/// own message (`detail`: file paths, host names) is shown only to callers with a viewer or
/// operator token when tokens are configured.
#[utoipa::path(get, path = "/health",
    summary = "Liveness and whether the store takes writes (no token needed)",
    security(()),
    params(HealthQuery),
    responses(
        (status = 200, description = "the process answers (with `strict=true`: and the store takes writes)", body = HealthResponse),
        (status = 400, description = "`strict` is not `true` or `false`", body = ErrorBody),
        (status = 503, description = "with `strict=true` only: degraded, writes to the store fail", body = HealthResponse)))]
async fn health(
    caller: Result<Caller, ApiError>,
    State(state): State<AppState>,
    query: Result<Query<HealthQuery>, QueryRejection>,
) -> ApiResult<(StatusCode, Json<HealthResponse>)> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let may_read_detail = caller.is_ok_and(|c| c.may(Access::Read));
    let degradation = state.degradation().map(|mut d| {
        if !may_read_detail {
            d.detail.clear();
        }
        d
    });
    let degraded = degradation.is_some();
    let code = if degraded && q.strict.unwrap_or(false) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = HealthResponse {
        status: if degraded { "degraded" } else { "healthy" }.into(),
        timestamp: state.now(),
        service: "retryctl".into(),
        degraded,
        log_position: state.follows_log().then(|| state.watermark()),
        replica: state.follows_log().then(|| state.replica.clone()),
        leader: state.follows_log().then(|| state.is_leader()),
        degradation,
    };
    Ok((code, Json(body)))
}
