//! A real `retryctl serve` for tests: a loopback port the service picked itself (`--listen
//! 127.0.0.1:0`, read back from its start-up log line, so two tests never share a service),
//! its own data dir, failures fed through the HTTP API, stop / `kill -9` / restart on the
//! same port and data.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long `serve` gets to open its store and bind.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Service {
    child: Option<Child>,
    /// 0 until the first start, then the port the service bound (kept across restarts).
    pub port: u16,
    pub data: PathBuf,
    store: String,
    /// Extra environment of `serve` (e.g. access tokens).
    env: Vec<(String, String)>,
    /// Sent as a bearer token by `fail` (worker) and `get` (reader).
    pub worker_token: Option<String>,
    pub reader_token: Option<String>,
    /// Close the read end of `serve`'s stderr once it listens, so every later log write fails
    /// (a closed pipe).
    pub close_log: bool,
}

impl Service {
    /// Starts the service with SQLite data in `data`; returns once it listens.
    pub fn start(data: &Path) -> Service {
        Service::launch(data, "sqlite", &[])
    }

    /// SQLite, with extra environment, e.g. `RETRYCTL_VIEWER_TOKEN`.
    pub fn start_with(data: &Path, env: &[(&str, &str)]) -> Service {
        Service::launch(data, "sqlite", env)
    }

    /// The memory store (nothing written to `data`), with extra environment.
    pub fn start_in_memory(data: &Path, env: &[(&str, &str)]) -> Service {
        Service::launch(data, "memory", env)
    }

    /// A replica on the shared Redis at `url` (`data` is only its working directory).
    pub fn start_on_redis(data: &Path, url: &str, env: &[(&str, &str)]) -> Service {
        Service::launch(data, url, env)
    }

    /// SQLite, with its stderr closed once it listens: every later log line fails to write.
    pub fn start_with_closed_log(data: &Path) -> Service {
        let mut s = Service::new(data, "sqlite", &[]);
        s.close_log = true;
        s.restart();
        s
    }

    fn launch(data: &Path, store: &str, env: &[(&str, &str)]) -> Service {
        let mut s = Service::new(data, store, env);
        s.restart();
        s
    }

    fn new(data: &Path, store: &str, env: &[(&str, &str)]) -> Service {
        Service {
            child: None,
            port: 0,
            data: data.to_path_buf(),
            store: store.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            worker_token: None,
            reader_token: None,
            close_log: false,
        }
    }

    /// (Re)starts on the same port and data; returns once it listens.
    pub fn restart(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_retryctl"))
            .args(["serve", "--store", &self.store, "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data")
            .arg(&self.data)
            .env("RETRYCTL_LOG", "warn,retryctl::cli::service=info")
            .env_remove("RETRYCTL_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start retryctl serve");
        let stderr = child.stderr.take().expect("piped stderr");
        self.child = Some(child);
        match listening_port(stderr, self.close_log) {
            Ok(port) => self.port = port,
            Err(log) => panic!("retryctl serve did not start: {log}"),
        }
    }

    /// The service URL the console and CLI take (`--api`).
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/retry{path}", self.api())
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

    /// Graceful stop (SIGTERM), as an operator would; the exit status of `serve`.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the service is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "retryctl serve did not exit within {STOP_TIMEOUT:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no graceful shutdown, no final snapshot.
    pub fn kill_9(&mut self) {
        let mut child = self.child.take().expect("the service is running");
        child.kill().expect("SIGKILL retryctl serve");
        child.wait().unwrap();
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

/// Reads `serve`'s log until its "listening on http://ADDR" line and returns the port; the
/// rest of the log goes on to the test's stderr. `Err` holds the log when `serve` exited (or
/// stayed silent) without listening, e.g. because the port was taken. With `close`, the pipe is
/// closed right after that line instead.
fn listening_port(stderr: ChildStderr, close: bool) -> Result<u16, String> {
    let (found, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        let mut before = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match (&found, port_in(&line)) {
                (Some(tx), Some(port)) => {
                    let _ = tx.send(Ok(port));
                    if close {
                        return;
                    }
                    found = None;
                }
                (Some(_), None) => before.push_str(&format!("{line}\n")),
                (None, _) => eprintln!("{line}"),
            }
        }
        if let Some(tx) = found {
            let _ = tx.send(Err(before));
        }
    });
    wait.recv_timeout(START_TIMEOUT)
        .unwrap_or_else(|_| Err(format!("no 'listening on' line within {START_TIMEOUT:?}")))
}

/// The port in "... listening on http://127.0.0.1:PORT/api/v1/retry ...".
fn port_in(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://").nth(1)?;
    let address = rest.split('/').next()?;
    address
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.port())
}
