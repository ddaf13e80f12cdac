//! The retry schedule: `GET /jobs`, `GET /jobs/{id}`, the operator actions on one job
//! (override, apply, retry-now, kill) and `POST /claim` for workers.
//!
//! Every operator action is audited with the caller as actor, counted in the metrics and sent
//! to the event stream.

use crate::model::{
    ActionRequest, ClaimRequest, ClaimResponse, FieldError, JobDetail, JobOverride, JobPage,
    JobState, OverrideRequest, RetryFeatures, RetryPreview, RetryRecommendation, ScheduledJob,
};
use crate::server::core::events::kind;
use crate::server::core::ingest::LedgerDown;
use crate::server::core::schedule::{self, lease_end};
use crate::server::core::state::AppState;
use crate::server::core::{circuits, pauses};
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::{ApiJson, parse_json, require_object};
use crate::server::edge::query::parse_limit;
use crate::store::{Claim, JobFilter};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Page size of `GET /jobs` when none is given, and the largest allowed.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 1_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(detail))
        .routes(routes!(plan))
        .routes(routes!(override_delay))
        .routes(routes!(apply))
        .routes(routes!(retry_now))
        .routes(routes!(kill))
        .routes(routes!(claim))
}

/// `GET /jobs` query; numbers and states are parsed by hand so a bad one is named.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only jobs of this queue.
    queue: Option<String>,
    /// Only jobs in this state.
    #[param(value_type = Option<JobState>, inline)]
    state: Option<String>,
    /// Only jobs whose last failure had this error class.
    error_class: Option<String>,
    /// Only jobs of this job type.
    job_type: Option<String>,
    /// Only jobs of this tenant.
    tenant: Option<String>,
    /// Only jobs whose id or last error contains this text.
    text: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<CursorParam>, inline)]
    cursor: Option<String>,
    /// Page size, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[utoipa::path(get, path = "/jobs",
    summary = "The retry schedule, one page (viewer)",
    params(ListQuery),
    responses((status = 200, description = "one page of jobs", body = JobPage)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<ApiJson<JobPage>> {
    caller.require(Access::Read)?;
    let filter = JobFilter {
        queue: q.queue.filter(|s| !s.is_empty()),
        state: q.state.as_deref().map(parse_state).transpose()?,
        error_class: q.error_class.filter(|s| !s.is_empty()),
        job_type: q.job_type.filter(|s| !s.is_empty()),
        tenant: q.tenant.filter(|s| !s.is_empty()),
        text: q.text.filter(|s| !s.is_empty()),
        cursor: q.cursor.filter(|s| !s.is_empty()),
        limit: parse_limit(q.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?,
    };
    Ok(ApiJson(
        state.store_read(state.store.list_jobs(filter).await)?,
    ))
}

pub(super) fn parse_state(text: &str) -> Result<JobState, FieldError> {
    serde_json::from_value(json!(text)).map_err(|_| {
        FieldError::new(
            "state",
            format!(
                "unknown state {text:?}: one of scheduled, claimed, succeeded, exhausted, killed"
            ),
        )
    })
}

#[utoipa::path(get, path = "/jobs/{id}",
    summary = "One job: attempts and planned timeline (viewer)",
    params(("id" = String, Path, description = "the job's id")),
    responses((status = 200, description = "the job", body = JobDetail)))]
async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<JobDetail>> {
    caller.require(Access::Read)?;
    let job = find_job(&state, &id).await?;
    let attempts = state.store_read(state.store.job_attempts(&id).await)?;
    let timeline = job_plan(&state, &job).timeline;
    Ok(ApiJson(JobDetail {
        job,
        attempts,
        timeline,
    }))
}

#[utoipa::path(get, path = "/jobs/{id}/preview",
    summary = "One job's plan from its scheduled next attempt on (viewer)",
    description = "The first step is the job's next attempt as scheduled (its recommendation, \
        the static backoff applied to it, or an operator's override, marked `overridden`); the \
        rest is what the engine would recommend after each further failure. A finished job \
        has an empty timeline.",
    params(("id" = String, Path, description = "the job's id")),
    responses((status = 200, description = "the job's plan", body = RetryPreview)))]
