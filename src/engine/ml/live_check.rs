//! The serving model checked on the traffic it serves, against the Bayesian tier: first its
//! forecasts, then its decisions. A model is rolled back only when both are worse.
//!
//! **Forecasts.** For every retry the model served, both tiers' P(success) for that attempt at
//! the delay it ran after are scored by its outcome (log-loss, both clamped to `[CLAMP, 1 −
//! CLAMP]`, so one confident miss costs at most ln(1/CLAMP) ≈ 6.9 nats). Over the last
//! [`WINDOW`] outcomes the paired difference (model less Bayesian) is averaged with a
//! cluster-robust standard error ([`clustered`](super::clustered)): the retries of one outage
//! share its fate, so a cluster is the retries of one scope (queue, error class) whose outcome
//! fell in one [`BLOCK_S`] block of time. The forecasts are **worse** once [`MIN_OUTCOMES`]
//! are in and the mean exceeds the margin (Student's t with clusters − 1 degrees of freedom
//! at the tail of 3 normal standard errors; none below 5 clusters).
//!
//! **Decisions.** Forecasting worse need not mean deciding worse: a model can be wrong about
//! how likely a retry is and still wait about as long as it should. For each served retry
//! whose delay was the model's own choice (no guardrail changed it), the engine keeps what
//! the model's delay and the Bayesian tier's cost-optimal delay (or its stop) would cost under
//! `[engine.cost]`: `per_attempt + per_second · delay + (1 − P) · continuation`, with P the
//! Bayesian tier's forecast at each delay and the continuation its plan's value from there —
//! the expected-cost rule both tiers decide by. Under the Bayesian forecast as it stands the
//! model's choice can only cost more (the Bayesian choice is optimal under it), so the
//! forecast is first **recalibrated on the window's outcomes**: one log-odds offset, fitted by
//! maximum likelihood on the Bayesian forecasts at the served delays (with a normal prior of
//! [`OFFSET_PRIOR_SD`] so that a window in which every retry failed gives a finite offset), is
//! added to the forecast at both delays. The decisions are **worse** when the mean paired
//! difference (model less Bayesian) exceeds [`TOLERANCE`] of the Bayesian decisions' mean cost
//! by more than the same margin of cluster-robust standard errors, over at least
//! [`MIN_OUTCOMES`] such retries. The Bayesian forecast judges the decisions because the
//! forecast check has just found it the better forecaster on these retries; its level comes
//! from the outcomes, its shape over the delay (how much waiting helps) from its survival
//! model.
//!
//! Limits: the offset's own uncertainty is not in the standard error; the continuation is the
//! Bayesian plan's, not recalibrated; a cluster is a fixed block of time, so an outage longer
//! than a block spans several clusters taken as independent.

use super::clustered::{self, Estimate};
use std::collections::VecDeque;

/// Outcomes the comparison looks back over.
pub const WINDOW: usize = 500;
/// Outcomes (and decisions) needed before the check can find the model worse.
pub const MIN_OUTCOMES: usize = 200;
/// Forecasts are clamped to this distance from 0 and 1 before their log-loss.
pub const CLAMP: f64 = 1e-3;
/// Seconds of the time blocks that, with the scope, make a cluster of outcomes.
pub const BLOCK_S: i64 = 60;
/// Share of the Bayesian decisions' mean cost the model's may exceed and still be kept (the
/// issue's target: never worse than the Bayesian tier by more than 2 %).
pub const TOLERANCE: f64 = 0.02;
/// Standard deviation, in log-odds, of the prior on the recalibration offset.
pub const OFFSET_PRIOR_SD: f64 = 2.0;

/// One way to act at a served retry, valued by the Bayesian tier: the cost of the attempt and
/// its wait, the expected cost of what follows if it fails, and P(success) there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Valued {
    pub wait: f32,
    pub continuation: f32,
    pub p: f32,
}

/// The delay the model served and what the Bayesian tier would have done at the same retry
/// (`None`: stop, which costs `give_up`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decisions {
    pub model: Valued,
    pub bayesian: Option<Valued>,
    pub give_up: f32,
}

/// What the engine keeps of a served retry for the check until its outcome: both forecasts at
/// the served delay, its scope ([`scope`]) and, when the model chose that delay, the
/// decisions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pairing {
    pub model: f64,
    pub bayesian: f64,
    pub scope: u32,
    pub decisions: Option<Decisions>,
}

