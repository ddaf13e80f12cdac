//! The pacing guardrails counted in Redis answer exactly as the engine's in-process counters
//! do: two engines with the same seed learn the same attempts and get the same sequence of
//! failures, one pacing in process, the other as a replica does (in process on counters it
//! syncs with a real `redis-server` after every retry, `Store::sync_pacing`; a possible probe
//! placed by the ledger, `Store::pace`); every recommendation (delay, guardrails named,
//! rationale) must be the same. The sequence makes every pacing guardrail act: the token bucket, the budget
//! share, the tenant quota, an open circuit's probe and the retries held after it.
//!
//! Needs redis-server (`apt-get install -y redis-server`; the test fails without it).

use chrono::{DateTime, Duration, Utc};
use retryctl::engine::{Engine, EngineSettings, Shared, default_strategy};
use retryctl::model::{AttemptRecord, RetryFeatures, RetryRecommendation, RetryStrategy};
use retryctl::store::Store;
use retryctl::store::redis::{RedisConfig, RedisStore};
use serde_json::json;

fn strategy() -> RetryStrategy {
    let mut s = default_strategy();
    let g = &mut s.guardrails;
    g.min_delay_ms = 200;
    g.max_delay_ms = 200;
    g.retry_budget.enabled = true;
    g.retry_budget.capacity = 700.0;
    g.retry_budget.refill_per_second = 200.0;
    g.max_budget_percent = 10.0;
    g.per_tenant_limits = true;
    g.tenant_quota_per_minute = 250;
    g.circuit_breaker.enabled = true;
    g.circuit_breaker.min_samples = 5;
    g.circuit_breaker.failure_rate_threshold = 0.5;
    g.circuit_breaker.open_ms = 10_000;
    s
}

fn attempt(job: &str, n: u32, class: &str, at: DateTime<Utc>) -> AttemptRecord {
    serde_json::from_value(json!({
        "job_id": job, "job_type": "email", "attempt_number": n, "error_class": class,
        "queue": "q", "delay_ms": if n > 1 { 1_000 } else { 0 }, "success": false,
        "timestamp": at.to_rfc3339(),
    }))
    .unwrap()
}

/// What both engines learn: 12 jobs whose retry into `timeout` failed (the circuit opens).
fn history(t0: DateTime<Utc>) -> Vec<AttemptRecord> {
    let mut all = Vec::new();
    for i in 0..12 {
        let job = format!("h-{i}");
        all.push(attempt(&job, 1, "timeout", t0));
        all.push(attempt(&job, 2, "timeout", t0 + Duration::seconds(1)));
    }
    all
}

/// The failures both engines are asked about, all at one instant after the history.
fn failures(now: DateTime<Utc>) -> Vec<RetryFeatures> {
    (0..1_500)
        .map(|i| RetryFeatures {
            job_id: Some(format!("j-{i}")),
            job_type: "email".into(),
            error_class: if i % 7 == 0 { "timeout" } else { "rate_limit" }.into(),
            error_code: "503".into(),
            attempt_number: 1,
            queue: "q".into(),
            tenant: (i % 2 == 0).then(|| "t".to_string()),
            first_failure_at: Some(now),
            ..RetryFeatures::default()
        })
        .collect()
}

/// A recommendation on the shared path (a possible probe placed by the ledger, every other
/// retry paced in process), then a sync of the counters with the ledger, as a replica makes
/// before its next block.
async fn shared(
    engine: &mut Engine,
    store: &RedisStore,
    f: &RetryFeatures,
    now: DateTime<Utc>,
) -> RetryRecommendation {
    let rec = match engine.recommend_shared(f, now) {
        Shared::Done(rec) => rec,
        Shared::Pace(pending) => {
            let answer = store.pace(pending.request()).await.unwrap().unwrap();
            engine.finish_shared(pending, &answer)
        }
    };
    let sync = engine.pace_sync();
    let counters = store.sync_pacing(&sync).await.unwrap().unwrap();
    engine.absorb_pacing(&counters);
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paces_as_the_engine_does_in_process() {
    let server = crate::common::redis::RedisServer::start();
    let store = RedisStore::open(&RedisConfig::new(server.url()))
        .await
        .unwrap();
    let settings = EngineSettings::default();
    let mut local = Engine::new(strategy(), settings.clone(), 7);
    let mut ledger = Engine::new(strategy(), settings, 7);
    ledger.keep_pacing_for_ledger();
    let t0 = Utc::now() - Duration::hours(2);
    for a in history(t0) {
        local.observe(&a);
        ledger.observe(&a);
    }
    let now = t0 + Duration::seconds(3);
    let mut named = std::collections::BTreeMap::<String, usize>::new();
    for (i, f) in failures(now).iter().enumerate() {
        let observed = attempt(f.job_id.as_deref().unwrap(), 1, &f.error_class, now);
        local.observe(&observed);
        ledger.observe(&observed);
        let (a, b) = (
            local.recommend(f, now),
            shared(&mut ledger, &store, f, now).await,
        );
        assert_eq!(
            (
                a.should_retry,
                a.delay_ms,
                &a.policy_guardrails,
                &a.rationale
            ),
            (
                b.should_retry,
                b.delay_ms,
                &b.policy_guardrails,
                &b.rationale
            ),
            "failure {i}"
        );
        for name in &a.policy_guardrails {
            *named.entry(name.clone()).or_default() += 1;
        }
    }
    for guardrail in [
        "retry_budget",
        "max_budget_percent",
        "tenant_quota",
        "circuit_breaker",
    ] {
        assert!(
            named.get(guardrail).copied().unwrap_or(0) > 0,
            "{guardrail} never acted: {named:?}"
        );
    }
    eprintln!("guardrails named: {named:?}");
}
