//! `POST /failures`: record a failed attempt, get the recommendation and put the job on the
//! retry schedule in one call.

use crate::model::{FailureReport, FailureResponse};
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_failure))
}

/// The report's `timestamp` (or now) places the failure in time, so a client in virtual time
/// gets `next_attempt_at` on its own clock.
#[utoipa::path(post, path = "/failures",
    summary = "Record a failure, get the recommendation, schedule the retry (worker)",
    request_body = FailureReport,
    responses(
        (status = 200, description = "the job as scheduled", body = FailureResponse),
        (status = 409, description = "the report names a lease (`claimed_by`, `lease_until`) that no longer holds; nothing was applied", body = crate::model::ErrorBody)))]
async fn record_failure(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(report): ApiJson<FailureReport>,
) -> ApiResult<ApiJson<FailureResponse>> {
    caller.require(Access::Work)?;
    report.validate()?;
    let job = state.record_failure(&report).await?;
    Ok(ApiJson(FailureResponse {
        job_id: job.job_id,
        next_attempt_at: job.next_attempt_at,
        state: job.state,
        recommendation: job.recommendation,
    }))
}
