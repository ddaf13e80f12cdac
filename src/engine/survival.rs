//! The survival model the Bayesian tier decides from: recovery as a discrete-time survival
//! process over the ELAPSED time since an episode's first failure (not the attempt number,
//! nor the time since the last attempt: an outage ends on its own clock).
//!
//! Elapsed time is cut into intervals by `GRID_MS` (roughly exponentially spaced, finer than
//! the upstream buckets). Interval `j` is `(GRID_MS[j], GRID_MS[j+1]]`; its hazard `h_j` — the
//! chance a failure that lasted to the start of the interval ends within it — has a Beta
//! posterior. A failed attempt at elapsed `e` is a censored observation (the failure lasted
//! past `e`: every interval before `e` was survived); a success at `e` after a failure at `e'`
//! says recovery happened in `(e', e]`, split over those intervals in proportion to the
//! current estimate (one online EM step) when it spans several.
//!
//! Each hazard's prior says recovery is equally likely in any interval or never (about
//! uniform in log-time), worth one observation: data decide where there are data, and
//! intervals nobody tried stay plausible until they are tried.
//!
//! Failures that end independently of time (flaky ones: each attempt succeeds with some
//! chance whenever it is made) are better described per attempt: the chance an attempt made
//! in interval `j` succeeds, a Beta per interval whatever happened before. Both views learn
//! from every outcome and each predicts every outcome before it is learned — the per-attempt
//! view as the hypothesis it stands for, one chance for every attempt whenever it is made (the
//! model's pooled rate, not each interval's own, which could fit whatever the elapsed view
//! fits). A view takes over when its (decayed) predictive log-likelihood leads by a margin —
//! Bayesian model comparison — and holds while neither leads by that much; a new model starts
//! in the per-attempt view, because only its retries tell the two apart: retried on the
//! elapsed view's own schedule a flaky class fits both alike (every interval tried learns the
//! same chance), so a class that started out waiting kept waiting; while an outage fails the
//! per-attempt view's early retries and then recovers, which one pooled chance cannot explain,
//! and the elapsed view takes over. Outcomes both views predict alike (the late retries of an
//! incident's jobs, which all succeed) wear a lead down by decay but do not turn the view. So a
//! flaky class retries soon and an outage waits for its recovery time.
//! Decisions keep each interval's own rate. A class can hold both kinds
//! (flaky timeouts and a maintenance window), so each job also sums the log-likelihood ratio
//! of its own retries' outcomes ([`job_view`]): once that passes a margin, the job's own view
//! decides for it.
//!
//! In the per-attempt view one job's tries are not independent draws: jobs of one class
//! differ (a flaky timeout clears on the next try, a job caught in a maintenance window fails
//! every try until it ends), so each failed retry of a job lowers the chance of its next one:
//! the class's chance times `s / (s + k)` after `k` failed retries (a Beta prior over jobs
//! worth [`JOB_PRIOR_STRENGTH`] tries), for the retry being decided; the plan after it keeps
//! the class's chances (discounted there too, a flaky class's first retry waited seconds for
//! an interval whose rate was higher by chance). Without it a class whose late retries
//! succeed 1 % of the time was planned as independent tickets at 1 % each, a few seconds
//! apart, each worth its cost when giving up costs 300 retries, until the job's attempts ran
//! out.
//!
//! Decisions minimise expected cost: attempts × `per_attempt` + seconds waited × `per_second`,
//! or `give_up_penalty` for stopping. A dynamic program over the grid, solved on the first
//! decision after the model is refreshed, gives the value of being at each boundary with `a` attempts left, so a
//! recommendation only scans the boundaries ahead of the current elapsed time.

