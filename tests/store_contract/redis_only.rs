//! What only the Redis backend promises: every key inside one hash tag under its prefix (so
//! one Cluster slot, and prefixes share a server without touching each other), an attempt
//! sent again is logged once, the durability settings are checked, and a stalled Redis
//! makes calls fail with a timeout instead of hanging.

use super::fixtures::{alert, attempt, audit, job, t0};
use crate::common::redis::RedisServer;
use retryctl::engine::default_strategy;
use retryctl::model::{EngineSnapshot, JobState, StoreFailureKind};
use retryctl::store::redis::{RedisConfig, RedisStore};
use retryctl::store::{Claim, Store, StoreError};
use std::time::{Duration, Instant};

async fn open(server: &RedisServer, prefix: &str) -> RedisStore {
    let mut config = RedisConfig::new(server.url());
    config.prefix = prefix.into();
    RedisStore::open(&config).await.unwrap()
}

async fn all_keys(server: &RedisServer) -> Vec<String> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// One of every write the trait has.
async fn write_everything(store: &RedisStore) {
    store
        .append_attempts(vec![attempt("a", 1, 0, false)])
        .await
        .unwrap();
    let due = job("j", JobState::Scheduled, -5);
    store
        .append_attempt_with_job(attempt("j", 1, 1, false), due)
        .await
        .unwrap();
    let claim = Claim {
        worker: "w".into(),
        now: t0(),
        lease_until: t0() + chrono::Duration::seconds(30),
        limit: 10,
        queue: None,
        paused: vec![],
    };
    assert_eq!(store.claim_due(claim).await.unwrap().len(), 1);
    store.save_strategy(&default_strategy()).await.unwrap();
    let snapshot = EngineSnapshot::new(1, &serde_json::json!({"k": 1})).unwrap();
    store.save_snapshot(&snapshot, 2).await.unwrap();
    store.append_audit(audit("kill")).await.unwrap();
    store.put_alert(&alert("x", 0, true)).await.unwrap();
    store.probe_write().await.unwrap();
    store.prune_attempts(t0()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_is_inside_the_prefixs_hash_tag_and_prefixes_do_not_meet() {
    let server = RedisServer::start();
    let team_a = open(&server, "team-a").await;
    let team_b = open(&server, "team-b").await;
    write_everything(&team_a).await;
    let keys = all_keys(&server).await;
    assert!(keys.len() > 10, "{keys:?}");
    for key in &keys {
        assert!(
            key.starts_with("{team-a}:"),
            "{key} is outside the hash tag"
        );
    }
    assert!(team_b.attempts_after(0, 10).await.unwrap().is_empty());
    assert_eq!(team_b.get_job("j").await.unwrap(), None);
    assert_eq!(
        team_a.get_job("j").await.unwrap().unwrap().state,
        JobState::Claimed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_sent_again_is_logged_once() {
    let server = RedisServer::start();
    let store = open(&server, "retryctl").await;
    let first = store
        .append_attempts(vec![attempt("a", 1, 0, false)])
        .await
        .unwrap();
    let again = store
        .append_attempts(vec![attempt("a", 1, 0, false), attempt("a", 2, 5, true)])
        .await
        .unwrap();
    assert_eq!(
        again[0], first[0],
        "the same (job, attempt, timestamp) is the same attempt"
    );
    let failed = attempt("j", 1, 1, false);
    let scheduled = job("j", JobState::Scheduled, 10);
    let seq = store
        .append_attempt_with_job(failed.clone(), scheduled.clone())
        .await
        .unwrap();
    let resent = store
        .append_attempt_with_job(failed, scheduled)
        .await
        .unwrap();
    assert_eq!(resent, seq);
    assert_eq!(store.attempts_after(0, 100).await.unwrap().len(), 3);
    assert_eq!(store.job_attempts("j").await.unwrap().len(), 1);
    assert_eq!(
        store.error_class_counts().await.unwrap()["timeout"].attempts,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_lose_writes_is_refused_with_require_durable() {
    let server = RedisServer::start_with(&["--appendonly", "no"]);
    let mut config = RedisConfig::new(server.url());
    assert!(
        RedisStore::open(&config).await.is_ok(),
        "without the flag: a warning"
    );
    config.require_durable = true;
    match RedisStore::open(&config).await {
        Err(StoreError::Invalid { message, .. }) => {
            assert!(message.contains("appendonly is \"no\""), "{message}");
            assert!(message.contains("--require-durable"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_times_out_instead_of_hanging() {
    let server = RedisServer::start();
    let store = open(&server, "retryctl").await;
    store.probe_write().await.unwrap();
    server.freeze();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store
            .append_attempts(vec![attempt("s", 1, 0, false)])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(StoreFailureKind::Timeout), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    server.thaw();
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.probe_write().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "writes did not resume within 5 s"
        );
    }
}
