//! Cross-cutting middleware: request metrics by matched path, the error shape for answers that
//! did not come from a handler (404, 405, 413, timeouts, panics).

use super::error::ApiError;
use crate::metrics::Metrics;
use crate::model::API_BASE;
use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

/// Counts requests and their latency per matched route (`/api/v1/retry/jobs/{id}`, not ids).
pub async fn track_requests(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.record_request(
        &method,
        &path,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Rewrites any error answer that is not JSON yet (from axum or tower-http layers) into the
/// upstream error shape, so clients parse every failure the same way.
pub async fn error_shape(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow = response.headers().get(ALLOW).cloned();
    let text = to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let mut shaped = shaped_error(status, text).into_response();
    if let Some(allow) = allow {
        shaped.headers_mut().insert(ALLOW, allow);
    }
    shaped
}

fn shaped_error(status: StatusCode, text: String) -> ApiError {
    let summary = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed for this endpoint",
        StatusCode::SERVICE_UNAVAILABLE if text.is_empty() => "request timed out",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported media type",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let error = ApiError::new(status, summary);
    if text.is_empty() {
        error
    } else {
        error.with_details(text)
    }
}

/// The answer to a path no route matches.
pub async fn no_such_endpoint(req: Request) -> ApiError {
    ApiError::not_found("no such endpoint").with_details(format!(
        "{} {} is not part of the API; see GET {}/openapi.json",
        req.method(),
        req.uri().path(),
        API_BASE
    ))
}

/// Last resort if a handler panics: a 500 in the error shape (the panic is a bug to fix).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    let mut response = ApiError::internal("the service hit a bug; it was logged").into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
