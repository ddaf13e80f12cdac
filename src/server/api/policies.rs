//! `GET /policies`, `POST /policies` (add or replace by name), `DELETE /policies/{name}`.

use crate::model::{PolicyList, RetryPolicy, StatusResponse, validate};
use crate::server::core::state::{AppState, Change};
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::ApiJson;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(remove))
}

/// The policies in evaluation order (highest priority first).
#[utoipa::path(get, path = "/policies",
    summary = "Policies in evaluation order (viewer)",
    responses((status = 200, description = "`{\"policies\": [RetryPolicy]}`", body = PolicyList)))]
async fn list(caller: Caller, State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Access::Read)?;
    let mut policies = state.engine.lock().strategy().policies.clone();
    policies.sort_by_key(|p| std::cmp::Reverse(p.priority));
    Ok(Json(json!({ "policies": policies })))
}

#[utoipa::path(post, path = "/policies",
    summary = "Add or replace a policy by name (operator)",
    request_body = RetryPolicy,
    responses((status = 200, description = "added", body = StatusResponse)))]
async fn add(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(policy): ApiJson<RetryPolicy>,
) -> ApiResult<ApiJson<StatusResponse>> {
    caller.require(Access::Operate)?;
    validate::policy(&policy)?;
    state
        .update_strategy(&caller.actor(), "", |strategy| {
            let detail = serde_json::to_value(&policy).unwrap_or_default();
            let target = policy.name.clone();
            strategy.policies.retain(|p| p.name != policy.name);
            strategy.policies.push(policy);
            Ok(Change {
                action: "policy_add",
                target,
                detail,
            })
        })
        .await?;
    Ok(ApiJson(StatusResponse::new("added")))
}

#[utoipa::path(delete, path = "/policies/{name}",
    summary = "Remove a policy (operator)",
    params(("name" = String, Path, description = "the policy's name")),
    responses((status = 200, description = "removed", body = StatusResponse)))]
async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<ApiJson<StatusResponse>> {
    caller.require(Access::Operate)?;
    state
        .update_strategy(&caller.actor(), "", |strategy| {
            let before = strategy.policies.len();
            strategy.policies.retain(|p| p.name != name);
            if strategy.policies.len() == before {
                return Err(ApiError::not_found("no such policy")
                    .with_details(format!("name: no policy named {name:?}")));
            }
            Ok(Change {
                action: "policy_remove",
                target: name.clone(),
                detail: serde_json::Value::Null,
            })
        })
        .await?;
    Ok(ApiJson(StatusResponse::new("removed")))
}
