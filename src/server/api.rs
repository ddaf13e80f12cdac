//! The API: one file per resource, each with `pub fn routes() -> OpenApiRouter<AppState>`
//! (paths relative to [`API_BASE`]) and thin handlers that check the caller's access, parse the
//! request at the edge and call the core. [`split`] turns them into the axum router and the
//! OpenAPI document generated from the same registrations.
//!
//! Adding a resource: create `api/<resource>.rs` with handlers that take a
//! [`Caller`](super::edge::Caller) and call `caller.require(Access::...)?`, parse bodies with
//! [`ApiJson`](super::edge::ApiJson), answer `ApiResult<...>`; document each with
//! `#[utoipa::path(...)]` and register it with `.routes(routes!(handler))`; then merge the
//! resource in [`resources`].

mod alerts;
mod attempts;
mod bulk;
mod circuits;
mod comparison;
mod cost;
mod failures;
mod feed;
mod health;
mod incident;
mod jobs;
mod metrics;
mod ml;
mod models;
pub mod openapi;
mod patterns;
mod pauses;
mod policies;
mod recommend;
mod series;
mod stats;
mod strategy;
mod summary;

use super::core::AppState;
use crate::config::Limits;
use crate::model::API_BASE;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::router::OpenApiRouter;

/// The API's router (under [`API_BASE`], plus the top-level `/metrics`) with the body limits,
/// and the OpenAPI document of exactly the routes it holds.
pub fn split(limits: &Limits) -> (Router<AppState>, serde_json::Value) {
    let single = resources().layer(RequestBodyLimitLayer::new(limits.body_bytes));
    let batch = attempts::batch_routes()
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.batch_body_bytes));
    let (router, doc) = OpenApiRouter::with_openapi(openapi::base())
        .nest(API_BASE, single.merge(batch))
        .merge(metrics::top_level_routes())
        .split_for_parts();
    (router, openapi::finish(doc))
}

/// Every resource of the API except batch ingestion (which has its own body limit).
fn resources() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(recommend::routes())
        .merge(attempts::routes())
        .merge(stats::routes())
        .merge(policies::routes())
        .merge(strategy::routes())
        .merge(models::routes())
        .merge(ml::routes())
        .merge(cost::routes())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(failures::routes())
        .merge(jobs::routes())
        .merge(bulk::routes())
        .merge(incident::routes())
        .merge(pauses::routes())
        .merge(circuits::routes())
        .merge(series::routes())
        .merge(comparison::routes())
        .merge(alerts::routes())
        .merge(feed::routes())
        .merge(summary::routes())
        .merge(patterns::routes())
        .merge(openapi::routes())
}
