//! The canary judged by what its jobs cost: the realized cost of each ended episode per arm,
//! compared with a cluster-robust standard error, promotes the version to every job only when
//! its arm is shown not dearer than the Bayesian tier's, and rolls it back when it is shown
//! dearer.
//!
//! A canary serves the jobs whose id hashes into its share ([`Deployment::in_canary`]); the
//! others, the control arm, get the Bayesian tier. The arm of a job is fixed from its first
//! failure, so the arms are a random split of the same traffic in the same minutes, and an
//! episode that began while the canary served is charged to its arm whatever decided each of
//! its retries (a retry the model declined, e.g. after a Retry-After hint, included). Its
//! realized cost, when it ends, is the one `[engine.cost]` weighs and `eval` reports:
//! `per_attempt` for each retry, `per_second` for each second from the first failure to the
//! last attempt, and `give_up_penalty` when it ended without success (the engine said stop,
//! or attempts ran out). Unlike the deploy gate's held-out estimate and the live check's
//! one-step valuation, nothing in it is a model: it counts what the service saw happen,
//! including what a decision did to the retries after it.
//!
//! An episode that costs more also takes longer, so the episodes that have ended by a given
//! time favour the arm whose episodes are long. The comparison therefore counts a closed
//! cohort only: the episodes that began before the oldest one still open (an episode open
//! longer than [`STALE_S`] is dropped as abandoned). Over that cohort the difference of the
//! arms' mean costs (model less control) gets a cluster-robust standard error
//! ([`clustered::Difference`]; a cluster is the episodes of one scope, queue and error class,
//! whose first failure fell in one [`BLOCK_S`] block: an outage makes both arms dear
//! together). With at least 5 clusters, the version is **rolled back** once each arm has
//! [`MIN_EPISODES_TO_ROLL_BACK`] in the cohort and the difference less the margin at the tail
//! of [`ROLLBACK_Z`] normal standard errors is above 0, and **promoted** once each has
//! [`MIN_EPISODES`] and the difference plus the margin at [`PROMOTE_Z`] is at most 0
//! (Student's t with clusters − 1 degrees of freedom, [`clustered::critical_at`]). The two
//! are not symmetric on purpose: a promotion serves the version to every job and ends the
//! comparison, a late rollback costs the jobs of the canary's share, and a false rollback
//! only the version's chance — so a version about as dear as the Bayesian tier is, over
//! repeated looks, rolled back more often than not. Otherwise the canary goes on.
//!
//! Limits: the cohort waits for its slowest episode, so a long outage delays the verdict; the
//! comparison is judged every [`JUDGE_EVERY`] ended episodes on a window of the last
//! [`WINDOW`], so a repeated test's false verdicts exceed one test's tail; once promoted there
//! is no control arm left, and the live check alone watches the version.
//!
//! [`Deployment::in_canary`]: super::deployment::Deployment::in_canary

use super::clustered::{self, Difference};
use super::live_check;
use crate::engine::job_key::JobKey;
use crate::model::CostWeights;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};

/// The share of jobs (%) a version serves first when a deployment without `force` asks it to
/// serve every job.
pub const DEFAULT_PERCENT: f64 = 5.0;
/// Ended episodes each arm needs in the cohort before the canary can be promoted.
pub const MIN_EPISODES: usize = 100;
/// Ended episodes each arm needs in the cohort before the canary can be rolled back.
pub const MIN_EPISODES_TO_ROLL_BACK: usize = 15;
/// One-sided tail, in normal standard errors, of the promotion's margin.
pub const PROMOTE_Z: f64 = 3.0;
/// One-sided tail, in normal standard errors, of the rollback's margin.
pub const ROLLBACK_Z: f64 = 1.0;
/// Seconds of the blocks that, with the scope, make a cluster of episodes.
pub const BLOCK_S: i64 = live_check::BLOCK_S;
/// An episode open this long (seconds since its first failure) is dropped as abandoned.
pub const STALE_S: i64 = 3_600;
/// Ended episodes between two judgements.
pub const JUDGE_EVERY: u64 = 20;
/// Ended episodes kept (the most recent).
pub const WINDOW: usize = 20_000;
/// Most open episodes followed; beyond it the older half is dropped.
const OPEN_CAPACITY: usize = 100_000;

/// An episode under way: its arm, when it began (ms), its cluster.
#[derive(Debug, Clone, Copy)]
struct Open {
    ml: bool,
    started_ms: i64,
    cluster: u64,
}

/// An ended episode: when it began, its cluster and arm, what it cost.
#[derive(Debug, Clone, Copy)]
struct Ended {
    started_ms: i64,
    cluster: u64,
    ml: bool,
    cost: f64,
}

/// What the comparison says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Too few episodes or clusters, or neither margin passed: the canary goes on.
    Undecided,
    /// The model's arm is shown not dearer: it serves every job.
    Promote,
    /// The model's arm is shown dearer: the Bayesian tier serves every job.
    RollBack,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Undecided => "undecided",
            Verdict::Promote => "promote",
            Verdict::RollBack => "roll_back",
        }
    }
}

