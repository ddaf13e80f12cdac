//! The HTTP service (`retryctl serve`): `app()` builds the router, `run()` serves it with
//! background housekeeping and a graceful shutdown.
//!
//! Three layers, each in its folder: [`edge`] (auth, the error type, JSON and query parsing,
//! middleware), [`api`] (one file per resource: thin handlers) and [`core`] (state, the ingest
//! path, the schedule, alerts, lifecycle). The API uses the edge and the core; the core uses
//! only the edge's error type; the edge uses neither.

pub mod api;
pub mod core;
pub mod edge;

pub use self::core::{
    AppState, Change, StartError, set_memory_release, set_training_priority, shutdown_signal,
    start_state,
};
pub use crate::model::API_BASE;
pub use edge::{Access, ApiError, ApiJson, ApiResult, Caller};

use self::core::Background;
use axum::http::StatusCode;
use axum::{Extension, Router};
use edge::auth_failures::{self, AuthFailures};
use edge::layers;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

/// The service's router, ready to serve (tests drive it with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    let limits = state.config.limits.clone();
    let (routes, doc) = api::split(&limits);
    routes
        .fallback(layers::no_such_endpoint)
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            layers::track_requests,
        ))
        .layer(Extension(Arc::new(doc)))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(AuthFailures::default()),
            auth_failures::limit_auth_failures,
        ))
        .layer(CatchPanicLayer::custom(layers::panic_response))
        .layer(axum::middleware::from_fn(layers::error_shape))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, with the background housekeeping
/// running alongside; then flushes a final snapshot.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = Background::start(&state);
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    background.stop().await;
    served
}

#[cfg(test)]
mod fuzz;
