//! A client written for the upstream smart-retry API works unchanged: requests shaped exactly
//! as in UPSTREAM_API.md (Go-style durations as integer nanoseconds and as strings), responses
//! checked for the upstream field names and JSON types.

use crate::common;

use axum::http::StatusCode;
use common::Api;
use serde_json::{Value, json};

/// An upstream `RetryFeatures`, every field present; durations as Go nanoseconds.
fn features_ns() -> Value {
    json!({
        "job_type": "send_email", "error_class": "service_unavailable", "error_code": "503",
        "attempt_number": 2, "queue": "emails", "tenant": "acme", "payload_size": 2048,
        "time_of_day": 14, "worker_version": "1.4.2",
        "health": {"cpu": 0.42, "error_rate": 0.1},
        "since_last_failure": 2_500_000_000u64, "recent_failures": 3,
        "avg_processing_time": 150_000_000u64
    })
}

/// The same features with durations as strings (`"2m30s"` and the `"00:02:30"` docs form).
fn features_strings() -> Value {
    let mut f = features_ns();
    f["since_last_failure"] = json!("2m30s");
    f["avg_processing_time"] = json!("00:00:01");
    f
}

/// A JSON type check such as `Value::is_string`.
type IsType = fn(&Value) -> bool;

fn assert_keys(value: &Value, keys: &[(&str, IsType)]) {
    for (key, is_type) in keys {
        let field = &value[*key];
        assert!(
            is_type(field),
            "field {key} missing or of the wrong type in {value}"
        );
    }
}

fn assert_recommendation(rec: &Value) {
    assert_keys(
        rec,
        &[
            ("should_retry", Value::is_boolean),
            ("delay_ms", Value::is_u64),
            ("max_attempts", Value::is_u64),
            ("confidence", Value::is_number),
            ("rationale", Value::is_string),
            ("method", Value::is_string),
            ("estimated_success", Value::is_number),
            ("next_evaluation", Value::is_string),
        ],
    );
    assert!(
        ["rules", "bayesian", "ml"].contains(&rec["method"].as_str().unwrap()),
        "{rec}"
    );
    let next = rec["next_evaluation"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(next).expect("next_evaluation is RFC 3339");
    if let Some(g) = rec.get("policy_guardrails") {
        assert!(g.as_array().unwrap().iter().all(Value::is_string));
    }
}

#[tokio::test]
async fn recommendation_accepts_both_duration_forms() {
    let api = Api::memory().await;
    for features in [features_ns(), features_strings()] {
        let (status, rec) = api
            .post("/api/v1/retry/recommendation", &features.to_string())
            .await;
        assert_eq!(status, StatusCode::OK, "{rec}");
        assert_recommendation(&rec);
    }
}

#[tokio::test]
async fn preview_has_the_upstream_shape() {
    let api = Api::memory().await;
    let body = json!({"features": features_strings(), "max_attempts": 5});
    let (status, preview) = api.post("/api/v1/retry/preview", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_keys(
        &preview,
        &[
            ("job_id", Value::is_string),
            ("current_attempt", Value::is_u64),
            ("features", Value::is_object),
            ("recommendations", Value::is_array),
            ("timeline", Value::is_array),
            ("generated_at", Value::is_string),
        ],
    );
    preview["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(assert_recommendation);
    for entry in preview["timeline"].as_array().unwrap() {
        assert_keys(
            entry,
            &[
                ("attempt_number", Value::is_u64),
                ("scheduled_time", Value::is_string),
                ("estimated_success", Value::is_number),
                ("delay_ms", Value::is_u64),
                ("method", Value::is_string),
                ("rationale", Value::is_string),
            ],
        );
    }
    assert_eq!(
        preview["features"]["since_last_failure"], 150_000_000_000u64,
        "echoed as Go ns"
    );
}

#[tokio::test]
async fn attempt_then_stats() {
    let api = Api::memory().await;
    let now = chrono::Utc::now();
    for (n, success, processing) in [(1, false, json!(120_000_000u64)), (2, true, json!("95ms"))] {
        let history = json!({
            "job_id": "job-42", "job_type": "send_email", "attempt_number": n,
            "error_class": "service_unavailable", "error_code": "503",
            "status": if success { "completed" } else { "failed" }, "queue": "emails",
            "tenant": "acme", "payload_size": 2048, "time_of_day": 14, "worker_version": "1.4.2",
            "health": {"cpu": 0.4}, "delay_ms": if n == 1 { 0 } else { 2000 }, "success": success,
            "timestamp": (now - chrono::Duration::seconds(10 - i64::from(n))).to_rfc3339(),
            "processing_time": processing
        });
        let (status, body) = api
            .post("/api/v1/retry/attempt", &history.to_string())
            .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"status": "recorded"}))
        );
    }
    let (status, stats) = api
        .get("/api/v1/retry/stats?job_type=send_email&error_class=service_unavailable&window=24h")
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_keys(
        &stats,
        &[
            ("job_type", Value::is_string),
            ("error_class", Value::is_string),
            ("total_attempts", Value::is_u64),
            ("successful_retries", Value::is_u64),
            ("failed_retries", Value::is_u64),
            ("avg_delay_ms", Value::is_number),
            ("success_rate", Value::is_number),
            ("last_updated", Value::is_string),
            ("window_start", Value::is_string),
            ("window_end", Value::is_string),
        ],
    );
    assert_eq!(
        (
            stats["total_attempts"].clone(),
            stats["successful_retries"].clone()
        ),
        (json!(2), json!(1))
    );
    assert_eq!(stats["avg_delay_ms"], 2000.0);
    let (status, error) = api.get("/api/v1/retry/stats?job_type=send_email").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_keys(
        &error,
        &[
            ("error", Value::is_string),
            ("status", Value::is_u64),
            ("timestamp", Value::is_string),
        ],
    );
}

