//! The HTTP API through `app()` (tower `oneshot`, no socket) and over a real socket.

use crate::common;

use axum::http::StatusCode;
use common::{Api, attempt_json, config_with_tokens};
use retryctl::config::Role;
use serde_json::{Value, json};

#[tokio::test]
async fn health_is_open_and_healthy() {
    let api = Api::memory().await;
    let (status, body) = api.get("/api/v1/retry/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "retryctl");
    assert_eq!(body["degraded"], false);
}

#[tokio::test]
async fn recorded_attempts_show_in_stats() {
    let api = Api::memory().await;
    let now = chrono::Utc::now();
    for (n, success) in [(1, false), (2, false), (3, true)] {
        let body = attempt_json("job-1", n, success, now);
        let (status, answer) = api.post("/api/v1/retry/attempt", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer, json!({"status": "recorded"}));
    }
    let (status, stats) = api
        .get("/api/v1/retry/stats?job_type=email&error_class=timeout&window=1h")
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["total_attempts"], 3);
    assert_eq!(stats["successful_retries"], 1);
    assert_eq!(stats["failed_retries"], 1);
    assert_eq!(stats["success_rate"], 0.5);
}

#[tokio::test]
async fn batch_accepts_arrays_and_ndjson() {
    let api = Api::memory().await;
    let now = chrono::Utc::now();
    let records: Vec<String> = (1..=4)
        .map(|n| attempt_json(&format!("b{n}"), 1, n % 2 == 0, now))
        .collect();
    let array = format!("[{}]", records.join(","));
    let (status, body) = api.post("/api/v1/retry/attempts", &array).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["recorded"], 4);
    assert_eq!(body["successes"], 2);
    let ndjson = records.join("\n");
    let (status, body) = api.post("/api/v1/retry/attempts", &ndjson).await;
    assert_eq!(
        (status, body["recorded"].clone()),
        (StatusCode::OK, json!(4))
    );
    let counters = api.state.metrics.counters();
    assert_eq!(counters.attempts_by_outcome["success"], 4);
    assert_eq!(counters.attempts_by_outcome["failure"], 4);
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_field() {
    let api = Api::memory().await;
    let cases: [(&str, &str, &str); 8] = [
        (
            "/api/v1/retry/attempt",
            r#"{"job_id":"j","attempt_number":-1,"success":false,"timestamp":"2024-01-01T00:00:00Z"}"#,
            "attempt_number: invalid value: integer `-1`, expected u32",
        ),
        (
            "/api/v1/retry/attempt",
            r#"{"job_id":"j","success":false,"timestamp":"2024-01-01T00:00:00Z"}"#,
            "error_class: required when success is false",
        ),
        (
            "/api/v1/retry/attempt",
            r#"{"job_id":"j","success":true,"timestamp":"yesterday"}"#,
            "timestamp: ",
        ),
        (
            "/api/v1/retry/recommendation",
            r#"{"job_type":"x","error_class":"e","time_of_day":25}"#,
            "time_of_day: must be an hour",
        ),
        (
            "/api/v1/retry/recommendation",
            r#"{"job_type":"x","error_class":"e","since_last_failure":"soon"}"#,
            "since_last_failure: invalid duration",
        ),
        (
            "/api/v1/retry/recommendation",
            r#"{"job_type":"x","error_class":"e","payload_size":1e999}"#,
            "malformed JSON",
        ),
        (
            "/api/v1/retry/recommendation",
            r#"{"job_type":"x","#,
            "malformed JSON",
        ),
        (
            "/api/v1/retry/preview",
            r#"{"features":{"job_type":"","error_class":"e"}}"#,
            "features.job_type: required",
        ),
    ];
    for (path, body, details) in cases {
        let (status, answer) = api.post(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_error_shape(&answer, 400);
        let got = answer["details"].as_str().unwrap();
        assert!(got.starts_with(details), "{body}: {got}");
    }
}

#[tokio::test]
async fn stats_requires_job_type_and_error_class() {
    let api = Api::memory().await;
    for (query, field) in [
        ("error_class=timeout", "job_type"),
        ("job_type=email", "error_class"),
        ("job_type=email&error_class=t&window=forever", "window"),
    ] {
        let (status, body) = api.get(&format!("/api/v1/retry/stats?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            body["details"].as_str().unwrap().starts_with(field),
            "{body}"
        );
    }
}

#[tokio::test]
async fn framework_errors_use_the_error_shape() {
    let api = Api::memory().await;
    let (status, body) = api.get("/api/v1/retry/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, 404);
    let (status, body) = api
        .send("DELETE", "/api/v1/retry/recommendation", None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_shape(&body, 405);
    let huge = format!(
        r#"{{"job_type":"{}","error_class":"e"}}"#,
        "x".repeat(200_000)
    );
    let (status, body) = api.post("/api/v1/retry/recommendation", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_shape(&body, 413);
    for ml in ["train", "deploy"] {
        let (status, body) = api.post(&format!("/api/v1/retry/ml/{ml}"), "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_error_shape(&body, 400);
    }
    let (status, body) = api.post("/api/v1/retry/ml/rollback", "{}").await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing serves: {body}");
}

#[tokio::test]
async fn roles_are_enforced() {
    let api = Api::with_config(config_with_tokens()).await;
    let attempt = attempt_json("j", 1, true, chrono::Utc::now());
    let path = "/api/v1/retry/attempt";
    let (status, _) = api.post(path, &attempt).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = api.post_as(Role::Viewer, path, &attempt).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = api.post_as(Role::Worker, path, &attempt).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get_as(Role::Worker, "/api/v1/retry/strategy").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.get_as(Role::Viewer, "/api/v1/retry/strategy").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("/api/v1/retry/health").await;
    assert_eq!(status, StatusCode::OK);
    let policy = r#"{"name":"p","error_patterns":["x"],"max_attempts":2}"#;
    let (status, _) = api
        .post_as(Role::Viewer, "/api/v1/retry/policies", policy)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .post_as(Role::Operator, "/api/v1/retry/policies", policy)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn policy_changes_are_persisted_and_audited() {
    let api = Api::memory().await;
    let policy = json!({"name": "payments", "error_patterns": ["card_declined"], "max_attempts": 2,
        "base_delay_ms": 500, "max_delay_ms": 4000, "backoff_multiplier": 2.0, "jitter_percent": 10.0,
        "stop_on_validation": false, "priority": 250});
    let (status, body) = api
        .post("/api/v1/retry/policies", &policy.to_string())
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "added"})));
    let (_, listed) = api.get("/api/v1/retry/policies").await;
    let names: Vec<&str> = listed["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "validation",
            "payments",
            "rate_limit",
            "service_unavailable",
            "default"
        ]
    );
    let stored = api.state.store.load_strategy().await.unwrap().unwrap();
    assert!(stored.policies.iter().any(|p| p.name == "payments"));
    let (status, body) = api
        .send("DELETE", "/api/v1/retry/policies/payments", None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "removed"}))
    );
    let (status, _) = api
        .send("DELETE", "/api/v1/retry/policies/payments", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = api.state.store.list_audit(0, 10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["policy_add", "policy_remove"]);
    assert_eq!(audit[0].actor, "operator:local");
    let bad =
        json!({"name": "neg", "error_patterns": [], "max_attempts": 2, "jitter_percent": -5.0});
    let (status, body) = api.post("/api/v1/retry/policies", &bad.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["details"]
            .as_str()
            .unwrap()
            .starts_with("jitter_percent"),
        "{body}"
    );
}

