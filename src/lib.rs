//! retryctl: smart, visible retries.
//!
//! - [`engine`]: the pure decision engine (rules → Bayesian → ML, guardrails, explanations).
//! - [`store`]: persistence behind one trait (SQLite embedded by default).
//! - [`model`]: wire types shared by every part (upstream smart-retry field names).
#![forbid(unsafe_code)]

pub mod engine;
pub mod model;
pub mod store;
pub mod server;
pub mod tui;