use super::stats::{BetaSummary, survival_factor_moments};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Boundaries of the elapsed-time grid in milliseconds; attempts are planned at boundaries.
pub const GRID_MS: [u64; 53] = [
    0, 100, 250, 500, 750, 1_000, 1_250, 1_500, 2_000, 2_500, 3_000, 3_500, 4_000, 5_000, 6_000,
    7_000, 8_000, 9_000, 10_000, 11_000, 12_000, 13_500, 15_000, 17_500, 20_000, 22_500, 25_000,
    30_000, 35_000, 40_000, 45_000, 50_000, 60_000, 70_000, 80_000, 90_000, 105_000, 120_000,
    150_000, 180_000, 210_000, 240_000, 300_000, 360_000, 450_000, 600_000, 750_000, 900_000,
    1_200_000, 1_500_000, 1_800_000, 2_700_000, 3_600_000,
];
const K: usize = GRID_MS.len();
/// Finite intervals (the last boundary is the model's horizon).
const INTERVALS: usize = K - 1;
/// Most attempts ahead the dynamic program plans for.
pub const MAX_PLANNED_ATTEMPTS: usize = 20;
/// Pseudo-observations of the pooled prior on each interval's attempt success.
const PRIOR_STRENGTH: f64 = 2.0;
/// Pseudo-observations of the elapsed view's prior on each interval's hazard.
const ELAPSED_PRIOR_STRENGTH: f64 = 1.0;
/// Observations after which old evidence weighs 1/e: the model follows drift.
const MEMORY: f64 = 500.0;
/// Below this many samples a success spanning several intervals is split evenly.
const EM_WARMUP: u64 = 20;
/// Tries' worth of the prior over jobs in the per-attempt view: after `k` failed retries a
/// job's chance is the class's times `JOB_PRIOR_STRENGTH / (JOB_PRIOR_STRENGTH + k)`.
pub const JOB_PRIOR_STRENGTH: f64 = 2.0;
/// Log-likelihood (nats) a view must gain over the other to take over.
const VIEW_MARGIN: f64 = 3.0;
/// Log-likelihood (nats) a job's own retries must give one view over the other to choose it
/// for that job.
const JOB_VIEW_MARGIN: f64 = 1.5;

/// The view a job's own evidence chooses (its summed log-likelihood ratio, elapsed view over
/// per-attempt view), when that evidence passes the margin either way.
pub fn job_view(evidence: f64) -> Option<View> {
    if evidence > JOB_VIEW_MARGIN {
        Some(View::Elapsed)
    } else if evidence < -JOB_VIEW_MARGIN {
        Some(View::PerAttempt)
    } else {
        None
    }
}

/// The largest boundary index `j` with `GRID_MS[j] <= elapsed`.
pub fn lo_index(elapsed_ms: u64) -> usize {
    GRID_MS
        .partition_point(|&b| b <= elapsed_ms)
        .saturating_sub(1)
}

/// The smallest boundary index at or after `elapsed` (an attempt planned for a boundary runs a
/// little late: within 3 % or 50 ms it still counts as that boundary).
pub fn hi_index(elapsed_ms: u64) -> usize {
    let tolerance = (elapsed_ms / 33).max(50);
    let target = elapsed_ms.saturating_sub(tolerance);
    GRID_MS.partition_point(|&b| b < target).min(K - 1)
}

/// Everything learned, serialisable; the rest of the model is derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Counts {
    /// Recoveries attributed to each interval (fractional after splitting).
    pub events: Vec<f64>,
    /// Failures known to have lasted through each interval.
    pub survived: Vec<f64>,
    /// Attempt outcomes by the interval their elapsed time fell in (the per-attempt view).
    pub attempt_successes: Vec<f64>,
    pub attempt_failures: Vec<f64>,
    /// Decayed predictive log-likelihood of each view.
    #[serde(default)]
    pub loglik_time: f64,
    #[serde(default)]
    pub loglik_attempt: f64,
    /// The elapsed view decided at the last refresh (a view holds until the other leads by
    /// the margin; a new model starts in the per-attempt view).
    #[serde(default)]
    pub elapsed_view: bool,
    /// Retry outcomes observed (not decayed).
    pub samples: u64,
    /// Observations since the last refresh.
    pub pending: u32,
    pub last_updated: Option<DateTime<Utc>>,
    /// When the posteriors were last recomputed from the data (a refresh).
    #[serde(default)]
    pub last_refreshed: Option<DateTime<Utc>>,
}

