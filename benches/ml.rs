//! The ML tier's costs: training time at 10⁵ recorded attempts (the whole `POST /ml/train`
//! pipeline: examples, 3-fold forward-chaining cross-validation, the final fit, the held-out
//! scores and the Bayesian tier replayed on the same rows) for both model kinds, and the
//! engine's ML recommendation latency (grid scored in one batch, expected-cost choice,
//! contributions, guardrails) as p50/p99/p999 of single timed calls.
//!
//! `cargo bench --bench ml` (release). `RETRYCTL_BENCH_ATTEMPTS` changes the data size
//! (e.g. 1000000); `RETRYCTL_BENCH_KINDS` the model kinds (default
//! `gradient_boost,logistic`). Each training stage's wall and CPU time is printed.
//!
//! The data: jobs of 4 job types × 3 error classes on 4 queues and 8 tenants; each queue's
//! outages end at its own time (0.5–2 s, 5–15 s, 20–40 s, 60–120 s after the first failure);
//! retries wait a random delay from a fixed set, so every delay is tried.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use retryctl::engine::ml::deployment::{Arm, Deployed};
use retryctl::engine::{Engine, EngineSettings, TrainRequest, default_strategy, train_ml};
use retryctl::model::{AttemptRecord, MLTrainingConfig, Method, RetryFeatures};
use std::sync::Arc;
use std::time::Instant;

const DELAYS_MS: [u64; 9] = [
    500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000, 90_000,
];
const QUEUES: [(&str, u64, u64); 4] = [
    ("fast", 500, 2_000),
    ("mid", 5_000, 15_000),
    ("slow", 20_000, 40_000),
    ("batch", 60_000, 120_000),
];
const RECOMMENDATIONS: usize = 20_000;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

fn attempt(job: usize, q: usize, n: u32, delay: u64, at: DateTime<Utc>, ok: bool) -> AttemptRecord {
    AttemptRecord {
        job_id: format!("job-{job}"),
        job_type: format!("type-{}", job % 4),
        attempt_number: n,
        error_class: if ok {
            String::new()
        } else {
            format!("class-{}", job % 3)
        },
        error_code: String::new(),
        status: String::new(),
        queue: QUEUES[q].0.into(),
        tenant: Some(format!("tenant-{}", job % 8)),
        payload_size: (job % 5000) as u64,
        time_of_day: 0,
        worker_version: String::new(),
        health: None,
        delay_ms: delay,
        success: ok,
        timestamp: at,
        processing_time: None,
    }
}

/// At least `n` attempts.
fn attempts(n: usize) -> Vec<AttemptRecord> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = Vec::with_capacity(n + 8);
    let mut job = 0;
    while out.len() < n {
        let q = rng.random_range(0..QUEUES.len());
        let outage = rng.random_range(QUEUES[q].1..QUEUES[q].2);
        let start = t0() + Duration::milliseconds(job as i64 * 700);
        out.push(attempt(job, q, 1, 0, start, false));
        let mut elapsed = 0;
        for n in 2..=8 {
            let delay = DELAYS_MS[rng.random_range(0..DELAYS_MS.len())];
            elapsed += delay;
            let ok = elapsed >= outage;
            let at = start + Duration::milliseconds(elapsed as i64);
            out.push(attempt(job, q, n, delay, at, ok));
            if ok {
                break;
            }
        }
        job += 1;
    }
    out
}

fn config(model_type: &str) -> TrainRequest {
    TrainRequest::from_config(&MLTrainingConfig::defaults(model_type)).unwrap()
}

fn train(data: &[AttemptRecord], model_type: &str) -> retryctl::engine::Trained {
    // The service hands its loaded attempts over; the copy is not the training's time.
    let attempts = data.to_vec();
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let stage = std::cell::RefCell::new((started, cpu, String::from("start")));
    // Each stage's wall and CPU time, printed when the next one starts: the profile by stage.
    let progress = |next: String| {
        let (at, cpu_at, name) = stage.replace((Instant::now(), cpu_seconds(), next));
        let cpu_ms = (cpu_seconds() - cpu_at) * 1000.0;
        let wall_ms = at.elapsed().as_secs_f64() * 1000.0;
        println!("  {wall_ms:>7.0} ms wall {cpu_ms:>7.0} ms CPU  {name}");
    };
    let t = train_ml(
        attempts,
        &config(model_type),
        &default_strategy(),
        &EngineSettings::default(),
        &progress,
    )
    .expect("trains");
    progress("done".into());
    let cpu_ms = (cpu_seconds() - cpu) * 1000.0;
    println!(
        "train {model_type:<14} {} attempts, {} training + {} held-out retries: {:>7.0} ms wall, {cpu_ms:.0} ms CPU; held-out log-loss {:.4} (bayesian {:.4}), ECE {:.4} (bayesian {:.4}), AUC {:.3}",
        data.len(),
        t.training_rows,
        t.holdout_rows,
        started.elapsed().as_secs_f64() * 1000.0,
        t.holdout.log_loss,
        t.bayesian_holdout.log_loss,
        t.holdout.ece,
        t.bayesian_holdout.ece,
        t.holdout.auc.unwrap_or(f64::NAN),
    );
    t
}

/// CPU seconds this process has used (user + system, from /proc/self/stat; Linux), so a
/// figure taken on a loaded machine says what the work itself costs.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// Times single ML recommendations for fresh first failures, round robin over the queues.
fn recommend_latency(data: &[AttemptRecord], trained: retryctl::engine::Trained, kind: &str) {
    let mut strategy = default_strategy();
    strategy.ml_enabled = true;
    strategy.guardrails.max_budget_percent = 100.0;
    let mut engine = Engine::new(strategy, EngineSettings::default(), 1);
    for a in data {
        engine.observe(a);
    }
    let deployed = Deployed {
        version: "ml-bench".into(),
        model: trained.fitted,
        reference: trained.reference,
    };
    engine.ml_serve(Some((Arc::new(deployed), Arm::Active)));
    let now = data.last().unwrap().timestamp + Duration::hours(1);
    let mut micros = Vec::with_capacity(RECOMMENDATIONS);
    let mut served = 0;
    let cpu = cpu_seconds();
    for i in 0..RECOMMENDATIONS {
        let f = RetryFeatures {
            job_id: Some(format!("bench-{i}")),
            job_type: format!("type-{}", i % 4),
            error_class: format!("class-{}", i % 3),
            queue: QUEUES[i % QUEUES.len()].0.into(),
            tenant: Some(format!("tenant-{}", i % 8)),
            attempt_number: 1,
            ..RetryFeatures::default()
        };
        let started = Instant::now();
        let rec = engine.recommend(&f, now);
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        served += usize::from(rec.method == Method::Ml);
    }
    let cpu_per_call = (cpu_seconds() - cpu) * 1e6 / RECOMMENDATIONS as f64;
    micros.sort_by(f64::total_cmp);
    println!(
        "recommend {kind:<14} {RECOMMENDATIONS} calls, {served} served by ML: CPU {cpu_per_call:.1} µs/call; wall p50 {:.1} µs, p99 {:.1} µs, p999 {:.1} µs",
        percentile(&micros, 0.5),
        percentile(&micros, 0.99),
        percentile(&micros, 0.999),
    );
}

fn main() {
    let n = std::env::var("RETRYCTL_BENCH_ATTEMPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let kinds =
        std::env::var("RETRYCTL_BENCH_KINDS").unwrap_or_else(|_| "gradient_boost,logistic".into());
    let data = attempts(n);
    for kind in kinds.split(',') {
        let trained = train(&data, kind);
        recommend_latency(&data, trained, kind);
    }
}
