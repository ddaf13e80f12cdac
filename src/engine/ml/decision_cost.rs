//! The deploy gate's decision cost: what a policy's recommended delays would cost at the
//! held-out retries, under `[engine.cost]` (`per_attempt` a retry, `per_second` waited, and for
//! a retry that fails the expected cost of what follows; `give_up` for stopping).
//!
//! The held-out retries were made by another policy (the Bayesian tier, when the data came
//! from this service), so the judged policy's delay was mostly never tried at that retry. An
//! earlier estimator inferred its outcome from the episode's recorded attempts, taking a
//! failure to last until it recovered: on failures that come and go (flaky ones) a failure
//! recorded later does not show that an earlier attempt would have failed, so it charged
//! every delay the data did not record with failures that never happened, and favoured the
//! recorded delays (the Bayesian tier's); and a delay beyond or between the recorded attempts
//! was scored by extrapolation. Both biases came from scoring outcomes nobody observed.
//!
//! This estimator scores only observed outcomes. Each held-out retry is a [`Decision`]: the
//! situation of the failure before it, the grid cell its retry landed in ([`cell`]), and what
//! it cost — `per_attempt + per_second · delay`, plus, if it failed, the continuation (the
//! Bayesian tier's plan value from there, the same the ML tier decides with). Retries are
//! grouped by stratum (job type, error class, the cell of the elapsed time at the failure).
//! A policy asked at a held-out retry chooses a cell (or stops, which costs `give_up`); the
//! cost of that choice is the mean cost of the held-out retries of the same stratum that
//! landed in the same cell — what the data measured for that choice there. This is
//! inverse-propensity weighting with the propensities estimated per stratum and cell, which
//! makes it unbiased when, within a stratum, the recorded delays did not depend on the
//! outcome (the logging policy saw no more than the stratum). Where a policy chooses a cell
//! fewer than [`MIN_SUPPORT`] held-out retries of its stratum took, the data cannot say what
//! it costs: that retry is left out for both policies and counted as unsupported, and the
//! gate says nothing when too many are (`model::deploy_gate`).
//!
//! Limits, said where the figures are: a policy is judged one decision at a time, the
//! Bayesian tier's plan valuing what follows a failure (not the policy's own later choices);
//! the situations judged are those the recording policy led to; the strata ignore tenant and
//! hour, which the Bayesian tier may have used to choose; and the held-out slice is the most
//! recent data, which need not hold every kind of incident.

use super::dataset::{Dataset, Example};
use super::features::Situation;
use crate::engine::survival::GRID_MS;
use std::collections::HashMap;

/// One held-out episode as the replay sees it (elapsed times from its first failure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode<'a> {
    /// The failure the replay starts from: the one before the episode's first held-out retry.
    pub start: Situation<'a>,
    /// The elapsed time of its last failed attempt: an attempt until then fails.
    pub failing_until_ms: u64,
    /// The elapsed time of the attempt that succeeded: an attempt from then on succeeds.
    pub recovered_by_ms: u64,
}

/// What an episode's decisions cost, and how many attempts a job may make in all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub per_attempt: f64,
    pub per_second: f64,
    pub give_up: f64,
    pub max_attempts: u32,
}

