//! Zero acknowledged attempts lost across a `kill -9`: the real `retryctl serve` binary on a
//! free port with a temporary `--data`, concurrent writers through the API, SIGKILL while they
//! write, a restart on the same data, and every acknowledged attempt found again.

use crate::common::service;

use serde_json::{Value, json};
use service::Service;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const WRITERS: usize = 8;
/// Acknowledged attempts to wait for before the kill (the writers keep going meanwhile).
const ACKED_BEFORE_KILL: usize = 300;

fn attempt(writer: usize, i: usize) -> (String, Value) {
    let job_type = format!("durable-{writer}-{i}");
    let body = json!({
        "job_id": format!("job-{writer}-{i}"), "job_type": job_type, "attempt_number": 1 + i % 3,
        "error_class": "timeout", "queue": "q", "delay_ms": 100, "success": i.is_multiple_of(4),
        "timestamp": chrono::Utc::now().to_rfc3339(),
    });
    (job_type, body)
}

/// Writes until the connection fails; returns the job types the service acknowledged.
/// Writes `count` attempts of writer `id` in one batch and checks they were acknowledged.
async fn post_attempts(client: &reqwest::Client, base: &str, id: usize, count: usize) {
    let batch: Vec<Value> = (0..count).map(|i| attempt(id, i).1).collect();
    let answer = client
        .post(format!("{base}/attempts"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
}

async fn writer(base: String, id: usize, acked: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    for i in 0.. {
        let (job_type, body) = attempt(id, i);
        let batch = i % 5 == 0;
        let (path, payload) = if batch {
            ("attempts", json!([body]))
        } else {
            ("attempt", body)
        };
        let sent = client
            .post(format!("{base}/{path}"))
            .json(&payload)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => acked.lock().await.push(job_type),
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_attempts_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path());
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| tokio::spawn(writer(service.url(""), id, acked.clone())))
        .collect();
    while acked.lock().await.len() < ACKED_BEFORE_KILL {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.kill_9();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);

    let restarted = Service::start(data.path());
    let client = reqwest::Client::new();
    let mut lost = Vec::new();
    for job_type in &acked {
        let url = format!(
            "{}/stats?job_type={job_type}&error_class=timeout&window=1h",
            restarted.url("")
        );
        let stats: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        if stats["total_attempts"] != 1 {
            lost.push((job_type.clone(), stats));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged attempts lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_cleanly_and_keeps_everything() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path());
    let client = reqwest::Client::new();
    post_attempts(&client, &service.url(""), 99, 50).await;
    assert!(service.stop().success(), "graceful shutdown exits 0");
    drop(service);
    let restarted = Service::start(data.path());
    let url = format!(
        "{}/stats?job_type=durable-99-7&error_class=timeout",
        restarted.url("")
    );
    let stats: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["total_attempts"], 1, "{stats}");
}

/// Success by error class in `/summary` is the same after a `kill -9` and a restart: it is
/// kept by the store, not only in the process's memory. Failures reported through
/// `/failures` (attempt and job in one write) count too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_by_error_class_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path());
    let client = reqwest::Client::new();
    post_attempts(&client, &service.url(""), 7, 40).await;
    let failure = json!({"job_id": "f-1", "job_type": "email", "error_class": "rate_limit"});
    let answer = client
        .post(format!("{}/failures", service.url("")))
        .json(&failure)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let before = error_classes(&client, &service.url("")).await;
    assert_eq!(before["timeout"], (40, 10), "{before:?}");
    assert_eq!(before["rate_limit"], (1, 0), "{before:?}");
    service.kill_9();
    let restarted = Service::start(data.path());
    assert_eq!(error_classes(&client, &restarted.url("")).await, before);
}

/// `/summary`'s error classes as class → (attempts, successes).
async fn error_classes(
    client: &reqwest::Client,
    base: &str,
) -> std::collections::BTreeMap<String, (u64, u64)> {
    let summary: Value = client
        .get(format!("{base}/summary"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let classes = summary["error_classes"].as_array().expect("error_classes");
    classes
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_u64().unwrap();
            let class = c["error_class"].as_str().unwrap().to_string();
            (class, (n("attempts"), n("successes")))
        })
        .collect()
}

/// A pause answered 200 is stored: after a `kill -9` and a restart it is still in force, with
/// the same id and end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_survives_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path());
    let client = reqwest::Client::new();
    let body = json!({"queue": "webhooks", "for": "1h", "reason": "provider down"});
    let created: Value = client
        .post(service.url("/pauses"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["id"].is_string(), "{created}");
    service.kill_9();
    let restarted = Service::start(data.path());
    let listed: Value = client
        .get(restarted.url("/pauses"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([created]));
}

#[tokio::test]
async fn a_forced_circuit_survives_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start(data.path());
    let client = reqwest::Client::new();
    let body = json!({"state": "open", "reason": "provider down"});
    let forced: Value = client
        .post(service.url("/circuits/default/connection_refused"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(forced["changed"], true, "{forced}");
    service.kill_9();
    let restarted = Service::start(data.path());
    let listed = restarted.get("/circuits").await;
    assert_eq!(listed, json!([forced["circuit"]]));
    let job = restarted
        .fail("hook-1", "hook", "connection_refused", "refused")
        .await;
    let guardrails = job["policy_guardrails"].to_string();
    assert!(guardrails.contains("circuit_breaker"), "{job}");
    assert!(
        job["rationale"].as_str().unwrap().contains("forced open"),
        "{job}"
    );
}
