//! Helpers shared by the API tests: an app over the memory store, requests through `oneshot`,
//! and a server on a real loopback socket.
#![allow(dead_code)]

pub mod console_fixture;
pub mod failing_store;
pub mod redis;
pub mod service;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use retryctl::config::{Config, Role, Token};
use retryctl::server::{AppState, app, start_state};
use retryctl::store::{StoreConfig, open};
use serde_json::Value;
use tower::ServiceExt;

pub const TOKENS: [(Role, &str); 3] = [
    (Role::Worker, "worker-secret-1"),
    (Role::Viewer, "viewer-secret-1"),
    (Role::Operator, "operator-secret-1"),
];

pub fn test_config() -> Config {
    Config::defaults(std::env::temp_dir().join("retryctl-api-tests"))
}

pub fn config_with_tokens() -> Config {
    let mut config = test_config();
    config.tokens = TOKENS
        .iter()
        .map(|(role, token)| Token {
            name: role.as_str().into(),
            role: *role,
            token: token.to_string(),
        })
        .collect();
    config
}

/// An attempt of job type `email`, error class `timeout` (when failed), as JSON.
pub fn attempt_json(job_id: &str, attempt: u32, success: bool, at: DateTime<Utc>) -> String {
    serde_json::json!({
        "job_id": job_id, "job_type": "email", "attempt_number": attempt,
        "error_class": "timeout", "status": if success { "succeeded" } else { "failed" },
        "queue": "default", "delay_ms": if attempt > 1 { 1000 } else { 0 },
        "success": success, "timestamp": at.to_rfc3339(),
    })
    .to_string()
}

/// The app plus its state, driven without a socket.
pub struct Api {
    pub state: AppState,
    pub app: Router,
}

impl Api {
    pub async fn memory() -> Self {
        Self::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> Self {
        Self::with_store(config, open(&StoreConfig::Memory).await.unwrap()).await
    }

    pub async fn with_store(
        config: Config,
        store: std::sync::Arc<dyn retryctl::store::Store>,
    ) -> Self {
        let state = start_state(config, store).await.unwrap();
        Self {
            app: app(state.clone()),
            state,
        }
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Option<&str>)>,
    ) -> (StatusCode, String, String) {
        let mut req = Request::builder().method(method).uri(path);
        let (body, token) = body.map_or((None, None), |(b, t)| (Some(b), t));
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) if !b.is_empty() || method != "GET" => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            _ => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    async fn json(
        &self,
        method: &str,
        path: &str,
        body: &str,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let (status, _, text) = self.raw(method, path, Some((body, token))).await;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.json("GET", path, "", None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.json("POST", path, body, None).await
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        self.json(method, path, body.unwrap_or(""), None).await
    }

    pub async fn get_as(&self, role: Role, path: &str) -> (StatusCode, Value) {
        self.json("GET", path, "", Some(token_of(role))).await
    }

    pub async fn post_as(&self, role: Role, path: &str, body: &str) -> (StatusCode, Value) {
        self.json("POST", path, body, Some(token_of(role))).await
    }
}

pub fn token_of(role: Role) -> &'static str {
    TOKENS.iter().find(|(r, _)| *r == role).unwrap().1
}

/// The service on a real loopback socket (port chosen by the OS).
pub struct Served {
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    pub async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(retryctl::server::run(state, listener, shutdown));
        Self { base, stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}
