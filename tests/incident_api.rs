//! Incident operations through the API (tower `oneshot` on the memory store): bulk actions on
//! a filter, pauses, the emergency stop and forced circuits, the series and the change log.

use crate::common;

use axum::http::StatusCode;
use common::{Api, config_with_tokens};
use retryctl::config::Role;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/retry";

/// Posts one failure report; the service must accept it.
async fn post_failure(api: &Api, body: Value) {
    let (status, answer) = api
        .post_as(
            Role::Operator,
            &format!("{BASE}/failures"),
            &body.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// Reports a first failure of `job` in `queue` with `class`; the job is then scheduled.
async fn fail(api: &Api, job: &str, queue: &str, class: &str) {
    let body = json!({
        "job_id": job, "job_type": "email", "attempt_number": 1, "error_class": class,
        "error_code": "503", "queue": queue, "error_message": format!("{class} from upstream"),
    });
    post_failure(api, body).await;
}

async fn bulk(api: &Api, role: Role, body: Value) -> (StatusCode, Value) {
    api.post_as(role, &format!("{BASE}/jobs/bulk"), &body.to_string())
        .await
}

async fn job_state(api: &Api, id: &str) -> String {
    let (_, job) = api.get_as(Role::Viewer, &format!("{BASE}/jobs/{id}")).await;
    job["job"]["state"].as_str().unwrap().to_string()
}

async fn audit(api: &Api) -> Vec<Value> {
    let (status, page) = api
        .get_as(Role::Viewer, &format!("{BASE}/audit?limit=1000"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page.as_array().cloned().unwrap_or_default()
}

fn assert_names(status: StatusCode, body: &Value, expected: u16, field: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert!(body["details"].to_string().contains(field), "{body}");
}

#[tokio::test]
async fn bulk_kill_acts_on_the_filter_only_and_audits_once() {
    let api = Api::with_config(config_with_tokens()).await;
    for i in 0..5 {
        fail(&api, &format!("hook-{i}"), "webhooks", "connection_refused").await;
    }
    fail(&api, "hook-other", "webhooks", "timeout").await;
    fail(&api, "mail-1", "mail", "connection_refused").await;
    let filter = json!({"queue": "webhooks", "error_class": "connection_refused"});

    let (status, dry) = bulk(
        &api,
        Role::Operator,
        json!({"filter": filter, "action": "kill", "reason": "upstream gone", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(
        (dry["matched"].clone(), dry["changed"].clone()),
        (json!(5), json!(5))
    );
    assert_eq!(
        job_state(&api, "hook-0").await,
        "scheduled",
        "a dry run changes nothing"
    );

    let (status, done) = bulk(
        &api,
        Role::Operator,
        json!({"filter": filter, "action": "kill", "reason": "upstream gone"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["changed"], 5);
    for i in 0..5 {
        assert_eq!(job_state(&api, &format!("hook-{i}")).await, "killed");
    }
    assert_eq!(job_state(&api, "hook-other").await, "scheduled");
    assert_eq!(job_state(&api, "mail-1").await, "scheduled");

    let entries = audit(&api).await;
    let bulk_entries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "bulk_kill")
        .collect();
    assert_eq!(bulk_entries.len(), 1, "{entries:?}");
    let entry = bulk_entries[0];
    assert_eq!(entry["id"], done["audit_id"]);
    assert_eq!(
        entry["target"],
        "queue:webhooks error_class:connection_refused"
    );
    assert_eq!(entry["reason"], "upstream gone");
    assert_eq!(entry["detail"]["matched"], 5);
    assert_eq!(entry["actor"], "operator:operator");

    // Again: the jobs are finished now, so they are matched and skipped.
    let (_, again) = bulk(
        &api,
        Role::Operator,
        json!({"filter": filter, "action": "retry_now", "reason": "r"}),
    )
    .await;
    assert_eq!(
        (again["matched"].clone(), again["changed"].clone()),
        (json!(5), json!(0))
    );
    assert_eq!(
        again["skipped"][0]["why"],
        "killed and can no longer be changed"
    );
}

#[tokio::test]
async fn bulk_override_and_apply_static_reschedule() {
    let api = Api::with_config(config_with_tokens()).await;
    fail(&api, "alpha", "q", "timeout").await;
    fail(&api, "beta", "q", "timeout").await;
    let (status, done) = bulk(&api, Role::Operator, json!({"filter": {"job_type": "email", "text": "alpha"}, "action": "override", "delay": "2h", "reason": "after the fix"})).await;
    assert_eq!(
        (status, done["changed"].clone()),
        (StatusCode::OK, json!(1)),
        "{done}"
    );
    let (_, job) = api
        .get_as(Role::Viewer, &format!("{BASE}/jobs/alpha"))
        .await;
    assert_eq!(job["job"]["override"]["delay_ms"], 7_200_000);
    assert_eq!(job["job"]["override"]["reason"], "after the fix");
    let (status, done) = bulk(
        &api,
        Role::Operator,
        json!({"filter": {"queue": "q"}, "action": "apply_static", "reason": "plain backoff"}),
    )
    .await;
    assert_eq!(
        (status, done["changed"].clone()),
        (StatusCode::OK, json!(2)),
        "{done}"
    );
    let (_, job) = api
        .get_as(Role::Viewer, &format!("{BASE}/jobs/alpha"))
        .await;
    assert_eq!(job["job"]["recommendation"]["method"], "static");
}

#[tokio::test]
async fn bulk_needs_an_operator_a_reason_and_a_confirm_over_the_bound() {
    let mut config = config_with_tokens();
    config.limits.bulk_confirm_over = 3;
    let api = Api::with_config(config).await;
    for i in 0..4 {
        fail(&api, &format!("j{i}"), "q", "timeout").await;
    }
    let kill = |extra: Value| {
        let mut body = json!({"filter": {"queue": "q"}, "action": "kill", "reason": "incident"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, _) = bulk(&api, Role::Viewer, kill(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = bulk(&api, Role::Operator, kill(json!({"reason": " "}))).await;
    assert_names(status, &body, 400, "reason");
    let (status, body) = bulk(&api, Role::Operator, kill(json!({"action": "explode"}))).await;
    assert_names(status, &body, 400, "action");
    let (status, body) = bulk(
        &api,
        Role::Operator,
        kill(json!({"filter": {"state": "burning"}})),
    )
    .await;
    assert_names(status, &body, 400, "filter.state");
    let (status, body) = bulk(&api, Role::Operator, kill(json!({"action": "override"}))).await;
    assert_names(status, &body, 400, "delay");

    let (status, body) = bulk(&api, Role::Operator, kill(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["details"]
            .to_string()
            .contains("4 pending jobs would change"),
        "{body}"
    );
    let (status, dry) = bulk(&api, Role::Operator, kill(json!({"dry_run": true}))).await;
    assert_eq!(
        (status, dry["needs_confirm"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, _) = bulk(&api, Role::Operator, kill(json!({"confirm": 3}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(job_state(&api, "j0").await, "scheduled");
    let (status, done) = bulk(&api, Role::Operator, kill(json!({"confirm": 4}))).await;
    assert_eq!(
        (status, done["changed"].clone()),
        (StatusCode::OK, json!(4)),
        "{done}"
    );
}

/// Reports a first failure of `job` in queue `q` at `at` (the record's own time).
async fn fail_at(api: &Api, job: &str, at: chrono::DateTime<chrono::Utc>) {
    let body = json!({
        "job_id": job, "job_type": "email", "attempt_number": 1, "error_class": "timeout",
        "error_code": "504", "queue": "q", "timestamp": at,
    });
    post_failure(api, body).await;
}

/// In an incident the queue keeps failing between the count and the action: the dry run's
/// `as_of` sent back leaves the newcomers alone, so the confirmed count still holds and the
/// action goes through instead of being refused because more jobs match.
#[tokio::test]
async fn a_bulk_action_with_the_dry_runs_as_of_leaves_later_failures_alone() {
    let mut config = config_with_tokens();
    config.limits.bulk_confirm_over = 3;
    let api = Api::with_config(config).await;
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(60);
    for i in 0..4 {
        fail_at(&api, &format!("old{i}"), t0 + chrono::Duration::seconds(i)).await;
    }
    let body = |extra: Value| {
        let mut body = json!({"filter": {"queue": "q"}, "action": "override",
            "delay": "10m", "reason": "PSP outage"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, dry) = bulk(&api, Role::Operator, body(json!({"dry_run": true}))).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(
        (dry["changed"].clone(), dry["needs_confirm"].clone()),
        (json!(4), json!(true))
    );
    let as_of = dry["as_of"].clone();
    assert!(as_of.is_string(), "{dry}");

    fail_at(&api, "new0", t0 + chrono::Duration::seconds(30)).await;
    fail_at(&api, "new1", t0 + chrono::Duration::seconds(31)).await;
    let (status, refused) = bulk(&api, Role::Operator, body(json!({"confirm": 4}))).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "without as_of six would change: {refused}"
    );
    assert!(
        refused["details"].to_string().contains("6 pending jobs"),
        "{refused}"
    );

    let (status, done) = bulk(
        &api,
        Role::Operator,
        body(json!({"confirm": 4, "as_of": as_of})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        (done["changed"].clone(), done["arrived_after"].clone()),
        (json!(4), json!(2))
    );
    let (_, job) = api.get_as(Role::Viewer, &format!("{BASE}/jobs/new0")).await;
    assert!(
        job["job"]["override"].is_null(),
        "a newcomer is left alone: {job}"
    );
    let (_, job) = api.get_as(Role::Viewer, &format!("{BASE}/jobs/old3")).await;
    assert_eq!(job["job"]["override"]["reason"], "PSP outage", "{job}");
}

#[tokio::test]
async fn jobs_list_filters_by_job_type_tenant_and_text() {
    let api = Api::with_config(config_with_tokens()).await;
    fail(&api, "refused-1", "q", "connection_refused").await;
    fail(&api, "slow-1", "q", "timeout").await;
    let (status, page) = api
        .get_as(
            Role::Viewer,
            &format!("{BASE}/jobs?text=connection_refused%20from&job_type=email"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    assert_eq!(page["jobs"][0]["job_id"], "refused-1");
    let (_, page) = api
        .get_as(Role::Viewer, &format!("{BASE}/jobs?tenant=acme"))
        .await;
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn emergency_stop_engages_with_a_reason_and_shows_in_changes() {
    let api = Api::with_config(config_with_tokens()).await;
    let (status, _) = api
        .post_as(
            Role::Viewer,
            &format!("{BASE}/emergency-stop"),
            r#"{"engaged": true, "reason": "x"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = estop(&api, json!({"engaged": true})).await;
    assert_names(status, &body, 400, "reason");
    let (status, body) = estop(
        &api,
        json!({"engaged": true, "reason": "payments double-charging"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"engaged": true, "changed": true}))
    );
    let (_, rec) = api
        .post_as(Role::Operator, &format!("{BASE}/recommendation"), r#"{"job_id": "j", "job_type": "email", "attempt_number": 1, "error_class": "timeout"}"#)
        .await;
    assert_eq!(rec["should_retry"], false, "{rec}");
    let (_, again) = estop(&api, json!({"engaged": true, "reason": "again"})).await;
    assert_eq!(again["changed"], false);
    fail(&api, "k", "q", "timeout").await;
    bulk(
        &api,
        Role::Operator,
        json!({"filter": {}, "action": "kill", "reason": "stop all"}),
    )
    .await;

    let (status, changes) = api
        .get_as(
            Role::Viewer,
            &format!("{BASE}/changes?kind=emergency_stop,bulk"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changes}");
    let actions: Vec<&str> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["bulk_kill", "emergency_stop"], "newest first");
    assert_eq!(changes[1]["reason"], "payments double-charging");
    assert_eq!(changes[1]["target"], "engaged");
    let (status, body) = api
        .get_as(Role::Viewer, &format!("{BASE}/changes?kind=weather"))
        .await;
    assert_names(status, &body, 400, "kind");
    let (status, body) = api
        .get_as(Role::Viewer, &format!("{BASE}/changes?since=yesterday"))
        .await;
    assert_names(status, &body, 400, "since");
    let (_, none) = api
        .get_as(
            Role::Viewer,
            &format!("{BASE}/changes?since=2999-01-01T00:00:00Z"),
        )
        .await;
    assert_eq!(none, json!([]));
}

async fn estop(api: &Api, body: Value) -> (StatusCode, Value) {
    api.post_as(
        Role::Operator,
        &format!("{BASE}/emergency-stop"),
        &body.to_string(),
    )
    .await
}
