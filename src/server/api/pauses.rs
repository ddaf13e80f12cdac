//! Pauses: `POST /pauses` (pause a queue, or one error class or job type on it, for a while or
//! until resumed), `GET /pauses` (those in force), `DELETE /pauses/{id}?reason=…` (resume).

use crate::model::{Pause, PauseRequest};
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(resume))
}

#[utoipa::path(post, path = "/pauses",
    summary = "Pause a queue, or an error class or job type on it (operator; reason required)",
    description = "While the pause holds, `/claim` does not hand out the scope's due jobs and a \
        new failure in the scope is scheduled no earlier than the pause's end; a pause never \
        makes the service give a job up. `until` (RFC 3339, in the future) or `for` (e.g. \
        `\"10m\"`, at most 30 days) sets the end; without either it lasts until resumed. \
        Stored (survives a restart), audited as `pause`, ended on its own at `until` (audited \
        as `pause_expired`).",
    request_body = PauseRequest,
    responses((status = 200, description = "the pause, with its id", body = Pause)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PauseRequest>,
) -> ApiResult<ApiJson<Pause>> {
    caller.require(Access::Operate)?;
    Ok(ApiJson(state.pause(&caller.actor(), &req).await?))
}

#[utoipa::path(get, path = "/pauses",
    summary = "The pauses in force, oldest first (viewer)",
    responses((status = 200, description = "the pauses in force", body = Vec<Pause>)))]
async fn list(caller: Caller, State(state): State<AppState>) -> ApiResult<ApiJson<Vec<Pause>>> {
    caller.require(Access::Read)?;
    Ok(ApiJson(state.ops.pauses.active(state.now())))
}

/// `DELETE /pauses/{id}` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ResumeQuery {
    /// Required: why the scope is resumed (goes to the audit log).
    #[param(required = true, value_type = crate::model::params::NonBlankParam, inline)]
    reason: Option<String>,
}

#[utoipa::path(delete, path = "/pauses/{id}",
    summary = "Resume a paused scope now (operator; reason required)",
    description = "The scope's due jobs are handed out again at the next claim. Audited as \
        `resume` with the reason.",
    params(("id" = String, Path, description = "the pause's id"), ResumeQuery),
    responses(
        (status = 200, description = "the pause that ended", body = Pause),
        (status = 404, description = "no pause in force has this id")))]
async fn resume(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ResumeQuery>,
) -> ApiResult<ApiJson<Pause>> {
    caller.require(Access::Operate)?;
    Ok(ApiJson(
        state
            .resume(
                &caller.actor(),
                &id,
                q.reason.as_deref().unwrap_or_default(),
            )
            .await?,
    ))
}
