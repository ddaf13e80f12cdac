//! retryctl: smart, visible retries.
//!
//! - [`engine`]: the pure decision engine (rules → Bayesian → ML, guardrails, explanations).
//! - [`store`]: persistence behind one trait (SQLite embedded by default).
//! - [`sim`]: failure scenarios and the offline strategy evaluation (`retryctl eval`).
//! - [`model`]: wire types shared by every part (upstream smart-retry field names).
//! - [`server`]: the HTTP service (`retryctl serve`); [`config`] its configuration and
//!   [`metrics`] its Prometheus metrics.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod present;
pub mod server;
pub mod sim;
pub mod store;
pub mod tui;
