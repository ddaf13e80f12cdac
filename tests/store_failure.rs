//! When the store refuses writes (a full disk, a read-only file, a lock held too long):
//! `/health`, `/health?strict=true`, `/metrics`, `/alerts` and `/summary` say so with the reason
//! while it lasts, and stop saying so once the service's own write probe succeeds again. A
//! real `retryctl serve` with a locked database and a closed log pipe answers every request and
//! recovers on its own.

use crate::common;
use crate::common::service;

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

mod real_process {
    use super::service::Service;
    use serde_json::Value;
    use std::time::{Duration, Instant};

    fn batch(tag: &str) -> String {
        let now = chrono::Utc::now();
        (0..3)
            .map(|i| super::attempt_json(&format!("{tag}-{i}"), 1, false, now))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Status and body of one request; a request that got no answer fails the test.
    async fn send(req: reqwest::RequestBuilder) -> (u16, String) {
        let resp = req
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("every request gets an answer");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("a whole body"))
    }

    async fn get(svc: &Service, path: &str) -> (u16, String) {
        send(reqwest::Client::new().get(svc.url(path))).await
    }

    async fn post_batch(svc: &Service, tag: &str) -> (u16, String) {
        let req = reqwest::Client::new()
            .post(svc.url("/attempts"))
            .header("content-type", "application/x-ndjson")
            .body(batch(tag));
        send(req).await
    }

    async fn json(svc: &Service, path: &str) -> Value {
        serde_json::from_str(&get(svc, path).await.1).unwrap()
    }

    async fn metric(svc: &Service, name: &str) -> f64 {
        let url = format!("{}/metrics", svc.api());
        let (_, text) = send(reqwest::Client::new().get(url)).await;
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// Polls `path` until `done` holds for its JSON, for at most `within`.
    async fn wait_for(svc: &Service, path: &str, within: Duration, done: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            let value = json(svc, path).await;
            if done(&value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} after {within:?}: {value}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn store_alert_active(alerts: &Value) -> Option<bool> {
        super::store_degraded_alert(alerts).map(|a| a["active"] == true)
    }

    /// The database locked by another process beyond the busy timeout, and `serve`'s log pipe
    /// closed: every request is answered, the state shows everywhere, and once the lock is gone
    /// the service recovers by itself (its probe), with no request needed.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_locked_store_and_a_closed_log_pipe_cost_no_answer_and_recover_alone() {
        let dir = tempfile::tempdir().unwrap();
        let svc = Service::start_with_closed_log(&dir.path().join("data"));
        assert_eq!(post_batch(&svc, "before").await.0, 200);
        let lock = rusqlite::Connection::open(svc.data.join("retryctl.db")).unwrap();
        lock.execute_batch("BEGIN EXCLUSIVE").unwrap();

        let tags: Vec<String> = (0..4).map(|i| format!("locked{i}")).collect();
        let refused = futures::future::join_all(tags.iter().map(|t| post_batch(&svc, t))).await;
        // Writes queue behind the lock, so later ones may hit the request timeout first: an
        // answer all the same.
        for (status, body) in &refused {
            assert_eq!(*status, 503, "{body}");
            assert!(
                body.contains("locked") || body.contains("timed out"),
                "{body}"
            );
        }
        assert!(
            refused
                .iter()
                .any(|(_, b)| b.contains("database is locked")),
            "{refused:?}"
        );
        let health = json(&svc, "/health").await;
        assert_eq!(
            (&health["kind"], &health["reason"]),
            (&"locked".into(), &"store locked".into()),
            "{health}"
        );
        assert_eq!(get(&svc, "/health?strict=true").await.0, 503);
        assert_eq!(metric(&svc, "retryctl_store_up").await, 0.0);
        assert!(
            metric(&svc, "retryctl_log_write_errors_total").await >= 4.0,
            "each 503 logs a line the closed pipe refuses"
        );
        wait_for(&svc, "/alerts", Duration::from_secs(5), |a| {
            store_alert_active(a) == Some(true)
        })
        .await;
        let summary = json(&svc, "/summary").await;
        assert_eq!(
            summary["degradation"]["reason"], "store locked",
            "{summary}"
        );

        lock.execute_batch("ROLLBACK").unwrap();
        wait_for(&svc, "/health", Duration::from_secs(20), |h| {
            h["degraded"] == false
        })
        .await;
        assert_eq!(get(&svc, "/health?strict=true").await.0, 200);
        assert_eq!(metric(&svc, "retryctl_store_up").await, 1.0);
        wait_for(&svc, "/alerts", Duration::from_secs(5), |a| {
            store_alert_active(a) == Some(false)
        })
        .await;
        assert_eq!(post_batch(&svc, "after").await.0, 200);
    }
}
