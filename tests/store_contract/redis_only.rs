//! What only the Redis backend promises: every key inside one hash tag under its prefix (so
//! one Cluster slot, and prefixes share a server without touching each other), an attempt
//! sent again is logged once, the durability settings are checked, a stalled Redis makes
//! calls fail with a timeout instead of hanging, and data an earlier build wrote is upgraded
//! to this layout once.

use super::fixtures::{alert, attempt, audit, job, loaded_snapshot, secs, t0};
use crate::common::redis::RedisServer;
use retryctl::engine::default_strategy;
use retryctl::model::{EngineSnapshot, JobState, SnapshotSource, StoreFailureKind};
use retryctl::store::redis::{RedisConfig, RedisStore};
use retryctl::store::{Claim, Store, StoreError};
use std::sync::Arc;
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

/// Runs one command on `server` on a connection of its own.
async fn command<T: redis::FromRedisValue>(server: &RedisServer, cmd: &mut redis::Cmd) -> T {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut conn).await.unwrap()
}

/// The keys snapshots are staged under (see `Keys::snapshot_staging`).
async fn staging_keys(server: &RedisServer) -> Vec<String> {
    command(
        server,
        redis::cmd("KEYS").arg("{retryctl}:snapshot_staging:*"),
    )
    .await
}

/// A snapshot whose encoding writes 3 MB of its document (several pieces), then waits until
/// the test lets it go and fails.
struct HeldEncoding(std::sync::mpsc::Receiver<()>);

impl SnapshotSource for HeldEncoding {
    fn write_document(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(b"{\"version\":3,\"data\":[")?;
        out.write_all(&vec![b'0'; 3 << 20])?;
        let _ = self.0.recv();
        Err(std::io::Error::other("let go by the test"))
    }
}