#[tokio::test]
async fn policies_round_trip() {
    let api = Api::memory().await;
    let policy = json!({
        "name": "db_deadlock", "error_patterns": ["deadlock", "40001"],
        "job_type_patterns": ["^billing_.*"], "max_attempts": 4, "base_delay_ms": 200,
        "max_delay_ms": 5000, "backoff_multiplier": 1.5, "jitter_percent": 30.0,
        "stop_on_validation": false, "priority": 150
    });
    let (status, body) = api
        .post("/api/v1/retry/policies", &policy.to_string())
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "added"})));
    let (_, listed) = api.get("/api/v1/retry/policies").await;
    let ours = listed["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "db_deadlock")
        .unwrap();
    for (key, value) in policy.as_object().unwrap() {
        assert_eq!(&ours[key], value, "{key}");
    }
    let (status, body) = api
        .send("DELETE", "/api/v1/retry/policies/db_deadlock", None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "removed"}))
    );
}

#[tokio::test]
async fn strategy_and_guardrails_in_upstream_shape() {
    let api = Api::memory().await;
    let (status, strategy) = api.get("/api/v1/retry/strategy").await;
    assert_eq!(status, StatusCode::OK);
    assert_keys(
        &strategy,
        &[
            ("name", Value::is_string),
            ("enabled", Value::is_boolean),
            ("policies", Value::is_array),
            ("bayesian_threshold", Value::is_number),
            ("ml_enabled", Value::is_boolean),
            ("guardrails", Value::is_object),
            ("data_collection", Value::is_object),
        ],
    );
    assert_eq!(strategy["bayesian_threshold"], 0.7);
    assert_eq!(strategy["guardrails"]["max_attempts"], 10);
    assert_eq!(strategy["guardrails"]["max_delay_ms"], 300_000);
    assert_eq!(strategy["guardrails"]["max_budget_percent"], 20.0);
    let upstream_strategy = json!({
        "name": "upstream", "enabled": true, "policies": strategy["policies"],
        "bayesian_threshold": 0.75, "ml_enabled": false,
        "guardrails": {"max_attempts": 8, "max_delay_ms": 120000, "max_budget_percent": 15.0,
            "per_tenant_limits": true, "emergency_stop": false, "explainability_required": true},
        "data_collection": {"enabled": true, "sample_rate": 0.5, "retention_days": 14,
            "aggregation_interval": 60_000_000_000u64, "feature_extraction": true}
    });
    let (status, body) = api
        .send(
            "PUT",
            "/api/v1/retry/strategy",
            Some(&upstream_strategy.to_string()),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "updated"}))
    );
    let (_, after) = api.get("/api/v1/retry/strategy").await;
    assert_eq!(after["name"], "upstream");
    assert_eq!(
        after["data_collection"]["aggregation_interval"],
        60_000_000_000u64
    );
    let guardrails = json!({"max_attempts": 6, "max_delay_ms": 60000, "max_budget_percent": 10.0,
        "per_tenant_limits": false, "emergency_stop": true, "explainability_required": true});
    let (status, body) = api
        .send(
            "PUT",
            "/api/v1/retry/guardrails",
            Some(&guardrails.to_string()),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "updated"}))
    );
    let (_, after) = api.get("/api/v1/retry/strategy").await;
    for (key, value) in guardrails.as_object().unwrap() {
        assert_eq!(&after["guardrails"][key], value, "{key}");
    }
}

#[tokio::test]
async fn health_and_unknown_models() {
    let api = Api::memory().await;
    let (_, health) = api.get("/api/v1/retry/health").await;
    assert_keys(
        &health,
        &[
            ("status", Value::is_string),
            ("timestamp", Value::is_string),
            ("service", Value::is_string),
        ],
    );
    let body = json!({"job_type": "never_seen", "error_class": "nothing"}).to_string();
    let (status, error) = api.post("/api/v1/retry/bayesian/update", &body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert_eq!(error["status"], 404);
}
