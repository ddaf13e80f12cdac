//! Synthetic failure workloads (DESIGN §1, issue 4).
//!
//! - [`scenario`]: the TOML scenario format (README "Scenario files").
//! - [`world`]: the hidden truth of a run — which jobs fail, when they would succeed.
//! - [`policy`]: the strategies compared (static backoffs, the engine's tiers, an oracle).
//! - [`driver`]: the real-time load driver of `retryctl simulate` and `retryctl demo`.
//! - [`eval`]: runs every strategy over a scenario in virtual time and scores it.
//! - [`report`]: the evaluation as a table, JSON or CSV.
//! - [`api`]: the learning strategies of `eval` run in a live service instead (`--api`).

pub mod api;
pub mod driver;
pub mod eval;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod world;

use api::ApiLearners;
use eval::{EvalConfig, InProcess, Learners, evaluate_with};
use policy::PolicyError;
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
    #[error(transparent)]
    Service(#[from] PolicyError),
}

/// Loads every scenario (all of them before running any, so a typo fails fast), evaluates
/// each in this process and renders the reports. With no paths, every `*.toml` in
/// `default_dir`.
pub fn eval_files(
    paths: &[PathBuf],
    default_dir: &Path,
    config: &EvalConfig,
    format: Format,
) -> Result<String, EvalError> {
    eval_files_with(paths, default_dir, config, format, &mut InProcess)
}

/// [`eval_files`] with the learning strategies in the service at `url` (`eval --api`). The
/// service's strategy is put back afterwards, even when a run failed. Runs its own async
/// runtime: call it outside any other.
pub fn eval_api_files(
    paths: &[PathBuf],
    default_dir: &Path,
    config: &EvalConfig,
    format: Format,
    url: &str,
    token: Option<String>,
) -> Result<String, EvalError> {
    let scenarios = load_scenarios(paths, default_dir)?;
    let mut learners = ApiLearners::connect(url, token)?;
    let rendered = render_with(&scenarios, config, format, &mut learners);
    let restored = learners.restore();
    let out = rendered?;
    restored?;
    Ok(out)
}

/// [`eval_files`] with the learning strategies from `learners`.
pub fn eval_files_with(
    paths: &[PathBuf],
    default_dir: &Path,
    config: &EvalConfig,
    format: Format,
    learners: &mut dyn Learners,
) -> Result<String, EvalError> {
    let scenarios = load_scenarios(paths, default_dir)?;
    render_with(&scenarios, config, format, learners)
}

fn render_with(
    scenarios: &[Scenario],
    config: &EvalConfig,
    format: Format,
    learners: &mut dyn Learners,
) -> Result<String, EvalError> {
    let reports = scenarios
        .iter()
        .map(|s| evaluate_with(s, config, learners))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(render(&reports, format)?)
}

fn load_scenarios(paths: &[PathBuf], default_dir: &Path) -> Result<Vec<Scenario>, EvalError> {
    let paths = if paths.is_empty() {
        scenario_files(default_dir)?
    } else {
        paths.to_vec()
    };
    Ok(paths
        .iter()
        .map(|p| Scenario::load(p))
        .collect::<Result<Vec<_>, _>>()?)
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
