//! The hidden truth of a scenario run: every failing job, when it arrives, and when a retry of
//! it would succeed. Generated once per (scenario, seed) and shared by every strategy, so all
//! strategies face exactly the same jobs and outages (common random numbers).

use super::scenario::{Arrival, FailureModel, Scenario, Workload};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp};

/// One failing job: its first attempt fails at `arrival_ms` (scenario time).
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    /// Index into `Scenario::workloads`.
    pub workload: usize,
    pub arrival_ms: u64,
    /// False for warm-up jobs, which teach the learners but are not scored.
    pub measured: bool,
    /// True when the job arrived after its workload's drift changed the failure pattern.
    pub drifted: bool,
    pub truth: Truth,
}

/// When a retry of a job succeeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Truth {
    /// Every attempt at or after `at_ms` succeeds; `hint` puts the remaining time into the
    /// failure as a Retry-After value.
    RecoverAt { at_ms: u64, hint: bool },
    /// Attempt `n` succeeds when a uniform draw keyed by (`seed`, `n`) is below `success`.
    Flaky { success: f64, seed: u64 },
    /// No attempt ever succeeds.
    Never,
}

impl Truth {
    /// Whether attempt `attempt` (1-based) run at `t_ms` succeeds.
    pub fn succeeds(&self, attempt: u32, t_ms: u64) -> bool {
        match *self {
            Truth::RecoverAt { at_ms, .. } => t_ms >= at_ms,
            Truth::Flaky { success, seed } => {
                let mut rng = StdRng::seed_from_u64(seed ^ u64::from(attempt).rotate_left(32));
                rng.random::<f64>() < success
            }
            Truth::Never => false,
        }
    }

    /// The earliest time at or after `now_ms` at which a retry can succeed (what an oracle
    /// knows); `None` when no retry ever succeeds.
    pub fn earliest_success(&self, now_ms: u64) -> Option<u64> {
        match *self {
            Truth::RecoverAt { at_ms, .. } => Some(at_ms.max(now_ms)),
            Truth::Flaky { success, .. } if success > 0.0 => Some(now_ms),
            Truth::Flaky { .. } | Truth::Never => None,
        }
    }

    /// The Retry-After hint a failure at `now_ms` carries, if the dependency sends one.
    pub fn retry_after_ms(&self, now_ms: u64) -> Option<u64> {
        match *self {
            Truth::RecoverAt { at_ms, hint: true } if at_ms > now_ms => Some(at_ms - now_ms),
            _ => None,
        }
    }
}

/// Generates every failing job of `scenario`, ordered by arrival, reproducibly from `seed`.
pub fn generate(scenario: &Scenario, seed: u64) -> Vec<Job> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut jobs = Vec::new();
    for (index, workload) in scenario.workloads.iter().enumerate() {
        let arrivals = arrivals(workload, scenario.end_ms(), &mut rng);
        let mut failing = 0u64;
        for arrival_ms in arrivals {
            let drifted = is_drifted(&workload.failure, arrival_ms, failing);
            let model = regime(&workload.failure, drifted);
            let Some(truth) = truth_for(model, arrival_ms, &mut rng) else {
                continue;
            };
            failing += 1;
            jobs.push(Job {
                id: format!("{}-{failing}", workload.name),
                workload: index,
                arrival_ms,
                measured: arrival_ms >= scenario.warmup.0,
                drifted,
                truth,
            });
        }
    }
    jobs.sort_by(|a, b| a.arrival_ms.cmp(&b.arrival_ms).then(a.id.cmp(&b.id)));
    jobs
}

fn arrivals(workload: &Workload, end_ms: u64, rng: &mut StdRng) -> Vec<u64> {
    let from = workload.from.0;
    let until = workload.until.map_or(end_ms, |u| u.0.min(end_ms));
    if until <= from {
        return Vec::new();
    }
    match workload.arrival {
        Arrival::Count(n) => {
            let mut times: Vec<u64> = (0..n).map(|_| rng.random_range(from..until)).collect();
            times.sort_unstable();
            times
        }
        Arrival::Rate(per_second) => poisson(per_second, from, until, rng),
    }
}