/// Which description of recovery decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Recovery happens at some time after the first failure (outages, rate-limit windows).
    Elapsed,
    /// Each attempt succeeds with a chance that depends only on when it is made (flaky).
    PerAttempt,
}

/// What the dynamic program depends on besides the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveParams {
    pub per_attempt: f64,
    pub per_second: f64,
    pub give_up: f64,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Attempts a job may make in all (the first run included): with the attempts left, it
    /// says how many retries of a job have failed before.
    pub max_attempts: u32,
}

/// A candidate next attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Boundary index of the attempt.
    pub index: usize,
    pub delay_ms: u64,
    /// Chance the attempt succeeds given the failure lasted until now.
    pub success: f64,
    /// Expected cost from now on if the attempt is made there (then acting optimally).
    pub cost: f64,
}

/// The model's choice from some elapsed time, with the view whose figures it carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The best next attempt (stopping is better when its cost is not below giving up).
    pub best: Candidate,
    /// The view whose success chances and costs `best` carries (and an explanation shows).
    pub view: View,
    /// When the per-attempt view decides but would stop and the elapsed view's cheaper retry
    /// was taken instead: the per-attempt view's best, which said stop.
    pub overridden: Option<Candidate>,
}

/// The model of one (job type, error class[, tenant]).
#[derive(Debug, Clone, PartialEq)]
pub struct SurvivalModel {
    pub counts: Counts,
    /// Hazard posteriors Beta(post_a, post_b) per interval (elapsed view).
    post_a: Vec<f64>,
    post_b: Vec<f64>,
    /// E[1 - h_j]: the chance a failure alive at boundary j is still failing at j + 1.
    keep: Vec<f64>,
    /// Prefix sums of ln E[1 - h] and ln E[(1 - h)^2]: survival moments between boundaries.
    log_keep: Vec<f64>,
    log_keep2: Vec<f64>,
    /// Attempt-success posteriors Beta(att_a, att_b) per interval (per-attempt view).
    att_a: Vec<f64>,
    att_b: Vec<f64>,
    /// The per-attempt view's prediction in the comparison of the views: every interval's
    /// outcomes together.
    pooled: f64,
    view: View,
    /// The plan for the current posteriors, solved when a decision first reads it: a model
    /// refreshes every 20 of its outcomes at most, and most refreshes are followed by more
    /// outcomes before any decision (replaying the ~800,000 attempts before a training's
    /// held-out slice at 10⁶ took 10.5 s of CPU solving at every refresh, 1.7 s this way).
    plan: LazyPlan,
    params: SolveParams,
}

/// The plan, solved on its first read. It follows from the model's other fields, so it takes
/// no part in comparing two models.
#[derive(Debug, Clone, Default)]
struct LazyPlan(OnceLock<Plan>);

impl PartialEq for LazyPlan {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The plan's expected costs.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    /// value[a * K + k]: expected cost at boundary k with a attempts left (deciding view).
    value: Vec<f64>,
    /// The same in the elapsed view (equal to `value` when that view decides).
    value_elapsed: Vec<f64>,
}

impl SurvivalModel {
    pub fn new(params: SolveParams) -> Self {
        let counts = Counts {
            events: vec![0.0; INTERVALS],
            survived: vec![0.0; INTERVALS],
            attempt_successes: vec![0.0; K],
            attempt_failures: vec![0.0; K],
            ..Counts::default()
        };
        Self::from_counts(counts, params)
    }

