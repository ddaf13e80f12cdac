//! `GET /strategy`, `PUT /strategy` (replace), `PUT /guardrails` (merge over the current ones,
//! so an upstream client that knows only the upstream fields does not reset ours).

use crate::model::{PolicyGuardrails, RetryStrategy, StatusResponse};
use crate::server::core::state::{AppState, Change};
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::{ApiJson, path_error};
use axum::extract::State;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current, replace))
        .routes(routes!(guardrails))
}

#[utoipa::path(get, path = "/strategy",
    summary = "The active strategy (viewer)",
    responses((status = 200, description = "the strategy", body = RetryStrategy)))]
async fn current(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<ApiJson<RetryStrategy>> {
    caller.require(Access::Read)?;
    Ok(ApiJson(state.engine.lock().strategy().clone()))
}

#[utoipa::path(put, path = "/strategy",
    summary = "Replace the strategy (operator)",
    request_body = RetryStrategy,
    responses((status = 200, description = "updated", body = StatusResponse)))]
async fn replace(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<RetryStrategy>,
) -> ApiResult<ApiJson<StatusResponse>> {
    caller.require(Access::Operate)?;
    state
        .update_strategy(&caller.actor(), "", |strategy| {
            let detail = serde_json::to_value(&new).unwrap_or_default();
            let target = new.name.clone();
            *strategy = new;
            Ok(Change {
                action: "strategy",
                target,
                detail,
            })
        })
        .await?;
    Ok(ApiJson(StatusResponse::new("updated")))
}

#[utoipa::path(put, path = "/guardrails",
    summary = "Change the guardrails: the fields sent are merged over the current ones (operator)",
    request_body = PolicyGuardrails,
    responses((status = 200, description = "updated", body = StatusResponse)))]
async fn guardrails(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<ApiJson<StatusResponse>> {
    caller.require(Access::Operate)?;
    state
        .update_strategy(&caller.actor(), "", |strategy| {
            let mut merged = serde_json::to_value(&strategy.guardrails).unwrap_or_default();
            merge(&mut merged, patch.clone());
            let guardrails: PolicyGuardrails =
                serde_path_to_error::deserialize(merged).map_err(path_error)?;
            strategy.guardrails = guardrails;
            Ok(Change {
                action: "guardrails",
                target: "guardrails".into(),
                detail: patch,
            })
        })
        .await?;
    Ok(ApiJson(StatusResponse::new("updated")))
}

/// Deep-merges JSON objects; any other value replaces what was there.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_what_the_patch_does_not_name() {
        let mut base = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge(&mut base, json!({"b": {"c": 9}, "e": [2, 3]}));
        assert_eq!(base, json!({"a": 1, "b": {"c": 9, "d": 3}, "e": [2, 3]}));
    }
}