/// The scope of a retry for clustering: FNV-1a of its queue and error class.
pub fn scope(queue: &str, error_class: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in queue.bytes().chain([0]).chain(error_class.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The cluster of an outcome of `scope` at `at_s` (Unix seconds): the scope and the
/// [`BLOCK_S`] block of time.
pub fn cluster(scope: u32, at_s: i64) -> u64 {
    (u64::from(scope) << 32) | u64::from(at_s.div_euclid(BLOCK_S) as u32)
}

/// One served retry with its outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    pub model: f64,
    pub bayesian: f64,
    pub success: bool,
    pub cluster: u64,
    pub decisions: Option<Decisions>,
}

/// The decisions of the window, judged ([`LiveCheck`] module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionComparison {
    /// Served retries whose delay was the model's own choice.
    pub decisions: usize,
    pub clusters: usize,
    /// The log-odds offset that recalibrates the Bayesian forecast on the window's outcomes.
    pub offset: f64,
    /// Mean expected cost of the model's and of the Bayesian tier's decisions.
    pub model_cost: f64,
    pub bayesian_cost: f64,
    /// `model_cost - bayesian_cost`, and its cluster-robust standard error.
    pub difference: f64,
    pub standard_error: f64,
    /// Standard errors the difference less [`TOLERANCE`] of `bayesian_cost` must exceed
    /// (`None` below 5 clusters).
    pub margin: Option<f64>,
    pub worse: bool,
}

/// The comparison over the window, as it stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub outcomes: usize,
    pub clusters: usize,
    /// Mean log-loss of the model's and the Bayesian tier's forecasts in the window.
    pub model_log_loss: f64,
    pub bayesian_log_loss: f64,
    /// `model_log_loss - bayesian_log_loss`, and its cluster-robust standard error.
    pub difference: f64,
    pub standard_error: f64,
    /// Standard errors the difference must exceed (`None` below 5 clusters).
    pub margin: Option<f64>,
    /// Whether the forecasts are significantly worse.
    pub forecasts_worse: bool,
    /// The decisions, when any were kept (always computed by [`LiveCheck::comparison`]; by
    /// [`LiveCheck::record`] only once the forecasts are worse).
    pub decisions: Option<DecisionComparison>,
    /// Forecasts and decisions worse: the model is rolled back.
    pub worse: bool,
}

fn margin_of(clusters: usize) -> Option<f64> {
    Some(clustered::critical(clusters)).filter(|m| m.is_finite())
}

fn fmt_margin(m: Option<f64>) -> String {
    m.map_or("no margin below 5 clusters".into(), |m| {
        format!("margin {m:.1}")
    })
}

impl Comparison {
    /// The numbers, in words (for an audit reason and an alert).
    pub fn describe(&self) -> String {
        let mut out = format!(
            "live log-loss {:.4} against the Bayesian tier's {:.4} on the same {} retries in {} \
             clusters (difference {:+.4}, standard error {:.4}, {:.1} standard errors; {})",
            self.model_log_loss,
            self.bayesian_log_loss,
            self.outcomes,
            self.clusters,
            self.difference,
            self.standard_error,
            self.z(),
            fmt_margin(self.margin),
        );
        if let Some(d) = &self.decisions {
            out.push_str(&format!(
                "; decisions cost {:.3} against the Bayesian tier's {:.3} a retry by its \
                 forecast recalibrated on these outcomes (offset {:+.2} log-odds) over {} \
                 retries in {} clusters (difference {:+.3}, standard error {:.3}; rollback \
                 above {:.0} % of the Bayesian cost by the {})",
                d.model_cost,
                d.bayesian_cost,
                d.offset,
                d.decisions,
                d.clusters,
                d.difference,
                d.standard_error,
                TOLERANCE * 100.0,
                fmt_margin(d.margin),
            ));
        }
        out
    }

    /// The forecast difference in standard errors (infinite when every difference was the
    /// same and positive, 0 when none).
    pub fn z(&self) -> f64 {
        self.forecast_estimate().z_above(0.0)
    }

    fn forecast_estimate(&self) -> Estimate {
        Estimate {
            n: self.outcomes,
            clusters: self.clusters,
            mean: self.difference,
            standard_error: self.standard_error,
        }
    }
}

/// One outcome in the window.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Log-loss of the model's and of the Bayesian tier's forecast.
    losses: (f64, f64),
    cluster: u64,
    success: bool,
    decisions: Option<Decisions>,
}

/// The rolling window of paired outcomes.
#[derive(Debug, Clone, Default)]
pub struct LiveCheck {
    window: VecDeque<Entry>,
}

