//! The ML tier: `POST /ml/train` (upstream `MLTrainingConfig` → upstream `MLModel`, or with
//! `"async": true` a job for `GET /ml/jobs/{id}`), `GET /ml/models`, `POST /ml/deploy`
//! (upstream body or ours), `POST /ml/rollback`. The lifecycle is in the core's `ml`.

use crate::engine::TrainRequest;
use crate::model::{
    ErrorBody, MLModel, MLTrainingConfig, MlDeployRequest, MlDeployed, MlJob, MlJobState, MlModels,
};
use crate::server::core::ml;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::ApiJson;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(train))
        .routes(routes!(job))
        .routes(routes!(models))
        .routes(routes!(deploy))
        .routes(routes!(rollback))
}

/// Trains a model on the recorded attempts, off the request path, one training at a time.
#[utoipa::path(post, path = "/ml/train",
    summary = "Train an ML model version on the recorded attempts (operator)",
    description = "Forward-chaining cross-validation, then the most recent `validation_set` share of retries held out; metrics beside the Bayesian tier's on the same rows. The new version is a candidate: nothing serves it until `POST /ml/deploy`. Needs at least 100 recorded retries (422 otherwise).",
    request_body = MLTrainingConfig,
    responses(
        (status = 200, description = "the trained version (upstream MLModel; `metadata` holds every metric)", body = MLModel),
        (status = 202, description = "with `async`: the training job", body = MlJob),
        (status = 409, description = "a training is already running", body = ErrorBody),
        (status = 422, description = "training failed (too few retries, one outcome only, solver); nothing changed", body = ErrorBody)))]
async fn train(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(config): ApiJson<MLTrainingConfig>,
) -> ApiResult<Response> {
    caller.require(Access::Operate)?;
    let req = TrainRequest::from_config(&config)?;
    let (job, handle) = ml::start_training(&state, req, &caller.actor()).await?;
    if config.run_async {
        return Ok((StatusCode::ACCEPTED, ApiJson(job)).into_response());
    }
    let done = handle
        .await
        .map_err(|e| ApiError::internal(&format!("training task: {e}")))?;
    match (done.state, done.model) {
        (MlJobState::Succeeded, Some(version)) => {
            let bytes = state.store_read(state.store.ml_model(&version.version).await)?;
            Ok(ApiJson(ml::upstream_model(&version, bytes.as_deref())).into_response())
        }
        _ => Err(training_failed(done.error.unwrap_or_default())),
    }
}

fn training_failed(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "training failed").with_details(message)
}

#[utoipa::path(get, path = "/ml/jobs/{id}",
    summary = "A training job: state, progress, and the version it trained (viewer)",
    params(("id" = String, Path, description = "the job id `POST /ml/train` gave", pattern = "^train-[0-9]{1,19}$")),
    responses(
        (status = 200, description = "the job", body = MlJob),
        (status = 404, description = "no such job", body = ErrorBody)))]
async fn job(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<MlJob>> {
    caller.require(Access::Read)?;
    state.ml.job(&id).map(ApiJson).ok_or_else(|| {
        ApiError::not_found("no such training job")
            .with_details(format!("no training job {id:?} (the last 100 are kept)"))
    })
}

#[utoipa::path(get, path = "/ml/models",
    summary = "Every stored ML model version with its state and metrics, newest first (viewer)",
    responses((status = 200, description = "the versions", body = MlModels)))]
async fn models(caller: Caller, State(state): State<AppState>) -> ApiResult<ApiJson<MlModels>> {
    caller.require(Access::Read)?;
    let models = state.store_read(state.store.list_ml_versions().await)?;
    Ok(ApiJson(MlModels { models }))
}

/// `POST /ml/deploy` body: ours, or the upstream `{model, canary_percent}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum DeployBody {
    Ours(MlDeployRequest),
    Upstream(UpstreamDeploy),
}

/// The upstream deploy body: the model named by its version; `canary_percent` 0 or 100 serves
/// every job.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct UpstreamDeploy {
    model: MLModel,
    #[schema(minimum = 0.0, maximum = 100.0)]
    canary_percent: f64,
}

#[utoipa::path(post, path = "/ml/deploy",
    summary = "Deploy an ML model version: active, canary or shadow (operator)",
    description = "Refused (409, with the numbers) unless, on the held-out slice, the version's log-loss is below the Bayesian tier's on the same retries and the expected cost (`[engine.cost]`) of its recommended delays is not above the Bayesian tier's on the same episodes (outcomes inferred from each episode's recorded attempts); `force` deploys anyway (audited). A canary serves the jobs whose id hashes into `canary_percent`; the rest go to the Bayesian tier. A shadow scores every request beside the served answer and is never served. The version that served before is retired.",
    request_body = DeployBody,
    responses(
        (status = 200, description = "what serves and shadows now", body = MlDeployed),
        (status = 404, description = "no such version", body = ErrorBody),
        (status = 409, description = "refused by the deploy gate: forecasts or decisions worse than the Bayesian tier's on the held-out slice", body = ErrorBody)))]
async fn deploy(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DeployBody>,
) -> ApiResult<ApiJson<MlDeployed>> {
    caller.require(Access::Operate)?;
    let req = match body {
        DeployBody::Ours(req) => req,
        DeployBody::Upstream(up) => MlDeployRequest {
            version: up.model.version,
            canary_percent: Some(up.canary_percent),
            shadow: false,
            force: false,
            reason: String::new(),
        },
    };
    check_percent(req.canary_percent)?;
    Ok(ApiJson(ml::deploy(&state, req, &caller.actor()).await?))
}

fn check_percent(p: Option<f64>) -> ApiResult<()> {
    match p {
        Some(p) if !(0.0..=100.0).contains(&p) || !p.is_finite() => Err(ApiError::bad_request(
            format!("canary_percent: must be in [0, 100] (got {p})"),
        )),
        _ => Ok(()),
    }
}

#[utoipa::path(post, path = "/ml/rollback",
    summary = "Retire the serving ML version; the previous one serves again, or none (operator)",
    responses(
        (status = 200, description = "what serves now", body = MlDeployed),
        (status = 409, description = "no ML version is serving", body = ErrorBody)))]
async fn rollback(caller: Caller, State(state): State<AppState>) -> ApiResult<ApiJson<MlDeployed>> {
    caller.require(Access::Operate)?;
    Ok(ApiJson(ml::rollback(&state, &caller.actor()).await?))
}