/// The arms' realized costs over the closed cohort, judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostComparison {
    pub ml_episodes: usize,
    pub control_episodes: usize,
    /// Mean realized cost per ended episode of each arm.
    pub ml_cost: f64,
    pub control_cost: f64,
    /// `ml_cost - control_cost`, and its cluster-robust standard error.
    pub difference: f64,
    pub standard_error: f64,
    pub clusters: usize,
    /// Standard errors of the promotion's and the rollback's margins (`None` below 5
    /// clusters).
    pub promote_margin: Option<f64>,
    pub rollback_margin: Option<f64>,
    pub verdict: Verdict,
}

impl CostComparison {
    fn of(d: &Difference) -> Self {
        let finite = |m: f64| Some(m).filter(|m| m.is_finite());
        let promote_margin = finite(clustered::critical_at(d.clusters, PROMOTE_Z));
        let rollback_margin = finite(clustered::critical_at(d.clusters, ROLLBACK_Z));
        let mut c = CostComparison {
            ml_episodes: d.n_a,
            control_episodes: d.n_b,
            ml_cost: d.mean_a,
            control_cost: d.mean_b,
            difference: d.difference(),
            standard_error: d.standard_error,
            clusters: d.clusters,
            promote_margin,
            rollback_margin,
            verdict: Verdict::Undecided,
        };
        c.verdict = c.judge();
        c
    }

    fn judge(&self) -> Verdict {
        let (Some(promote), Some(roll_back)) = (self.promote_margin, self.rollback_margin) else {
            return Verdict::Undecided;
        };
        let n = self.ml_episodes.min(self.control_episodes);
        if n >= MIN_EPISODES_TO_ROLL_BACK && self.difference - roll_back * self.standard_error > 0.0
        {
            Verdict::RollBack
        } else if n >= MIN_EPISODES && self.difference + promote * self.standard_error <= 0.0 {
            Verdict::Promote
        } else {
            Verdict::Undecided
        }
    }

    /// The numbers, in words (for an audit reason and an alert).
    pub fn describe(&self) -> String {
        let margins = match (self.promote_margin, self.rollback_margin) {
            (Some(p), Some(r)) => format!("promote below -{p:.1}, roll back above {r:.1}"),
            _ => "no margin below 5 clusters".into(),
        };
        format!(
            "canary realized cost {:.3} a job over {} ended episodes against the Bayesian \
             arm's {:.3} over {} (difference {:+.3}, standard error {:.3} over {} clusters; \
             {margins} standard errors)",
            self.ml_cost,
            self.ml_episodes,
            self.control_cost,
            self.control_episodes,
            self.difference,
            self.standard_error,
            self.clusters,
        )
    }
}

/// The canary's episodes: those under way and those ended, per arm.
#[derive(Debug, Default)]
pub struct CanaryCost {
    open: HashMap<JobKey, Open>,
    ended: VecDeque<Ended>,
    ended_total: u64,
    /// The latest time an episode began or ended (ms): the engine reads no clock.
    latest_ms: i64,
}

impl CanaryCost {
    /// Job `job_id` failed for the first time at `at` while the canary served: its episode
    /// is followed in the model's arm (`ml`) or the control arm. Nothing when it is followed.
    pub fn start(&mut self, job_id: &str, ml: bool, scope: u32, at: DateTime<Utc>) {
        let key = JobKey::of(job_id);
        self.latest_ms = self.latest_ms.max(at.timestamp_millis());
        if self.open.contains_key(&key) {
            return;
        }
        if self.open.len() >= OPEN_CAPACITY {
            self.drop_older_half();
        }
        let cluster = live_check::cluster(scope, at.timestamp());
        let started_ms = at.timestamp_millis();
        self.open.insert(
            key,
            Open {
                ml,
                started_ms,
                cluster,
            },
        );
    }

    fn drop_older_half(&mut self) {
        super::keep_newer_half(&mut self.open, |o| o.started_ms);
    }

    /// Job `job_id`'s episode ended at `at` after `attempts` attempts in all, with success or
    /// not; its realized cost under `weights` is kept. Whether it was followed and it is time
    /// to judge ([`JUDGE_EVERY`]).
    pub fn end(
        &mut self,
        job_id: &str,
        attempts: u32,
        at: DateTime<Utc>,
        success: bool,
        weights: &CostWeights,
    ) -> bool {
        let Some(open) = self.open.remove(&JobKey::of(job_id)) else {
            return false;
        };
        self.latest_ms = self.latest_ms.max(at.timestamp_millis());
        let seconds = (at.timestamp_millis() - open.started_ms).max(0) as f64 / 1000.0;
        let penalty = if success {
            0.0
        } else {
            weights.give_up_penalty
        };
        let cost = f64::from(attempts.saturating_sub(1)) * weights.per_attempt
            + seconds * weights.per_second
            + penalty;
        if self.ended.len() >= WINDOW {
            self.ended.pop_front();
        }
        self.ended.push_back(Ended {
            started_ms: open.started_ms,
            cluster: open.cluster,
            ml: open.ml,
            cost,
        });
        self.ended_total += 1;
        self.ended_total.is_multiple_of(JUDGE_EVERY)
    }

