//! Synthetic failure workloads (DESIGN §1, issue 4).
//!
//! - [`scenario`]: the TOML scenario format (README "Scenario files").
//! - [`world`]: the hidden truth of a run — which jobs fail, when they would succeed.
//! - [`policy`]: the strategies compared (static backoffs, the engine's tiers, an oracle).
//! - [`driver`]: the real-time load driver of `retryctl simulate` and `retryctl demo`.
//! - [`eval`]: runs every strategy over a scenario in virtual time and scores it.
//! - [`report`]: the evaluation as a table, JSON or CSV.

pub mod driver;
pub mod eval;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod world;

use eval::{EvalConfig, evaluate};
use report::{Format, ReportError, render};
use scenario::{Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// Why `retryctl eval` could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "no scenario given and {0} holds no *.toml file: pass scenario files, \
         e.g. `retryctl eval scenarios/payment-503.toml`"
    )]
    NoScenarios(String),
}

/// Loads every scenario (all of them before running any, so a typo fails fast), evaluates
/// each and renders the reports. With no paths, every `*.toml` in `default_dir`.
pub fn eval_files(
    paths: &[PathBuf],
    default_dir: &Path,
    config: &EvalConfig,
    format: Format,
) -> Result<String, EvalError> {
    let paths = if paths.is_empty() {
        scenario_files(default_dir)?
    } else {
        paths.to_vec()
    };
    let scenarios = paths
        .iter()
        .map(|p| Scenario::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let reports: Vec<_> = scenarios.iter().map(|s| evaluate(s, config)).collect();
    Ok(render(&reports, format)?)
}

fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let missing = || EvalError::NoScenarios(dir.display().to_string());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|_| missing())?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(missing());
    }
    Ok(files)
}
