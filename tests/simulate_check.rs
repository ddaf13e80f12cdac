//! `retryctl simulate --check`, the real binary against a real `retryctl serve`:
//!
//! - a clean run checks out, and so does a second run against the same service, whose
//!   `/metrics` no longer start at zero (the check compares the run's deltas);
//! - an attempt another client sends while the run goes on makes the counters disagree: with
//!   `--check` the exit status is 3 and stderr names the counters, without it the exit status
//!   is 0 and the report's last line says NOT OK;
//! - requests the service refuses (a viewer token cannot report failures) fail the check too.

use crate::common::service;

use retryctl::client::Client;
use retryctl::sim::driver::scrape::ServiceCounters;
use serde_json::Value;
use service::Service;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Ten failing jobs a second from the start; most retries succeed.
const SCENARIO: &str = r#"
name = "check"
warmup = "1s"
duration = "3s"

[[workload]]
name = "flaky"
job_type = "check.job"
error_class = "timeout"
error_code = "504"
rate = 10.0

[workload.failure.flaky]
success = 0.7
"#;

/// Exit status of a run that does not check out (`retryctl simulate --help`).
const CHECK_FAILED: i32 = 3;

fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("check.toml");
    std::fs::write(&path, SCENARIO).unwrap();
    path
}

/// Starts `retryctl simulate` on the service at `api` for 3 s, quietly, with `extra` flags.
fn start_simulate(api: &str, scenario: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["simulate", "--quiet", "--duration", "3s", "--api", api])
        .arg("--scenario")
        .arg(scenario)
        .args(extra)
        .env_remove("RETRYCTL_TOKEN")
        .env_remove("RETRYCTL_API")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start retryctl simulate")
}

async fn finish(child: Child) -> (Option<i32>, String, String) {
    let out: Output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn last_line(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or_default()
}

async fn counters(service: &Service) -> ServiceCounters {
    let client = Client::new(&service.api(), None, Duration::from_secs(5)).unwrap();
    ServiceCounters::parse(&client.metrics_text().await.unwrap())
}

/// Waits until the service has counted failures beyond `before` (the run is under way, so its
/// baseline scrape is behind it).
async fn wait_for_traffic(service: &Service, before: u64) {
    for _ in 0..200 {
        if counters(service).await.attempts_failed > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("simulate sent nothing the service counted");
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_runs_check_out_even_when_the_service_has_counted_before() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_in_memory(dir.path(), &[]);
    let scenario = scenario(dir.path());
    let (code, stdout, stderr) =
        finish(start_simulate(&service.api(), &scenario, &["--check"])).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(last_line(&stdout).starts_with("verdict     ok"), "{stdout}");
    let after_first = counters(&service).await;
    assert!(after_first.attempts_failed > 0, "{after_first:?}");

    let second = start_simulate(&service.api(), &scenario, &["--check", "--json"]);
    let (code, stdout, stderr) = finish(second).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("the report is JSON");
    let failed = report["failed_attempts"].as_u64().unwrap();
    assert!(failed > 0, "{report}");
    assert_eq!(report["service"]["attempts_failed"].as_u64(), Some(failed));
    // The second run's figures are its own, not the service's totals.
    let total = counters(&service).await.attempts_failed;
    assert_eq!(total, after_first.attempts_failed + failed);
}

/// The driver's and /metrics' counts in a line "failed attempts: driver N, /metrics M".
fn failed_attempts(text: &str) -> (u64, u64) {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("failed attempts: driver "))
        .unwrap_or_else(|| panic!("no failed-attempts mismatch named in: {text}"));
    let (ours, theirs) = line.split_once(", /metrics ").unwrap();
    (ours.parse().unwrap(), theirs.parse().unwrap())
}

/// Runs simulate with `flags` while this test reports one failure of its own to the service.
async fn run_with_an_intruder(
    service: &Service,
    scenario: &Path,
    flags: &[&str],
) -> (Option<i32>, String, String) {
    let before = counters(service).await.attempts_failed;
    let child = start_simulate(&service.api(), scenario, flags);
    wait_for_traffic(service, before).await;
    service
        .fail("intruder-1", "check.job", "timeout", "another worker")
        .await;
    finish(child).await
}

#[tokio::test(flavor = "multi_thread")]
async fn another_clients_attempt_fails_the_check_with_exit_status_3() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_in_memory(dir.path(), &[]);
    let scenario = scenario(dir.path());

    let (code, stdout, stderr) = run_with_an_intruder(&service, &scenario, &["--check"]).await;
    assert_eq!(code, Some(CHECK_FAILED), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("--check: the run does not check out"),
        "{stderr}"
    );
    let (ours, theirs) = failed_attempts(&stderr);
    assert_eq!(theirs, ours + 1, "{stderr}");
    assert!(stderr.contains(" recommendations: driver "), "{stderr}");
    assert!(!stderr.contains("requests failed"), "{stderr}");
    let verdict = last_line(&stdout);
    assert!(
        verdict.starts_with("verdict     NOT OK: failed attempts"),
        "{stdout}"
    );

    // Without --check: the same disagreement, exit status 0, still plain on the last line.
    let (code, stdout, stderr) = run_with_an_intruder(&service, &scenario, &[]).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let verdict = last_line(&stdout);
    assert!(verdict.starts_with("verdict     NOT OK: "), "{stdout}");
    let (ours, theirs) = failed_attempts(&verdict.replace("; ", "\n").replace("NOT OK: ", "\n"));
    assert_eq!(theirs, ours + 1, "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_fail_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_in_memory(
        dir.path(),
        &[
            ("RETRYCTL_OPERATOR_TOKEN", "op-secret"),
            ("RETRYCTL_VIEWER_TOKEN", "viewer-secret"),
        ],
    );
    let scenario = scenario(dir.path());
    let flags = ["--check", "--token", "viewer-secret"];
    let (code, stdout, stderr) = finish(start_simulate(&service.api(), &scenario, &flags)).await;
    assert_eq!(code, Some(CHECK_FAILED), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("requests failed (by status: 403 "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("driver"),
        "the counters agree (0 = 0): {stderr}"
    );
    assert!(last_line(&stdout).contains("NOT OK: "), "{stdout}");
}
