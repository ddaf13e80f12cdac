//! Pauses through the API (tower `oneshot` on the memory store): roles, bad input named, the
//! claim leaving the paused scope out, failures scheduled after the end, audit, metric,
//! summary and alert.

use crate::common;

use axum::http::StatusCode;
use common::{Api, config_with_tokens, token_of};
use retryctl::config::Role;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/retry";

async fn fail(api: &Api, job: &str, queue: &str, class: &str) -> Value {
    let body = json!({
        "job_id": job, "job_type": "email", "attempt_number": 1, "error_class": class,
        "error_code": "503", "queue": queue, "error_message": "down",
    });
    let (status, answer) = api
        .post_as(
            Role::Operator,
            &format!("{BASE}/failures"),
            &body.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn pause(api: &Api, role: Role, body: Value) -> (StatusCode, Value) {
    api.post_as(role, &format!("{BASE}/pauses"), &body.to_string())
        .await
}

async fn claim_far_ahead(api: &Api) -> Vec<String> {
    let body = json!({"worker": "w", "limit": 100, "now": "2999-01-01T00:00:00Z"});
    let (status, answer) = api
        .post_as(Role::Operator, &format!("{BASE}/claim"), &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let jobs = answer["jobs"].as_array().unwrap();
    jobs.iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pause_needs_an_operator_and_names_bad_fields() {
    let api = Api::with_config(config_with_tokens()).await;
    let ok = json!({"queue": "webhooks", "for": "10m", "reason": "provider down"});
    let (status, _) = pause(&api, Role::Viewer, ok).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let cases = [
        (json!({"queue": "q", "for": "soon", "reason": "x"}), "for"),
        (
            json!({"queue": "q", "until": "2001-01-01T00:00:00Z", "reason": "x"}),
            "until",
        ),
        (json!({"queue": "q", "reason": ""}), "reason"),
        (json!({"reason": "x"}), "queue"),
    ];
    for (body, field) in cases {
        let (status, answer) = pause(&api, Role::Operator, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
}

#[tokio::test]
async fn a_pause_holds_back_its_scope_until_resumed_and_is_audited() {
    let api = Api::with_config(config_with_tokens()).await;
    fail(&api, "hook-1", "webhooks", "connection_refused").await;
    fail(&api, "hook-2", "webhooks", "timeout").await;
    let body = json!({"queue": "webhooks", "error_class": "connection_refused", "reason": "provider down"});
    let (status, created) = pause(&api, Role::Operator, body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let later = fail(&api, "hook-3", "webhooks", "connection_refused").await;
    let rec = &later;
    assert!(
        rec["policy_guardrails"].to_string().contains("pause"),
        "{later}"
    );
    assert!(
        rec["rationale"]
            .as_str()
            .unwrap()
            .contains("paused until resumed"),
        "{later}"
    );
    assert_eq!(
        later["state"], "scheduled",
        "never given up because of the pause"
    );

    assert_eq!(claim_far_ahead(&api).await, ["hook-2"]);
    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/pauses")).await;
    assert_eq!(listed[0]["id"], id.as_str());
    let (_, summary) = api.get_as(Role::Viewer, &format!("{BASE}/summary")).await;
    assert_eq!(summary["pauses"][0]["id"], id.as_str());
    let viewer = Some(token_of(Role::Viewer));
    let (_, _, metrics) = api.raw("GET", "/metrics", Some(("", viewer))).await;
    assert!(metrics.contains("retryctl_pauses_active 1"), "{metrics}");

    let path = format!("{BASE}/pauses/{id}");
    let operator = Some(token_of(Role::Operator));
    let (status, _, text) = api.raw("DELETE", &path, Some(("", operator))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "reason required: {text}");
    let with_reason = format!("{path}?reason=recovered");
    let (status, _, text) = api.raw("DELETE", &with_reason, Some(("", operator))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, _, _) = api.raw("DELETE", &with_reason, Some(("", operator))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut resumed = claim_far_ahead(&api).await;
    resumed.sort();
    assert_eq!(resumed, ["hook-1", "hook-3"]);

    let (_, changes) = api
        .get_as(Role::Viewer, &format!("{BASE}/changes?kind=pause"))
        .await;
    let actions: Vec<&str> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["resume", "pause"], "{changes}");
}

#[tokio::test]
async fn a_failure_in_a_timed_pause_is_scheduled_at_its_end() {
    let api = Api::with_config(config_with_tokens()).await;
    let body = json!({"queue": "mail", "for": "2h", "reason": "smtp maintenance"});
    let (status, created) = pause(&api, Role::Operator, body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let until: chrono::DateTime<chrono::Utc> = created["until"].as_str().unwrap().parse().unwrap();
    let job = fail(&api, "mail-1", "mail", "timeout").await;
    let next: chrono::DateTime<chrono::Utc> =
        job["next_attempt_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next >= until - chrono::Duration::seconds(1),
        "{next} before {until}"
    );
}

/// The plan shown for a job a pause holds starts at the pause's end and names the pause: the
/// schedule's stored time (due in seconds) is not when it runs.
#[tokio::test]
async fn the_plan_of_a_held_job_starts_at_the_pause_end_and_names_it() {
    let api = Api::with_config(config_with_tokens()).await;
    fail(&api, "mail-1", "mail", "timeout").await;
    fail(&api, "other-1", "other", "timeout").await;
    let body = json!({"queue": "mail", "for": "2h", "reason": "smtp maintenance"});
    let (status, created) = pause(&api, Role::Operator, body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let until: chrono::DateTime<chrono::Utc> = created["until"].as_str().unwrap().parse().unwrap();
    let time = |step: &Value| -> chrono::DateTime<chrono::Utc> {
        step["scheduled_time"].as_str().unwrap().parse().unwrap()
    };

    let (status, detail) = api
        .get_as(Role::Viewer, &format!("{BASE}/jobs/mail-1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let steps = detail["timeline"].as_array().unwrap();
    assert_eq!(time(&steps[0]), until, "{detail}");
    assert!(time(&steps[1]) > until, "later steps move too: {detail}");
    let why = steps[0]["rationale"].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "held by pause {} of mail until ",
            created["id"].as_str().unwrap()
        )) && why.contains("smtp maintenance"),
        "{why}"
    );
    let (_, preview) = api
        .get_as(Role::Viewer, &format!("{BASE}/jobs/mail-1/preview"))
        .await;
    assert_eq!(
        preview["timeline"], detail["timeline"],
        "one plan for both views"
    );

    let (_, other) = api
        .get_as(Role::Viewer, &format!("{BASE}/jobs/other-1"))
        .await;
    let steps = other["timeline"].as_array().unwrap();
    assert!(
        time(&steps[0]) < until,
        "a job outside the scope keeps its plan: {other}"
    );
    assert!(
        !steps[0]["rationale"]
            .as_str()
            .unwrap()
            .contains("held by pause")
    );
}