/// A snapshot is written piece by piece under a staging key that expires, and published whole
/// by one script; a leader that stops half-way (its task dropped, as a kill stops its calls)
/// leaves the previous snapshot loaded and its staging key expiring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_cut_short_leaves_the_previous_one_and_its_staging_key_expires() {
    let server = RedisServer::start();
    let store = Arc::new(open(&server, "retryctl").await);
    let first = EngineSnapshot::new(3, &serde_json::json!({"k": 1})).unwrap();
    store
        .save_snapshot(Box::new(first.clone()), 5)
        .await
        .unwrap();
    assert!(staging_keys(&server).await.is_empty());
    let (let_go, held) = std::sync::mpsc::channel();
    let leader = store.clone();
    let saving =
        tokio::spawn(async move { leader.save_snapshot(Box::new(HeldEncoding(held)), 9).await });
    let began = Instant::now();
    let staging = loop {
        if let [key] = &staging_keys(&server).await[..] {
            let staged: usize = command(&server, redis::cmd("STRLEN").arg(key)).await;
            if staged >= 2 << 20 {
                break key.clone();
            }
        }
        assert!(began.elapsed() < Duration::from_secs(30), "nothing staged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(loaded_snapshot(&*store).await, Some((first.clone(), 5)));
    saving.abort();
    assert!(saving.await.unwrap_err().is_cancelled());
    drop(let_go);
    let ttl: i64 = command(&server, redis::cmd("PTTL").arg(&staging)).await;
    assert!(
        (1..=600_000).contains(&ttl),
        "staging key expires in {ttl} ms"
    );
    assert_eq!(loaded_snapshot(&*store).await, Some((first, 5)));
    let next = EngineSnapshot::new(3, &serde_json::json!({"k": 2})).unwrap();
    store
        .save_snapshot(Box::new(next.clone()), 11)
        .await
        .unwrap();
    assert_eq!(loaded_snapshot(&*store).await, Some((next, 11)));
    assert_eq!(staging_keys(&server).await, vec![staging]);
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
    store.save_snapshot(Box::new(snapshot), 2).await.unwrap();
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

/// The append script gives each index one command per key, its values in chunks of 4,000
/// (Lua's `unpack` holds about 8,000): a batch larger than a chunk, repeating itself and an
/// attempt already logged, gets one position per new attempt, in order, and every index holds
/// each attempt once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_a_chunk_with_repeats_is_logged_once_in_order() {
    let server = RedisServer::start();
    let store = open(&server, "retryctl").await;
    // Attempt i: job j{i % 10}, its (i / 10 + 1)th attempt, at second i; every third a success.
    let nth = |i: i64| attempt(&format!("j{}", i % 10), (i / 10 + 1) as u32, i, i % 3 == 0);
    let logged = store.append_attempts(vec![nth(3)]).await.unwrap()[0];
    let mut batch: Vec<_> = (0..4_500).map(nth).collect();
    batch.push(nth(10));
    let seqs = store.append_attempts(batch).await.unwrap();
    assert_eq!(seqs.len(), 4_501);
    assert_eq!(
        seqs[3], logged,
        "an attempt logged before keeps its position"
    );
    assert_eq!(
        seqs[4_500], seqs[10],
        "a repeat within the batch gets the first's"
    );
    let new: Vec<u64> = seqs[..4_500]
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(new, (logged + 1..logged + 4_500).collect::<Vec<_>>());
    let log = store.attempts_after(0, 10_000).await.unwrap();
    assert_eq!(log.len(), 4_500);
    assert!(log.windows(2).all(|w| w[0].0 < w[1].0));
    let j3 = store.job_attempts("j3").await.unwrap();
    assert_eq!(j3.len(), 450);
    assert!(
        j3.iter()
            .enumerate()
            .all(|(k, a)| a.attempt_number == k as u32 + 1)
    );
    let tally = &store.error_class_counts().await.unwrap()["timeout"];
    assert_eq!((tally.attempts, tally.successes), (4_500, 1_500));
    let window = store
        .attempt_aggregate("email", "timeout", t0() + secs(100), t0() + secs(200))
        .await
        .unwrap();
    assert_eq!(window.total_attempts, 100);
    assert_eq!(
        store.prune_attempts(t0() + secs(4_000)).await.unwrap(),
        4_000
    );
    assert_eq!(store.attempts_after(0, 10_000).await.unwrap().len(), 500);
    assert_eq!(store.job_attempts("j3").await.unwrap().len(), 50);
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

/// Attempts an earlier build wrote (indexed by time in one sorted set, their (job type, error
/// class) sets not named in the aggregates set) were never pruned. The layout upgrade names
/// the sets and removes the index, after which retention prunes them; a second upgrade, and
/// the other prefix on the same server, change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layout_an_earlier_build_wrote_is_upgraded_once() {
    let server = RedisServer::start();
    let (store, other) = (
        open(&server, "retryctl").await,
        open(&server, "other").await,
    );
    let mut limited = attempt("b", 1, 1, false);
    limited.error_class = "rate_limit".into();
    let old = vec![
        attempt("a", 1, 0, false),
        limited,
        attempt("c", 1, 200, false),
    ];
    store.append_attempts(old).await.unwrap();
    other
        .append_attempts(vec![attempt("x", 1, 0, false)])
        .await
        .unwrap();
    server.make_layout_old("retryctl").await;
    let cutoff = t0() + secs(100);
    assert_eq!(
        store.prune_attempts(cutoff).await.unwrap(),
        0,
        "not upgraded"
    );

    let changes = store.upgrade_layout().await.unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[0].starts_with("named 2 "), "{changes:?}");
    assert!(changes[1].contains("(3 attempts)"), "{changes:?}");
    let keys = all_keys(&server).await;
    assert!(
        !keys.iter().any(|k| k.ends_with("attempts_by_time")),
        "{keys:?}"
    );
    assert_eq!(store.prune_attempts(cutoff).await.unwrap(), 2);
    assert_eq!(store.attempts_after(0, 10).await.unwrap().len(), 1);

    assert_eq!(store.upgrade_layout().await.unwrap(), Vec::<String>::new());
    assert_eq!(other.upgrade_layout().await.unwrap(), Vec::<String>::new());
    assert_eq!(other.prune_attempts(cutoff).await.unwrap(), 1);
}
