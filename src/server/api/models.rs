//! `POST /bayesian/update` and `POST /engine/seed`. The ML tier's endpoints are in `ml`.

use crate::model::{BayesianUpdateRequest, EngineSeed, StatusResponse};
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::ApiJson;
use axum::extract::State;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bayesian_update))
        .routes(routes!(reseed))
}

/// Rebuilds one (job type, error class) model now instead of waiting for the next refresh.
#[utoipa::path(post, path = "/bayesian/update",
    summary = "Rebuild one Bayesian model now (operator)",
    request_body = BayesianUpdateRequest,
    responses((status = 200, description = "updated", body = StatusResponse)))]
async fn bayesian_update(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BayesianUpdateRequest>,
) -> ApiResult<ApiJson<StatusResponse>> {
    caller.require(Access::Operate)?;
    req.validate()?;
    let now = state.now();
    let refreshed = state
        .engine
        .lock()
        .refresh_model(&req.job_type, &req.error_class, now);
    if !refreshed {
        return Err(ApiError::not_found("no such model").with_details(format!(
            "no attempts recorded yet for job_type {:?} and error_class {:?}",
            req.job_type, req.error_class
        )));
    }
    let target = format!("{}/{}", req.job_type, req.error_class);
    state
        .audit(&caller.actor(), "bayesian_update", &target, "", json!(req))
        .await?;
    Ok(ApiJson(StatusResponse::new("updated")))
}

/// Restarts the engine's random stream from the given seed (see `Engine::reseed`), so that a
/// run in its own namespace (`eval --api`) decides as the in-process engine with that seed.
#[utoipa::path(post, path = "/engine/seed",
    summary = "Restart the engine's random stream (jitter, exploration) from a seed (operator)",
    request_body = EngineSeed,
    responses((status = 200, description = "the seed now in use", body = EngineSeed)))]
async fn reseed(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EngineSeed>,
) -> ApiResult<ApiJson<EngineSeed>> {
    caller.require(Access::Operate)?;
    state.engine.lock().reseed(req.seed);
    state
        .audit(&caller.actor(), "engine_seed", "engine", "", json!(req))
        .await?;
    Ok(ApiJson(req))
}
