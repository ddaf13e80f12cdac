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
    /// Fits on indexed rows of equal width; NaN marks a missing value, ±∞ is refused.
    pub fn fit(rows: &[Vec<f64>], labels: &[bool], settings: &Settings) -> Result<Self, MlError> {
        check_training(rows.len(), labels)?;
        let width = rows[0].len();
        let columns = column_major(rows, width)?;
        let y: Vec<f64> = labels.iter().map(|&s| f64::from(u8::from(s))).collect();
        let mut booster = GradientBooster::default()
            .set_iterations(settings.iterations)
            .set_learning_rate(settings.learning_rate)
            .set_max_depth(settings.max_depth)
            .set_parallel(settings.parallel)
            .set_seed(settings.seed);
        let data = Matrix::new(&columns, rows.len(), width);
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

    /// P(success) for many rows in one pass over the trees (far cheaper per row than
    /// [`Model::predict`] row by row); NaN everywhere when a row has the wrong width.
    pub fn predict_many(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        if rows.iter().any(|r| r.len() != self.width) {
            return vec![f64::NAN; rows.len()];
        }
        let columns: Vec<f64> = (0..self.width)
            .flat_map(|j| rows.iter().map(move |r| r[j]))
            .collect();
        let data = Matrix::new(&columns, rows.len(), self.width);
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

/// The rows as one column-major buffer, checked for equal width and no infinities.
fn column_major(rows: &[Vec<f64>], width: usize) -> Result<Vec<f64>, MlError> {
    for (i, row) in rows.iter().enumerate() {
        if row.len() != width {
            let problem = format!("{} values, the first row has {width}", row.len());
            return Err(MlError::Row { row: i, problem });
        }
        if let Some(j) = row.iter().position(|v| v.is_infinite()) {
            let problem = format!("value {} in slot {j} is not finite", row[j]);
            return Err(MlError::Row { row: i, problem });
        }
    }
    Ok((0..width)
        .flat_map(|j| rows.iter().map(move |r| r[j]))
        .collect())
}

#[cfg(test)]
mod tests;
