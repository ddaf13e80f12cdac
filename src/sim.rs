//! Synthetic failure workloads (DESIGN §1, issue 4).
//!
//! - [`scenario`]: the TOML scenario format (README "Scenario files").
//! - [`world`]: the hidden truth of a run — which jobs fail, when they would succeed.
//! - [`policy`]: the strategies compared (static backoffs, the engine's tiers, an oracle).
//! - [`eval`]: runs every strategy over a scenario in virtual time and scores it.
//! - [`report`]: the evaluation as a table, JSON or CSV.

pub mod eval;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod world;