    /// Rebuilds a model from stored counts (wrong-sized or invalid vectors are reset).
    pub fn from_counts(mut counts: Counts, params: SolveParams) -> Self {
        for (v, n) in [
            (&mut counts.events, INTERVALS),
            (&mut counts.survived, INTERVALS),
            (&mut counts.attempt_successes, K),
            (&mut counts.attempt_failures, K),
        ] {
            if v.len() != n || v.iter().any(|x| !x.is_finite() || *x < 0.0) {
                *v = vec![0.0; n];
            }
        }
        for ll in [&mut counts.loglik_time, &mut counts.loglik_attempt] {
            if !ll.is_finite() {
                *ll = 0.0;
            }
        }
        let mut model = Self {
            counts,
            post_a: vec![1.0; INTERVALS],
            post_b: vec![1.0; INTERVALS],
            keep: vec![0.5; INTERVALS],
            log_keep: vec![0.0; K],
            log_keep2: vec![0.0; K],
            att_a: vec![1.0; K],
            att_b: vec![1.0; K],
            pooled: 0.5,
            view: View::Elapsed,
            plan: LazyPlan::default(),
            params,
        };
        model.derive();
        model
    }

    pub fn samples(&self) -> u64 {
        self.counts.samples
    }

    pub fn last_updated(&self) -> Option<DateTime<Utc>> {
        self.counts.last_updated
    }

    pub fn last_refreshed(&self) -> Option<DateTime<Utc>> {
        self.counts.last_refreshed
    }

    /// [`Self::refresh`], recording `at` as the time it was trained.
    pub fn refresh_at(&mut self, params: SolveParams, at: DateTime<Utc>) {
        self.refresh(params);
        let last = &mut self.counts.last_refreshed;
        *last = Some(last.map_or(at, |t| t.max(at)));
    }

    /// The view that decides right now.
    pub fn view(&self) -> View {
        self.view
    }

    /// True when the model's own outcomes favour one view by more than the margin (else the
    /// view that last led holds, or the per-attempt view of a new model).
    pub fn view_decided(&self) -> bool {
        let c = &self.counts;
        (c.loglik_attempt - c.loglik_time).abs() > VIEW_MARGIN
    }

    /// Learns from one retry: the failure lasted past `previous_ms` (the last failed attempt's
    /// elapsed time) and the attempt at `elapsed_ms` ended with `success`.
    pub fn observe(&mut self, previous_ms: u64, elapsed_ms: u64, success: bool, at: DateTime<Utc>) {
        self.score(previous_ms, elapsed_ms, success);
        let c = &mut self.counts;
        c.samples += 1;
        c.pending = c.pending.saturating_add(1);
        c.last_updated = Some(c.last_updated.map_or(at, |t| t.max(at)));
        let slot = lo_index(elapsed_ms);
        let first = lo_index(previous_ms);
        if !success {
            c.attempt_failures[slot] += 1.0;
            for j in first..slot.min(INTERVALS) {
                c.survived[j] += 1.0;
            }
            return;
        }
        c.attempt_successes[slot] += 1.0;
        let last = hi_index(elapsed_ms).max(first + 1).min(INTERVALS);
        self.attribute_recovery(first, last);
    }

    /// Adds each view's predictive log-likelihood of this outcome (before learning it).
    fn score(&mut self, previous_ms: u64, elapsed_ms: u64, success: bool) {
        let (time, attempt) =
            self.log_likelihoods_given(previous_ms, elapsed_ms, success, self.pooled);
        let decay = 1.0 - 1.0 / MEMORY;
        let c = &mut self.counts;
        c.loglik_time = c.loglik_time * decay + time;
        c.loglik_attempt = c.loglik_attempt * decay + attempt;
    }

    /// Each view's predictive log-likelihood (elapsed, per-attempt with the interval's own
    /// rate, as it decides) of a retry at `elapsed_ms` after a failure at `previous_ms` ending
    /// with `success`.
    pub fn log_likelihoods(&self, previous_ms: u64, elapsed_ms: u64, success: bool) -> (f64, f64) {
        let slot = lo_index(elapsed_ms);
        let p_attempt = self.att_a[slot] / (self.att_a[slot] + self.att_b[slot]);
        self.log_likelihoods_given(previous_ms, elapsed_ms, success, p_attempt)
    }

