//! `retryctl demo --headless --duration 30s`, the real binary, checked three ways:
//!
//! 1. the service learned: this test scrapes the live service's `/metrics` itself while the
//!    demo runs, and most recommendations made after the warm-up are Bayesian (the report's
//!    own per-phase method counts say the same);
//! 2. the report's counters equal what `/metrics` counted over the run (the demo scrapes the
//!    service at the end, after the workers stopped and before the service stops);
//! 3. nothing was lost: every attempt the driver had acknowledged is in the SQLite file the
//!    service left behind once it stopped.

use retryctl::client::Client;
use retryctl::sim::driver::scrape::ServiceCounters;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUN: &str = "30s";
/// The built-in demo scenario's warm-up (scenarios/demo.toml `warmup`).
const WARMUP: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Scrapes `/metrics` until the demo exits: the first reading after the warm-up and the last.
async fn watch(
    client: &Client,
    child: &mut std::process::Child,
) -> (ServiceCounters, ServiceCounters) {
    let mut first_seen: Option<Instant> = None;
    let mut after_warmup = None;
    let mut last = ServiceCounters::default();
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = client.metrics_text().await {
            let seen = *first_seen.get_or_insert_with(Instant::now);
            last = ServiceCounters::parse(&text);
            if after_warmup.is_none() && seen.elapsed() >= WARMUP {
                after_warmup = Some(last.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after_warmup = after_warmup.expect("the service answered /metrics for the whole warm-up");
    (after_warmup, last)
}

fn report_u64(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no {key}: {report}"))
}

fn stored_attempts(data: &Path) -> u64 {
    let db = rusqlite::Connection::open(data.join("retryctl.db")).unwrap();
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM attempts", [], |row| row.get(0))
        .unwrap();
    n as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn headless_demo_learns_counts_honestly_and_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["demo", "--headless", "--json", "--duration", RUN])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(data.path())
        .env_remove("RETRYCTL_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let client = Client::new(
        &format!("http://127.0.0.1:{port}"),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    let (at_warmup, last_seen) = watch(&client, &mut child).await;
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "demo failed: {:?}", out.status);
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is JSON");

    // 1. Learning, from this test's own scrapes of the live service.
    let learned = last_seen.since(&at_warmup);
    let bayesian = learned
        .recommendations
        .get("bayesian")
        .copied()
        .unwrap_or(0);
    let total = learned.recommendations_total();
    assert!(
        total > 100,
        "too few recommendations after the warm-up: {learned:?}"
    );
    assert!(
        bayesian * 2 > total,
        "Bayesian made {bayesian} of {total} recommendations after the warm-up: {learned:?}"
    );
    let share = report["bayesian_share_after_warmup"].as_f64().unwrap();
    assert!(
        share > 0.5,
        "the report says bayesian {share} after warm-up"
    );

    // 2. The report's counters equal the service's /metrics over the run.
    let service = &report["service"];
    assert!(service.is_object(), "no end scrape in the report: {report}");
    let failed = report_u64(&report, "failed_attempts");
    let succeeded = report_u64(&report, "succeeded");
    assert_eq!(failed, service["attempts_failed"].as_u64().unwrap());
    assert_eq!(succeeded, service["attempts_succeeded"].as_u64().unwrap());
    assert_eq!(
        report_u64(&report, "retries"),
        service["retries"].as_u64().unwrap()
    );
    let methods: u64 = ["methods_warmup", "methods_after_warmup"]
        .iter()
        .flat_map(|k| report[*k].as_object().unwrap().values())
        .map(|v| v.as_u64().unwrap())
        .sum();
    let recommended: u64 = service["recommendations"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(methods, recommended, "recommendations: driver vs /metrics");
    assert_eq!(methods, failed, "one recommendation per reported failure");
    assert_eq!(report["mismatches"], Value::Array(vec![]));
    // The end scrape cannot be behind what this test saw while the demo ran.
    assert!(failed >= last_seen.attempts_failed && succeeded >= last_seen.attempts_succeeded);

    // 3. Nothing lost: every acknowledged attempt is on disk after the service stopped.
    assert_eq!(report_u64(&report, "attempts"), failed + succeeded);
    assert_eq!(stored_attempts(data.path()), failed + succeeded);
    assert_eq!(report["http_errors"], serde_json::json!({}), "{report}");
}