    /// The comparison over the closed cohort as of the latest episode's start or end
    /// (episodes open longer than [`STALE_S`] by then do not hold it back).
    pub fn comparison(&self) -> CostComparison {
        let stale = self.latest_ms - STALE_S * 1000;
        let cutoff = self
            .open
            .values()
            .map(|o| o.started_ms)
            .filter(|&s| s >= stale)
            .min()
            .unwrap_or(i64::MAX);
        let cohort: Vec<(u64, bool, f64)> = self
            .ended
            .iter()
            .filter(|e| e.started_ms < cutoff)
            .map(|e| (e.cluster, e.ml, e.cost))
            .collect();
        CostComparison::of(&Difference::of(&cohort))
    }

    /// Episodes ended so far.
    pub fn ended(&self) -> u64 {
        self.ended_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    const WEIGHTS: CostWeights = CostWeights {
        per_attempt: 1.0,
        per_second: 0.1,
        give_up_penalty: 50.0,
    };

    /// Episodes of 40 outages: in each, 40 jobs (one in four in the model's arm) start
    /// together and end after `ml_retries` or `control_retries` retries 10 s apart, the
    /// outage's luck (every fifth outage is long) shared by both arms.
    fn canary(ml_retries: u32, control_retries: u32) -> (CanaryCost, u64) {
        let mut c = CanaryCost::default();
        let mut judgements = 0;
        for outage in 0..40i64 {
            let t0 = outage * 120;
            let extra = if outage % 5 == 0 { 6 } else { 0 };
            for j in 0..40 {
                let id = format!("job-{outage}-{j}");
                let ml = j % 4 == 0;
                c.start(&id, ml, 7, at(t0));
                let retries = extra + if ml { ml_retries } else { control_retries };
                let end = at(t0 + 10 * i64::from(retries));
                judgements += u64::from(c.end(&id, retries + 1, end, true, &WEIGHTS));
            }
        }
        (c, judgements)
    }

    #[test]
    fn a_realized_cost_is_the_retries_the_seconds_and_a_give_up() {
        let mut c = CanaryCost::default();
        c.start("a", true, 1, at(0));
        c.start("a", true, 1, at(5));
        assert!(!c.end("b", 2, at(30), true, &WEIGHTS), "not followed");
        c.end("a", 3, at(30), false, &WEIGHTS);
        let e = c.ended[0];
        assert!((e.cost - (2.0 + 3.0 + 50.0)).abs() < 1e-12, "{e:?}");
        assert_eq!(c.ended(), 1);
    }

    #[test]
    fn a_model_whose_jobs_cost_more_is_rolled_back_and_one_that_costs_less_promoted() {
        let (dearer, judgements) = canary(3, 2);
        assert_eq!(judgements, 40 * 40 / JUDGE_EVERY);
        let c = dearer.comparison();
        assert_eq!(c.verdict, Verdict::RollBack, "{}", c.describe());
        assert!((c.difference - 2.0).abs() < 1e-9, "1 retry and 10 s: {c:?}");
        let c = canary(2, 3).0.comparison();
        assert_eq!(c.verdict, Verdict::Promote, "{}", c.describe());
    }

    #[test]
    fn too_few_episodes_or_clusters_decide_nothing() {
        let mut c = CanaryCost::default();
        for j in 0..400 {
            let id = format!("job-{j}");
            c.start(&id, j % 2 == 0, 7, at(0));
            c.end(&id, if j % 2 == 0 { 9 } else { 2 }, at(60), true, &WEIGHTS);
        }
        let one = c.comparison();
        assert_eq!(one.clusters, 1);
        assert_eq!(one.verdict, Verdict::Undecided, "one outage: {one:?}");
    }

    #[test]
    fn episodes_still_open_hold_back_the_later_ones_until_they_end_or_go_stale() {
        let (mut c, _) = canary(3, 2);
        // A control job that began with outage 17 and has not ended: every episode that began
        // later waits for it.
        c.start("slow", false, 7, at(17 * 120));
        let held = c.comparison();
        assert_eq!(
            held.ml_episodes + held.control_episodes,
            17 * 40,
            "{held:?}"
        );
        // An hour on, a new episode begins: the slow one has gone stale.
        c.start("late", true, 7, at(17 * 120 + STALE_S + 1));
        let later = c.comparison();
        assert_eq!(later.ml_episodes + later.control_episodes, 40 * 40);
        assert_eq!(later.verdict, Verdict::RollBack, "the stale one dropped");
    }
}
