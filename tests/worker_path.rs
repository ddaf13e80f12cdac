//! The worker path (`POST /failures`) under concurrency, on a real SQLite file: failures of
//! different jobs share group commits, and snapshots taken while failures and successes are in
//! flight restore exactly what the engine learned.

use crate::common::{Api, attempt_json, test_config};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use retryctl::store::Store;
use retryctl::store::sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A failure of `job` (job type `email`, error class `timeout`) at attempt `attempt`.
fn failure(job: &str, attempt: u32, at: DateTime<Utc>) -> String {
    serde_json::json!({
        "job_id": job, "job_type": "email", "error_class": "timeout", "error_code": "504",
        "queue": "mail", "attempt_number": attempt, "delay_ms": if attempt > 1 { 1000 } else { 0 },
        "timestamp": at,
    })
    .to_string()
}

async fn sqlite_api(dir: &std::path::Path) -> (Arc<Api>, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::open(dir).await.unwrap());
    let api = Api::with_store(test_config(), store.clone()).await;
    (Arc::new(api), store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_of_different_jobs_share_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (api, store) = sqlite_api(dir.path()).await;
    let now = Utc::now();
    let before = store.commits();
    let posts: Vec<_> = (0..64)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let (status, body) = api
                    .post("/api/v1/retry/failures", &failure(&format!("g{i}"), 1, now))
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
            })
        })
        .collect();
    for post in posts {
        post.await.unwrap();
    }
    let commits = store.commits() - before;
    assert!(
        commits < 64,
        "64 concurrent failures took {commits} commits: each waited for its own fsync"
    );
    for i in 0..64 {
        let job = store.get_job(&format!("g{i}")).await.unwrap();
        assert!(
            job.is_some_and(|j| j.state.is_pending()),
            "job g{i} is not scheduled"
        );
    }
}

/// Retry outcomes each model learned, by model.
fn samples(api: &Api) -> BTreeMap<String, u64> {
    let models = api.state.engine.lock().bayesian_models();
    models
        .into_iter()
        .map(|m| {
            let key = format!(
                "{}/{}/{:?}/{:?}",
                m.job_type, m.error_class, m.tenant, m.hour_utc
            );
            (key, m.sample_count)
        })
        .collect()
}

/// One job's life: failures of attempts 1..=4, then a success, one second apart.
async fn job_life(api: Arc<Api>, job: String, start: DateTime<Utc>) {
    for attempt in 1..=4u32 {
        let at = start + Duration::seconds(i64::from(attempt));
        let (status, body) = api
            .post("/api/v1/retry/failures", &failure(&job, attempt, at))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let success = attempt_json(&job, 5, true, start + Duration::seconds(5));
    let (status, body) = api.post("/api/v1/retry/attempt", &success).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_taken_while_failures_are_in_flight_restore_what_was_learned() {
    const JOBS: u64 = 48;
    let dir = tempfile::tempdir().unwrap();
    let (api, store) = sqlite_api(dir.path()).await;
    let start = Utc::now() - Duration::minutes(1);
    let lives: Vec<_> = (0..JOBS)
        .map(|i| tokio::spawn(job_life(api.clone(), format!("s{i}"), start)))
        .collect();
    let snapshots = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut taken = 0;
            while api.state.watermark() < JOBS * 5 {
                api.state.snapshot().await.unwrap();
                taken += 1;
                tokio::task::yield_now().await;
            }
            taken
        })
    };
    for life in lives {
        life.await.unwrap();
    }
    assert!(
        snapshots.await.unwrap() > 1,
        "no snapshot was taken meanwhile"
    );
    let live = samples(&api);
    let class = live.get("email/timeout/None/None").copied();
    assert_eq!(
        class,
        Some(JOBS * 4),
        "3 failed retries and a success per job"
    );
    let restarted = Api::with_store(test_config(), store.clone() as Arc<dyn Store>).await;
    assert_eq!(
        samples(&restarted),
        live,
        "restored from a snapshot taken mid-flight"
    );
}
