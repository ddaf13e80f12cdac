//! retryctl: smart, visible retries.
//!
//! - [`model`]: wire types shared by every part (upstream smart-retry field names).
//! - [`engine`]: the pure decision engine (rules → Bayesian → ML, guardrails, explanations).
//! - [`store`]: persistence behind one trait (SQLite embedded by default, memory for tests).
//! - [`server`]: the HTTP service (`retryctl serve`).
//! - [`config`]: the service's configuration (defaults < file < environment < flags).
//! - [`metrics`]: the service's Prometheus metrics.
//! - [`client`]: the typed HTTP client of the service, used by the console and the CLI verbs.
//! - [`present`]: operator-facing text shared by the console and the CLI verbs (sanitising,
//!   formatting, export files, the override input).
//! - [`tui`]: the operator console (`retryctl tui`).
//! - [`sim`]: failure scenarios, the offline strategy evaluation (`retryctl eval`) and the
//!   real-time load driver (`retryctl simulate`, `retryctl demo`).
//! - [`cli`]: the command line and its subcommands; `main.rs` only parses and dispatches.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod engine;
#[cfg(test)]
mod fuzz;
pub mod metrics;
pub mod model;
pub mod present;
pub mod server;
pub mod sim;
pub mod store;
pub mod tui;
