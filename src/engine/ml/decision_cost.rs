//! The deploy gate's decision cost: what a policy's recommended delays would have cost on the
//! held-out episodes, under `[engine.cost]` (attempts × `per_attempt` + seconds waited ×
//! `per_second`, `give_up` for stopping or running out of attempts).
//!
//! The held-out retries were made by another policy (the Bayesian tier, when the data came from
//! this service), so a delay the judged policy picks was mostly never tried: its outcome is
//! inferred from what each episode's recorded attempts imply, assuming a failure lasts until it
//! recovers and stays recovered (an outage, not a coin flip):
//! - an attempt at or before the episode's last failed attempt (in elapsed time since its first
//!   failure) fails;
//! - an attempt at or after the attempt that succeeded succeeds;
//! - in between, the recovery time is taken as uniform over that interval, so the attempt
//!   succeeds with the share of the interval it has passed (and a later attempt, the failure
//!   having lasted past the earlier one, with its share of what is left).
//!
//! Each policy is replayed from the same start — the episode's first held-out failure — with
//! the situation's other features as they were then (only the attempt number and the elapsed
//! time move), and both are judged on the same episodes. Limits, said where the figures are:
//! episodes that never recovered within the data (given up, still open at its end) are left
//! out, as the time they would have needed is unknown; failures that do not persist (flaky
//! ones, each attempt a fresh chance) break the assumption, and the inference then favours the
//! policy whose delays the data recorded; within an interval the uniform recovery is an
//! assumption, not a measurement; a policy's later decisions see the features of the start,
//! not the recent-failure counts its own schedule would have made.

use super::dataset::{Dataset, Example};
use super::features::Situation;
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
}
