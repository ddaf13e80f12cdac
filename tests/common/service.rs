//! A real `retryctl serve` for console tests: its own free loopback port and temp data dir,
//! failures fed through the HTTP API, stop and restart on the same port and data.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Service {
    child: Option<Child>,
    pub port: u16,
    pub data: PathBuf,
    /// Extra environment of `serve` (e.g. access tokens).
    env: Vec<(String, String)>,
    /// Sent as a bearer token by `fail` (worker) and `get` (reader).
    pub worker_token: Option<String>,
    pub reader_token: Option<String>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Service {
    /// Starts the service on a free port with sqlite data in `data`, and waits until healthy.
    pub async fn start(data: &Path) -> Service {
        Service::start_with(data, &[]).await
    }

    /// Starts with extra environment, e.g. `RETRYCTL_VIEWER_TOKEN`.
    pub async fn start_with(data: &Path, env: &[(&str, &str)]) -> Service {
        let mut s = Service {
            child: None,
            port: free_port(),
            data: data.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            worker_token: None,
            reader_token: None,
        };
        s.restart().await;
        s
    }

    /// (Re)starts on the same port and data.
    pub async fn restart(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_retryctl"))
            .args([
                "serve",
                "--store",
                "sqlite",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
            ])
            .arg("--data")
            .arg(&self.data)
            .env("RETRYCTL_LOG", "warn")
            .env_remove("RETRYCTL_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start retryctl serve");
        self.child = Some(child);
        self.wait_healthy().await;
    }

    /// The service URL the console and CLI take (`--api`).
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/retry{path}", self.api())
    }

    async fn wait_healthy(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let health = client.get(self.url("/health")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("retryctl serve did not become healthy at {}", self.api());
    }

    /// Reports a failed attempt of `job_id` (which puts it on the retry schedule).
    pub async fn fail(
        &self,
        job_id: &str,
        job_type: &str,
        error_class: &str,
        message: &str,
    ) -> Value {
        let body = json!({
            "job_id": job_id, "job_type": job_type, "error_class": error_class,
            "error_code": "503", "error_message": message, "queue": "default",
            "attempt_number": 1,
        });
        let mut req = reqwest::Client::new()
            .post(self.url("/failures"))
            .json(&body);
        if let Some(t) = &self.worker_token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "POST /failures: {}",
            resp.status()
        );
        resp.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        let mut req = reqwest::Client::new().get(self.url(path));
        if let Some(t) = &self.reader_token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// Graceful stop (SIGTERM), as an operator would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
