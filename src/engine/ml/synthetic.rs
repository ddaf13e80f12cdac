//! Test data drawn from a known logistic model, seeded.

use super::logistic::sigmoid;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// `n` rows of independent standard-normal features, one per coefficient in `weights`, with
/// labels drawn as success with probability σ(intercept + weights · row); and those
/// probabilities.
pub fn draw(
    n: usize,
    intercept: f64,
    weights: &[f64],
    seed: u64,
) -> (Vec<Vec<f64>>, Vec<bool>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = weights
            .iter()
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let z = intercept + weights.iter().zip(&row).map(|(w, x)| w * x).sum::<f64>();
        let p = sigmoid(z);
        labels.push(rng.random::<f64>() < p);
        truth.push(p);
        rows.push(row);
    }
    (rows, labels, truth)
}