    /// The elapsed view's predictive log-likelihood of the outcome, and that of a per-attempt
    /// prediction `p_attempt`.
    fn log_likelihoods_given(
        &self,
        previous_ms: u64,
        elapsed_ms: u64,
        success: bool,
        p_attempt: f64,
    ) -> (f64, f64) {
        let first = lo_index(previous_ms);
        let last = hi_index(elapsed_ms).max(first + 1).min(INTERVALS);
        let p_time = 1.0 - self.survive(first, last);
        let ll = |p: f64| {
            let p = p.clamp(0.01, 0.99);
            if success { p.ln() } else { (1.0 - p).ln() }
        };
        (ll(p_time), ll(p_attempt))
    }

    /// Splits one recovery over intervals `first..last` (one online EM step).
    fn attribute_recovery(&mut self, first: usize, last: usize) {
        let cold = self.counts.samples < EM_WARMUP;
        let mut weights = [0.0f64; INTERVALS];
        let mut alive = 1.0;
        for (j, w) in weights.iter_mut().enumerate().take(last).skip(first) {
            let h = if cold {
                1.0 / (last - j) as f64
            } else {
                self.hazard(j)
            };
            *w = alive * h;
            alive *= 1.0 - h;
        }
        let total: f64 = weights[first..last].iter().sum();
        if total <= 0.0 {
            return;
        }
        let mut later = 1.0;
        let c = &mut self.counts;
        let spans = weights[first..last]
            .iter()
            .zip(&mut c.events[first..last])
            .zip(&mut c.survived[first..last]);
        for ((w, events), survived) in spans {
            let w = w / total;
            *events += w;
            later -= w;
            *survived += later.max(0.0);
        }
    }

    /// The posterior mean hazard of interval `j`.
    pub fn hazard(&self, j: usize) -> f64 {
        self.post_a[j] / (self.post_a[j] + self.post_b[j])
    }

    /// True when enough has been observed since the last refresh (every new sample while
    /// young, then every 5 % of the samples, at most every 20).
    pub fn needs_refresh(&self) -> bool {
        let every = (self.counts.samples / 20).clamp(1, 20) as u32;
        self.counts.pending >= every
    }

    /// Ages old evidence and recomputes posteriors; the plan is re-solved when next read.
    pub fn refresh(&mut self, params: SolveParams) {
        let keep = (1.0 - 1.0 / MEMORY).powi(self.counts.pending as i32);
        let c = &mut self.counts;
        for v in [
            &mut c.events,
            &mut c.survived,
            &mut c.attempt_successes,
            &mut c.attempt_failures,
        ] {
            v.iter_mut().for_each(|x| *x *= keep);
        }
        c.pending = 0;
        self.params = params;
        self.derive();
    }

    /// Takes new parameters (the plan is re-solved when next read) without ageing the data.
    pub fn resolve(&mut self, params: SolveParams) {
        self.params = params;
        self.derive();
    }

    fn derive(&mut self) {
        let lead = self.counts.loglik_time - self.counts.loglik_attempt;
        if lead.abs() > VIEW_MARGIN {
            self.counts.elapsed_view = lead > 0.0;
        }
        let c = &self.counts;
        for j in 0..INTERVALS {
            let (a0, b0) = elapsed_prior(j);
            self.post_a[j] = a0 + c.events[j];
            self.post_b[j] = b0 + c.survived[j];
            let (m1, m2) = survival_factor_moments(self.post_a[j], self.post_b[j]);
            self.keep[j] = m1;
            self.log_keep[j + 1] = self.log_keep[j] + m1.ln();
            self.log_keep2[j + 1] = self.log_keep2[j] + m2.ln();
        }
        let (hits, misses) = (
            c.attempt_successes.iter().sum(),
            c.attempt_failures.iter().sum(),
        );
        self.pooled = pooled_rate(hits, misses);
        let (s0, f0) = pooled_prior(hits, misses);
        for j in 0..K {
            self.att_a[j] = s0 + c.attempt_successes[j];
            self.att_b[j] = f0 + c.attempt_failures[j];
        }
        self.view = if c.elapsed_view {
            View::Elapsed
        } else {
            View::PerAttempt
        };
        self.plan = LazyPlan::default();
    }