async fn plan(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<RetryPreview>> {
    caller.require(Access::Read)?;
    let job = find_job(&state, &id).await?;
    Ok(ApiJson(job_plan(&state, &job)))
}

/// The job's plan; a finished job has no next attempt, so nothing is planned. A pause that
/// holds the job moves its plan to the pause's end; a pause or a circuit forced open that holds
/// it is named in its first step.
fn job_plan(state: &AppState, job: &ScheduledJob) -> RetryPreview {
    if job.state.is_pending() {
        let (mut plan, forced) = {
            let engine = state.engine.lock();
            (engine.job_plan(job), engine.forced_circuits())
        };
        let now = state.now();
        pauses::hold_plan(&mut plan, &state.ops.pauses.active(now), job, now);
        circuits::hold_plan(&mut plan, &forced, job);
        return plan;
    }
    RetryPreview {
        job_id: job.job_id.clone(),
        current_attempt: job.attempt_number,
        features: job.features(),
        recommendations: Vec::new(),
        timeline: Vec::new(),
        generated_at: job.updated_at,
    }
}

async fn find_job(state: &AppState, id: &str) -> ApiResult<ScheduledJob> {
    state
        .store_read(state.store.get_job(id).await)?
        .ok_or_else(|| {
            ApiError::not_found("no such job")
                .with_details(format!("job_id: no job {id:?} on the schedule"))
        })
}

/// Loads a pending job for an operator action (404 unknown, 409 finished).
async fn pending_job(state: &AppState, id: &str) -> ApiResult<ScheduledJob> {
    let job = find_job(state, id).await?;
    schedule::ensure_pending(&job).map_err(|e| ApiError::conflict(e.to_string()))?;
    Ok(job)
}

#[utoipa::path(post, path = "/jobs/{id}/override",
    summary = "Set the next attempt's time (operator; reason required)",
    params(("id" = String, Path, description = "the job's id")),
    request_body = OverrideRequest,
    responses((status = 200, description = "the job as rescheduled", body = ScheduledJob)))]
async fn override_delay(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OverrideRequest>,
) -> ApiResult<ApiJson<ScheduledJob>> {
    caller.require(Access::Operate)?;
    let now = state.now();
    let (at, delay_ms) = schedule::resolve_override(&req, now)?;
    let _job_lock = state.ops.lock_job(&id).await;
    let job = pending_job(&state, &id).await?;
    let ov = JobOverride {
        delay_ms,
        at,
        reason: req.reason.clone(),
        actor: caller.actor(),
        created_at: now,
    };
    let updated = schedule::overridden(&job, ov);
    let detail = json!({ "delay_ms": delay_ms, "at": at, "previous": job.next_attempt_at });
    let message = format!(
        "{} overrode the next attempt to {at} ({delay_ms} ms): {}",
        caller.actor(),
        req.reason
    );
    commit_action(
        &state,
        &caller,
        Action {
            name: kind::OVERRIDE,
            reason: &req.reason,
            detail,
            message,
        },
        updated,
    )
    .await
}

/// An operator action: its audit name, the caller's reason, what changed, the event text.
struct Action<'a> {
    name: &'static str,
    reason: &'a str,
    detail: serde_json::Value,
    message: String,
}

/// Stores the changed job, then audits, counts and announces the action.
async fn commit_action(
    state: &AppState,
    caller: &Caller,
    action: Action<'_>,
    job: ScheduledJob,
) -> ApiResult<ApiJson<ScheduledJob>> {
    state.save_job(job.clone()).await?;
    state
        .audit(
            &caller.actor(),
            action.name,
            &job.job_id,
            action.reason,
            action.detail,
        )
        .await?;
    state.metrics.record_override();
    let now = state.now();
    state
        .ops
        .lock()
        .events
        .push(now, action.name, Some(&job.job_id), action.message);
    Ok(ApiJson(job))
}

