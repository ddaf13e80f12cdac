//! Abuse of the token check: a remote peer that keeps presenting unknown tokens is refused with
//! 429 and `Retry-After` (even with a valid token, so guessing stops paying), other peers and
//! loopback (over a real socket) are not; `/health` shows the store's own error text only to callers with a token.

use crate::common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use common::failing_store::FailingStore;
use common::{Api, Served, config_with_tokens, token_of};
use http_body_util::BodyExt;
use retryctl::config::Role;
use retryctl::model::StoreFailureKind;
use retryctl::server::edge::auth_failures::FAILURES_PER_WINDOW;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// `GET /jobs` through the app as if from `peer`, with `token`.
async fn stats_from(api: &Api, peer: [u8; 4], token: &str) -> axum::response::Response {
    let mut req = Request::get("/api/v1/retry/jobs")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    api.app.clone().oneshot(req).await.unwrap()
}

#[tokio::test]
async fn repeated_unknown_tokens_from_one_peer_get_429_until_the_window_ends() {
    let api = Api::with_config(config_with_tokens()).await;
    let (attacker, neighbour) = ([203, 0, 113, 7], [203, 0, 113, 8]);
    for n in 0..FAILURES_PER_WINDOW {
        let response = stats_from(&api, attacker, "guess-0000").await;
        assert_eq!(response.status(), 401, "failure {n} is a plain 401");
    }
    let refused = stats_from(&api, attacker, token_of(Role::Viewer)).await;
    assert_eq!(refused.status(), 429, "refused even with a valid token");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "too many failed authentications", "{body}");
    assert!(
        body["details"].as_str().unwrap().contains("valid token"),
        "{body}"
    );
    let other = stats_from(&api, neighbour, token_of(Role::Viewer)).await;
    assert_eq!(other.status(), 200, "another peer is served");
}

#[tokio::test]
async fn a_loopback_peer_is_never_refused_over_a_real_socket() {
    let server = Served::start(Api::with_config(config_with_tokens()).await.state).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/retry/jobs", server.base);
    for _ in 0..FAILURES_PER_WINDOW + 5 {
        let response = client
            .get(&url)
            .bearer_auth("guess-0000")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let response = client
        .get(&url)
        .bearer_auth(token_of(Role::Viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn health_shows_the_stores_error_text_only_to_callers_with_a_token() {
    let store = Arc::new(FailingStore::default());
    let api = Api::with_store(config_with_tokens(), store.clone()).await;
    store.fail_writes(Some(StoreFailureKind::Full));
    let body = common::attempt_json("a", 1, false, chrono::Utc::now());
    let (status, _) = api
        .post_as(Role::Worker, "/api/v1/retry/attempt", &body)
        .await;
    assert_eq!(status, 503);

    let (status, anonymous) = api.get("/api/v1/retry/health").await;
    assert_eq!(status, 200);
    assert_eq!(anonymous["reason"], "store full", "{anonymous}");
    assert!(anonymous.get("detail").is_none(), "{anonymous}");
    let (_, with_token) = api.get_as(Role::Viewer, "/api/v1/retry/health").await;
    assert!(
        with_token["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{with_token}"
    );
}