#[tokio::test]
async fn guardrails_merge_and_strategy_round_trips() {
    let api = Api::memory().await;
    let (status, _) = api
        .send(
            "PUT",
            "/api/v1/retry/guardrails",
            Some(r#"{"max_attempts": 4, "emergency_stop": true}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, strategy) = api.get("/api/v1/retry/strategy").await;
    assert_eq!(strategy["guardrails"]["max_attempts"], 4);
    assert_eq!(strategy["guardrails"]["emergency_stop"], true);
    assert_eq!(
        strategy["guardrails"]["max_delay_ms"], 300_000,
        "unnamed fields keep their values"
    );
    let mut changed = strategy.clone();
    changed["bayesian_threshold"] = json!(0.9);
    let (status, _) = api
        .send("PUT", "/api/v1/retry/strategy", Some(&changed.to_string()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = api.get("/api/v1/retry/strategy").await;
    assert_eq!(after, changed);
    changed["bayesian_threshold"] = json!(1.5);
    let (status, body) = api
        .send("PUT", "/api/v1/retry/strategy", Some(&changed.to_string()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["details"]
            .as_str()
            .unwrap()
            .starts_with("bayesian_threshold")
    );
}

#[tokio::test]
async fn metrics_are_openmetrics_at_both_paths() {
    let api = Api::memory().await;
    let features = r#"{"job_type":"email","error_class":"timeout","attempt_number":1}"#;
    let (status, rec) = api.post("/api/v1/retry/recommendation", features).await;
    assert_eq!(status, StatusCode::OK, "{rec}");
    for path in ["/metrics", "/api/v1/retry/metrics"] {
        let (status, content_type, text) = api.raw("GET", path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, retryctl::metrics::OPENMETRICS_CONTENT_TYPE);
        let method = rec["method"].as_str().unwrap();
        let line = format!("retryctl_recommendations_total{{method=\"{method}\"}} 1");
        assert!(text.contains(&line), "{text}");
        assert!(text.contains("retryctl_http_requests_total{method=\"POST\",path=\"/api/v1/retry/recommendation\",status=\"200\"} 1"), "{text}");
    }
}

#[tokio::test]
async fn preview_plans_a_schedule() {
    let api = Api::memory().await;
    let body = r#"{"features":{"job_id":"j1","job_type":"email","error_class":"timeout","attempt_number":1},"max_attempts":4}"#;
    let (status, preview) = api.post("/api/v1/retry/preview", body).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["job_id"], "j1");
    assert!(!preview["recommendations"].as_array().unwrap().is_empty());
    let (status, _) = api
        .post(
            "/api/v1/retry/preview",
            r#"{"features":{"job_type":"a","error_class":"b"},"max_attempts":1000}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn serves_over_a_real_socket() {
    let server = common::Served::start(Api::memory().await.state).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/retry/recommendation", server.base);
    let features = json!({"job_type": "email", "error_class": "timeout", "attempt_number": 2});
    let response = client.post(&url).json(&features).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let rec: Value = response.json().await.unwrap();
    assert!(
        rec["delay_ms"].is_u64() && rec["should_retry"].is_boolean(),
        "{rec}"
    );
    let health: Value = client
        .get(format!("{}/api/v1/retry/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    server.stop().await;
}

fn assert_error_shape(body: &Value, status: u16) {
    assert_eq!(body["status"], status, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let ts = body["timestamp"].as_str().expect("timestamp");
    chrono::DateTime::parse_from_rfc3339(ts).expect("RFC 3339 timestamp");
}

#[tokio::test]
async fn a_failing_store_means_503_and_degraded_not_lost_answers() {
    let store = std::sync::Arc::new(common::failing_store::FailingStore::default());
    let api = Api::with_store(common::test_config(), store.clone()).await;
    store.fail_writes(Some(retryctl::model::StoreFailureKind::Io));
    let attempt = attempt_json("j", 1, false, chrono::Utc::now());
    let (status, body) = api.post("/api/v1/retry/attempt", &attempt).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap()
            .contains("store I/O error"),
        "{body}"
    );
    let (_, health) = api.get("/api/v1/retry/health").await;
    assert_eq!(
        (health["status"].as_str(), health["degraded"].as_bool()),
        (Some("degraded"), Some(true))
    );
    let features = r#"{"job_type":"email","error_class":"timeout","attempt_number":1}"#;
    let (status, _) = api.post("/api/v1/retry/recommendation", features).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "recommendations keep coming from memory"
    );
    assert_eq!(
        api.state.metrics.counters().attempts_by_outcome["failure"],
        0,
        "nothing learned from a refused write"
    );
    store.fail_writes(None);
    let (status, _) = api.post("/api/v1/retry/attempt", &attempt).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn restart_restores_the_snapshot_and_replays_what_came_after() {
    let store = retryctl::store::open(&retryctl::store::StoreConfig::Memory)
        .await
        .unwrap();
    let first = Api::with_store(common::test_config(), store.clone()).await;
    let now = chrono::Utc::now();
    let record = |n: usize| {
        attempt_json(
            &format!("r{n}"),
            1 + (n % 3) as u32,
            n.is_multiple_of(2),
            now,
        )
    };
    for n in 0..5 {
        assert_eq!(
            first.post("/api/v1/retry/attempt", &record(n)).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(first.state.snapshot().await.unwrap(), 5);
    for n in 5..8 {
        assert_eq!(
            first.post("/api/v1/retry/attempt", &record(n)).await.0,
            StatusCode::OK
        );
    }
    let (_, saved_at) = store.load_snapshot().await.unwrap().unwrap();
    assert_eq!(
        saved_at, 5,
        "the snapshot covers what was observed when it was taken"
    );
    let second = Api::with_store(common::test_config(), store.clone()).await;
    assert_eq!(
        second.state.watermark(),
        8,
        "attempts after the snapshot were replayed"
    );
    let models = |api: &Api| api.state.engine.lock().bayesian_models();
    assert_eq!(models(&second), models(&first));
}

#[tokio::test]
async fn a_batch_over_the_record_limit_is_413() {
    let mut config = common::test_config();
    config.limits.batch_max_records = 3;
    let api = Api::with_config(config).await;
    let now = chrono::Utc::now();
    let lines: Vec<String> = (0..4)
        .map(|n| attempt_json(&format!("x{n}"), 1, true, now))
        .collect();
    let (status, body) = api.post("/api/v1/retry/attempts", &lines.join("\n")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap()
            .contains("limits.batch_max_records")
    );
}

#[tokio::test]
async fn a_strategy_change_the_store_refused_is_not_in_effect() {
    let store = std::sync::Arc::new(common::failing_store::FailingStore::default());
    let api = Api::with_store(common::test_config(), store.clone()).await;
    store.fail_writes(Some(retryctl::model::StoreFailureKind::Full));
    let (status, _) = api
        .send(
            "PUT",
            "/api/v1/retry/guardrails",
            Some(r#"{"emergency_stop": true}"#),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    store.fail_writes(None);
    let (_, strategy) = api.get("/api/v1/retry/strategy").await;
    assert_eq!(
        strategy["guardrails"]["emergency_stop"], false,
        "rolled back"
    );
}

/// `POST /bayesian/update` re-solves a model that has samples it has not folded in yet: the
/// answer is `updated`, the model changes, and the operator's action is audited.
#[tokio::test]
async fn bayesian_update_refreshes_a_known_model_and_is_audited() {
    let api = Api::with_config(common::test_config()).await;
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    // 40 learned retries: at 40 samples a model refreshes every 2, so the 40th one waits.
    let lines: Vec<String> = (0..40)
        .flat_map(|i| {
            let job = format!("b{i}");
            let at = t0 + chrono::Duration::seconds(i * 10);
            [
                attempt_json(&job, 1, false, at),
                attempt_json(&job, 2, i % 3 != 0, at + chrono::Duration::seconds(1)),
            ]
        })
        .collect();
    let (status, body) = api.post("/api/v1/retry/attempts", &lines.join("\n")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let models = |api: &Api| api.state.engine.lock().bayesian_models();
    let before = models(&api);
    let trained = |summary: &Value| summary["models"]["last_trained"].as_str().map(String::from);
    let (_, summary) = api.get("/api/v1/retry/summary").await;
    let trained_before = trained(&summary).expect("models trained on their own as samples came");
    let request = r#"{"job_type": "email", "error_class": "timeout"}"#;
    let asked = chrono::Utc::now();
    let (status, body) = api.post("/api/v1/retry/bayesian/update", request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "updated", "{body}");
    let (_, summary) = api.get("/api/v1/retry/summary").await;
    let trained_after: chrono::DateTime<chrono::Utc> = trained(&summary).unwrap().parse().unwrap();
    assert!(
        trained_after >= asked - chrono::Duration::seconds(1),
        "/summary says when the retrain ran: {trained_after} (was {trained_before})"
    );
    let after = models(&api);
    assert_eq!(before.len(), after.len());
    assert!(before != after, "the pending sample was folded in");
    let (_, audit) = api.get("/api/v1/retry/audit").await;
    let entries = audit.as_array().expect("audit entries");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "bayesian_update" && e["target"] == "email/timeout"),
        "{audit}"
    );
}

/// Seeds the engine with `seed` (as an operator), then the delays of three recommendations for
/// the same first failure.
async fn delays_after_seed(api: &Api, seed: &str) -> Vec<u64> {
    let body = format!(r#"{{"seed": {seed}}}"#);
    let (status, answer) = api
        .post_as(Role::Operator, "/api/v1/retry/engine/seed", &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["seed"].to_string(), seed);
    let failure =
        r#"{"job_type": "payment", "error_class": "service_unavailable", "attempt_number": 1}"#;
    let mut delays = Vec::new();
    for _ in 0..3 {
        let (status, rec) = api
            .post_as(Role::Worker, "/api/v1/retry/recommendation", failure)
            .await;
        assert_eq!(status, StatusCode::OK, "{rec}");
        delays.push(rec["delay_ms"].as_u64().unwrap());
    }
    delays
}

/// `POST /engine/seed` restarts the random stream: after the same seed the same failure gets
/// the same jittered delay; only an operator may do it, and a bad seed is a 400 naming it.
#[tokio::test]
async fn engine_seed_makes_jitter_reproducible() {
    let api = Api::with_config(config_with_tokens()).await;
    let seed = |n: &str| format!(r#"{{"seed": {n}}}"#);
    let first = delays_after_seed(&api, "7").await;
    assert_eq!(
        delays_after_seed(&api, "7").await,
        first,
        "same seed, same jitter"
    );
    assert_ne!(
        delays_after_seed(&api, "8").await,
        first,
        "another seed, other jitter"
    );

    let path = "/api/v1/retry/engine/seed";
    let (status, _) = api.post_as(Role::Viewer, path, &seed("7")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in ["-1", "\"x\"", "1.5"] {
        let (status, body) = api.post_as(Role::Operator, path, &seed(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["details"].to_string().contains("seed"),
            "{bad}: {body}"
        );
    }
    let (_, audit) = api.get_as(Role::Operator, "/api/v1/retry/audit").await;
    let seeds = audit.as_array().unwrap().iter();
    assert_eq!(seeds.filter(|e| e["action"] == "engine_seed").count(), 3);
}

/// The OpenAPI document and the router come from the same registrations: every documented
/// operation is answered by a handler (not the router's 404 or 405), and every other method on
/// a documented path is refused with 405, so no undocumented handler hides beside them.
#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routed_operations() {
    let api = Api::memory().await;
    let (status, doc) = api.get("/api/v1/retry/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let uri = with_path_params(path);
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let (status, _, body) = api.raw(method, &uri, Some(("{}", None))).await;
            let routed =
                status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("\"no such endpoint\"");
            let is_documented = item.get(method.to_lowercase()).is_some();
            assert_eq!(routed, is_documented, "{method} {path}: {status} {body}");
            documented += usize::from(is_documented);
        }
    }
    assert!(documented >= 33, "only {documented} operations documented");
    let (status, _, body) = api.raw("GET", "/api/v1/retry/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("\"no such endpoint\""), "{body}");
}

/// A documented path with its `{param}` segments filled in.
fn with_path_params(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// `PUT /engine/cost` sets the weights the Bayesian tier minimises, refuses weights that make
/// no sense (naming the field), and audits the change with the weights before and after.
#[tokio::test]
async fn cost_weights_are_set_validated_and_audited() {
    let api = Api::memory().await;
    let path = "/api/v1/retry/engine/cost";
    let (status, cost) = api.get(path).await;
    assert_eq!(status, StatusCode::OK, "{cost}");
    assert_eq!(cost["per_attempt"], 1.0);
    let dear = r#"{"per_attempt": 2, "per_second": 1, "give_up_penalty": 600}"#;
    let (status, body) = api.send("PUT", path, Some(dear)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(api.get(path).await.1["per_second"], 1.0);
    for (bad, field) in [
        (r#"{"per_attempt": -1}"#, "per_attempt"),
        (r#"{"per_attempt": 0, "per_second": 0}"#, "per_attempt"),
        (r#"{"give_up": 5}"#, "give_up"),
    ] {
        let (status, body) = api.send("PUT", path, Some(bad)).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert!(
            body["details"].as_str().unwrap_or_default().contains(field),
            "{bad}: {body}"
        );
    }
    assert_eq!(
        api.get(path).await.1["give_up_penalty"],
        600.0,
        "a refused change changes nothing"
    );
    let audit = api.state.store.list_audit(0, 10).await.unwrap();
    let entry = audit.iter().find(|a| a.action == "engine_cost").unwrap();
    assert_eq!(entry.target, "engine.cost");
    assert_eq!(entry.detail["after"]["per_attempt"], 2.0);
    assert_eq!(entry.detail["before"]["per_attempt"], 1.0);
}

/// Inputs at the edges of their documented ranges (found by schemathesis): times in years 0000
/// and 9999, the largest delay and attempt number. Each is answered, none is a 500.
#[tokio::test]
async fn inputs_at_the_edges_of_their_ranges_are_answered_not_panicked_on() {
    let api = Api::memory().await;
    let failure = |job: &str, timestamp: Value, delay_ms: u64, attempt: u32| {
        json!({
            "job_id": job, "job_type": "email", "error_class": "timeout", "queue": "q",
            "attempt_number": attempt, "delay_ms": delay_ms, "timestamp": timestamp,
        })
        .to_string()
    };
    let cases = [
        failure("a", json!("9999-12-28T23:59:59Z"), u64::MAX, 2),
        failure("b", json!("0000-01-01T00:00:00Z"), u64::MAX, 2),
        failure("c", json!("0000-01-01T00:00:00Z"), 0, 1),
        failure("d", Value::Null, 0, 1),
        failure("e", json!("9999-12-28T23:59:59Z"), 0, u32::MAX),
    ];
    for body in &cases {
        let (status, answer) = api.post("/api/v1/retry/failures", body).await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
    }
    let preview = json!({
        "features": {"job_id": "p", "job_type": "email", "error_class": "timeout",
                     "attempt_number": u32::MAX},
        "max_attempts": 0,
    });
    let (status, answer) = api
        .post("/api/v1/retry/preview", &preview.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = api.post("/api/v1/retry/claim", r#"{"worker": "w"}"#).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}