crate::model::params::param_schema!(
    /// `cursor`: what `JobSortKey::encode` makes, or empty (the first page).
    CursorParam => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(format!("^$|{}", crate::store::JobSortKey::CURSOR_PATTERN)))
);

/// The optional body of apply / retry-now / kill and alert ack: an empty body or JSON `null`
/// (the document's "no body") is no reason.
pub(super) fn action_body(body: &Bytes) -> ApiResult<ActionRequest> {
    if body.is_empty() {
        return Ok(ActionRequest::default());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body: only whitespace, which is not JSON; send a JSON object or no body",
        ));
    }
    require_object(body)?;
    Ok(parse_json::<Option<ActionRequest>>(body)?.unwrap_or_default())
}

/// What an operator action changes: the new job, the audit detail and the event text.
type Change = (ScheduledJob, serde_json::Value, String);

/// The shared path of apply / retry-now / kill: operators only, the job locked and still
/// pending; `change` decides the new job and what to record.
async fn act_on_pending(
    caller: Caller,
    state: AppState,
    id: String,
    body: Bytes,
    name: &'static str,
    change: impl FnOnce(&AppState, &Caller, &ScheduledJob, &ActionRequest) -> Change,
) -> ApiResult<ApiJson<ScheduledJob>> {
    caller.require(Access::Operate)?;
    let req = action_body(&body)?;
    let _job_lock = state.ops.lock_job(&id).await;
    let job = pending_job(&state, &id).await?;
    let (updated, detail, message) = change(&state, &caller, &job, &req);
    let action = Action {
        name,
        reason: &req.reason,
        detail,
        message,
    };
    commit_action(&state, &caller, action, updated).await
}

#[utoipa::path(post, path = "/jobs/{id}/apply",
    summary = "Apply the current (or static) recommendation (operator)",
    params(("id" = String, Path, description = "the job's id")),
    request_body(content = Option<ActionRequest>, description = "optional: reason, use_static"),
    responses((status = 200, description = "the job as rescheduled", body = ScheduledJob)))]
async fn apply(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ApiJson<ScheduledJob>> {
    caller.require(Access::Operate)?;
    let req = action_body(&body)?;
    let _job_lock = state.ops.lock_job(&id).await;
    let job = pending_job(&state, &id).await?;
    let now = state.now();
    let features = job.features();
    // Paced like any recommendation: on a shared store, in the counters every replica shares.
    let rec = if req.use_static {
        static_recommendation(&state, &features, now)
    } else {
        state
            .recommend_paced(&features, now, LedgerDown::Fail)
            .await?
    };
    let (updated, detail, message) = applied(&caller, &job, req.use_static, rec, now);
    let action = Action {
        name: kind::APPLY,
        reason: &req.reason,
        detail,
        message,
    };
    commit_action(&state, &caller, action, updated).await
}

fn static_recommendation(
    state: &AppState,
    features: &RetryFeatures,
    now: DateTime<Utc>,
) -> RetryRecommendation {
    state.engine.lock().static_recommendation(features, now)
}

/// The job rescheduled by the recommendation an operator applied, with what to record.
fn applied(
    caller: &Caller,
    job: &ScheduledJob,
    use_static: bool,
    rec: RetryRecommendation,
    now: DateTime<Utc>,
) -> Change {
    let detail = json!({ "use_static": use_static, "method": rec.method, "delay_ms": rec.delay_ms, "should_retry": rec.should_retry });
    let message = format!(
        "{} applied the {} recommendation: {}",
        caller.actor(),
        rec.method.as_str(),
        if rec.should_retry {
            format!("retry in {} ms", rec.delay_ms)
        } else {
            "stop".into()
        }
    );
    (schedule::rescheduled(job, rec, now), detail, message)
}

#[utoipa::path(post, path = "/jobs/{id}/retry-now",
    summary = "Make the job due now (operator)",
    params(("id" = String, Path, description = "the job's id")),
    request_body(content = Option<ActionRequest>, description = "optional: the reason"),
    responses((status = 200, description = "the job, due now", body = ScheduledJob)))]