    /// Chance the failure lasts from `elapsed_ms` through boundary `j` (elapsed view). Within
    /// the interval `elapsed_ms` falls in, the hazard is spread evenly over the interval's
    /// time: a job that a guardrail held to just before a boundary (the circuit's probe,
    /// pacing) is not credited with the whole interval's recovery for a retry a second away,
    /// which made a retry every probe look worth its cost until the attempts ran out.
    fn survive_from(&self, elapsed_ms: u64, j: usize) -> f64 {
        let k = lo_index(elapsed_ms);
        if j <= k {
            return 1.0;
        }
        let (from, to) = (GRID_MS[k], GRID_MS[k + 1]);
        let left = to.saturating_sub(elapsed_ms) as f64 / (to - from) as f64;
        self.keep[k].powf(left.clamp(0.0, 1.0)) * self.survive(k + 1, j)
    }

    /// Chance the failure lasts from boundary `k` through boundary `j` (elapsed view).
    fn survive(&self, k: usize, j: usize) -> f64 {
        (self.log_keep[j] - self.log_keep[k]).exp()
    }

    /// Chance an attempt at boundary `j` fails, the failure having lasted to boundary `k`, in
    /// the deciding view. `alive` is the elapsed view's survival from `k` to `j`; `share` is
    /// what is left of the class's per-attempt chance for the job ([`Self::job_share`]).
    fn fails(&self, view: View, alive: f64, j: usize, share: f64) -> f64 {
        match view {
            View::Elapsed => alive,
            View::PerAttempt => 1.0 - share * self.att_a[j] / (self.att_a[j] + self.att_b[j]),
        }
    }

    /// What is left of the class's per-attempt chance for a job with `attempts` left, whose
    /// earlier retries all failed (see the module docs).
    fn job_share(&self, attempts: usize) -> f64 {
        let retries = self.params.max_attempts.max(1) as usize - 1;
        let failed = retries.saturating_sub(attempts) as f64;
        JOB_PRIOR_STRENGTH / (JOB_PRIOR_STRENGTH + failed)
    }

    fn solve(&self) -> Plan {
        let value = self.solve_view(self.view);
        let value_elapsed = match self.view {
            View::Elapsed => value.clone(),
            View::PerAttempt => self.solve_view(View::Elapsed),
        };
        Plan {
            value,
            value_elapsed,
        }
    }

    fn solve_view(&self, view: View) -> Vec<f64> {
        let p = self.params;
        let mut value = vec![p.give_up; (MAX_PLANNED_ATTEMPTS + 1) * K];
        for a in 1..=MAX_PLANNED_ATTEMPTS {
            for k in 0..K {
                let mut best = p.give_up;
                let mut alive = 1.0;
                for j in k + 1..K {
                    alive *= self.keep[j - 1];
                    let gap = GRID_MS[j] - GRID_MS[k];
                    if gap > p.max_delay_ms {
                        break;
                    }
                    if gap < p.min_delay_ms {
                        continue;
                    }
                    let rest = value[(a - 1) * K + j];
                    let cost = p.per_attempt
                        + p.per_second * gap as f64 / 1000.0
                        + self.fails(view, alive, j, 1.0) * rest;
                    best = best.min(cost);
                }
                value[a * K + k] = best;
            }
        }
        value
    }

    /// Expected cost of the best plan from boundary `k` with `attempts` left in `view`.
    fn value_at(&self, view: View, attempts: usize, k: usize) -> f64 {
        let plan = self.plan.0.get_or_init(|| self.solve());
        let table = match view {
            View::Elapsed => &plan.value_elapsed,
            View::PerAttempt => &plan.value,
        };
        table[attempts.min(MAX_PLANNED_ATTEMPTS) * K + k]
    }

