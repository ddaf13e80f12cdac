//! `POST /recommendation` and `POST /preview`.

use crate::model::{FieldError, PreviewRequest, RetryFeatures, RetryPreview, RetryRecommendation};
use crate::server::core::ingest::LedgerDown;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::ApiJson;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most attempts a preview plans (keeps one request's work bounded).
pub const MAX_PREVIEW_ATTEMPTS: u32 = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(recommendation))
        .routes(routes!(preview))
}

/// What to do after the failed attempt in the body; consumes retry budget when it says retry.
#[utoipa::path(post, path = "/recommendation",
    summary = "What to do after a failed attempt (worker)",
    request_body = RetryFeatures,
    responses((status = 200, description = "the recommendation", body = RetryRecommendation)))]
async fn recommendation(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(features): ApiJson<RetryFeatures>,
) -> ApiResult<ApiJson<RetryRecommendation>> {
    caller.require(Access::Work)?;
    features.validate()?;
    let now = state.now();
    // On a shared store the budgets are shared; when it does not answer, the answer is paced
    // by this replica's own counters (recommendations keep coming from memory).
    let rec = state
        .recommend_paced(&features, now, LedgerDown::PaceLocally)
        .await?;
    Ok(ApiJson(rec))
}

/// The whole planned schedule; consumes nothing, so every role may ask.
#[utoipa::path(post, path = "/preview",
    summary = "The whole planned retry schedule, consuming no budget (any role)",
    request_body(content = PreviewRequest, description = "`max_attempts` at most 100"),
    responses((status = 200, description = "the planned timeline", body = RetryPreview)))]
async fn preview(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> ApiResult<ApiJson<RetryPreview>> {
    caller.require(Access::Any)?;
    req.features
        .validate()
        .map_err(|e| FieldError::new(format!("features.{}", e.field), e.message))?;
    if req.max_attempts > MAX_PREVIEW_ATTEMPTS {
        return Err(ApiError::bad_request(format!(
            "max_attempts: at most {MAX_PREVIEW_ATTEMPTS} (got {})",
            req.max_attempts
        )));
    }
    let now = state.now();
    let preview = state
        .engine
        .lock()
        .preview(&req.features, req.max_attempts, now);
    Ok(ApiJson(preview))
}