fn poisson(per_second: f64, from: u64, until: u64, rng: &mut StdRng) -> Vec<u64> {
    let mut times = Vec::new();
    let Ok(gap) = Exp::new(per_second / 1000.0) else {
        return times;
    };
    let mut t = from as f64;
    loop {
        t += gap.sample(rng);
        if t >= until as f64 {
            return times;
        }
        times.push(t as u64);
    }
}

fn is_drifted(model: &FailureModel, arrival_ms: u64, failing_so_far: u64) -> bool {
    match model {
        FailureModel::Drift {
            at, at_failures, ..
        } => {
            at.is_some_and(|at| arrival_ms >= at.0)
                || at_failures.is_some_and(|n| failing_so_far >= n)
        }
        _ => false,
    }
}

fn regime(model: &FailureModel, drifted: bool) -> &FailureModel {
    match model {
        FailureModel::Drift { before, after, .. } => {
            if drifted {
                after
            } else {
                before
            }
        }
        other => other,
    }
}

/// The truth of a job arriving at `arrival_ms`, or `None` when its first attempt would not fail
/// (a maintenance workload outside its windows).
fn truth_for(model: &FailureModel, arrival_ms: u64, rng: &mut StdRng) -> Option<Truth> {
    Some(match model {
        FailureModel::Outage { recovery } => Truth::RecoverAt {
            at_ms: arrival_ms + recovery.sample_ms(rng),
            hint: false,
        },
        FailureModel::RateLimit {
            window,
            offset,
            retry_after,
        } => Truth::RecoverAt {
            at_ms: next_reset(arrival_ms, window.0, offset.0),
            hint: *retry_after,
        },
        FailureModel::Flaky { success } => Truth::Flaky {
            success: success.0,
            seed: rng.random(),
        },
        FailureModel::Permanent => Truth::Never,
        FailureModel::Maintenance {
            start,
            length,
            every,
        } => Truth::RecoverAt {
            at_ms: window_end(arrival_ms, start.0, length.0, every.map(|e| e.0))?,
            hint: false,
        },
        FailureModel::Drift { .. } => return None,
    })
}

/// The first reset boundary strictly after `t` of windows `window` long starting at `offset`.
fn next_reset(t: u64, window: u64, offset: u64) -> u64 {
    let first = offset % window;
    if t < first {
        return first;
    }
    first + ((t - first) / window + 1) * window
}

/// The end of the maintenance window containing `t`, if `t` is inside one.
fn window_end(t: u64, start: u64, length: u64, every: Option<u64>) -> Option<u64> {
    if t < start {
        return None;
    }
    let since_start = match every {
        Some(period) => (t - start) % period,
        None => t - start,
    };
    (since_start < length).then(|| t - since_start + length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_fixed_windows() {
        assert_eq!(next_reset(0, 10_000, 0), 10_000);
        assert_eq!(next_reset(9_999, 10_000, 0), 10_000);
        assert_eq!(next_reset(10_000, 10_000, 0), 20_000);
        assert_eq!(next_reset(1_000, 10_000, 2_000), 2_000);
        assert_eq!(next_reset(2_500, 10_000, 2_000), 12_000);
        assert_eq!(next_reset(12_000, 10_000, 2_000), 22_000);
        assert_eq!(next_reset(500, 60_000, 17_000), 17_000);
    }

    #[test]
    fn maintenance_windows_repeat() {
        assert_eq!(window_end(500, 1_000, 100, None), None);
        assert_eq!(window_end(1_050, 1_000, 100, None), Some(1_100));
        assert_eq!(window_end(1_100, 1_000, 100, None), None);
        assert_eq!(window_end(2_030, 1_000, 100, Some(1_000)), Some(2_100));
        assert_eq!(window_end(2_500, 1_000, 100, Some(1_000)), None);
    }

    #[test]
    fn flaky_outcomes_are_keyed_by_attempt() {
        let truth = Truth::Flaky {
            success: 0.5,
            seed: 7,
        };
        let first: Vec<bool> = (2..40).map(|n| truth.succeeds(n, 0)).collect();
        let again: Vec<bool> = (2..40).map(|n| truth.succeeds(n, 99_999)).collect();
        assert_eq!(first, again);
        assert!(first.iter().any(|s| *s) && first.iter().any(|s| !*s));
    }
}
