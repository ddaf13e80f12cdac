//! The API: one file per resource, each with `pub fn routes() -> Router<AppState>` (paths
//! relative to [`API_BASE`](crate::model::API_BASE)) and thin handlers that check the caller's
//! access, parse the request at the edge and call the core.
//!
//! Adding a resource: create `api/<resource>.rs` with handlers that take a
//! [`Caller`](super::edge::Caller) and call `caller.require(Access::...)?`, parse bodies with
//! [`ApiJson`](super::edge::ApiJson), answer `ApiResult<...>`; then merge it in [`routes`].

mod alerts;
mod attempts;
mod failures;
mod feed;
mod health;
mod jobs;
mod metrics;
mod models;
pub mod openapi;
mod policies;
mod recommend;
mod stats;
mod strategy;
mod summary;

pub use attempts::batch_routes;
pub use metrics::top_level_routes;

use super::core::AppState;
use axum::Router;

/// Every resource of the API except batch ingestion (which has its own body limit).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(recommend::routes())
        .merge(attempts::routes())
        .merge(stats::routes())
        .merge(policies::routes())
        .merge(strategy::routes())
        .merge(models::routes())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(failures::routes())
        .merge(jobs::routes())
        .merge(alerts::routes())
        .merge(feed::routes())
        .merge(summary::routes())
        .merge(openapi::routes())
}
