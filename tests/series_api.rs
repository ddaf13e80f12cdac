//! `GET /series` through the API (tower `oneshot` on the memory store): roles, bad window and
//! step named, and counts that match what was posted.

use crate::common;

use axum::http::StatusCode;
use common::{Api, config_with_tokens};
use retryctl::config::Role;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/retry";

fn attempt(job: &str, queue: &str, class: &str, n: u32, success: bool) -> Value {
    json!({
        "job_id": job, "job_type": "email", "attempt_number": n, "error_class": class,
        "queue": queue, "delay_ms": if n > 1 { 1000 } else { 0 }, "success": success,
        // Counted at arrival, whatever the record's time says.
        "timestamp": "2020-01-01T00:00:00Z",
    })
}

fn total(queue: &Value, key: &str) -> u64 {
    let steps = queue[key].as_array().unwrap();
    steps.iter().map(|n| n.as_u64().unwrap()).sum()
}

#[tokio::test]
async fn series_needs_a_reader_and_names_bad_parameters() {
    let api = Api::with_config(config_with_tokens()).await;
    let (status, _) = api.get_as(Role::Worker, &format!("{BASE}/series")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = api.get_as(Role::Viewer, &format!("{BASE}/series")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (
            answer["window_ms"].clone(),
            answer["step_ms"].clone(),
            answer["steps"].clone()
        ),
        (json!(900_000), json!(10_000), json!(90))
    );
    for (query, window_ms, step_ms) in [
        ("window=2h", 3_600_000, 10_000),
        ("step=7s&window=70s", 70_000, 10_000),
        ("window=15m&step=40s", 920_000, 40_000),
        ("window=1m&step=2m", 120_000, 120_000),
    ] {
        let (status, answer) = api
            .get_as(Role::Viewer, &format!("{BASE}/series?{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {answer}");
        let used = (answer["window_ms"].as_u64(), answer["step_ms"].as_u64());
        assert_eq!(used, (Some(window_ms), Some(step_ms)), "{query}: rounded");
    }
    for (query, field) in [
        ("window=soon", "window"),
        ("window=0s", "window"),
        ("step=0ms", "step"),
    ] {
        let (status, answer) = api
            .get_as(Role::Viewer, &format!("{BASE}/series?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert!(answer.to_string().contains(field), "{query}: {answer}");
    }
}

#[tokio::test]
async fn series_counts_match_what_was_posted() {
    let api = Api::with_config(config_with_tokens()).await;
    let batch = json!([
        attempt("m1", "mail", "timeout", 1, false),
        attempt("m2", "mail", "timeout", 1, false),
        attempt("m3", "mail", "timeout", 1, false),
        attempt("m1", "mail", "dns", 2, false),
        attempt("m2", "mail", "dns", 2, false),
        attempt("m3", "mail", "", 2, true),
        attempt("s1", "sms", "", 1, true),
    ]);
    let (status, answer) = api
        .post_as(
            Role::Worker,
            &format!("{BASE}/attempts"),
            &batch.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The last attempt the guardrails allow (10 by default) fails: the job is given up.
    let last = json!({
        "job_id": "s2", "job_type": "email", "attempt_number": 10, "error_class": "timeout",
        "queue": "sms", "error_message": "down",
    });
    let (status, answer) = api
        .post_as(Role::Worker, &format!("{BASE}/failures"), &last.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["should_retry"], false, "{answer}");

    let (status, series) = api
        .get_as(Role::Viewer, &format!("{BASE}/series?window=1m&step=10s"))
        .await;
    assert_eq!(status, StatusCode::OK, "{series}");
    assert_eq!(series["steps"], 6);
    let queues = series["queues"].as_array().unwrap();
    let names: Vec<&str> = queues
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mail", "sms"]);
    let counts = |q: &Value| ["failures", "retries", "successes", "give_ups"].map(|k| total(q, k));
    assert_eq!(counts(&queues[0]), [5, 3, 1, 0], "mail: {series}");
    assert_eq!(counts(&queues[1]), [1, 1, 1, 1], "sms: {series}");
    assert_eq!(queues[0]["failures"].as_array().unwrap().len(), 6);
    assert_eq!(
        series["top_error_classes"],
        json!([
            {"error_class": "timeout", "failures": 4},
            {"error_class": "dns", "failures": 2},
        ])
    );
}

#[tokio::test]
async fn the_openapi_document_describes_series_and_circuits() {
    let api = Api::memory().await;
    let (status, doc) = api.get(&format!("{BASE}/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let paths = &doc["paths"];
    let series = &paths[format!("{BASE}/series")]["get"];
    let params: Vec<&str> = series["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["window", "step"], "{series}");
    assert!(
        series["description"]
            .as_str()
            .unwrap()
            .contains("not persisted")
    );
    assert!(paths[format!("{BASE}/circuits")]["get"].is_object());
    let force = &paths[format!("{BASE}/circuits/{{queue}}/{{error_class}}")]["post"];
    assert!(force["requestBody"].is_object(), "{force}");
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Series",
        "CircuitForceRequest",
        "CircuitForceResult",
        "ForcedCircuit",
    ] {
        assert!(schemas[name].is_object(), "{name} missing");
    }
}
