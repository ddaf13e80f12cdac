//! A real Prometheus scrapes a real `retryctl serve`: the target is up with no scrape error
//! and `retryctl_*` series arrive with the values the service reported.
//!
//! `promtool check metrics` only understands the classic Prometheus text format, and our
//! `/metrics` is OpenMetrics (counters are `TYPE x counter` with `x_total` samples, which
//! promtool's linter misreads), so the check is the one that matters in production: a
//! Prometheus server (the Debian `prometheus` package) scraping the OpenMetrics endpoint.
//! Missing Prometheus fails the test with the install command.

use crate::common::service;

use serde_json::Value;
use service::Service;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "prometheus is missing: apt-get install -y prometheus";
/// How long Prometheus gets to start and scrape (the test as a whole stays under ~15 s).
const SCRAPE_DEADLINE: Duration = Duration::from_secs(12);

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port for Prometheus (retryctl picks its own; see `common/service.rs`).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require_prometheus() {
    let found = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{INSTALL}");
}

fn start_prometheus(dir: &Path, port: u16, target: u16) -> Proc {
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: retryctl\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    );
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Proc(child)
}

/// Polls `url` (with `params`) until `check` accepts the JSON body, or fails with the last
/// answer.
async fn poll(
    client: &reqwest::Client,
    url: &str,
    params: &[(&str, &str)],
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < SCRAPE_DEADLINE {
        let full = params.iter().fold(url.to_string(), |acc, (k, v)| {
            let sep = if acc.contains('?') { '&' } else { '?' };
            format!("{acc}{sep}{k}={}", encode(v))
        });
        if let Ok(answer) = client.get(&full).send().await
            && let Ok(body) = answer.json::<Value>().await
        {
            if check(&body) {
                return body;
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no good answer from {url} within {SCRAPE_DEADLINE:?}; last: {last}");
}

/// Percent-encodes a query parameter value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The instant-query result of `query`, once it has at least one series.
async fn query(client: &reqwest::Client, prometheus: &str, query: &str) -> Vec<Value> {
    let url = format!("{prometheus}/api/v1/query");
    let body = poll(client, &url, &[("query", query)], |b| {
        b["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    })
    .await;
    body["data"]["result"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_metrics() {
    require_prometheus();
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_in_memory(&dir.path().join("data"), &[]);
    let prometheus_port = free_port();
    let _prometheus = start_prometheus(dir.path(), prometheus_port, service.port);
    let client = reqwest::Client::new();
    let api = service.url("");
    poll(&client, &format!("{api}/health"), &[], |b| {
        b["status"].is_string()
    })
    .await;
    let features = r#"{"job_type": "email", "error_class": "timeout", "attempt_number": 1}"#;
    for _ in 0..3 {
        let answer = client
            .post(format!("{api}/recommendation"))
            .header("content-type", "application/json")
            .body(features)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }

    let prometheus = format!("http://127.0.0.1:{prometheus_port}");
    let up = query(&client, &prometheus, "up{job=\"retryctl\"}==1").await;
    assert_eq!(up.len(), 1, "{up:?}");
    let targets = poll(&client, &format!("{prometheus}/api/v1/targets"), &[], |b| {
        b["data"]["activeTargets"][0]["health"] == "up"
    })
    .await;
    assert_eq!(
        targets["data"]["activeTargets"][0]["lastError"], "",
        "{targets}"
    );
    let rules = query(
        &client,
        &prometheus,
        "retryctl_recommendations_total{method=\"rules\"}>=3",
    )
    .await;
    assert_eq!(rules[0]["value"][1], "3", "{rules:?}");
    let latency = query(
        &client,
        &prometheus,
        "retryctl_recommendation_latency_seconds_count",
    )
    .await;
    assert!(!latency.is_empty());
}
