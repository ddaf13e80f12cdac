//! Engine recommendation latency with 100 warm (job type, error class) models.
//!
//! `cargo bench --bench engine` runs criterion (mean and spread) and then prints p50/p99/p999
//! from a separate loop of single timed calls, since criterion reports means.
//!
//! Each model learns from synthetic episodes (outages ending 2–20 s after the first failure,
//! varying by model) until the Bayesian tier answers; the measured call is a first-failure
//! recommendation for one of the 100 (job type, error class) pairs, round robin, with the full
//! explanation (alternatives, posterior, similar cases) and every guardrail.

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use retryctl::engine::{Engine, EngineSettings, default_strategy};
use retryctl::model::{AttemptRecord, Method, RetryFeatures};
use std::hint::black_box;
use std::time::Instant;

const JOB_TYPES: usize = 10;
const ERROR_CLASSES: usize = 10;
const EPISODES_PER_MODEL: u64 = 60;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

fn record(
    job: &str,
    job_type: &str,
    class: &str,
    n: u32,
    delay: u64,
    at: DateTime<Utc>,
    ok: bool,
) -> AttemptRecord {
    AttemptRecord {
        job_id: job.into(),
        job_type: job_type.into(),
        attempt_number: n,
        error_class: if ok { String::new() } else { class.into() },
        error_code: String::new(),
        status: String::new(),
        queue: "bench".into(),
        tenant: None,
        payload_size: 0,
        time_of_day: 0,
        worker_version: String::new(),
        health: None,
        delay_ms: delay,
        success: ok,
        timestamp: at,
        processing_time: None,
    }
}

/// An engine with 100 warm models, taught by driving it as a service would be driven.
fn warm_engine() -> (Engine, Vec<RetryFeatures>) {
    let mut strategy = default_strategy();
    // Budgets would be the bottleneck of a tight loop, not the engine.
    strategy.guardrails.retry_budget.enabled = false;
    strategy.guardrails.circuit_breaker.enabled = false;
    let mut engine = Engine::new(strategy, EngineSettings::default(), 7);
    let mut requests = Vec::new();
    let mut job = 0u64;
    for jt in 0..JOB_TYPES {
        for ec in 0..ERROR_CLASSES {
            let (job_type, class) = (format!("job_type_{jt}"), format!("error_{ec}"));
            let recovery_ms = 2_000 + ((jt * ERROR_CLASSES + ec) as u64 * 181) % 18_000;
            for _ in 0..EPISODES_PER_MODEL {
                job += 1;
                teach(
                    &mut engine,
                    &format!("j{job}"),
                    &job_type,
                    &class,
                    recovery_ms,
                    t0() + Duration::seconds(job as i64 * 600),
                );
            }
            requests.push(RetryFeatures {
                job_type,
                error_class: class,
                attempt_number: 1,
                queue: "bench".into(),
                ..RetryFeatures::default()
            });
        }
    }
    (engine, requests)
}

fn teach(
    engine: &mut Engine,
    job: &str,
    job_type: &str,
    class: &str,
    recovery_ms: u64,
    first: DateTime<Utc>,
) {
    let mut last = record(job, job_type, class, 1, 0, first, false);
    engine.observe(&last);
    let mut at = first;
    loop {
        let mut f = last.features();
        f.queue = "bench".into();
        let rec = engine.recommend(&f, at);
        if !rec.should_retry {
            return;
        }
        at += Duration::milliseconds(rec.delay_ms as i64);
        let ok = (at - first).num_milliseconds() as u64 >= recovery_ms;
        last = record(
            job,
            job_type,
            class,
            last.attempt_number + 1,
            rec.delay_ms,
            at,
            ok,
        );
        engine.observe(&last);
        if ok {
            return;
        }
    }
}

fn bench_recommend(c: &mut Criterion) {
    let (mut engine, requests) = warm_engine();
    let now = t0() + Duration::days(30);
    let bayesian = requests
        .iter()
        .filter(|f| engine.recommend(f, now).method == Method::Bayesian)
        .count();
    assert_eq!(bayesian, requests.len(), "every model must be warm");
    let mut i = 0usize;
    c.bench_function("recommend_100_warm_models", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(engine.recommend(black_box(&requests[i]), now))
        })
    });
    c.bench_function("preview_100_warm_models", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(engine.preview(black_box(&requests[i]), 0, now))
        })
    });
    percentiles(&mut engine, &requests, now);
}

/// p50/p99/p999 of single calls, which criterion's means do not show.
fn percentiles(engine: &mut Engine, requests: &[RetryFeatures], now: DateTime<Utc>) {
    let runs = 200_000;
    let mut samples = Vec::with_capacity(runs);
    for n in 0..runs {
        let f = &requests[n % requests.len()];
        let start = Instant::now();
        black_box(engine.recommend(black_box(f), now));
        samples.push(start.elapsed().as_nanos() as u64);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)] as f64 / 1000.0
    };
    println!(
        "recommend latency over {runs} calls, 100 warm models: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.2} µs",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

criterion_group!(benches, bench_recommend);
criterion_main!(benches);