/// The held-out episodes that recovered within the data, and how many did not (left out).
pub fn episodes<'a>(data: &'a Dataset, held_out: &[Example]) -> (Vec<Episode<'a>>, usize) {
    let mut open: HashMap<usize, (Episode<'a>, bool)> = HashMap::new();
    let mut order = Vec::new();
    for e in held_out {
        let at = e.elapsed_ms.saturating_add(e.delay_ms);
        let (episode, recovered) = open.entry(e.episode).or_insert_with(|| {
            order.push(e.episode);
            let start = data.situation(e);
            let first = Episode {
                start,
                failing_until_ms: start.elapsed_ms,
                recovered_by_ms: u64::MAX,
            };
            (first, false)
        });
        if e.success {
            episode.recovered_by_ms = at.max(episode.failing_until_ms + 1);
            *recovered = true;
        } else {
            episode.failing_until_ms = episode.failing_until_ms.max(at);
        }
    }
    let all = order.len();
    let recovered: Vec<Episode<'a>> = order
        .into_iter()
        .filter_map(|id| open.remove(&id).filter(|(_, r)| *r).map(|(e, _)| e))
        .collect();
    let left_out = all - recovered.len();
    (recovered, left_out)
}

/// The expected cost of `policy`'s decisions on `episode`. The policy gets the situation of
/// the failure and the attempts left (≥ 1), and answers the delay in milliseconds, or `None`
/// to stop.
pub fn episode_cost<F>(episode: &Episode<'_>, costs: &Costs, policy: &mut F) -> f64
where
    F: FnMut(&Situation<'_>, usize) -> Option<u64>,
{
    let mut situation = episode.start;
    let mut known_failing = episode.failing_until_ms.max(situation.elapsed_ms);
    // The chance the episode is still failing, and the cost counted so far.
    let (mut failing, mut cost) = (1.0, 0.0);
    loop {
        let left = costs.max_attempts.saturating_sub(situation.attempt) as usize;
        let decision = if left == 0 {
            None
        } else {
            policy(&situation, left)
        };
        let Some(delay_ms) = decision else {
            return cost + failing * costs.give_up;
        };
        let at = situation.elapsed_ms.saturating_add(delay_ms);
        cost += failing * (costs.per_attempt + costs.per_second * delay_ms as f64 / 1000.0);
        failing *= 1.0 - success_chance(known_failing, episode.recovered_by_ms, at);
        if failing <= 0.0 {
            return cost;
        }
        known_failing = known_failing.max(at);
        situation.attempt += 1;
        situation.elapsed_ms = at;
    }
}

/// The mean of [`episode_cost`] over `episodes` (0 when there are none).
pub fn mean_cost<F>(episodes: &[Episode<'_>], costs: &Costs, mut policy: F) -> f64
where
    F: FnMut(&Situation<'_>, usize) -> Option<u64>,
{
    let total: f64 = episodes
        .iter()
        .map(|e| episode_cost(e, costs, &mut policy))
        .sum();
    total / episodes.len().max(1) as f64
}

/// The chance an attempt at elapsed `at` succeeds, the failure having lasted to
/// `failing_until` and recovered by `recovered_by` (uniform in between).
fn success_chance(failing_until: u64, recovered_by: u64, at: u64) -> f64 {
    if at <= failing_until {
        0.0
    } else if at >= recovered_by {
        1.0
    } else {
        (at - failing_until) as f64 / (recovered_by - failing_until) as f64
    }
}

/// Fewest logged retries of a (stratum, cell) for their mean cost to stand for a policy's
/// choice there: below it the choice is unsupported.
pub const MIN_SUPPORT: u64 = 10;

/// One held-out retry as the estimator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision<'a> {
    /// The failure the retry followed, as known then.
    pub situation: Situation<'a>,
    /// Attempts left before the retry, it included (≥ 1).
    pub attempts_left: usize,
    /// The grid cell of the retry's elapsed time ([`cell`]).
    pub cell: usize,
    /// What it cost: `per_attempt + per_second × delay`, plus the continuation if it failed.
    pub cost: f64,
}

/// The grid cell of an attempt at elapsed `at_ms`: the first boundary at or after it, so a
/// policy's delay to boundary `j` and a recorded retry in `(GRID_MS[j-1], GRID_MS[j]]` share
/// cell `j`.
pub fn cell(at_ms: u64) -> usize {
    GRID_MS.partition_point(|&b| b < at_ms).min(GRID_MS.len() - 1)
}

/// The held-out retries as [`Decision`]s, and how many were left out: those with no attempt
/// left under the guardrails, and those `continuation` cannot value (it answers the expected
/// cost of what follows a failed retry at a cell with so many attempts left, or `None`).
pub fn decisions<'a, F>(
    data: &'a Dataset,
    held_out: &[Example],
    costs: &Costs,
    continuation: F,
) -> (Vec<Decision<'a>>, usize)
where
    F: Fn(&Situation<'_>, usize, usize) -> Option<f64>,
{
    let mut out = Vec::with_capacity(held_out.len());
    for e in held_out {
        let situation = data.situation(e);
        let left = costs.max_attempts.saturating_sub(situation.attempt) as usize;
        let at = cell(e.elapsed_ms.saturating_add(e.delay_ms));
        let Some(after) = continuation(&situation, at, left).filter(|_| left > 0) else {
            continue;
        };
        let wait = costs.per_attempt + costs.per_second * e.delay_ms as f64 / 1000.0;
        out.push(Decision {
            situation,
            attempts_left: left,
            cell: at,
            cost: wait + if e.success { 0.0 } else { after },
        });
    }
    let left_out = held_out.len() - out.len();
    (out, left_out)
}

/// Two policies judged on the same held-out decisions ([`judge`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// Decisions both policies were judged on.
    pub decisions: usize,
    /// Decisions left out because a policy's choice had fewer than [`MIN_SUPPORT`] recorded
    /// retries in its stratum and cell.
    pub unsupported: usize,
    /// Mean one-step cost of the first policy's choices, and of the second's.
    pub first: f64,
    pub second: f64,
    /// Standard error of `first - second` (from the spread of the costs in the cells used).
    pub standard_error: f64,
}

/// Where a decision stands: job type, error class and the cell of its elapsed time.
type Stratum<'a> = (&'a str, &'a str, usize);
/// A stratum and the cell a retry of it landed in.
type Key<'a> = (Stratum<'a>, usize);

#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    n: u64,
    sum: f64,
    sum_sq: f64,
}

impl Cell {
    fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }

    /// The variance of the mean.
    fn mean_variance(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        let var = (self.sum_sq - n * self.mean() * self.mean()) / (n - 1.0);
        var.max(0.0) / n
    }
}

fn stratum<'a>(s: &Situation<'a>) -> Stratum<'a> {
    (s.job_type, s.error_class, cell(s.elapsed_ms))
}

