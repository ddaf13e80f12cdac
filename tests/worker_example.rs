//! `examples/worker.py` (Python standard library only) works against the real service: its jobs
//! fail twice, are retried when the service says and succeed, and the API shows every attempt.
//! It rides out a service restart (connection lost) and a store refusing writes (503).

use crate::common::failing_store::FailingStore;
use crate::common::service::Service;
use crate::common::{Api, Served, TOKENS, config_with_tokens, token_of};
use chrono::{DateTime, Utc};
use retryctl::config::Role;
use retryctl::model::StoreFailureKind;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};

const PYTHON_INSTALL: &str = "python3 is missing: apt-get install -y python3";
/// Failures of each fake job before it succeeds.
const FAIL_TIMES: usize = 2;
/// The policy the tests install: no jitter, so the waits the worker must honour are known.
const BASE_DELAY_MS: i64 = 400;

fn worker_script() -> String {
    format!("{}/examples/worker.py", env!("CARGO_MANIFEST_DIR"))
}

/// Starts the worker on `api` for `jobs` jobs named `prefix-N`, with the worker token.
fn start_worker(api: &str, prefix: &str, jobs: usize) -> Child {
    Command::new("python3")
        .arg(worker_script())
        .args(["--api", api, "--prefix", prefix, "--deadline", "60"])
        .args(["--jobs", &jobs.to_string(), "--fail-times"])
        .arg(FAIL_TIMES.to_string())
        .env("RETRYCTL_WORKER_TOKEN", token_of(Role::Worker))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{PYTHON_INSTALL} ({e})"))
}

/// Waits for the worker; its stderr (the log), after checking it exited 0 and printed its
/// summary of `jobs` successes.
async fn finished(worker: Child, jobs: usize) -> String {
    let out = tokio::time::timeout(Duration::from_secs(90), worker.wait_with_output())
        .await
        .expect("the worker finished within 90 s")
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "worker failed: {:?}\n{log}",
        out.status
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
    assert_eq!(summary["succeeded"], jobs, "{summary}\n{log}");
    log
}

fn token_env() -> Vec<(String, String)> {
    TOKENS
        .iter()
        .map(|(role, token)| {
            let key = format!("RETRYCTL_{}_TOKEN", role.as_str().to_uppercase());
            (key, token.to_string())
        })
        .collect()
}

async fn call(method: reqwest::Method, url: String, role: Role, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(token_of(role));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// A policy for the fake job's error class: `BASE_DELAY_MS` doubling, no jitter.
async fn install_fast_policy(base: &str) {
    let policy = json!({
        "name": "worker_example", "error_patterns": ["service_unavailable"],
        "max_attempts": 4, "base_delay_ms": BASE_DELAY_MS, "max_delay_ms": 10_000,
        "jitter_percent": 0, "priority": 1000,
    });
    let url = format!("{base}/api/v1/retry/policies");
    call(reqwest::Method::POST, url, Role::Operator, Some(policy)).await;
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// Every job succeeded on attempt `FAIL_TIMES + 1`, with each failure recorded, and each retry
/// ran no earlier than the delay the service had recommended (the policy's, doubling).
async fn check_outcomes(base: &str, prefix: &str, jobs: usize) {
    for i in 0..jobs {
        let url = format!("{base}/api/v1/retry/jobs/{prefix}-{i}");
        let detail = call(reqwest::Method::GET, url, Role::Viewer, None).await;
        assert_eq!(detail["job"]["state"], "succeeded", "{detail}");
        let attempts = detail["attempts"].as_array().unwrap();
        let outcomes: Vec<(u64, bool)> = attempts
            .iter()
            .map(|a| (a["attempt_number"].as_u64().unwrap(), a["success"] == true))
            .collect();
        assert_eq!(outcomes, [(1, false), (2, false), (3, true)], "{detail}");
        for (k, pair) in attempts.windows(2).enumerate() {
            let gap = time(&pair[1]["timestamp"]) - time(&pair[0]["timestamp"]);
            let recommended = BASE_DELAY_MS << k;
            assert!(
                gap.num_milliseconds() >= recommended,
                "retry {k} early: {detail}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_worker_retries_its_jobs_to_success() {
    let dir = tempfile::tempdir().unwrap();
    let env = token_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let service = Service::start_with(dir.path(), &env);
    install_fast_policy(&service.api()).await;
    let worker = start_worker(&service.api(), "plain", 3);
    let log = finished(worker, 3).await;
    assert_eq!(
        log.matches("succeeded after 3 attempt(s)").count(),
        3,
        "{log}"
    );
    check_outcomes(&service.api(), "plain", 3).await;
}

/// The service stops (SIGTERM) while the jobs wait for their retries and comes back 2 s later
/// on the same port and data: the worker backs off, reconnects and finishes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_worker_rides_out_a_service_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = token_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut service = Service::start_with(dir.path(), &env);
    install_fast_policy(&service.api()).await;
    let worker = start_worker(&service.api(), "restart", 2);
    wait_for_scheduled(&service.api(), 2).await;
    assert!(service.stop().success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    service.restart();
    let log = finished(worker, 2).await;
    assert!(log.contains("connection lost"), "{log}");
    check_outcomes(&service.api(), "restart", 2).await;
}

/// Waits until `count` jobs are on the schedule (the worker reported their first failures).
async fn wait_for_scheduled(base: &str, count: usize) {
    for _ in 0..200 {
        let url = format!("{base}/api/v1/retry/jobs?state=scheduled");
        let page = call(reqwest::Method::GET, url, Role::Viewer, None).await;
        if page["jobs"].as_array().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the worker did not report {count} failures");
}

/// Waits until the service has refused `count` writes (answered 503), by its own metric.
async fn wait_for_refused_writes(base: &str, count: u64) {
    let metric = r#"retryctl_store_errors_total{op="write",kind="full"} "#;
    for _ in 0..600 {
        let text = reqwest::Client::new()
            .get(format!("{base}/metrics"))
            .bearer_auth(token_of(Role::Viewer))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let refused = text
            .lines()
            .find_map(|line| line.strip_prefix(metric))
            .map_or(0, |n| n.trim().parse::<f64>().unwrap() as u64);
        if refused >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the store refused fewer than {count} writes in 30 s");
}

/// The store refuses writes until the worker has been answered 503 a few times: every report and claim gets 503,
/// the worker backs off and sends them again, and no attempt is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_worker_backs_off_on_503() {
    let store = Arc::new(FailingStore::default());
    let api = Api::with_store(config_with_tokens(), store.clone()).await;
    let served = Served::start(api.state).await;
    install_fast_policy(&served.base).await;
    store.fail_writes(Some(StoreFailureKind::Full));
    let worker = start_worker(&served.base, "unavailable", 2);
    wait_for_refused_writes(&served.base, 3).await;
    store.fail_writes(None);
    let log = finished(worker, 2).await;
    assert!(log.contains("POST /failures: 503"), "{log}");
    check_outcomes(&served.base, "unavailable", 2).await;
    served.stop().await;
}
