//! `POST /jobs/bulk`: one operator action on every job a filter matches (the work is in
//! [`crate::server::core::bulk`]).

use crate::model::{BulkRequest, BulkResult};
use crate::server::core::bulk;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bulk_action))
}

#[utoipa::path(post, path = "/jobs/bulk",
    summary = "Act on every job a filter matches (operator; reason required)",
    description = "The filter takes the fields of `GET /jobs`. Pending jobs are changed as the \
        single-job actions would change them, in one pass and one store write; finished jobs \
        are listed in `skipped`. With `dry_run` nothing changes and the counts say what would. \
        An action that would change more jobs than the service's `bulk_confirm_over` needs \
        `confirm` of at least that count (409 naming the count otherwise). The dry run answers \
        with `as_of`, the latest first failure among the matched jobs; sent back with the \
        action, it leaves out jobs that failed for the first time after the count (counted in \
        `arrived_after`), so a queue still failing does not grow the set confirmed. One audit \
        entry names the filter, the action and the counts; each changed job gets an event.",
    request_body = BulkRequest,
    responses(
        (status = 200, description = "what changed (or would)", body = BulkResult),
        (status = 409, description = "confirm missing or below the count of jobs that would change")))]
async fn bulk_action(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BulkRequest>,
) -> ApiResult<ApiJson<BulkResult>> {
    caller.require(Access::Operate)?;
    let plan = bulk::plan(req)?;
    Ok(ApiJson(bulk::run(&state, &caller.actor(), plan).await?))
}
