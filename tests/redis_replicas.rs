//! Two real `retryctl serve` replicas on one real `redis-server`: what one acknowledges the
//! other serves, both learn the same log in the same order, a replica killed with SIGKILL
//! loses nothing and its claims come back after their lease, and a stalled Redis (SIGSTOP)
//! makes writes answer 503 quickly while recommendations keep coming; an ML deployment or
//! rollback on one replica serves on the other without a restart; the first leader upgrades
//! data an earlier build wrote.
//!
//! Needs redis-server (`apt-get install -y redis-server`; the tests fail without it).

use crate::common::redis::RedisServer;
use crate::common::service::Service;
use chrono::{DateTime, Duration, Utc};
use retryctl::model::AttemptRecord;
use retryctl::model::pacing::PACE_BLOCK;
use retryctl::store::Store;
use retryctl::store::redis::{RedisConfig, RedisStore};
use serde_json::{Value, json};
use std::time::Instant;

#[test]
fn the_configs_redis_defaults_are_the_stores() {
    let settings = retryctl::config::RedisSettings::default();
    assert_eq!(settings.prefix, retryctl::store::redis::DEFAULT_PREFIX);
    assert_eq!(settings.timeout, retryctl::store::redis::DEFAULT_TIMEOUT);
}

pub(crate) struct Cluster {
    pub(crate) redis: RedisServer,
    pub(crate) a: Service,
    pub(crate) b: Service,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

pub(crate) fn cluster() -> Cluster {
    let redis = RedisServer::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let durable = [("RETRYCTL_REQUIRE_DURABLE", "true")];
    let a = Service::start_on_redis(da.path(), &redis.url(), &durable);
    let b = Service::start_on_redis(db.path(), &redis.url(), &durable);
    Cluster {
        redis,
        a,
        b,
        _dirs: (da, db),
    }
}

pub(crate) async fn post(service: &Service, path: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(service.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn attempt(job: &str, n: u32, success: bool, at: DateTime<Utc>) -> Value {
    json!({
        "job_id": job, "job_type": "email", "attempt_number": n, "error_class": "timeout",
        "error_code": "504", "status": if success { "succeeded" } else { "failed" },
        "queue": "default", "delay_ms": if n > 1 { 2_000 * n } else { 0 },
        "success": success, "timestamp": at.to_rfc3339(),
    })
}

/// A batch of `jobs` jobs × 3 attempts (fail, fail, succeed), named `tag-i`.
fn batch(tag: &str, jobs: usize, start: DateTime<Utc>) -> Value {
    let mut all = Vec::new();
    for i in 0..jobs {
        let t = start + Duration::seconds(i as i64);
        let id = format!("{tag}-{i}");
        all.push(attempt(&id, 1, false, t));
        all.push(attempt(&id, 2, false, t + Duration::seconds(2)));
        all.push(attempt(&id, 3, i % 3 != 0, t + Duration::seconds(6)));
    }
    Value::Array(all)
}

async fn log_position(service: &Service) -> u64 {
    let health = service.get("/health").await;
    health["log_position"]
        .as_u64()
        .unwrap_or_else(|| panic!("/health has no log_position on Redis: {health}"))
}

/// Waits until both replicas reached `seq`; panics after 10 s.
async fn both_reach(c: &Cluster, seq: u64) {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (a, b) = (log_position(&c.a).await, log_position(&c.b).await);
        if a >= seq && b >= seq {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas at {a} and {b}, log at {seq}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub(crate) fn failure(job: &str, n: u32, at: DateTime<Utc>) -> Value {
    json!({
        "job_id": job, "job_type": "email", "error_class": "timeout", "error_code": "503",
        "error_message": "upstream timed out", "queue": "default", "attempt_number": n,
        "timestamp": at.to_rfc3339(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_the_schedule_and_converge_on_one_log() {
    let c = cluster();
    let t0 = Utc::now() - Duration::hours(1);
    for i in 0..10 {
        let (status, _) = post(&c.a, "/failures", &failure(&format!("f-{i}"), 1, t0)).await;
        assert_eq!(status, 200);
    }
    for i in 0..10 {
        let detail = c.b.get(&format!("/jobs/f-{i}")).await;
        assert_eq!(detail["job"]["state"], "scheduled", "{detail}");
        assert_eq!(detail["attempts"].as_array().unwrap().len(), 1);
    }
    // Both replicas take batches at once; each learns the whole log in log order.
    let (batch_a, batch_b) = (batch("a", 200, t0), batch("b", 200, t0));
    let (ra, rb) = tokio::join!(
        post(&c.a, "/attempts", &batch_a),
        post(&c.b, "/attempts", &batch_b)
    );
    assert_eq!((ra.0, rb.0), (200, 200), "{ra:?} {rb:?}");
    let head = 10 + 2 * 600;
    both_reach(&c, head).await;
    for s in [&c.a, &c.b] {
        let (status, _) = post(s, "/engine/seed", &json!({"seed": 42})).await;
        assert_eq!(status, 200);
    }
    let ask = json!({"job_id": "fresh", "job_type": "email", "error_class": "timeout",
                     "attempt_number": 1, "queue": "default"});
    let (_, ra) = post(&c.a, "/recommendation", &ask).await;
    let (_, rb) = post(&c.b, "/recommendation", &ask).await;
    for field in [
        "should_retry",
        "delay_ms",
        "confidence",
        "estimated_success",
        "method",
        "rationale",
        "explanation",
    ] {
        assert_eq!(ra[field], rb[field], "{field} differs:\n{ra}\n{rb}");
    }
    assert_eq!(c.a.get("/strategy").await, c.b.get("/strategy").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replica_loses_nothing_and_its_claims_come_back() {
    let mut c = cluster();
    let t0 = Utc::now();
    for i in 0..20 {
        let (status, _) = post(&c.a, "/failures", &failure(&format!("k-{i}"), 1, t0)).await;
        assert_eq!(status, 200);
    }
    // Acknowledged second attempts of every job, then A dies without a chance to flush.
    let seconds: Vec<Value> = (0..20)
        .map(|i| attempt(&format!("k-{i}"), 2, false, t0 + Duration::seconds(3)))
        .collect();
    let (status, seqs) = post(&c.a, "/attempts", &Value::Array(seconds)).await;
    assert_eq!(status, 200, "{seqs}");
    // Claim everything through A on a clock an hour ahead (all due), with a 2 s lease.
    let later = t0 + Duration::hours(1);
    let claim = |now: DateTime<Utc>, worker: &str| json!({"worker": worker, "limit": 100, "lease_ms": 2_000, "now": now.to_rfc3339()});
    let (_, got) = post(&c.a, "/claim", &claim(later, "wa")).await;
    assert_eq!(got["jobs"].as_array().unwrap().len(), 20, "{got}");
    c.a.kill_9();
    let (_, none) = post(&c.b, "/claim", &claim(later + Duration::seconds(1), "wb")).await;
    assert!(
        none["jobs"].as_array().unwrap().is_empty(),
        "lease still holds: {none}"
    );
    let (_, again) = post(&c.b, "/claim", &claim(later + Duration::seconds(2), "wb")).await;
    assert_eq!(again["jobs"].as_array().unwrap().len(), 20, "{again}");
    for i in 0..20 {
        let detail = c.b.get(&format!("/jobs/k-{i}")).await;
        let attempts = detail["attempts"].as_array().unwrap().len();
        assert_eq!(attempts, 2, "k-{i}: {detail}");
    }
    drop(c.redis);
}

/// Redis stopped with SIGSTOP: every write answers 503 (upstream error shape) within 2 s,
/// recommendations keep coming, `/health` says degraded; after SIGCONT the clients' retries of
/// their unanswered reports succeed without duplicating an attempt, claims work again and the
/// service is healthy again within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_redis_fails_writes_fast_and_nothing_is_duplicated() {
    let c = cluster();
    let t0 = Utc::now() - Duration::minutes(5);
    c.redis.freeze();
    let mut unanswered = Vec::new();
    for i in 0..6 {
        let report = failure(&format!("s-{i}"), 1, t0 + Duration::seconds(i));
        let started = Instant::now();
        let (status, body) = post(&c.a, "/failures", &report).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], 503, "upstream error shape: {body}");
        assert!(
            body["error"].is_string() && body["timestamp"].is_string(),
            "{body}"
        );
        assert!(
            took <= std::time::Duration::from_secs(2),
            "503 after {took:?}"
        );
        unanswered.push(report);
        let ask = json!({"job_type": "email", "error_class": "timeout", "attempt_number": 1});
        let (status, rec) = post(&c.b, "/recommendation", &ask).await;
        assert_eq!(status, 200, "recommendations come from memory: {rec}");
    }
    let health = c.a.get("/health").await;
    assert_eq!(health["status"], "degraded", "{health}");
    c.redis.thaw();
    let thawed = Instant::now();
    for report in &unanswered {
        loop {
            let (status, body) = post(&c.a, "/failures", report).await;
            if status == 200 {
                break;
            }
            assert!(
                thawed.elapsed() < std::time::Duration::from_secs(5),
                "{status} {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // A client that never saw that answer sends it once more: same attempt, not a new one.
        assert_eq!(post(&c.a, "/failures", report).await.0, 200);
    }
    let later = (t0 + Duration::hours(2)).to_rfc3339();
    let claim = json!({"worker": "w", "limit": 100, "lease_ms": 2_000, "now": later});
    let (status, claimed) = post(&c.b, "/claim", &claim).await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["jobs"].as_array().unwrap().len(), unanswered.len());
    for i in 0..unanswered.len() {
        let detail = c.b.get(&format!("/jobs/s-{i}")).await;
        assert_eq!(detail["attempts"].as_array().unwrap().len(), 1, "{detail}");
    }
    loop {
        if c.a.get("/health").await["status"] == "healthy" {
            break;
        }
        assert!(
            thawed.elapsed() < std::time::Duration::from_secs(5),
            "still degraded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Puts `n` jobs on the schedule through both replicas, due already (failed an hour ago).
async fn seed_due_jobs(c: &Cluster, n: usize) {
    let t0 = Utc::now() - Duration::hours(1);
    let tasks = (0..8).map(|w| {
        let service = if w % 2 == 0 { c.a.url("") } else { c.b.url("") };
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in (w..n).step_by(8) {
                let report = failure(&format!("c-{i}"), 1, t0);
                let resp = client.post(format!("{service}/failures")).json(&report);
                assert_eq!(resp.send().await.unwrap().status(), 200);
            }
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.unwrap();
    }
}

/// Eight workers claim through two replicas with 2 s leases and never report: every job
/// comes back when its lease runs out, and no job is ever granted while a lease on it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_workers_on_two_replicas_never_hold_overlapping_leases() {
    let c = cluster();
    let jobs = 2_000;
    seed_due_jobs(&c, jobs).await;
    let stop_at = Instant::now() + std::time::Duration::from_secs(5);
    let workers = (0..8).map(|w| {
        let service = if w % 2 == 0 { c.a.url("") } else { c.b.url("") };
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut grants = Vec::new();
            let body = json!({"worker": format!("w{w}"), "limit": 50, "lease_ms": 2_000});
            while Instant::now() < stop_at {
                let resp = client.post(format!("{service}/claim")).json(&body);
                let got: Value = resp.send().await.unwrap().json().await.unwrap();
                let claimed = got["jobs"].as_array();
                for job in claimed.unwrap_or_else(|| panic!("POST /claim: {got}")) {
                    let until: DateTime<Utc> =
                        job["lease_until"].as_str().unwrap().parse().unwrap();
                    grants.push((job["job_id"].as_str().unwrap().to_string(), until));
                }
            }
            grants
        })
    });
    let mut by_job: std::collections::BTreeMap<String, Vec<DateTime<Utc>>> = Default::default();
    let mut total = 0;
    for worker in workers.collect::<Vec<_>>() {
        for (job, until) in worker.await.unwrap() {
            by_job.entry(job).or_default().push(until);
            total += 1;
        }
    }
    assert_eq!(by_job.len(), jobs, "every due job was claimed");
    assert!(
        total > jobs,
        "leases ran out and jobs were claimed again ({total} grants)"
    );
    for (job, mut untils) in by_job {
        untils.sort();
        for pair in untils.windows(2) {
            let next_start = pair[1] - Duration::seconds(2);
            assert!(
                next_start >= pair[0],
                "{job}: granted at {next_start} under a lease until {}",
                pair[0]
            );
        }
    }
}

/// A worker whose lease ran out (and whose job another worker claimed) reports too late: 409,
/// nothing applied; the new holder's report is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_under_a_stale_lease_is_refused() {
    let c = cluster();
    let t0 = Utc::now();
    assert_eq!(
        post(&c.a, "/failures", &failure("lease-1", 1, t0)).await.0,
        200
    );
    let claim = |worker: &str, now: DateTime<Utc>| json!({"worker": worker, "limit": 1, "lease_ms": 2_000, "now": now.to_rfc3339()});
    let first_at = t0 + Duration::hours(1);
    let (_, first) = post(&c.a, "/claim", &claim("w1", first_at)).await;
    let (_, second) = post(
        &c.b,
        "/claim",
        &claim("w2", first_at + Duration::seconds(3)),
    )
    .await;
    let under = |got: &Value, at: DateTime<Utc>| {
        let job = &got["jobs"][0];
        let mut report = failure("lease-1", 2, at);
        report["claimed_by"] = job["claimed_by"].clone();
        report["lease_until"] = job["lease_until"].clone();
        report
    };
    let late = under(&first, first_at + Duration::seconds(1));
    let (status, body) = post(&c.a, "/failures", &late).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["details"]
            .as_str()
            .unwrap()
            .contains("claimed again (by w2)"),
        "{body}"
    );
    let on_time = under(&second, first_at + Duration::seconds(4));
    assert_eq!(post(&c.b, "/failures", &on_time).await.0, 200);
    let detail = c.a.get("/jobs/lease-1").await;
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 2, "{detail}");
    assert_eq!(detail["job"]["state"], "scheduled");
}

/// A first failure is written without reading its job (one Redis call): a job killed
/// through one replica stays killed when its first attempt fails again through the other,
/// and that failure is logged; a job never killed is scheduled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_job_stays_killed_when_another_replica_takes_its_failure() {
    let c = cluster();
    let t0 = Utc::now() - Duration::minutes(5);
    assert_eq!(post(&c.a, "/failures", &failure("k-1", 1, t0)).await.0, 200);
    let (status, body) = post(&c.a, "/jobs/k-1/kill", &json!({"reason": "poison"})).await;
    assert_eq!(status, 200, "{body}");
    let again = failure("k-1", 1, t0 + Duration::seconds(5));
    let (status, answer) = post(&c.b, "/failures", &again).await;
    assert_eq!(status, 200, "{answer}");
    let detail = c.a.get("/jobs/k-1").await;
    assert_eq!(detail["job"]["state"], "killed", "{detail}");
    assert_eq!(detail["job"]["next_attempt_at"], Value::Null, "{detail}");
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 2, "{detail}");
    let (status, _) = post(&c.b, "/failures", &failure("k-2", 1, t0)).await;
    assert_eq!(status, 200);
    assert_eq!(c.a.get("/jobs/k-2").await["job"]["state"], "scheduled");
}

/// Data an earlier build wrote (README "Redis", Layout) is upgraded by the first replica to
/// lead, at its start-up, with one audit entry; its old attempts are pruned again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_leader_upgrades_an_earlier_builds_layout_and_audits_it() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&RedisConfig::new(redis.url()))
        .await
        .unwrap();
    let t0 = Utc::now() - Duration::days(400);
    let old: Vec<AttemptRecord> = (0..5)
        .map(|i| serde_json::from_value(attempt(&format!("old-{i}"), 1, false, t0)).unwrap())
        .collect();
    store.append_attempts(old).await.unwrap();
    redis.make_layout_old("retryctl").await;
    let dir = tempfile::tempdir().unwrap();
    let a = Service::start_on_redis(dir.path(), &redis.url(), &[]);
    let audit = a.get("/audit").await;
    let upgrades: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "store_layout_upgraded")
        .collect();
    assert_eq!(upgrades.len(), 1, "{audit}");
    let changes = upgrades[0]["detail"]["changes"].to_string();
    assert!(changes.contains("(5 attempts)"), "{changes}");
    assert_eq!(store.prune_attempts(Utc::now()).await.unwrap(), 5);
}

/// The leader snapshots by volume on the shared log (`snapshot_after_attempts`, the trigger
/// SQLite has): with the interval an hour away, no snapshot while the log grew by fewer than
/// 500 attempts; once the two replicas together appended more, one within seconds, covering at
/// least the 500 that made it due. So a joining replica replays about that many at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_snapshots_after_every_n_attempts_appended_by_any_replica() {
    let redis = RedisServer::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = [
        ("RETRYCTL_SNAPSHOT_INTERVAL", "1h"),
        ("RETRYCTL_SNAPSHOT_AFTER_ATTEMPTS", "500"),
    ];
    let a = Service::start_on_redis(da.path(), &redis.url(), &env);
    let b = Service::start_on_redis(db.path(), &redis.url(), &env);
    let c = Cluster {
        redis,
        a,
        b,
        _dirs: (da, db),
    };
    let store = RedisStore::open(&RedisConfig::new(c.redis.url()))
        .await
        .unwrap();
    let watermark = || async { store.load_snapshot().await.unwrap().map(|(_, w)| w) };
    let t0 = Utc::now() - Duration::hours(1);
    let (status, _) = post(&c.b, "/attempts", &batch("under", 100, t0)).await;
    assert_eq!(status, 200);
    both_reach(&c, 300).await;
    // More than one look of the snapshot task (every second) at 300 attempts: none due.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(watermark().await, None, "a snapshot under the volume");
    let (over_a, over_b) = (batch("over-a", 100, t0), batch("over-b", 100, t0));
    let (ra, rb) = tokio::join!(
        post(&c.a, "/attempts", &over_a),
        post(&c.b, "/attempts", &over_b)
    );
    assert_eq!((ra.0, rb.0), (200, 200));
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(w) = watermark().await {
            assert!((500..=900).contains(&w), "snapshot at {w}, log at 900");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot 10 s after 900 attempts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn leads(service: &Service) -> bool {
    let health = service.get("/health").await;
    health["leader"]
        .as_bool()
        .unwrap_or_else(|| panic!("no leader in /health: {health}"))
}

/// Exactly one replica runs the chores; when it dies (SIGKILL, no goodbye), the other takes
/// over within 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leadership_moves_within_15_s_of_the_leaders_death() {
    let mut c = cluster();
    let (a, b) = (leads(&c.a).await, leads(&c.b).await);
    assert!(a != b, "exactly one leader (a: {a}, b: {b})");
    assert_ne!(
        c.a.get("/health").await["replica"],
        c.b.get("/health").await["replica"]
    );
    let survivor = if a {
        c.a.kill_9();
        &c.b
    } else {
        c.b.kill_9();
        &c.a
    };
    let died = Instant::now();
    while !leads(survivor).await {
        assert!(
            died.elapsed() < std::time::Duration::from_secs(15),
            "no takeover in 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    eprintln!(
        "leadership moved {:?} after the leader's SIGKILL",
        died.elapsed()
    );
}

/// Guardrails where only the retry budget paces: every tier delay becomes 100 ms, a queue's
/// bucket holds [`CAPACITY`] tokens refilling 1 per second.
async fn budget_guardrails(service: &Service) {
    let body = json!({
        "min_delay_ms": 100, "max_delay_ms": 100, "max_budget_percent": 100.0,
        "retry_budget": {"enabled": true, "capacity": CAPACITY, "refill_per_second": 1.0},
        "per_tenant_limits": false,
    });
    let resp = reqwest::Client::new()
        .put(service.url("/guardrails"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(status, 200, "{}", resp.text().await.unwrap());
}

/// Tokens in a queue's bucket in [`budget_guardrails`]: more than a block, so buckets kept per
/// replica (2 × CAPACITY at once) are told apart from one budget (at most CAPACITY + a block).
const CAPACITY: u64 = 100;

fn queue_failure(job: &str, queue: &str, at: DateTime<Utc>) -> Value {
    json!({
        "job_id": job, "job_type": "email", "error_class": "timeout", "error_code": "503",
        "queue": queue, "attempt_number": 1, "timestamp": at.to_rfc3339(),
    })
}

/// The delays `/failures` answered, sorted.
fn delays(answers: &[(u16, Value)]) -> Vec<u64> {
    let mut delays: Vec<u64> = answers
        .iter()
        .map(|(status, rec)| {
            assert_eq!(*status, 200, "{rec}");
            assert_eq!(
                rec["should_retry"], true,
                "guardrails pace, never drop: {rec}"
            );
            rec["delay_ms"].as_u64().unwrap()
        })
        .collect();
    delays.sort_unstable();
    delays
}

/// A queue's bucket as the shared ledger holds it (tokens).
async fn shared_tokens(redis: &RedisServer, queue: &str) -> f64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let tokens: Option<String> = redis::cmd("HGET")
        .arg("{retryctl}:guard:budget_tokens")
        .arg(queue)
        .query_async(&mut conn)
        .await
        .unwrap();
    tokens
        .unwrap_or_else(|| panic!("no shared bucket for {queue}"))
        .parse()
        .unwrap()
}

/// Item 3 of issue 12: the pacing guardrails are counted in Redis, so two replicas taking
/// the same load at once spend the same budget as one replica taking it alone: the shared
/// bucket ends at the same level, and the retries sent at once exceed the bucket by at most
/// the block a replica paces before it syncs (`PACE_BLOCK`). Every job still gets a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_spend_one_budget() {
    const REPORTS: usize = 300;
    let c = cluster();
    budget_guardrails(&c.a).await;
    budget_guardrails(&c.b).await;
    // All reports at one instant: no token refills between them.
    let t0 = Utc::now() - Duration::hours(1);
    let solo = send_at_once(&[&c.a], REPORTS, |i| {
        queue_failure(&format!("solo-{i}"), "solo", t0)
    })
    .await;
    let pair = send_at_once(&[&c.a, &c.b], REPORTS, |i| {
        queue_failure(&format!("pair-{i}"), "pair", t0)
    })
    .await;
    let (solo, pair) = (delays(&solo), delays(&pair));
    // The bucket's tokens go at once, then token k waits k seconds.
    let mut expected = vec![100; CAPACITY as usize];
    expected.extend((1..=REPORTS as u64 - CAPACITY).map(|k| k * 1_000));
    assert_eq!(solo, expected, "one replica");
    let at_once = pair.iter().filter(|&&d| d == 100).count() as u64;
    eprintln!("two replicas sent {at_once} of {REPORTS} retries at once (bucket: {CAPACITY})");
    assert!(
        (CAPACITY..=CAPACITY + PACE_BLOCK).contains(&at_once),
        "two replicas sent {at_once} retries at once; one budget allows {CAPACITY}, plus a block \
         of {PACE_BLOCK}: {pair:?}"
    );
    // Both spent REPORTS tokens from one bucket (once the replicas synced).
    let spent = CAPACITY as f64 - REPORTS as f64;
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let levels = (
            shared_tokens(&c.redis, "solo").await,
            shared_tokens(&c.redis, "pair").await,
        );
        if levels == (spent, spent) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shared buckets {levels:?}, expected {spent} each"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Item 3 of issue 12: an operator's apply paces in the counters every replica shares: once
/// replica A spent a queue's bucket, applying the recommendation to a job of that queue
/// through replica B waits for a token (with a bucket per replica it would go at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_through_another_replica_waits_for_the_shared_budget() {
    let c = cluster();
    budget_guardrails(&c.a).await;
    budget_guardrails(&c.b).await;
    let now = Utc::now();
    let spent = send_at_once(&[&c.a], CAPACITY as usize + 30, |i| {
        queue_failure(&format!("spend-{i}"), "shared", now)
    })
    .await;
    assert!(spent.iter().all(|(status, _)| *status == 200), "{spent:?}");
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while shared_tokens(&c.redis, "shared").await >= 0.0 {
        assert!(
            Instant::now() < deadline,
            "replica A never synced its spends"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Replica B learns the queue from the log and the bucket on its next sync.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, job) = post(&c.b, "/jobs/spend-0/apply", &json!({"reason": "test"})).await;
    assert_eq!(status, 200, "{job}");
    let rec = &job["recommendation"];
    let names = rec["policy_guardrails"].as_array().unwrap();
    assert!(
        rec["delay_ms"].as_u64().unwrap() >= 1_000 && names.iter().any(|n| n == "retry_budget"),
        "the shared bucket is empty: {rec}"
    );
}

/// `n` reports made by `report(i)`, sent all at once, report `i` to replica
/// `targets[i % targets.len()]`.
async fn send_at_once(
    targets: &[&Service],
    n: usize,
    report: impl Fn(usize) -> Value,
) -> Vec<(u16, Value)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let url = targets[i % targets.len()].url("/failures");
        let body = report(i);
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// Item 5 of issue 12: alerts are evaluated by the leader alone, over the counts of every
/// replica: 350 retries into each replica (600 a minute is the storm threshold) raise one
/// `retry_storm:default`, listed by both; `/summary` names the replica that answered and the
/// leader, the same one through both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_alerts_on_a_storm_split_across_replicas() {
    let c = cluster();
    let t0 = Utc::now();
    let retries = |tag: &str| {
        let all = (0..350).map(|i| attempt(&format!("{tag}-{i}"), 2, false, t0));
        Value::Array(all.collect())
    };
    let (into_a, into_b) = (retries("sa"), retries("sb"));
    let (ra, rb) = tokio::join!(
        post(&c.a, "/attempts", &into_a),
        post(&c.b, "/attempts", &into_b)
    );
    assert_eq!((ra.0, rb.0), (200, 200), "{ra:?} {rb:?}");
    let storm = |alerts: &Value| {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["id"] == "retry_storm:default" && a["active"] == true)
            .count()
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while storm(&c.a.get("/alerts").await) + storm(&c.b.get("/alerts").await) < 2 {
        assert!(
            Instant::now() < deadline,
            "no retry storm listed by both replicas within 10 s: {} / {}",
            c.a.get("/alerts").await,
            c.b.get("/alerts").await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (sa, sb) = (c.a.get("/summary").await, c.b.get("/summary").await);
    assert_ne!(sa["replica"], sb["replica"], "each names itself");
    assert_eq!(sa["leader"], sb["leader"], "one leader");
    let leader = if leads(&c.a).await { &sa } else { &sb };
    assert_eq!(leader["leader"], leader["replica"], "{leader}");
}

/// The ML version `service` serves (`null` for none), as `/summary` says.
async fn ml_serving(service: &Service) -> Value {
    service.get("/summary").await["ml"]["serving"].clone()
}

/// Waits until `service` serves `version`; panics after 10 s.
async fn serves_within_10_s(service: &Service, version: &Value) {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = ml_serving(service).await;
        if now == *version {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still serving {now} 10 s after {version} was deployed elsewhere"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A job of the training history's fast queue fails on `service`: what it recommends.
async fn fast_failure(service: &Service, job: &str) -> Value {
    let body = json!({"job_id": job, "job_type": "sync", "error_class": "unavailable",
        "queue": "fast"});
    let (status, answer) = post(service, "/failures", &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployment_on_one_replica_serves_on_the_other_without_a_restart() {
    let c = cluster();
    let history = Value::Array(crate::ml_api::history(400, 7));
    let (status, answer) = post(&c.a, "/attempts", &history).await;
    assert_eq!(status, 200, "{answer}");
    let (status, model) = post(&c.a, "/ml/train", &json!({"model_type": "gradient_boost"})).await;
    assert_eq!(status, 200, "{model}");
    let version = model["version"].clone();
    let before = fast_failure(&c.b, "before-1").await;
    assert_ne!(before["method"], "ml", "nothing deployed yet: {before}");

    let deploy = json!({"version": version, "force": true, "reason": "replica test"});
    let (status, deployed) = post(&c.a, "/ml/deploy", &deploy).await;
    assert_eq!(status, 200, "{deployed}");
    serves_within_10_s(&c.b, &version).await;
    let served = fast_failure(&c.b, "after-1").await;
    assert_eq!(served["method"], "ml", "{served}");
    assert_eq!(served["explanation"]["ml"]["version"], version, "{served}");

    let (status, rolled) = post(&c.a, "/ml/rollback", &json!({"reason": "replica test"})).await;
    assert_eq!(status, 200, "{rolled}");
    serves_within_10_s(&c.b, &Value::Null).await;
    let after = fast_failure(&c.b, "after-2").await;
    assert_ne!(
        after["method"], "ml",
        "rolled back on the other replica: {after}"
    );
}
