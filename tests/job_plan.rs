//! A job's plan (`GET /jobs/{id}` `timeline` and `GET /jobs/{id}/preview`): it starts at the
//! job's actual `next_attempt_at`, follows the method applied to that attempt (recommendation,
//! static backoff or override), and does not move between two reads.

use crate::common;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::Api;
use retryctl::model::{JobDetail, Method, RetryPreview, ScheduledJob};
use serde_json::{Value, json};

const JOBS: &str = "/api/v1/retry/jobs";

async fn fail(api: &Api, job: &str) -> Value {
    let body = json!({
        "job_id": job, "job_type": "email", "attempt_number": 1,
        "error_class": "timeout", "error_code": "504", "queue": "mail",
    });
    let (status, answer) = api.post("/api/v1/retry/failures", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn read<T: serde::de::DeserializeOwned>(api: &Api, path: &str) -> T {
    let (status, body) = api.get(path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    serde_json::from_value(body).unwrap()
}

async fn act(api: &Api, path: &str, body: Value) -> ScheduledJob {
    let (status, answer) = api.post(path, &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "POST {path}: {answer}");
    serde_json::from_value(answer).unwrap()
}

/// The detail's timeline and the preview endpoint agree, and both start at `next_attempt_at`.
async fn plan_of(api: &Api, job: &ScheduledJob) -> RetryPreview {
    let id = &job.job_id;
    let detail: JobDetail = read(api, &format!("{JOBS}/{id}")).await;
    let preview: RetryPreview = read(api, &format!("{JOBS}/{id}/preview")).await;
    assert_eq!(detail.timeline, preview.timeline);
    let first = &preview.timeline[0];
    let next: DateTime<Utc> = job.next_attempt_at.unwrap();
    assert_eq!(
        first.scheduled_time, next,
        "the plan starts at next_attempt_at"
    );
    assert_eq!(first.attempt_number, job.attempt_number + 1);
    preview
}

#[tokio::test]
async fn an_overridden_job_is_planned_from_its_override() {
    let api = Api::memory().await;
    fail(&api, "job-o").await;
    let body = json!({"delay": "5m", "reason": "dependency down"});
    let job = act(&api, &format!("{JOBS}/job-o/override"), body).await;
    let plan = plan_of(&api, &job).await;
    let first = &plan.timeline[0];
    assert!(first.overridden);
    assert_eq!(first.delay_ms, 300_000);
    assert!(first.rationale.contains("dependency down"), "{first:?}");
    assert!(
        plan.timeline.len() > 1,
        "attempts after the override are planned"
    );
    for pair in plan.timeline.windows(2) {
        assert!(pair[1].scheduled_time > pair[0].scheduled_time);
        assert!(pair[1].estimated_success >= pair[0].estimated_success);
        assert!(!pair[1].overridden);
    }
}

#[tokio::test]
async fn a_job_given_the_static_backoff_is_planned_from_it() {
    let api = Api::memory().await;
    fail(&api, "job-s").await;
    let body = json!({"use_static": true, "reason": "back to static"});
    let job = act(&api, &format!("{JOBS}/job-s/apply"), body).await;
    let plan = plan_of(&api, &job).await;
    let first = &plan.timeline[0];
    assert_eq!(first.method, Method::Static);
    assert_eq!(first.delay_ms, job.recommendation.delay_ms);
    assert!(!first.overridden);
}

#[tokio::test]
async fn the_plan_of_a_job_does_not_move_between_reads() {
    let api = Api::memory().await;
    fail(&api, "job-r").await;
    fail(&api, "job-other").await;
    let a: RetryPreview = read(&api, &format!("{JOBS}/job-r/preview")).await;
    // Another job's failure advances the engine's random state; job-r's plan must not move.
    fail(&api, "job-third").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let b: RetryPreview = read(&api, &format!("{JOBS}/job-r/preview")).await;
    assert_eq!(a.timeline, b.timeline);
}

#[tokio::test]
async fn a_finished_job_has_an_empty_plan_and_an_unknown_one_is_404() {
    let api = Api::memory().await;
    fail(&api, "job-k").await;
    act(
        &api,
        &format!("{JOBS}/job-k/kill"),
        json!({"reason": "poison"}),
    )
    .await;
    let plan: RetryPreview = read(&api, &format!("{JOBS}/job-k/preview")).await;
    assert!(plan.timeline.is_empty());
    let (status, body) = api.get(&format!("{JOBS}/nope/preview")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
