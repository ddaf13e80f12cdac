//! The ML tier's models: P(next attempt succeeds | features, delay), fitted in process.
//!
//! The point-in-time [`features`] (the same code in training, via [`dataset`], and serving),
//! the feature [`encode::Encoder`] with its stored vocabulary, the model kinds behind the
//! [`Model`] trait and the [`fitted::Fitted`] model that stores and serves them, the decision
//! over the delay grid ([`serve`]) and what its decisions would have cost on held-out episodes
//! ([`decision_cost`], the deploy gate's evidence), what the engine holds while serving ([`deployment`]: arms,
//! health, [`live`] outcomes, the [`live_check`] that rolls a serving model back when its
//! forecasts and its decisions are worse than the Bayesian tier's, with [`clustered`]
//! standard errors, [`drift`]), and the [`metrics`] a model is
//! judged by. Like the
//! rest of the engine it reads no clock, socket or file; training data is handed in.
//!
//! Kinds: [`gbt::Boosted`], gradient-boosted trees by forust-ml (builds on stable Rust, no
//! C++ toolchain); [`logistic::Logistic`], logistic regression fitted by Newton's method
//! (IRLS) with a small ridge penalty. A hand-written solver rather than linfa-logistic: its
//! 0.8 release calls the more frequent training label the positive class (rust-ml/linfa#393,
//! fixed after 0.8 by #432), so the meaning of its probability flips with the data's success
//! rate. The linear algebra (Cholesky) is nalgebra's, already built for statrs.

pub mod canary;
pub mod clustered;
pub mod dataset;
pub mod decision_cost;
pub mod deployment;
pub mod drift;
pub mod encode;
pub mod features;
pub mod fitted;
pub mod gbt;
pub mod live;
pub mod live_check;
pub mod logistic;
pub mod metrics;
pub mod serve;

use serde::{Deserialize, Serialize};

/// Why fitting, encoding or scoring could not be done. Each says what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MlError {
    #[error("no training rows: a model needs at least one success and one failure")]
    NoRows,
    #[error("no rows to score: a metric needs at least one forecast with its outcome")]
    NothingToScore,
    #[error("the training rows are all {0}: a model needs both successes and failures")]
    OneClass(&'static str),
    #[error("{what}: {left} values against {right}")]
    LengthMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    #[error("feature '{column}': {problem}")]
    Feature { column: String, problem: String },
    #[error("row {row}: {problem}")]
    Row { row: usize, problem: String },
    #[error("the solver did not converge in {iterations} iterations (last step {step:.3e})")]
    NotConverged { iterations: usize, step: f64 },
    #[error("the solver met a singular system at iteration {0}; features may be collinear")]
    Singular(usize),
    #[error("gradient boosting: {0}")]
    Booster(String),
    #[error("stored model unreadable: {0}")]
    Stored(String),
}

/// The kinds of model the tier can train (the upstream `model_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Logistic,
    GradientBoost,
}

/// The upstream `model_type` of a kind.
pub fn model_type_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Logistic => "logistic",
        ModelKind::GradientBoost => "gradient_boost",
    }
}

/// A fitted model: the probability that the next attempt succeeds, for one encoded row.
///
/// Rows come from the model's own [`encode::Encoder`] (`dense` for logistic regression,
/// `indexed` for trees), so a
/// model never sees a value outside its vocabulary.
pub trait Model: std::fmt::Debug + Send + Sync {
    fn kind(&self) -> ModelKind;
    /// P(success) in [0, 1] for one encoded row of the model's width.
    fn predict(&self, row: &[f64]) -> f64;
}

/// Checks labels and rows before fitting: equal lengths, both outcomes present.
/// Keeps the newer half of `map` by `age` (larger is newer; the median and above stay): how a
/// bounded table of entries waiting for their outcome makes room.
fn keep_newer_half<K, V, T: Ord + Copy>(
    map: &mut std::collections::HashMap<K, V>,
    age: impl Fn(&V) -> T,
) {
    let mut ages: Vec<T> = map.values().map(&age).collect();
    if ages.is_empty() {
        return;
    }
    let middle = ages.len() / 2;
    let (_, &mut median, _) = ages.select_nth_unstable(middle);
    map.retain(|_, v| age(v) >= median);
}

fn check_training(rows: usize, labels: &[bool]) -> Result<(), MlError> {
    if rows != labels.len() {
        return Err(MlError::LengthMismatch {
            what: "training rows against labels",
            left: rows,
            right: labels.len(),
        });
    }
    if rows == 0 {
        return Err(MlError::NoRows);
    }
    let successes = labels.iter().filter(|&&y| y).count();
    if successes == 0 {
        return Err(MlError::OneClass("failures"));
    }
    if successes == rows {
        return Err(MlError::OneClass("successes"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod synthetic;
