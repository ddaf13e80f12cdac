//! Forced circuits through the API (tower `oneshot` on the memory store): roles, bad input
//! named, a forced-open circuit deferring a failure's retry and holding its jobs from `/claim`
//! until released, a forced-closed one keeping its breaker closed, audit, summary, metric and
//! `GET /circuits`. The restart case is in `durability`.

use crate::common;

use axum::http::StatusCode;
use common::{Api, config_with_tokens, token_of};
use retryctl::config::Role;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/retry";

async fn fail(api: &Api, job: &str, attempt: u32, class: &str) -> Value {
    let body = json!({
        "job_id": job, "job_type": "hook", "attempt_number": attempt, "error_class": class,
        "error_code": "503", "queue": "webhooks", "error_message": "down",
    });
    let (status, answer) = api
        .post_as(Role::Worker, &format!("{BASE}/failures"), &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn force(api: &Api, role: Role, circuit: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("{BASE}/circuits/{circuit}");
    api.post_as(role, &path, &body.to_string()).await
}

async fn claim_far_ahead(api: &Api) -> Vec<String> {
    let body = json!({"worker": "w", "limit": 100, "now": "2999-01-01T00:00:00Z"});
    let (status, answer) = api
        .post_as(Role::Worker, &format!("{BASE}/claim"), &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let jobs = answer["jobs"].as_array().unwrap();
    let mut ids: Vec<String> = jobs
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

async fn metrics(api: &Api) -> String {
    let viewer = Some(token_of(Role::Viewer));
    let (status, _, text) = api.raw("GET", "/metrics", Some(("", viewer))).await;
    assert_eq!(status, StatusCode::OK);
    text
}

/// The guardrails a `/failures` answer (a recommendation, flattened) names.
fn guardrails(answer: &Value) -> Vec<&str> {
    let names = answer["policy_guardrails"].as_array();
    names
        .into_iter()
        .flatten()
        .map(|n| n.as_str().unwrap())
        .collect()
}

fn rationale(answer: &Value) -> &str {
    answer["rationale"].as_str().unwrap()
}

#[tokio::test]
async fn forcing_needs_an_operator_and_names_bad_fields() {
    let api = Api::with_config(config_with_tokens()).await;
    let ok = json!({"state": "open", "reason": "provider down"});
    for role in [Role::Viewer, Role::Worker] {
        let (status, _) = force(&api, role, "webhooks/timeout", ok.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
    }
    let (status, _, _) = api
        .raw("GET", &format!("{BASE}/circuits"), Some(("", None)))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reading needs a token");
    let cases = [
        (json!({"state": "open"}), "reason"),
        (json!({"state": "open", "reason": "  "}), "reason"),
        (json!({"reason": "x"}), "state"),
        (json!({"state": "half_open", "reason": "x"}), "state"),
        (
            json!({"state": "open", "reason": "x", "until": "soon"}),
            "until",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = force(&api, Role::Operator, "webhooks/timeout", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/circuits")).await;
    assert_eq!(listed, json!([]), "nothing was forced");
}

#[tokio::test]
async fn a_forced_open_circuit_defers_and_holds_until_released() {
    let api = Api::with_config(config_with_tokens()).await;
    fail(&api, "before", 1, "connection_refused").await;
    let body = json!({"state": "open", "reason": "provider down"});
    let (status, forced) = force(&api, Role::Operator, "webhooks/connection_refused", body).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(forced["changed"], true);
    assert_eq!(forced["circuit"]["state"], "open");
    assert_eq!(forced["circuit"]["forced"]["reason"], "provider down");
    assert!(forced["audit_id"].is_u64(), "{forced}");

    let held = fail(&api, "held", 1, "connection_refused").await;
    assert_eq!(
        held["state"], "scheduled",
        "deferred, never given up: {held}"
    );
    assert!(guardrails(&held).contains(&"circuit_breaker"), "{held}");
    assert!(
        rationale(&held).contains("forced open by operator"),
        "{held}"
    );
    assert!(held["delay_ms"].as_u64().unwrap() >= 30_000, "{held}");
    let other = fail(&api, "other", 1, "timeout").await;
    assert!(!guardrails(&other).contains(&"circuit_breaker"), "{other}");
    assert_eq!(
        claim_far_ahead(&api).await,
        ["other"],
        "the forced-open circuit's jobs are held"
    );

    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/circuits")).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["forced"]["state"], "open");
    let (_, summary) = api.get_as(Role::Viewer, &format!("{BASE}/summary")).await;
    let circuits = summary["circuits"].as_array().unwrap();
    assert!(
        circuits.iter().any(|c| c["forced"]["actor"].is_string()),
        "{summary}"
    );
    let text = metrics(&api).await;
    assert!(
        text.contains("retryctl_circuits_forced{state=\"open\"} 1"),
        "{text}"
    );

    let again = json!({"state": "open", "reason": "still down"});
    let (_, same) = force(&api, Role::Operator, "webhooks/connection_refused", again).await;
    assert_eq!(same["changed"], false, "{same}");
    let release = json!({"state": "auto", "reason": "provider recovered"});
    let (status, released) =
        force(&api, Role::Operator, "webhooks/connection_refused", release).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(
        (
            released["changed"].clone(),
            released["circuit"]["state"].clone()
        ),
        (json!(true), json!("closed"))
    );
    assert!(released["circuit"].get("forced").is_none(), "{released}");
    let after = fail(&api, "after", 1, "connection_refused").await;
    assert!(!guardrails(&after).contains(&"circuit_breaker"), "{after}");
    assert_eq!(claim_far_ahead(&api).await, ["after", "before", "held"]);
    let text = metrics(&api).await;
    assert!(
        text.contains("retryctl_circuits_forced{state=\"open\"} 0"),
        "{text}"
    );

    let (_, changes) = api
        .get_as(Role::Viewer, &format!("{BASE}/changes?kind=circuit"))
        .await;
    let seen: Vec<(&str, &str, &str)> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap();
            (field("action"), field("target"), field("reason"))
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "circuit_released",
                "webhooks/connection_refused",
                "provider recovered"
            ),
            (
                "circuit_forced",
                "webhooks/connection_refused",
                "provider down"
            ),
        ],
        "unchanged requests are not audited: {changes}"
    );
}

#[tokio::test]
async fn a_forced_closed_circuit_does_not_open() {
    let api = Api::with_config(config_with_tokens()).await;
    let body = json!({"state": "closed", "reason": "flaky probe, dependency is fine"});
    let (status, forced) = force(&api, Role::Operator, "webhooks/timeout", body).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(forced["circuit"]["state"], "closed");
    // Default breaker: 50 retries at 95% failures open it. Retries (attempt 2) all failing:
    for i in 0..60 {
        fail(&api, &format!("j{i}"), 2, "timeout").await;
    }
    let last = fail(&api, "last", 2, "timeout").await;
    assert!(!guardrails(&last).contains(&"circuit_breaker"), "{last}");
    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/circuits")).await;
    assert_eq!(listed[0]["state"], "closed", "{listed}");
    assert_eq!(listed[0]["forced"]["state"], "closed", "{listed}");
    let text = metrics(&api).await;
    assert!(
        text.contains("retryctl_circuits_forced{state=\"closed\"} 1"),
        "{text}"
    );

    let release = json!({"state": "auto", "reason": "back to the breaker"});
    force(&api, Role::Operator, "webhooks/timeout", release).await;
    fail(&api, "next", 2, "timeout").await;
    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/circuits")).await;
    assert_eq!(
        listed[0]["state"], "open",
        "released, the breaker opens on its window: {listed}"
    );
}
