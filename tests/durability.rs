//! Zero acknowledged attempts lost across a `kill -9`: the real `retryctl serve` binary on a
//! free port with a temporary `--data`, concurrent writers through the API, SIGKILL while they
//! write, a restart on the same data, and every acknowledged attempt found again.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const WRITERS: usize = 8;
/// Acknowledged attempts to wait for before the kill (the writers keep going meanwhile).
const ACKED_BEFORE_KILL: usize = 300;

struct Service {
    child: Child,
    base: String,
}

impl Service {
    async fn start(data: &std::path::Path) -> Service {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_retryctl"))
            .args([
                "serve",
                "--store",
                "sqlite",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--data")
            .arg(data)
            .env("RETRYCTL_LOG", "warn")
            .env_remove("RETRYCTL_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start retryctl serve");
        let service = Service {
            child,
            base: format!("http://127.0.0.1:{port}/api/v1/retry"),
        };
        service.wait_healthy().await;
        service
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let health = client.get(format!("{}/health", self.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("retryctl serve did not become healthy at {}", self.base);
    }

    /// SIGKILL: no graceful shutdown, no final snapshot.
    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL retryctl");
        self.child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each attempt gets its own job type, so `/stats` tells exactly whether it survived.
fn attempt(writer: usize, i: usize) -> (String, Value) {
    let job_type = format!("durable-{writer}-{i}");
    let body = json!({
        "job_id": format!("job-{writer}-{i}"), "job_type": job_type, "attempt_number": 1 + i % 3,
        "error_class": "timeout", "queue": "q", "delay_ms": 100, "success": i % 4 == 0,
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
    let service = Service::start(data.path()).await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| tokio::spawn(writer(service.base.clone(), id, acked.clone())))
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

    let restarted = Service::start(data.path()).await;
    let client = reqwest::Client::new();
    let mut lost = Vec::new();
    for job_type in &acked {
        let url = format!(
            "{}/stats?job_type={job_type}&error_class=timeout&window=1h",
            restarted.base
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
    let mut service = Service::start(data.path()).await;
    let client = reqwest::Client::new();
    post_attempts(&client, &service.base, 99, 50).await;
    let pid = service.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = service.child.wait();
        (service, status)
    });
    let (service, status) = tokio::time::timeout(Duration::from_secs(20), status)
        .await
        .expect("retryctl serve exits after SIGTERM")
        .unwrap();
    assert!(status.unwrap().success(), "graceful shutdown exits 0");
    drop(service);
    let restarted = Service::start(data.path()).await;
    let url = format!(
        "{}/stats?job_type=durable-99-7&error_class=timeout",
        restarted.base
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
    let service = Service::start(data.path()).await;
    let client = reqwest::Client::new();
    post_attempts(&client, &service.base, 7, 40).await;
    let failure = json!({"job_id": "f-1", "job_type": "email", "error_class": "rate_limit"});
    let answer = client
        .post(format!("{}/failures", service.base))
        .json(&failure)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let before = error_classes(&client, &service.base).await;
    assert_eq!(before["timeout"], (40, 10), "{before:?}");
    assert_eq!(before["rate_limit"], (1, 0), "{before:?}");
    service.kill_9();
    let restarted = Service::start(data.path()).await;
    assert_eq!(error_classes(&client, &restarted.base).await, before);
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
