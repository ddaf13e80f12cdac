//! The HTTP edge: who is calling ([`auth`]) and who keeps failing to say ([`auth_failures`]), the one error type and its JSON shape
//! ([`error`]), body and query parsing whose errors name the field ([`json`], [`query`]), and
//! the middleware every request passes ([`layers`]).
//!
//! Nothing here knows a resource or the service state: the edge needs only the config (for
//! tokens) and the metrics registry (for request counts), taken from the router state.

pub mod auth;
pub mod auth_failures;
pub mod error;
pub mod json;
pub mod layers;
pub mod query;

pub use auth::{Access, Caller};
pub use error::{ApiError, ApiResult};
pub use json::ApiJson;
