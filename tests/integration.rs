//! Every integration test, linked into one test binary: one file in `tests/` per area, each a
//! module here. One binary instead of one per file keeps a clean `cargo test` within a few
//! hundred MB of disk and links the library once.

mod common;

mod api;
mod api_clock;
mod architecture;
mod auth_abuse;
mod circuits_api;
mod cli;
mod cli_verbs;
mod console_cli;
mod console_injection;
mod console_snapshots;
mod console_tmux;
mod console_views;
mod demo;
mod durability;
mod eval;
mod eval_api;
mod incident_api;
mod job_plan;
mod kill_loop;
mod ml_api;
mod operator_stack;
mod packaging;
mod patterns_api;
mod pauses_api;
mod prometheus;
mod redis_faults;
mod redis_replicas;
mod scenarios;
mod schedule_api;
mod series_api;
mod shared_pacing;
mod simulate_check;
mod store_contract;
mod store_failure;
mod upstream_compat;
mod worker_example;
mod worker_path;
