//! When the store refuses writes (a full disk, a read-only file, a lock held too long):
//! `/health`, `/health?strict=true`, `/metrics`, `/alerts` and `/summary` say so with the reason
//! while it lasts, and stop saying so once the service's own write probe succeeds again. A
//! real `retryctl serve` with a locked database and a closed log pipe answers every request and
//! recovers on its own.

mod common;

use axum::http::StatusCode;
use common::failing_store::FailingStore;
use common::{Api, attempt_json};
use retryctl::model::StoreFailureKind;
use retryctl::server::core::alerts;
use serde_json::Value;
use std::sync::Arc;

async fn metrics_text(api: &Api) -> String {
    api.raw("GET", "/metrics", None).await.2
}

fn store_degraded_alert(alerts: &Value) -> Option<&Value> {
    alerts
        .as_array()
        .expect("alert list")
        .iter()
        .find(|a| a["id"] == "store_degraded")
}

async fn post_attempt(api: &Api, job: &str) -> (StatusCode, Value) {
    let body = attempt_json(job, 1, false, chrono::Utc::now());
    api.post("/api/v1/retry/attempt", &body).await
}

#[tokio::test]
async fn a_full_store_shows_everywhere_until_the_probe_writes_again() {
    let store = Arc::new(FailingStore::default());
    let api = Api::with_store(common::test_config(), store.clone()).await;
    api.state.probe_store().await;
    assert!(metrics_text(&api).await.contains("retryctl_store_up 1"));

    store.fail_writes(Some(StoreFailureKind::Full));
    let (status, body) = post_attempt(&api, "a").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    // Reads still work on a full disk, and must not make it look healthy.
    let (status, _) = api.get("/api/v1/retry/jobs").await;
    assert_eq!(status, StatusCode::OK);
    let (status, health) = api.get("/api/v1/retry/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["degraded"], true);
    assert_eq!(health["kind"], "full");
    assert_eq!(health["reason"], "store full");
    assert!(health["since"].is_string(), "{health}");
    let (status, _) = api.get("/api/v1/retry/health?strict=true").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let text = metrics_text(&api).await;
    assert!(text.contains("retryctl_store_up 0"), "{text}");
    assert!(text.contains(r#"retryctl_store_errors_total{op="write",kind="full"} 1"#));
    assert!(text.contains("retryctl_store_last_write_success_timestamp_seconds "));
    assert!(text.contains("retryctl_log_write_errors_total "));

    alerts::evaluate(api.state.clone()).await;
    let (_, list) = api.get("/api/v1/retry/alerts").await;
    let alert = store_degraded_alert(&list).expect("store_degraded raised");
    assert_eq!(
        (&alert["severity"], &alert["active"]),
        (&"critical".into(), &true.into())
    );
    assert!(
        alert["message"].as_str().unwrap().starts_with("store full"),
        "{alert}"
    );

    let (_, summary) = api.get("/api/v1/retry/summary").await;
    assert_eq!(summary["degraded"], true);
    assert_eq!(summary["degradation"]["reason"], "store full", "{summary}");

    // The probe fails too while the store is full.
    api.state.probe_store().await;
    assert!(
        metrics_text(&api)
            .await
            .contains(r#"retryctl_store_errors_total{op="probe",kind="full"} 1"#)
    );
    assert_eq!(api.get("/api/v1/retry/health").await.1["degraded"], true);

    store.fail_writes(None);
    // A probe right after a failed write does not count: give it the probe period.
    tokio::time::sleep(retryctl::server::core::store_health::PROBE_EVERY).await;
    api.state.probe_store().await;
    let (status, health) = api.get("/api/v1/retry/health?strict=true").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["degraded"], false);
    assert!(health.get("reason").is_none(), "{health}");
    assert!(metrics_text(&api).await.contains("retryctl_store_up 1"));
    alerts::evaluate(api.state.clone()).await;
    let (_, list) = api.get("/api/v1/retry/alerts").await;
    assert_eq!(
        store_degraded_alert(&list).expect("kept, resolved")["active"],
        false
    );
    let (_, summary) = api.get("/api/v1/retry/summary").await;
    assert_eq!(summary["degraded"], false);
    assert!(summary.get("degradation").is_none());
    assert_eq!(post_attempt(&api, "b").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_small_write_that_still_fits_does_not_end_the_degradation() {
    let store = Arc::new(FailingStore::default());
    let api = Api::with_store(common::test_config(), store.clone()).await;
    store.fail_writes(Some(StoreFailureKind::ReadOnly));
    assert_eq!(
        post_attempt(&api, "a").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    store.fail_writes(None);
    assert_eq!(post_attempt(&api, "b").await.0, StatusCode::OK);
    let (_, health) = api.get("/api/v1/retry/health").await;
    assert_eq!(
        (&health["degraded"], &health["reason"]),
        (&true.into(), &"store read-only".into()),
        "only the probe, after a quiet probe period, ends it: {health}"
    );
}

#[tokio::test]
async fn strict_must_be_true_or_false() {
    let api = Api::memory().await;
    let (status, body) = api.get("/api/v1/retry/health?strict=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["details"].as_str().unwrap().contains("strict"),
        "{body}"
    );
    let (status, _) = api.get("/api/v1/retry/health?strict=false").await;
    assert_eq!(status, StatusCode::OK);
}