    /// The candidate of attempting at boundary `j` from elapsed `elapsed_ms` with `attempts`
    /// left (this one included).
    pub fn candidate(&self, elapsed_ms: u64, j: usize, attempts: usize) -> Candidate {
        self.candidate_in(self.view, elapsed_ms, j, attempts)
    }

    /// [`Self::candidate`] in the given view rather than the deciding one.
    pub fn candidate_in(
        &self,
        view: View,
        elapsed_ms: u64,
        j: usize,
        attempts: usize,
    ) -> Candidate {
        let j = j.min(K - 1);
        let delay_ms = GRID_MS[j].saturating_sub(elapsed_ms);
        let share = self.job_share(attempts);
        let fails = self.fails(view, self.survive_from(elapsed_ms, j), j, share);
        let p = self.params;
        let rest = if attempts > 1 {
            self.value_at(view, attempts - 1, j)
        } else {
            p.give_up
        };
        Candidate {
            index: j,
            delay_ms,
            success: 1.0 - fails,
            cost: p.per_attempt + p.per_second * delay_ms as f64 / 1000.0 + fails * rest,
        }
    }

    /// The best next attempt at or after `earliest_ms` of elapsed time and the view it comes
    /// from, or `None` when no boundary is within reach. Stopping costs `give_up_cost()`.
    ///
    /// Giving up needs evidence at the elapsed times in question. The per-attempt view judges
    /// an interval nobody tried by the attempts made at other times, so after many failed
    /// early retries it calls an unexplored tail hopeless; the elapsed view counts those
    /// failures as censored (the failure lasted at least that long) and keeps its prior for
    /// the tail. So stopping needs both views to say so: when the per-attempt view would stop
    /// and the elapsed view still sees a retry worth its cost, that retry is made.
    pub fn best(&self, elapsed_ms: u64, attempts: usize, earliest_ms: u64) -> Option<Decision> {
        self.best_as(self.view, elapsed_ms, attempts, earliest_ms)
    }

    /// [`Self::best`] with `view` deciding (a job's own evidence may choose it).
    pub fn best_as(
        &self,
        view: View,
        elapsed_ms: u64,
        attempts: usize,
        earliest_ms: u64,
    ) -> Option<Decision> {
        let best = self.best_in(view, elapsed_ms, attempts, earliest_ms)?;
        let decision = Decision {
            best,
            view,
            overridden: None,
        };
        if view == View::Elapsed || best.cost < self.params.give_up {
            return Some(decision);
        }
        let elapsed = self.best_in(View::Elapsed, elapsed_ms, attempts, earliest_ms);
        Some(match elapsed.filter(|c| c.cost < self.params.give_up) {
            Some(c) => Decision {
                best: c,
                view: View::Elapsed,
                overridden: Some(best),
            },
            None => decision,
        })
    }

    fn best_in(
        &self,
        view: View,
        elapsed_ms: u64,
        attempts: usize,
        earliest_ms: u64,
    ) -> Option<Candidate> {
        let p = self.params;
        let mut best: Option<Candidate> = None;
        for j in self.reachable(elapsed_ms) {
            let delay = GRID_MS[j].saturating_sub(elapsed_ms);
            if delay < p.min_delay_ms || GRID_MS[j] < earliest_ms {
                continue;
            }
            let c = self.candidate_in(view, elapsed_ms, j, attempts);
            if best.is_none_or(|b| c.cost < b.cost) {
                best = Some(c);
            }
        }
        best
    }

    /// Expected cost of what follows a failed attempt at boundary `j` when `attempts` were left
    /// before it (that one included), in `view`: the plan's value from there, or giving up when
    /// it was the last.
    pub fn continuation(&self, view: View, j: usize, attempts: usize) -> f64 {
        if attempts > 1 {
            self.value_at(view, attempts - 1, j.min(K - 1))
        } else {
            self.params.give_up
        }
    }

    /// Cost weights and delay bounds the plan is solved under.
    pub fn params(&self) -> SolveParams {
        self.params
    }

    pub fn give_up_cost(&self) -> f64 {
        self.params.give_up
    }