async fn retry_now(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ApiJson<ScheduledJob>> {
    act_on_pending(
        caller,
        state,
        id,
        body,
        kind::RETRY_NOW,
        |state, caller, job, _| {
            let detail = json!({ "previous": job.next_attempt_at });
            let message = format!("{} made the job due now", caller.actor());
            (schedule::due_now(job, state.now()), detail, message)
        },
    )
    .await
}

#[utoipa::path(post, path = "/jobs/{id}/kill",
    summary = "Stop retrying the job (operator)",
    params(("id" = String, Path, description = "the job's id")),
    request_body(content = Option<ActionRequest>, description = "optional: the reason"),
    responses((status = 200, description = "the job, killed", body = ScheduledJob)))]
async fn kill(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ApiJson<ScheduledJob>> {
    act_on_pending(
        caller,
        state,
        id,
        body,
        kind::KILL,
        |state, caller, job, _| {
            let detail =
                json!({ "previous_state": job.state, "attempt_number": job.attempt_number });
            let message = format!("{} killed the job", caller.actor());
            (schedule::killed(job, state.now()), detail, message)
        },
    )
    .await
}

/// Workers take due retries with a lease; a job whose lease ran out is due again, so a worker
/// that died does not lose it (at-least-once).
#[utoipa::path(post, path = "/claim",
    summary = "Claim due retries with a lease (worker; at-least-once)",
    request_body = ClaimRequest,
    responses((status = 200, description = "the claimed jobs", body = ClaimResponse)))]
async fn claim(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ClaimRequest>,
) -> ApiResult<ApiJson<ClaimResponse>> {
    caller.require(Access::Work)?;
    schedule::validate_claim(&req)?;
    let now = req.now.unwrap_or_else(|| state.now());
    let claim = Claim {
        worker: req.worker.clone(),
        now,
        lease_until: lease_end(now, req.lease_ms),
        limit: req.limit,
        queue: req.queue.clone().filter(|q| !q.is_empty()),
        paused: state.held_scopes(),
    };
    let jobs = state.store_write(state.store.claim_due(claim).await)?;
    if !jobs.is_empty() {
        let mut ops = state.ops.lock();
        let wall = state.now();
        for job in &jobs {
            let message = format!(
                "claimed by {} (attempt {})",
                req.worker,
                job.attempt_number.saturating_add(1)
            );
            ops.events
                .push(wall, kind::CLAIMED, Some(&job.job_id), message);
        }
    }
    Ok(ApiJson(ClaimResponse { jobs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_body_is_nothing_or_json_never_bare_whitespace() {
        assert_eq!(
            action_body(&Bytes::new()).unwrap(),
            ActionRequest::default()
        );
        assert_eq!(
            action_body(&Bytes::from_static(b"null")).unwrap(),
            ActionRequest::default()
        );
        let e = action_body(&Bytes::from_static(b"\n")).unwrap_err();
        assert!(e.details.unwrap_or_default().contains("only whitespace"));
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_http_job_state_is_known_or_named(text in crate::fuzz::hostile_text()) {
            if let Err(e) = parse_state(&text) {
                proptest::prop_assert!(e.field == "state", "{e:?}");
                proptest::prop_assert!(e.message.contains(&format!("{text:?}")), "{e:?}");
            }
        }

        #[test]
        fn fuzz_http_action_bodies_parse_or_say_why(bytes in crate::fuzz::hostile_bytes()) {
            if let Err(e) = action_body(&Bytes::from(bytes)) {
                proptest::prop_assert!(!e.details.unwrap_or_default().trim().is_empty());
            }
        }
    }
}
