//! `GET /alerts` and `POST /alerts/{id}/ack`. The service raises and resolves alerts itself
//! (`core::alerts`); here they are listed and acknowledged.

use crate::model::{ActionRequest, Alert};
use crate::server::core::AppState;
use crate::server::edge::{Access, ApiError, ApiJson, ApiResult, Caller};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(ack))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `true`: only alerts whose condition holds now.
    active: Option<bool>,
}

/// Active alerts first (most severe first), then resolved ones.
#[utoipa::path(get, path = "/alerts",
    summary = "Alerts, active first (viewer)",
    params(ListQuery),
    responses((status = 200, description = "the alerts", body = Vec<Alert>)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<ApiJson<Vec<Alert>>> {
    caller.require(Access::Read)?;
    let mut alerts = state.ops.lock().alert_list();
    if q.active == Some(true) {
        alerts.retain(|a| a.active);
    }
    Ok(ApiJson(alerts))
}

#[utoipa::path(post, path = "/alerts/{id}/ack",
    summary = "Acknowledge an alert (operator)",
    params(("id" = String, Path, description = "the alert's id")),
    request_body(content = Option<ActionRequest>, description = "optional: the reason"),
    responses((status = 200, description = "the acknowledged alert", body = Alert)))]
async fn ack(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ApiJson<Alert>> {
    caller.require(Access::Operate)?;
    let reason = super::jobs::action_body(&body)?.reason;
    let now = state.now();
    let acked = {
        let mut ops = state.ops.lock();
        let alert = ops.alerts.get_mut(&id).ok_or_else(|| {
            ApiError::not_found("no such alert").with_details(format!("id: no alert {id:?}"))
        })?;
        alert.acked_at = Some(now);
        alert.acked_by = Some(caller.actor());
        alert.clone()
    };
    state.store_write(state.store.put_alert(&acked).await)?;
    state
        .audit(
            &caller.actor(),
            "alert_ack",
            &id,
            &reason,
            json!({ "active": acked.active }),
        )
        .await?;
    Ok(ApiJson(acked))
}
