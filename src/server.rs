//! The HTTP service (`retryctl serve`): `app()` builds the router, `run()` serves it with
//! background housekeeping and a graceful shutdown.
//!
//! Adding a resource: create `server/<resource>.rs` with `pub fn routes() -> Router<AppState>`
//! (paths relative to [`API_BASE`]), handlers that take a [`Caller`] and call
//! `caller.require(Access::...)?`, parse bodies with [`ApiJson`], answer `ApiResult<...>`; then
//! merge it in [`api_routes`].

pub mod alert_rules;
pub mod auth;
pub mod error;
pub mod json;
pub mod openapi;
pub mod state;

mod alerts;
mod attempts;
mod events;
mod failures;
mod feed;
mod health;
mod housekeeping;
mod jobs;
mod layers;
mod models;
mod ops;
mod policies;
mod prometheus;
mod recommend;
mod schedule;
mod stats;
mod strategy;
mod summary;
mod window;

pub use auth::{Access, Caller};
pub use error::{ApiError, ApiResult};
pub use housekeeping::{StartError, run, shutdown_signal, start_state};
pub use json::ApiJson;
pub use state::{AppState, Change};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Base path of the API (upstream compatible).
pub const API_BASE: &str = "/api/v1/retry";

/// The service's router, ready to serve (tests drive it with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    let limits = state.config.limits.clone();
    let single = api_routes().layer(RequestBodyLimitLayer::new(limits.body_bytes));
    let batch = attempts::batch_routes()
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.batch_body_bytes));
    Router::new()
        .nest(API_BASE, single.merge(batch))
        .merge(prometheus::top_level_routes())
        .fallback(layers::no_such_endpoint)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            layers::track_requests,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(layers::panic_response))
        .layer(axum::middleware::from_fn(layers::error_shape))
        .with_state(state)
}

/// Every resource of the API except batch ingestion (which has its own body limit).
fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(recommend::routes())
        .merge(attempts::routes())
        .merge(stats::routes())
        .merge(policies::routes())
        .merge(strategy::routes())
        .merge(models::routes())
        .merge(health::routes())
        .merge(prometheus::routes())
        .merge(failures::routes())
        .merge(jobs::routes())
        .merge(alerts::routes())
        .merge(feed::routes())
        .merge(summary::routes())
        .merge(openapi::routes())
}
