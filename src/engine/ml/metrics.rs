//! How good a probability forecast is, on rows with known outcomes: log-loss, Brier score,
//! expected calibration error (ECE) and the area under the ROC curve (AUC). Lower is better
//! for the first three, higher for AUC. `true` is a success, the event forecast.

use super::MlError;
use std::num::NonZeroUsize;

/// Probabilities are clamped this far from 0 and 1, so a confident miss costs a finite loss.
const LOG_LOSS_EPS: f64 = 1e-15;

/// Mean negative log-likelihood of the outcomes.
pub fn log_loss(p: &[f64], y: &[bool]) -> Result<f64, MlError> {
    check(p, y)?;
    let total: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
            -if y { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    Ok(total / p.len() as f64)
}

/// Mean squared difference between forecast and outcome (0 or 1).
pub fn brier(p: &[f64], y: &[bool]) -> Result<f64, MlError> {
    check(p, y)?;
    let total: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| (p - outcome(y)).powi(2))
        .sum();
    Ok(total / p.len() as f64)
}

/// Expected calibration error over `bins` equal-width bins of the forecast: the row-weighted
/// mean of |mean forecast − success rate| per bin.
pub fn ece(p: &[f64], y: &[bool], bins: NonZeroUsize) -> Result<f64, MlError> {
    check(p, y)?;
    let bins = bins.get();
    // Per bin, summed forecasts and successes: n_b/N · |mean gap_b| = |summed gap_b| / N.
    let mut sums = vec![(0.0, 0.0); bins];
    for (&p, &y) in p.iter().zip(y) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sums[b].0 += p;
        sums[b].1 += outcome(y);
    }
    let gap: f64 = sums
        .iter()
        .map(|(forecast, successes)| (forecast - successes).abs())
        .sum();
    Ok(gap / p.len() as f64)
}

/// The chance a random success is ranked above a random failure (ties count half), by the
/// Mann–Whitney rank sum with tied forecasts given their average rank.
pub fn auc(p: &[f64], y: &[bool]) -> Result<f64, MlError> {
    check(p, y)?;
    let positives = y.iter().filter(|&&s| s).count();
    let negatives = y.len() - positives;
    if positives == 0 || negatives == 0 {
        let only = if positives == 0 {
            "failures"
        } else {
            "successes"
        };
        return Err(MlError::OneClass(only));
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let tie = order[start..].partition_point(|&i| p[i] == p[order[start]]);
        let mean_rank = start as f64 + (tie as f64 + 1.0) / 2.0;
        let tied_successes = order[start..start + tie].iter().filter(|&&i| y[i]).count();
        rank_sum += mean_rank * tied_successes as f64;
        start += tie;
    }
    let (pos, neg) = (positives as f64, negatives as f64);
    Ok((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

fn outcome(y: bool) -> f64 {
    if y { 1.0 } else { 0.0 }
}

/// Equal lengths, at least one row, every forecast a probability.
fn check(p: &[f64], y: &[bool]) -> Result<(), MlError> {
    if p.len() != y.len() {
        return Err(MlError::LengthMismatch {
            what: "forecasts against outcomes",
            left: p.len(),
            right: y.len(),
        });
    }
    if p.is_empty() {
        return Err(MlError::NothingToScore);
    }
    match p.iter().position(|p| !(0.0..=1.0).contains(p)) {
        Some(row) => Err(MlError::Row {
            row,
            problem: format!("forecast {} is not a probability in [0, 1]", p[row]),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
