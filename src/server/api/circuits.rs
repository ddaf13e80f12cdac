//! Circuits from the API: `POST /circuits/{queue}/{error_class}` (force open or closed with a
//! reason, or release with `auto`) and `GET /circuits` (those not in their normal state).

use crate::model::{CircuitForceRequest, CircuitForceResult, CircuitView};
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(force))
        .routes(routes!(list))
}

#[utoipa::path(post, path = "/circuits/{queue}/{error_class}",
    summary = "Force a circuit open or closed, or release it (operator; reason required)",
    description = "`open`: every retry into (queue, error class) is deferred by at least the \
        breaker's `open_ms`, and `/claim` holds the circuit's due jobs until it is released: a \
        forced circuit delays jobs, it never gives one up. `closed`: the breaker does not open \
        for the circuit (an open breaker is closed). `auto`: release, the breaker decides \
        again from its window. Stored (survives a restart), audited as `circuit_forced` or \
        `circuit_released` (kind `circuit` in `GET /changes`), shown in `/summary`'s circuits \
        (`forced`), `GET /circuits`, the rationale of a deferred recommendation and the \
        `retryctl_circuits_forced` gauge. A request that changes nothing answers \
        `changed: false` and is not audited.",
    params(
        ("queue" = inline(crate::model::params::NonBlankParam), Path, description = "the circuit's queue"),
        ("error_class" = inline(crate::model::params::NonBlankParam), Path, description = "the circuit's error class")),
    request_body = CircuitForceRequest,
    responses(
        (status = 200, description = "the circuit after the request", body = CircuitForceResult),
        (status = 400, description = "state or reason missing or wrong (the error names it)")))]
async fn force(
    caller: Caller,
    State(state): State<AppState>,
    Path((queue, error_class)): Path<(String, String)>,
    ApiJson(req): ApiJson<CircuitForceRequest>,
) -> ApiResult<ApiJson<CircuitForceResult>> {
    caller.require(Access::Operate)?;
    let actor = caller.actor();
    let result = state
        .force_circuit(&actor, &queue, &error_class, &req)
        .await?;
    Ok(ApiJson(result))
}

#[utoipa::path(get, path = "/circuits",
    summary = "Circuits not in their normal state: open or half open by the breaker, or forced (viewer)",
    responses((status = 200, description = "by queue then error class", body = Vec<CircuitView>)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<Vec<CircuitView>>> {
    caller.require(Access::Read)?;
    Ok(ApiJson(state.unusual_circuits(state.now())))
}