fn log_loss(p: f64, success: bool) -> f64 {
    let q = p.clamp(CLAMP, 1.0 - CLAMP);
    -(if success { q } else { 1.0 - q }).ln()
}

fn logit(p: f64) -> f64 {
    let q = p.clamp(CLAMP, 1.0 - CLAMP);
    (q / (1.0 - q)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The log-odds offset that best fits `outcomes` (forecast, success) — maximum likelihood
/// with a normal prior of [`OFFSET_PRIOR_SD`] — by Newton's method (the objective is concave).
pub fn recalibration_offset(outcomes: &[(f64, bool)]) -> f64 {
    let precision = 1.0 / (OFFSET_PRIOR_SD * OFFSET_PRIOR_SD);
    let logits: Vec<(f64, bool)> = outcomes.iter().map(|&(p, y)| (logit(p), y)).collect();
    let mut offset = 0.0;
    for _ in 0..50 {
        let (mut gradient, mut curvature) = (-offset * precision, precision);
        for &(l, y) in &logits {
            let q = sigmoid(l + offset);
            gradient += f64::from(u8::from(y)) - q;
            curvature += q * (1.0 - q);
        }
        let step = (gradient / curvature).clamp(-2.0, 2.0);
        offset += step;
        if step.abs() < 1e-10 {
            break;
        }
    }
    offset
}

fn value(v: &Valued, offset: f64) -> f64 {
    let p = sigmoid(logit(f64::from(v.p)) + offset);
    f64::from(v.wait) + (1.0 - p) * f64::from(v.continuation)
}

impl LiveCheck {
    /// Adds one outcome (the oldest leaves a full window) and answers the comparison; the
    /// decisions are judged only when the forecasts are worse.
    pub fn record(&mut self, p: Paired) -> Comparison {
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(Entry {
            losses: (
                log_loss(p.model, p.success),
                log_loss(p.bayesian, p.success),
            ),
            cluster: p.cluster,
            success: p.success,
            decisions: p.decisions,
        });
        let mut c = self.forecasts();
        if c.forecasts_worse {
            c.decisions = self.decisions();
            c.worse = c.decisions.is_some_and(|d| d.worse);
        }
        c
    }

    /// The comparison over the outcomes in the window, decisions included.
    pub fn comparison(&self) -> Comparison {
        let mut c = self.forecasts();
        c.decisions = self.decisions();
        c.worse = c.forecasts_worse && c.decisions.is_some_and(|d| d.worse);
        c
    }

    fn forecasts(&self) -> Comparison {
        let n = self.window.len();
        let diffs: Vec<(u64, f64)> = self
            .window
            .iter()
            .map(|e| (e.cluster, e.losses.0 - e.losses.1))
            .collect();
        let e = Estimate::of(&diffs);
        let nf = n.max(1) as f64;
        let model = self.window.iter().map(|e| e.losses.0).sum::<f64>() / nf;
        let bayes = self.window.iter().map(|e| e.losses.1).sum::<f64>() / nf;
        Comparison {
            outcomes: n,
            clusters: e.clusters,
            model_log_loss: model,
            bayesian_log_loss: bayes,
            difference: e.mean,
            standard_error: e.standard_error,
            margin: margin_of(e.clusters),
            forecasts_worse: n >= MIN_OUTCOMES && e.exceeds(0.0),
            decisions: None,
            worse: false,
        }
    }

    fn decisions(&self) -> Option<DecisionComparison> {
        let kept: Vec<(&Decisions, bool, u64)> = self
            .window
            .iter()
            .filter_map(|e| Some((e.decisions.as_ref()?, e.success, e.cluster)))
            .collect();
        if kept.is_empty() {
            return None;
        }
        let outcomes: Vec<(f64, bool)> = kept
            .iter()
            .map(|(d, y, _)| (f64::from(d.model.p), *y))
            .collect();
        let offset = recalibration_offset(&outcomes);
        let (mut model_sum, mut bayes_sum) = (0.0, 0.0);
        let diffs: Vec<(u64, f64)> = kept
            .iter()
            .map(|(d, _, cluster)| {
                let model = value(&d.model, offset);
                let bayes = d
                    .bayesian
                    .as_ref()
                    .map_or(f64::from(d.give_up), |v| value(v, offset));
                model_sum += model;
                bayes_sum += bayes;
                (*cluster, model - bayes)
            })
            .collect();
        let e = Estimate::of(&diffs);
        let n = kept.len() as f64;
        let bayesian_cost = bayes_sum / n;
        Some(DecisionComparison {
            decisions: kept.len(),
            clusters: e.clusters,
            offset,
            model_cost: model_sum / n,
            bayesian_cost,
            difference: e.mean,
            standard_error: e.standard_error,
            margin: margin_of(e.clusters),
            worse: kept.len() >= MIN_OUTCOMES && e.exceeds(TOLERANCE * bayesian_cost),
        })
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

    /// A served retry of its own cluster (outcomes independent) with no decisions kept.
    fn alone(i: usize, model: f64, bayesian: f64, success: bool) -> Paired {
        Paired {
            model,
            bayesian,
            success,
            cluster: i as u64,
            decisions: None,
        }
    }

    /// Outcomes of rate `truth`, each its own cluster; the model forecasts `model`, the
    /// Bayesian tier `bayes`.
    fn run(truth: f64, model: f64, bayes: f64, n: usize, seed: u64) -> Vec<Comparison> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut check = LiveCheck::default();
        (0..n)
            .map(|i| check.record(alone(i, model, bayes, rng.random_bool(truth))))
            .collect()
    }

    #[test]
    fn the_paired_log_loss_difference_and_its_standard_error_are_those_computed_by_hand() {
        let mut check = LiveCheck::default();
        let outcomes = [(0.9, 0.5, true), (0.9, 0.5, false), (0.2, 0.5, false)];
        for (i, (model, bayesian, success)) in outcomes.into_iter().enumerate() {
            check.record(alone(i, model, bayesian, success));
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
        assert!(
            !c.forecasts_worse,
            "3 outcomes are fewer than {MIN_OUTCOMES}"
        );
    }

    #[test]
    fn an_overconfident_model_forecasts_worse_once_enough_outcomes_show_it() {
        // Retries succeed 30 % of the time; the model says 90 %, the Bayesian tier 30 %.
        let runs = run(0.3, 0.9, 0.3, 1_000, 1);
        let first = runs.iter().position(|c| c.forecasts_worse).expect("worse");
        assert_eq!(first + 1, MIN_OUTCOMES, "clear at the first chance");
        assert!(runs.last().unwrap().forecasts_worse);
        assert_eq!(runs.last().unwrap().outcomes, WINDOW);
        assert!(
            runs.iter().all(|c| !c.worse),
            "no decisions kept: no rollback"
        );
    }

    #[test]
    fn a_model_as_good_or_better_is_never_found_worse() {
        for seed in 0..20 {
            let same = run(0.3, 0.3, 0.3, 2_000, seed);
            assert!(
                same.iter().all(|c| !c.forecasts_worse),
                "equal forecasts, seed {seed}"
            );
            let better = run(0.3, 0.3, 0.6, 2_000, seed);
            assert!(
                better.iter().all(|c| !c.forecasts_worse),
                "better, seed {seed}"
            );
        }
    }

    #[test]
    fn a_model_as_good_in_expectation_is_kept() {
        // 0.27 and 0.33 against a true 0.30 lose about the same (KL 0.0022 and 0.0021 nats);
        // the windows' own success rates move the difference by chance.
        for seed in 0..20 {
            let even = run(0.3, 0.27, 0.33, 2_000, seed);
            assert!(even.iter().all(|c| !c.forecasts_worse), "seed {seed}");
        }
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let mut check = LiveCheck::default();
        for i in 0..WINDOW {
            check.record(alone(i, 0.99, 0.5, false));
        }
        assert!(check.comparison().forecasts_worse);
        for i in 0..WINDOW {
            check.record(alone(WINDOW + i, 0.01, 0.5, false));
        }
        let c = check.comparison();
        assert!(!c.forecasts_worse && c.difference < 0.0, "{c:?}");
    }

    /// Outages: clusters of 25 retries, each down (every retry fails) or up (60 % succeed)
    /// with even odds — 30 % succeed overall. The model forecasts 0.27, the Bayesian tier
    /// 0.33: as good in expectation, but the model is better in every down cluster and
    /// worse in every up one, so the differences move together within a cluster.
    fn outages(seed: u64) -> (usize, usize) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut check = LiveCheck::default();
        let (mut iid_worse, mut worse) = (0, 0);
        let mut up = false;
        for i in 0..2_000usize {
            if i % 25 == 0 {
                up = rng.random_bool(0.5);
            }
            let success = up && rng.random_bool(0.6);
            let p = Paired {
                cluster: (i / 25) as u64,
                ..alone(i, 0.27, 0.33, success)
            };
            let c = check.record(p);
            worse += usize::from(c.forecasts_worse);
            iid_worse += usize::from(check.outcomes() >= MIN_OUTCOMES && iid_z(&check) > 3.0);
        }
        (iid_worse, worse)
    }

    impl LiveCheck {
        fn outcomes(&self) -> usize {
            self.window.len()
        }
    }

    /// The difference in standard errors as if every outcome were independent (round 4).
    fn iid_z(check: &LiveCheck) -> f64 {
        let d: Vec<f64> = check
            .window
            .iter()
            .map(|e| e.losses.0 - e.losses.1)
            .collect();
        let n = d.len() as f64;
        let mean = d.iter().sum::<f64>() / n;
        let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        mean / (var / n).sqrt()
    }

    #[test]
    fn outcomes_that_move_together_in_an_outage_do_not_count_as_independent() {
        let runs: Vec<(usize, usize)> = (0..20).map(outages).collect();
        let iid_seeds = runs.iter().filter(|r| r.0 > 0).count();
        let clustered_seeds = runs.iter().filter(|r| r.1 > 0).count();
        // The i.i.d. standard error is about a third of the real noise here: a check on it
        // finds this model worse on most seeds (14 of 20 when written); the clustered one on
        // (almost) none (1 of 20, seed 7, at 41 of its 2,000 outcomes: the check runs after
        // every outcome, so its false alarms over a run exceed one test's 0.135 %).
        assert!(iid_seeds >= 10, "{runs:?}");
        assert!(clustered_seeds <= 1, "{runs:?}");
    }

    #[test]
    fn the_recalibration_offset_moves_the_forecast_to_the_outcomes() {
        let outcomes: Vec<(f64, bool)> = (0..1_000).map(|i| (0.5, i % 5 == 0)).collect();
        let offset = recalibration_offset(&outcomes);
        assert!((offset - (0.2f64 / 0.8).ln()).abs() < 0.01, "{offset}");
        let failures = vec![(0.5, false); 500];
        let offset = recalibration_offset(&failures);
        assert!(offset.is_finite() && offset < -3.0, "{offset}");
    }

    const SHORT: Valued = Valued {
        wait: 1.1,
        continuation: 10.0,
        p: 0.5,
    };

    /// Served retries of their own clusters: the model forecasts `model`, the Bayesian tier
    /// 0.5, outcomes by `success`, and the decisions `decisions`.
    fn decided(decisions: Decisions, model: f64, success: impl Fn(usize) -> bool) -> Comparison {
        let mut check = LiveCheck::default();
        let mut last = None;
        for i in 0..WINDOW {
            let p = Paired {
                decisions: Some(decisions),
                ..alone(i, model, 0.5, success(i))
            };
            last = Some(check.record(p));
        }
        last.unwrap()
    }

    #[test]
    fn a_model_that_forecasts_worse_but_decides_as_the_bayesian_tier_is_kept() {
        let same = Decisions {
            model: SHORT,
            bayesian: Some(SHORT),
            give_up: 100.0,
        };
        let c = decided(same, 0.9, |i| i % 2 == 0);
        assert!(c.forecasts_worse, "{c:?}");
        let d = c.decisions.expect("judged");
        assert_eq!(
            (d.difference, d.worse, c.worse),
            (0.0, false, false),
            "{c:?}"
        );
    }

    #[test]
    fn the_decisions_are_judged_by_what_happened_not_by_the_bayesian_tiers_hopes() {
        // The model retries (1.1 now, 10 if it fails); the Bayesian tier would stop (6.0).
        // By its own forecast (0.5) the retry costs 6.1, 1.6 % more: within the tolerance.
        let retry_or_stop = Decisions {
            model: SHORT,
            bayesian: None,
            give_up: 6.0,
        };
        // Every retry fails: the recalibrated forecast says so, and the retry costs ~11.
        let failing = decided(retry_or_stop, 0.9, |_| false);
        let d = failing.decisions.expect("judged");
        assert!(d.model_cost > 10.0 && failing.worse, "{failing:?}");
        // Every retry succeeds: retrying was the cheaper decision, whatever the forecasts.
        let working = decided(retry_or_stop, 0.1, |_| true);
        let d = working.decisions.expect("judged");
        assert!(working.forecasts_worse, "{working:?}");
        assert!(
            d.model_cost < 2.0 && !d.worse && !working.worse,
            "{working:?}"
        );
    }
}
