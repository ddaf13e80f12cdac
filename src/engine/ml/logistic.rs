//! Logistic regression fitted by Newton's method (iteratively reweighted least squares).
//!
//! Maximises the log-likelihood of "success" (label `true` is the positive class, whatever
//! share of the rows it is) minus a ridge penalty `ridge/2 · |w|²` on the weights, not the
//! intercept. The penalty keeps the Newton system positive definite when features are
//! collinear (a one-hot block beside the intercept) or the classes separable.

use super::{MlError, Model, ModelKind, check_training};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// Solver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Ridge penalty on the weights (not the intercept).
    pub ridge: f64,
    pub max_iterations: usize,
    /// Converged when no coefficient moves by more than this in one step.
    pub tolerance: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ridge: 1e-3,
            max_iterations: 50,
            tolerance: 1e-8,
        }
    }
}

/// A fitted logistic regression: P(success) = σ(intercept + weights · row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub intercept: f64,
    pub weights: Vec<f64>,
}

impl Logistic {
    /// Fits on dense rows of equal width (from [`super::encode::Encoder::dense`]).
    pub fn fit(rows: &[Vec<f64>], labels: &[bool], settings: &Settings) -> Result<Self, MlError> {
        check_training(rows.len(), labels)?;
        let x = design(rows)?;
        let y =
            DVector::from_iterator(labels.len(), labels.iter().map(|&s| f64::from(u8::from(s))));
        let mut penalty = DVector::from_element(x.ncols(), settings.ridge);
        penalty[0] = 0.0;
        let mut beta = DVector::zeros(x.ncols());
        beta[0] = logit(y.mean());
        let mut step = f64::INFINITY;
        for iteration in 1..=settings.max_iterations {
            step = newton_step(&x, &y, &penalty, &mut beta, iteration)?;
            if step <= settings.tolerance {
                return Ok(Self {
                    intercept: beta[0],
                    weights: beta.iter().skip(1).copied().collect(),
                });
            }
        }
        Err(MlError::NotConverged {
            iterations: settings.max_iterations,
            step,
        })
    }

    /// The per-slot terms `weights[j] · row[j]` of the log-odds for `row`.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        self.weights.iter().zip(row).map(|(w, x)| w * x).collect()
    }
}

impl Model for Logistic {
    fn kind(&self) -> ModelKind {
        ModelKind::Logistic
    }

    /// NaN for a row of the wrong width, so a caller's finiteness check falls back.
    fn predict(&self, row: &[f64]) -> f64 {
        if row.len() != self.weights.len() {
            return f64::NAN;
        }
        let z: f64 = self.intercept + self.contributions(row).iter().sum::<f64>();
        sigmoid(z)
    }
}

/// One Newton step on `beta` in place; the largest coefficient change.
fn newton_step(
    x: &DMatrix<f64>,
    y: &DVector<f64>,
    penalty: &DVector<f64>,
    beta: &mut DVector<f64>,
    iteration: usize,
) -> Result<f64, MlError> {
    let p = (x * &*beta).map(sigmoid);
    // Floors the weights so rows the model is already sure of keep the system well posed.
    let w = p.map(|p| (p * (1.0 - p)).max(1e-12));
    let gradient = x.tr_mul(&(y - &p)) - penalty.component_mul(beta);
    let weighted = DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] * w[i]);
    let hessian = x.tr_mul(&weighted) + DMatrix::from_diagonal(penalty);
    let step = hessian
        .cholesky()
        .ok_or(MlError::Singular(iteration))?
        .solve(&gradient);
    if !step.iter().all(|s| s.is_finite()) {
        return Err(MlError::Singular(iteration));
    }
    *beta += &step;
    Ok(step.amax())
}

/// The rows with a leading column of ones, checked for equal width and finite values.
fn design(rows: &[Vec<f64>]) -> Result<DMatrix<f64>, MlError> {
    let width = rows[0].len();
    for (i, row) in rows.iter().enumerate() {
        if row.len() != width {
            let problem = format!("{} values, the first row has {width}", row.len());
            return Err(MlError::Row { row: i, problem });
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            let problem = format!("value {} in slot {j} is not finite", row[j]);
            return Err(MlError::Row { row: i, problem });
        }
    }
    Ok(DMatrix::from_fn(rows.len(), width + 1, |i, j| {
        if j == 0 { 1.0 } else { rows[i][j - 1] }
    }))
}

/// σ(z) without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests;
