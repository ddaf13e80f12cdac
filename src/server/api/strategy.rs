//! `GET /strategy`, `PUT /strategy` (replace, or with `dry_run=true` validate and diff only),
//! `PUT /guardrails` (merge over the current ones,
//! so an upstream client that knows only the upstream fields does not reset ours).

use crate::model::{
    PolicyGuardrails, RetryStrategy, StatusResponse, StrategyUpdate, diff, validate,
};
use crate::server::core::state::{AppState, Change};
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::{ApiJson, integral_floats_to_integers, path_error};
use crate::server::edge::query::parse_flag;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
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

/// `PUT /strategy` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReplaceQuery {
    /// `true`: validate and answer what would change, without applying anything.
    #[param(value_type = Option<bool>)]
    dry_run: Option<String>,
}

#[utoipa::path(put, path = "/strategy",
    summary = "Replace the strategy (operator); with dry_run=true only validate and diff",
    description = "With `dry_run=true` the body is validated exactly as for a real update, nothing is applied or audited, and the answer is `valid` \
        with the fields that would change (`path`, `before`, `after`); a real update answers \
        `{\"status\": \"updated\"}` as upstream.",
    params(ReplaceQuery),
    request_body = RetryStrategy,
    responses((status = 200, description = "updated, or valid (dry run)", body = StrategyUpdate)))]
async fn replace(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<ReplaceQuery>,
    ApiJson(new): ApiJson<RetryStrategy>,
) -> ApiResult<ApiJson<StrategyUpdate>> {
    caller.require(Access::Operate)?;
    if parse_flag("dry_run", q.dry_run.as_deref())? {
        validate::strategy(&new)?;
        let current = serde_json::to_value(state.engine.lock().strategy()).unwrap_or_default();
        let changes = diff::changes(&current, &serde_json::to_value(&new).unwrap_or_default());
        return Ok(ApiJson(StrategyUpdate {
            status: "valid".into(),
            dry_run: true,
            changes,
        }));
    }
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
    Ok(ApiJson(StrategyUpdate {
        status: "updated".into(),
        dry_run: false,
        changes: Vec::new(),
    }))
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
    let mut patch = patch;
    integral_floats_to_integers(&mut patch);
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
