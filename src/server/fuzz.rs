//! Fuzzes the HTTP edge end to end (README "Fuzzing"): every operation in the API document is
//! called through the router, over the memory store, with hostile path segments, query values
//! and bodies (a valid document of the operation's body type with one value edited, or any
//! JSON, or any bytes). Each must be answered without a panic (the catch-panic layer's 500),
//! and every 4xx must say what was wrong.

use super::{api, app, start_state};
use crate::config::Config;
use crate::fuzz::{Edit, edit, edited_json, hostile_bytes, hostile_json, hostile_text};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use std::sync::OnceLock;
use tower::ServiceExt;

/// One operation of the API document.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    /// The path template, e.g. `/api/v1/retry/jobs/{id}`.
    path: String,
    query: Vec<String>,
    /// The body's schema name, when the operation takes one.
    body: Option<String>,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let query = op["parameters"].as_array().into_iter().flatten();
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                query: query
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .collect(),
                body: body["$ref"]
                    .as_str()
                    .and_then(|r| r.rsplit('/').next())
                    .map(str::to_string),
            });
        }
    }
    out
}

/// The router over a memory store, and the operations of its document; built once.
fn service() -> &'static (tokio::runtime::Runtime, Router, Vec<Operation>) {
    static SERVICE: OnceLock<(tokio::runtime::Runtime, Router, Vec<Operation>)> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let mut config = Config::defaults(std::env::temp_dir().join("retryctl-fuzz"));
        config.engine.seed = Some(1);
        let router = runtime.block_on(async {
            let store = crate::store::open(&crate::store::StoreConfig::Memory)
                .await
                .expect("memory store");
            app(start_state(config.clone(), store).await.expect("state"))
        });
        let (_, doc) = api::split(&config.limits);
        (runtime, router, operations(&doc))
    })
}

/// A valid body of the named schema (`{}` for one without a seed).
fn seed(schema: Option<&str>) -> Value {
    let attempt = crate::fuzz::attempt();
    match schema {
        Some("NonEmptyBatch") => Value::Array(vec![attempt.clone(), attempt]),
        Some(name) => crate::fuzz::api_bodies()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| serde_json::json!({}), |(_, v)| v),
        None => serde_json::json!({}),
    }
}

/// What a request carries as its body.
#[derive(Debug, Clone)]
enum Payload {
    Edited(Index, Edit<Value>),
    Json(Value),
    Bytes(Vec<u8>),
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        3 => edit(hostile_json()).prop_map(|(i, e)| Payload::Edited(i, e)),
        1 => hostile_json().prop_map(Payload::Json),
        1 => hostile_bytes().prop_map(Payload::Bytes),
    ]
}

/// The request: path parameters filled with `segments`, query parameters with `values`
/// (`None` when no HTTP request can carry them: a URI is at most 64 KiB).
fn request(
    op: &Operation,
    segments: &[String],
    values: &[Option<String>],
    body: &Payload,
) -> Option<Request<Body>> {
    let mut url = reqwest::Url::parse("http://fuzz/").expect("a base URL");
    {
        let mut path = url.path_segments_mut().expect("a base URL with a path");
        let mut fill = segments.iter().cycle();
        for part in op.path.split('/').filter(|p| !p.is_empty()) {
            let param = part.starts_with('{');
            path.push(if param {
                fill.next().map_or("x", String::as_str)
            } else {
                part
            });
        }
    }
    for (name, value) in op.query.iter().zip(values) {
        if let Some(value) = value {
            url.query_pairs_mut().append_pair(name, value);
        }
    }
    let uri = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let bytes = match body {
        Payload::Edited(at, change) => edited_json(&seed(op.body.as_deref()), at, change)
            .0
            .into_bytes(),
        Payload::Json(v) => v.to_string().into_bytes(),
        Payload::Bytes(b) => b.clone(),
    };
    let body = if op.method == "GET" {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    Request::builder()
        .method(op.method.as_str())
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .ok()
}

proptest! {
    #![proptest_config(crate::fuzz::config(256))]

    #[test]
    fn fuzz_http_every_operation_answers_without_a_panic(
        which in any::<Index>(),
        segments in prop::collection::vec(hostile_text(), 1..3),
        values in prop::collection::vec(prop::option::of(hostile_text()), 0..8),
        body in payload(),
    ) {
        let (runtime, router, ops) = service();
        let op = &ops[which.index(ops.len())];
        let Some(req) = request(op, &segments, &values, &body) else {
            return Ok(());
        };
        let uri = req.uri().to_string();
        let (status, text) = runtime.block_on(async {
            let response = router.clone().oneshot(req).await.expect("infallible");
            let status = response.status();
            let bytes = response.into_body().collect().await.expect("a body").to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        });
        prop_assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{} {uri}: {text}", op.method);
        if status.is_client_error() {
            let error: Value = serde_json::from_str(&text).unwrap_or_default();
            let said = error["details"].as_str().or(error["error"].as_str()).unwrap_or_default();
            prop_assert!(!said.trim().is_empty(), "{} {uri} -> {status}: {text}", op.method);
        }
    }
}
