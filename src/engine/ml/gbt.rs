//! Gradient-boosted trees with a log-loss objective, by forust-ml.
//!
//! Rows come from [`super::encode::Encoder::indexed`]: raw numerics and categorical indices,
//! NaN for missing (forust sends missing values down their own learned branch). forust's raw
//! prediction is the log-odds of label 1.0, our success.

use super::logistic::sigmoid;
use super::{MlError, Model, ModelKind, check_training};
use forust_ml::gradientbooster::ContributionsMethod;
use forust_ml::{GradientBooster, Matrix};

/// Booster settings (forust's, named as there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub iterations: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
    /// Train on forust's rayon pool; off, it uses the calling thread only.
    pub parallel: bool,
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            iterations: 100,
            learning_rate: 0.1,
            max_depth: 4,
            parallel: false,
            seed: 0,
        }
    }
}

/// A fitted booster and the row width it was trained on.
pub struct Boosted {
    booster: GradientBooster,
    width: usize,
}

impl std::fmt::Debug for Boosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Boosted")
            .field("trees", &self.booster.trees.len())
            .field("width", &self.width)
            .finish()
    }
}

impl Boosted {
    /// Fits on indexed rows given column-major (`width` columns of `labels.len()` values, as
    /// [`super::encode::Encoder::indexed_columns`] gives them); NaN marks a missing value, ±∞
    /// is refused.
    pub fn fit(
        columns: &[f64],
        width: usize,
        labels: &[bool],
        settings: &Settings,
    ) -> Result<Self, MlError> {
        check_training(labels.len(), labels)?;
        let rows = labels.len();
        check_columns(columns, width, rows)?;
        let y: Vec<f64> = labels.iter().map(|&s| f64::from(u8::from(s))).collect();
        let mut booster = GradientBooster::default()
            .set_iterations(settings.iterations)
            .set_learning_rate(settings.learning_rate)
            .set_max_depth(settings.max_depth)
            .set_parallel(settings.parallel)
            .set_seed(settings.seed)
            // Histograms built row by row from a tiled copy of the binned data: at 574,282
            // rows of 12 features, 3.3 s of CPU per fit instead of 4.4 s, with the same
            // held-out log-loss and ECE (README "ML measurements").
            .set_tiled_histograms(true);
        let data = Matrix::new(columns, rows, width);
        booster
            .fit_unweighted(&data, &y, None)
            .map_err(|e| MlError::Booster(e.to_string()))?;
        Ok(Self { booster, width })
    }

    /// The booster as forust's JSON, to store with the model version.
    pub fn to_json(&self) -> Result<String, MlError> {
        self.booster
            .json_dump()
            .map_err(|e| MlError::Booster(e.to_string()))
    }

    /// P(success) for `rows` rows given column-major, in one pass over the trees (far cheaper
    /// per row than [`Model::predict`] row by row); NaN everywhere when the buffer does not
    /// hold `rows` rows of this model's width.
    pub fn predict_columns(&self, columns: &[f64], rows: usize) -> Vec<f64> {
        if columns.len() != rows * self.width {
            return vec![f64::NAN; rows];
        }
        let data = Matrix::new(columns, rows, self.width);
        self.booster
            .predict(&data, false)
            .into_iter()
            .map(sigmoid)
            .collect()
    }

    /// Each feature's share of the log-odds for `row` (Saabas: the change in leaf weight along
    /// the row's path, summed over trees), one per feature; empty for a row of the wrong width.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        if row.len() != self.width {
            return Vec::new();
        }
        let data = Matrix::new(row, 1, self.width);
        let mut all = self
            .booster
            .predict_contributions(&data, ContributionsMethod::Weight, false);
        all.truncate(self.width);
        all
    }

    /// A booster stored by [`Self::to_json`], for rows of `width` values.
    pub fn from_json(json: &str, width: usize) -> Result<Self, MlError> {
        let booster =
            GradientBooster::from_json(json).map_err(|e| MlError::Booster(e.to_string()))?;
        Ok(Self { booster, width })
    }
}

impl Model for Boosted {
    fn kind(&self) -> ModelKind {
        ModelKind::GradientBoost
    }

    /// NaN for a row of the wrong width, so a caller's finiteness check falls back.
    fn predict(&self, row: &[f64]) -> f64 {
        if row.len() != self.width {
            return f64::NAN;
        }
        // One row is the same in row- and column-major order.
        let data = Matrix::new(row, 1, self.width);
        self.booster
            .predict(&data, false)
            .first()
            .map_or(f64::NAN, |&z| sigmoid(z))
    }
}

/// Checks a column-major buffer holds `width` columns of `rows` values, none infinite.
fn check_columns(columns: &[f64], width: usize, rows: usize) -> Result<(), MlError> {
    if columns.len() != width * rows {
        return Err(MlError::LengthMismatch {
            what: "feature values against rows x width",
            left: columns.len(),
            right: width * rows,
        });
    }
    if let Some(at) = columns.iter().position(|v| v.is_infinite()) {
        let problem = format!("value {} in slot {} is not finite", columns[at], at / rows);
        return Err(MlError::Row {
            row: at % rows,
            problem,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