/// What `choice` at `s` costs — `give_up` to stop, else the mean cost of its cell — and the
/// cell; `None` when fewer than [`MIN_SUPPORT`] retries measured that cell.
fn priced<'a>(
    cells: &HashMap<Key<'a>, Cell>,
    give_up: f64,
    s: &Situation<'a>,
    choice: Option<u64>,
) -> Option<(f64, Option<Key<'a>>)> {
    let Some(delay_ms) = choice else {
        return Some((give_up, None));
    };
    let key = (stratum(s), cell(s.elapsed_ms.saturating_add(delay_ms)));
    let c = cells.get(&key).filter(|c| c.n >= MIN_SUPPORT)?;
    Some((c.mean(), Some(key)))
}

/// Judges two policies on the `judged` most recent of `decisions`: each is asked what it
/// would do at the recorded failure (a delay, or `None` to stop); stopping costs `give_up`,
/// and a delay costs the mean recorded cost of the retries of the same stratum that landed
/// in the same cell — the outcome of that choice as the data measured it, not as an outage
/// model infers it. A decision where either policy's cell holds fewer than [`MIN_SUPPORT`]
/// retries is left out of both.
pub fn judge<'a, A, B>(
    decisions: &[Decision<'a>],
    judged: usize,
    give_up: f64,
    mut first: A,
    mut second: B,
) -> Judgement
where
    A: FnMut(&Situation<'_>, usize) -> Option<u64>,
    B: FnMut(&Situation<'_>, usize) -> Option<u64>,
{
    let mut cells: HashMap<Key<'a>, Cell> = HashMap::new();
    for d in decisions {
        let c = cells.entry((stratum(&d.situation), d.cell)).or_default();
        c.n += 1;
        c.sum += d.cost;
        c.sum_sq += d.cost * d.cost;
    }
    let supported = |s: &Situation<'a>, choice: Option<u64>| priced(&cells, give_up, s, choice);
    // How much more often the first policy than the second chose each cell: the weight of
    // that cell's sampling error in the difference.
    let mut weights: HashMap<Key<'a>, i64> = HashMap::new();
    let (mut n, mut unsupported, mut sum_first, mut sum_second) = (0usize, 0, 0.0, 0.0);
    for d in &decisions[decisions.len().saturating_sub(judged)..] {
        let s = &d.situation;
        let a = supported(s, first(s, d.attempts_left));
        let b = supported(s, second(s, d.attempts_left));
        let (Some((cost_a, key_a)), Some((cost_b, key_b))) = (a, b) else {
            unsupported += 1;
            continue;
        };
        n += 1;
        sum_first += cost_a;
        sum_second += cost_b;
        if let Some(k) = key_a {
            *weights.entry(k).or_default() += 1;
        }
        if let Some(k) = key_b {
            *weights.entry(k).or_default() -= 1;
        }
    }
    let total = n.max(1) as f64;
    let variance: f64 = weights
        .iter()
        .map(|(k, &w)| (w as f64 / total).powi(2) * cells[k].mean_variance())
        .sum();
    Judgement {
        decisions: n,
        unsupported,
        first: sum_first / total,
        second: sum_second / total,
        standard_error: variance.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(attempt: u32, elapsed_ms: u64) -> Situation<'static> {
        Situation {
            job_type: "sync",
            error_class: "unavailable",
            error_code: "",
            queue: "q",
            tenant: None,
            attempt,
            payload_size: 0,
            hour: 0,
            elapsed_ms,
            recent_failures: 0,
        }
    }

    const COSTS: Costs = Costs {
        per_attempt: 1.0,
        per_second: 0.1,
        give_up: 100.0,
        max_attempts: 4,
    };

    /// Failing until 10 s, recovered by 20 s, replayed from the first failure.
    fn episode() -> Episode<'static> {
        Episode {
            start: start(1, 0),
            failing_until_ms: 10_000,
            recovered_by_ms: 20_000,
        }
    }

    #[test]
    fn a_known_failure_then_a_known_success_costs_two_attempts_and_the_wait() {
        let mut delays = [5_000, 20_000].into_iter();
        let cost = episode_cost(&episode(), &COSTS, &mut |_: &Situation<'_>, _| {
            delays.next()
        });
        assert!((cost - (1.0 + 0.5 + 1.0 + 2.0)).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn inside_the_interval_the_recovery_is_uniform_and_what_is_left_after_a_failure_too() {
        // 15 s: half the interval passed; then 17.5 s: half of what is left (15-20 s).
        let mut delays = [15_000, 2_500, 2_500].into_iter();
        let cost = episode_cost(&episode(), &COSTS, &mut |_: &Situation<'_>, _| {
            delays.next()
        });
        let expected = (1.0 + 1.5) + 0.5 * (1.0 + 0.25) + 0.25 * (1.0 + 0.25);
        assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
    }

    #[test]
    fn stopping_or_running_out_of_attempts_costs_the_give_up_penalty() {
        let stop = episode_cost(&episode(), &COSTS, &mut |_: &Situation<'_>, _| None);
        assert_eq!(stop, 100.0);
        let mut seen = Vec::new();
        let early = episode_cost(&episode(), &COSTS, &mut |s: &Situation<'_>, left| {
            seen.push((s.attempt, s.elapsed_ms, left));
            Some(1_000)
        });
        assert_eq!(seen, [(1, 0, 3), (2, 1_000, 2), (3, 2_000, 1)]);
        assert!((early - (3.0 * 1.1 + 100.0)).abs() < 1e-9, "{early}");
    }

    #[test]
    fn held_out_retries_become_episodes_and_the_unrecovered_are_left_out() {
        let record = crate::engine::ml::dataset::tests::attempt;
        let data = Dataset::from_attempts(vec![
            record("a", 1, 0, 0, false),
            record("a", 2, 4, 4_000, false),
            record("a", 3, 12, 8_000, true),
            record("b", 1, 1, 0, false),
            record("b", 2, 3, 2_000, false),
        ]);
        let (episodes, left_out) = super::episodes(&data, &data.examples);
        assert_eq!(left_out, 1, "b never recovered");
        assert_eq!(episodes.len(), 1);
        let a = episodes[0];
        assert_eq!((a.start.attempt, a.start.elapsed_ms), (1, 0));
        assert_eq!((a.failing_until_ms, a.recovered_by_ms), (4_000, 12_000));
        let (later, _) = super::episodes(&data, &data.examples[2..]);
        assert_eq!(
            (later[0].start.attempt, later[0].start.elapsed_ms),
            (2, 4_000),
            "replayed from the failure before its first held-out retry"
        );
    }

    /// Flaky failures: each retry succeeds with chance 1/2 whatever the wait, and waited 1 s
    /// or 30 s, both by a fixed pseudo-random sequence; at most 6 attempts recorded.
    fn flaky(jobs: i64) -> Dataset {
        let record = crate::engine::ml::dataset::tests::attempt;
        let mut bits = 0x2545_F491_4F6C_DD1D_u64;
        let mut coin = || {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            bits & 1 == 1
        };
        let mut attempts = Vec::new();
        for job in 0..jobs {
            let id = format!("j{job}");
            let mut secs = job * 1_000;
            attempts.push(record(&id, 1, secs, 0, false));
            for n in 2..=6 {
                let delay = if coin() { 1 } else { 30 };
                secs += delay;
                let ok = coin();
                attempts.push(record(&id, n, secs, delay as u64 * 1_000, ok));
                if ok {
                    break;
                }
            }
        }
        Dataset::from_attempts(attempts)
    }

    const FLAKY_COSTS: Costs = Costs {
        per_attempt: 1.0,
        per_second: 0.1,
        give_up: 100.0,
        max_attempts: 8,
    };

    fn short(_: &Situation<'_>, _: usize) -> Option<u64> {
        Some(1_000)
    }

    fn long(_: &Situation<'_>, _: usize) -> Option<u64> {
        Some(30_000)
    }

    #[test]
    fn on_flaky_failures_the_judgement_follows_the_recorded_outcomes() {
        let data = flaky(2_000);
        let (decisions, left_out) =
            decisions(&data, &data.examples, &FLAKY_COSTS, |_, _, _| Some(10.0));
        assert_eq!(left_out, 0);
        let j = judge(&decisions, usize::MAX, FLAKY_COSTS.give_up, short, long);
        // A retry succeeds half the time whatever the wait: waiting 1 s rather than 30 s saves
        // 2.9 a retry (1.1 + 5 against 4 + 5 with the failure's continuation of 10).
        assert!(j.decisions > 2_000 && j.unsupported * 5 < j.decisions, "{j:?}");
        assert!((j.second - j.first - 2.9).abs() < 3.0 * j.standard_error, "{j:?}");
        assert!(j.standard_error > 0.0 && j.standard_error < 0.5, "{j:?}");
    }

    #[test]
    fn temporary_old_estimate_on_flaky() {
        let data = flaky(2_000);
        let (eps, left) = super::episodes(&data, &data.examples);
        let a = mean_cost(&eps, &FLAKY_COSTS, short);
        let b = mean_cost(&eps, &FLAKY_COSTS, long);
        println!("OLD episodes {} left out {left}: short {a:.3} long {b:.3}", eps.len());
        let (decisions, _) = decisions(&data, &data.examples, &FLAKY_COSTS, |_, _, _| Some(10.0));
        let j = judge(&decisions, usize::MAX, FLAKY_COSTS.give_up, short, long);
        println!("NEW {j:?}");
    }

    #[test]
    fn a_choice_no_recorded_retry_supports_is_left_out_and_stopping_needs_no_support() {
        let data = flaky(200);
        let (decisions, _) = decisions(&data, &data.examples, &FLAKY_COSTS, |_, _, _| Some(10.0));
        let untried = |_: &Situation<'_>, _| Some(600_000);
        let j = judge(&decisions, 50, FLAKY_COSTS.give_up, untried, short);
        assert_eq!((j.decisions, j.unsupported), (0, 50), "{j:?}");
        let stop = |_: &Situation<'_>, _| None;
        let j = judge(&decisions, usize::MAX, FLAKY_COSTS.give_up, stop, stop);
        assert_eq!(j.unsupported, 0);
        assert_eq!((j.first, j.second, j.standard_error), (100.0, 100.0, 0.0));
    }
}