    /// Boundaries reachable from `elapsed_ms` within the maximum delay.
    pub fn reachable(&self, elapsed_ms: u64) -> std::ops::Range<usize> {
        let from = lo_index(elapsed_ms) + 1;
        let mut to = from;
        while to < K && GRID_MS[to].saturating_sub(elapsed_ms) <= self.params.max_delay_ms {
            to += 1;
        }
        from..to
    }

    /// Posterior of "an attempt at boundary `j` succeeds, the failure having lasted until
    /// `elapsed_ms`". Per-attempt view: that interval's Beta. Elapsed view: a product of
    /// independent Betas, matched to a Beta by its first two moments. Bounds are exact
    /// quantiles of the Beta.
    pub fn success_posterior(&self, elapsed_ms: u64, j: usize, credibility: f64) -> BetaSummary {
        self.success_posterior_in(self.view, elapsed_ms, j, credibility)
    }

    /// [`Self::success_posterior`] in the given view rather than the deciding one.
    pub fn success_posterior_in(
        &self,
        view: View,
        elapsed_ms: u64,
        j: usize,
        credibility: f64,
    ) -> BetaSummary {
        let j = j.min(K - 1);
        if view == View::PerAttempt {
            return BetaSummary::new(self.att_a[j], self.att_b[j], credibility);
        }
        self.recovery_posterior(elapsed_ms, j, credibility)
    }

    /// Elapsed view: posterior of "recovered by boundary `j`, given still failing at
    /// `elapsed_ms`" (moment-matched Beta, exact quantiles).
    pub fn recovery_posterior(&self, elapsed_ms: u64, j: usize, credibility: f64) -> BetaSummary {
        let k = lo_index(elapsed_ms);
        let j = j.clamp(k, K - 1);
        let keep = (self.log_keep[j] - self.log_keep[k]).exp();
        let keep2 = (self.log_keep2[j] - self.log_keep2[k]).exp();
        BetaSummary::matched(1.0 - keep, (keep2 - keep * keep).max(0.0), credibility)
    }

    /// True when some retry in the model's memory succeeded.
    pub fn has_success(&self) -> bool {
        self.counts.attempt_successes.iter().any(|&x| x > 0.0)
    }

    /// Attempts observed at boundary interval `j` (decayed).
    pub fn attempts_at(&self, j: usize) -> f64 {
        self.counts.attempt_successes[j] + self.counts.attempt_failures[j]
    }

    /// Effective (decayed) number of retry outcomes behind the model.
    pub fn effective_samples(&self) -> f64 {
        self.counts.attempt_successes.iter().sum::<f64>()
            + self.counts.attempt_failures.iter().sum::<f64>()
    }
}

/// The elapsed view's prior on interval `j`'s hazard: recovery equally likely in any interval
/// or never (beyond the horizon) — about uniform in log-time, since the grid is roughly
/// geometric — worth one observation. Intervals nobody tried stay plausible, so a class whose
/// early retries failed still gets tried later (a maintenance window) until later retries have
/// failed too (a failure that never recovers).
fn elapsed_prior(j: usize) -> (f64, f64) {
    let h0 = 1.0 / (INTERVALS + 1 - j) as f64;
    (
        ELAPSED_PRIOR_STRENGTH * h0,
        ELAPSED_PRIOR_STRENGTH * (1.0 - h0),
    )
}

/// A weak Beta prior centred on the pooled rate (`hits` of `hits + misses`), so cells without
/// data borrow the model's overall behaviour.
fn pooled_prior(hits: f64, misses: f64) -> (f64, f64) {
    let pooled = pooled_rate(hits, misses);
    (PRIOR_STRENGTH * pooled, PRIOR_STRENGTH * (1.0 - pooled))
}

/// The posterior mean success of an attempt, every interval together (Jeffreys prior).
fn pooled_rate(hits: f64, misses: f64) -> f64 {
    (hits + 0.5) / (hits + misses + 1.0)
}

#[cfg(test)]
pub(super) mod tests;
