//! `GET /engine/cost` and `PUT /engine/cost`: the cost weights the Bayesian tier minimises
//! (`[engine.cost]` at start-up). A change applies at once, is audited, and lasts until the
//! service restarts (the config file's weights are the ones a start uses).

use crate::model::CostWeights;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use axum::extract::State;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(cost, set_cost))
}

#[utoipa::path(get, path = "/engine/cost",
    summary = "The cost weights the Bayesian tier minimises (any role)",
    responses((status = 200, description = "the weights in use", body = CostWeights)))]
async fn cost(caller: Caller, State(state): State<AppState>) -> ApiResult<ApiJson<CostWeights>> {
    caller.require(Access::Any)?;
    let cost = state.engine.lock().settings().cost.clone();
    Ok(ApiJson(cost))
}

/// Every weight is needed (a missing one takes its default); each must be a finite number
/// ≥ 0 and a retry or a second of waiting must cost something.
#[utoipa::path(put, path = "/engine/cost",
    summary = "Set the cost weights the Bayesian tier minimises, until restart (operator)",
    request_body = CostWeights,
    responses((status = 200, description = "the weights now in use", body = CostWeights)))]
async fn set_cost(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(cost): ApiJson<CostWeights>,
) -> ApiResult<ApiJson<CostWeights>> {
    caller.require(Access::Operate)?;
    let before = state.engine.lock().settings().cost.clone();
    state.engine.lock().set_cost(cost.clone())?;
    let detail = json!({"before": before, "after": cost});
    state
        .audit(&caller.actor(), "engine_cost", "engine.cost", "", detail)
        .await?;
    Ok(ApiJson(cost))
}
