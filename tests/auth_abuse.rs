//! Abuse of the token check over a real socket: a peer that keeps presenting unknown tokens is
//! refused with 429 and `Retry-After` (even with a valid token, so guessing stops paying), other
//! peers are not; `/health` shows the store's own error text only to callers with a token.

use crate::common;

use common::failing_store::FailingStore;
use common::{Api, Served, config_with_tokens, token_of};
use retryctl::config::Role;
use retryctl::model::StoreFailureKind;
use retryctl::server::edge::auth_failures::FAILURES_PER_WINDOW;
use serde_json::Value;
use std::sync::Arc;

#[tokio::test]
async fn repeated_unknown_tokens_from_one_peer_get_429_until_the_window_ends() {
    let server = Served::start(Api::with_config(config_with_tokens()).await.state).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/retry/stats", server.base);
    for n in 0..FAILURES_PER_WINDOW {
        let response = client
            .get(&url)
            .bearer_auth("guess-0000")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "failure {n} is a plain 401");
    }
    let refused = client
        .get(&url)
        .bearer_auth(token_of(Role::Viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too many failed authentications", "{body}");
    assert!(
        body["details"].as_str().unwrap().contains("valid token"),
        "{body}"
    );
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
