//! Synthetic failure workloads: what `retryctl eval` scores strategies on and what
//! `retryctl simulate` and `retryctl demo` drive a live service with.
//!
//! - [`scenario`]: the TOML scenario format (README "Scenario files").
//! - [`world`]: the hidden truth of a run — which jobs fail, when they would succeed.
//! - [`policy`]: the strategies compared (static backoffs, the engine's tiers, an oracle).
//! - [`ml`]: the `ml` strategy, the engine with an ML tier trained on the warm-up.
//! - [`driver`]: the real-time load driver of `retryctl simulate` and `retryctl demo`.
//! - [`eval`]: runs every strategy over a scenario in virtual time and scores it.
//! - [`report`]: the evaluation as a table, JSON or CSV.
//! - [`api`]: the learning strategies of `eval` run in a live service instead (`--api`).

pub mod api;
pub mod driver;
pub mod eval;
pub mod ml;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod world;

use api::ApiLearners;
use eval::{EvalConfig, InProcess, Learners, evaluate_with};
use policy::PolicyError;
use report::{Format, ReportError, render};
use scenario::Scenario;

/// Why `retryctl eval` could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Service(#[from] PolicyError),
}

/// Evaluates each scenario in this process and renders the reports.
pub fn eval(
    scenarios: &[Scenario],
    config: &EvalConfig,
    format: Format,
) -> Result<String, EvalError> {
    render_with(scenarios, config, format, &mut InProcess)
}

/// [`eval`] with the learning strategies in the service at `url` (`eval --api`). The
/// service's strategy is put back afterwards, even when a run failed. Runs its own async
/// runtime: call it outside any other.
pub fn eval_api(
    scenarios: &[Scenario],
    config: &EvalConfig,
    format: Format,
    url: &str,
    token: Option<String>,
) -> Result<String, EvalError> {
    let mut learners = ApiLearners::connect(url, token)?;
    let rendered = render_with(scenarios, config, format, &mut learners);
    let restored = learners.restore();
    let out = rendered?;
    restored?;
    Ok(out)
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
