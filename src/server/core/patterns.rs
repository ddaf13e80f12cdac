//! Pattern analysis kept incrementally: for every (job type, error class, tenant), fixed
//! 10-minute steps over the last 24 hours, each holding the failures, the jobs that recovered
//! (by time to recovery), gave up or hit max attempts, and the recovery times as a sum, a sum of
//! squares and a sparse log-scale histogram. A query merges at most 144 steps per tenant, so
//! its cost does not grow with the history stored.
//!
//! Steps are placed on the service's clock (when it heard of the event); recovery times are
//! measured on the workers' clock (first failure's timestamp to the success's timestamp).
//! A job's recovery is timed only when its attempt 1 failure was seen; at most
//! `[engine] max_open_episodes` jobs ([`MAX_OPEN_EPISODES`] by default) are followed at once
//! (jobs beyond that are counted as failures only). A followed job costs 32 bytes: it is known
//! by a 64-bit keyed hash of its id (two of 200,000 followed ids share one with a chance of
//! about one in 10⁹, and then one recovery is timed from the other job's first failure), its
//! key is one shared copy per key, and the step its first failure was heard in is 32 bits
//! (steps of the service's clock up to the year 40,000; a job first heard of past that is
//! counted, not followed).

use crate::model::{
    AttemptRecord, FAST_RECOVERY_MS, PATTERN_STEP_SECS, PATTERN_WINDOW_MAX_SECS, Patterns,
    PeakWindow, RecoveredCounts, RecoveryTimes, SLOW_RECOVERY_MS, ScheduledJob, guardrail,
};
use chrono::{DateTime, TimeZone, Utc};
use hashbrown::{Equivalent, HashMap, HashSet};
use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

/// Jobs followed from their first failure at once, unless configured otherwise.
pub const MAX_OPEN_EPISODES: usize = crate::engine::EPISODE_CAPACITY;
const STEP: i64 = PATTERN_STEP_SECS as i64;
const STEPS: i64 = (PATTERN_WINDOW_MAX_SECS / PATTERN_STEP_SECS) as i64;
/// Histogram bins per doubling of the recovery time.
const BINS_PER_DOUBLING: f64 = 8.0;

/// How a followed job ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    GaveUp,
    HitMaxAttempts,
}

impl Ending {
    /// Why the service stopped retrying `job` (an exhausted job): its last allowed attempt
    /// failed (the max-attempts guardrail, or the policy's limit after at least one retry), or
    /// it gave up early (not retryable, maximum retry age, emergency stop).
    pub fn of(job: &ScheduledJob) -> Self {
        let named = |g: &str| job.recommendation.policy_guardrails.iter().any(|n| n == g);
        let early = named(guardrail::EMERGENCY_STOP) || named(guardrail::MAX_RETRY_AGE);
        let at_limit = job.attempt_number > 1 && job.attempt_number >= job.max_attempts;
        if named(guardrail::MAX_ATTEMPTS) || (at_limit && !early) {
            Self::HitMaxAttempts
        } else {
            Self::GaveUp
        }
    }
}

/// What `/patterns` asks for.
#[derive(Debug, Clone)]
pub struct PatternQuery {
    pub job_type: String,
    pub error_class: String,
    pub tenant: Option<String>,
    /// Whole 10-minute steps, 1..=144.
    pub steps: u32,
}

/// See the module docs.
#[derive(Debug)]
pub struct PatternBook {
    /// (job type, error class) → tenant ("" for none) → steps.
    series: HashMap<(String, String), BTreeMap<String, Steps>>,
    /// Jobs whose first failure was seen and that have not ended, by the hash of their id.
    /// A B-tree: a hash map's doubling would rehash every open job in one insert (a stall under
    /// the lock that failures take).
    open: BTreeMap<u64, Episode>,
    /// The hash of job ids (random per run: the table is not persisted).
    ids: RandomState,
    /// The one shared copy of each key of the open episodes.
    keys: HashSet<Arc<Key>>,
    /// How many jobs in `open` were first heard of in each step: the table is swept for
    /// episodes older than 24 hours only when the oldest step here is that old, so a full table
    /// whose episodes are all younger is never scanned.
    opened_per_step: BTreeMap<i32, u32>,
    /// Most jobs in `open`.
    max_open: usize,
}

impl Default for PatternBook {
    fn default() -> Self {
        Self::new(MAX_OPEN_EPISODES)
    }
}

#[derive(Debug)]
struct Episode {
    key: Arc<Key>,
    first_failure: DateTime<Utc>,
    opened_step: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    job_type: String,
    error_class: String,
    tenant: String,
}

/// A [`Key`] by reference, hashed as the key is (each field in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct KeyRef<'a> {
    job_type: &'a str,
    error_class: &'a str,
    tenant: &'a str,
}

impl<'a> KeyRef<'a> {
    fn of(a: &'a AttemptRecord) -> Self {
        Self {
            job_type: &a.job_type,
            error_class: &a.error_class,
            tenant: a.tenant.as_deref().unwrap_or_default(),
        }
    }

    fn owned(&self) -> Key {
        Key {
            job_type: self.job_type.to_string(),
            error_class: self.error_class.to_string(),
            tenant: self.tenant.to_string(),
        }
    }
}

impl<'a> From<&'a Key> for KeyRef<'a> {
    fn from(k: &'a Key) -> Self {
        Self {
            job_type: &k.job_type,
            error_class: &k.error_class,
            tenant: &k.tenant,
        }
    }
}

impl Equivalent<Arc<Key>> for KeyRef<'_> {
    fn equivalent(&self, key: &Arc<Key>) -> bool {
        *self == KeyRef::from(&**key)
    }
}

/// A (job type, error class) pair by reference, hashed as the owned pair is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PairRef<'a>(&'a str, &'a str);

impl Equivalent<(String, String)> for PairRef<'_> {
    fn equivalent(&self, pair: &(String, String)) -> bool {
        self.0 == pair.0 && self.1 == pair.1
    }
}

/// The non-empty steps of one key, oldest first, none older than 24 hours.
#[derive(Debug, Default)]
struct Steps(VecDeque<Step>);

#[derive(Debug, Default, Clone)]
struct Step {
    index: i64,
    failures: u64,
    recovered: RecoveredCounts,
    given_up: u64,
    hit_max_attempts: u64,
    sum_ms: f64,
    sum_sq_ms: f64,
    bins: BTreeMap<u16, u64>,
}

impl PatternBook {
    /// Empty, following at most `max_open` jobs at once.
    pub fn new(max_open: usize) -> Self {
        Self {
            series: HashMap::new(),
            open: BTreeMap::new(),
            ids: RandomState::new(),
            keys: HashSet::new(),
            opened_per_step: BTreeMap::new(),
            max_open,
        }
    }

    /// Jobs followed now (at most the cap it was made with).
    pub fn followed_jobs(&self) -> usize {
        self.open.len()
    }

    /// Notes an attempt the service heard of at `now`. A success that ends a followed job
    /// answers the step in which its first failure was heard of.
    pub fn record_attempt(&mut self, a: &AttemptRecord, now: DateTime<Utc>) -> Option<i64> {
        let step = step_of(now);
        if a.success {
            let ep = self.close_episode(&a.job_id)?;
            let ms = (a.timestamp - ep.first_failure).num_milliseconds().max(0) as u64;
            self.step_mut((&*ep.key).into(), step).add_recovery(ms);
            return Some(ep.opened_step.into());
        }
        let key = KeyRef::of(a);
        self.step_mut(key, step).failures += 1;
        if a.attempt_number == 1 {
            self.open_episode(&a.job_id, key, a.timestamp, step);
        }
        None
    }

    /// Notes that a job ended without success at `now`; a followed job answers the step in
    /// which its first failure was heard of.
    pub fn record_end(&mut self, job_id: &str, ending: Ending, now: DateTime<Utc>) -> Option<i64> {
        let ep = self.close_episode(job_id)?;
        let s = self.step_mut((&*ep.key).into(), step_of(now));
        match ending {
            Ending::GaveUp => s.given_up += 1,
            Ending::HitMaxAttempts => s.hit_max_attempts += 1,
        }
        Some(ep.opened_step.into())
    }

    /// The figures of `q` over its window up to `now`.
    pub fn query(&self, q: &PatternQuery, now: DateTime<Utc>) -> Patterns {
        let last = step_of(now);
        let first = last - i64::from(q.steps.clamp(1, STEPS as u32)) + 1;
        let mut total = Step::default();
        let mut failures = vec![0u64; (last - first + 1) as usize];
        let pair = PairRef(&q.job_type, &q.error_class);
        let tenants = self.series.get(&pair).into_iter().flatten();
        for (tenant, steps) in tenants {
            if q.tenant.as_ref().is_some_and(|t| t != tenant) {
                continue;
            }
            for s in steps
                .0
                .iter()
                .filter(|s| s.index >= first && s.index <= last)
            {
                total.merge(s);
                failures[(s.index - first) as usize] += s.failures;
            }
        }
        Patterns {
            job_type: q.job_type.clone(),
            error_class: q.error_class.clone(),
            tenant: q.tenant.clone(),
            from: step_start(first),
            to: now,
            failures: total.failures,
            recovered: total.recovered,
            given_up: total.given_up,
            hit_max_attempts: total.hit_max_attempts,
            recovery: total.recovery_times(),
            peak_failures: peak(&failures, first, now),
        }
    }

    fn open_episode(&mut self, job_id: &str, key: KeyRef<'_>, at: DateTime<Utc>, step: i64) {
        let Ok(opened_step) = i32::try_from(step) else {
            return;
        };
        let id = self.id(job_id);
        if self.open.len() >= self.max_open && !self.open.contains_key(&id) {
            self.sweep_aged_out(step);
            if self.open.len() >= self.max_open {
                return;
            }
        }
        let episode = Episode {
            key: self.shared_key(key),
            first_failure: at,
            opened_step,
        };
        *self.opened_per_step.entry(opened_step).or_default() += 1;
        if let Some(replaced) = self.open.insert(id, episode) {
            self.uncount(replaced.opened_step);
        }
    }

    /// Stops following `job_id`; answers its episode if it was followed.
    fn close_episode(&mut self, job_id: &str) -> Option<Episode> {
        let ep = self.open.remove(&self.id(job_id))?;
        self.uncount(ep.opened_step);
        Some(ep)
    }

    fn uncount(&mut self, opened_step: i32) {
        if let Some(n) = self.opened_per_step.get_mut(&opened_step) {
            *n -= 1;
            if *n == 0 {
                self.opened_per_step.remove(&opened_step);
            }
        }
    }

    /// Drops the episodes first heard of 24 hours or more before `step`, scanning the table
    /// only when there is one.
    fn sweep_aged_out(&mut self, step: i64) {
        let oldest_kept = step - STEPS + 1;
        let any_aged = self
            .opened_per_step
            .first_key_value()
            .is_some_and(|(&s, _)| i64::from(s) < oldest_kept);
        if !any_aged {
            return;
        }
        self.open
            .retain(|_, ep| i64::from(ep.opened_step) >= oldest_kept);
        self.keys.retain(|k| Arc::strong_count(k) > 1);
        let kept_from = i32::try_from(oldest_kept).unwrap_or(i32::MIN);
        self.opened_per_step = self.opened_per_step.split_off(&kept_from);
    }

    /// The shared copy of `key`.
    fn shared_key(&mut self, key: KeyRef<'_>) -> Arc<Key> {
        if let Some(shared) = self.keys.get(&key) {
            return shared.clone();
        }
        let shared = Arc::new(key.owned());
        self.keys.insert(shared.clone());
        shared
    }

    fn id(&self, job_id: &str) -> u64 {
        self.ids.hash_one(job_id)
    }

    fn step_mut(&mut self, key: KeyRef<'_>, step: i64) -> &mut Step {
        // Looked up by reference: only a new key allocates.
        let pair = PairRef(key.job_type, key.error_class);
        if !self.series.contains_key(&pair) {
            let owned = (pair.0.to_string(), pair.1.to_string());
            self.series.insert(owned, BTreeMap::new());
        }
        let tenants = self
            .series
            .get_mut(&pair)
            .expect("the pair was just ensured");
        if !tenants.contains_key(key.tenant) {
            tenants.insert(key.tenant.to_string(), Steps::default());
        }
        let steps = tenants
            .get_mut(key.tenant)
            .expect("the tenant was just ensured");
        steps.at(step)
    }
}

impl Steps {
    /// The step `index`, created if needed; steps older than 24 hours are dropped. An index
    /// older than the newest step (the clock stepped back) joins the newest one.
    fn at(&mut self, index: i64) -> &mut Step {
        while self.0.front().is_some_and(|s| s.index <= index - STEPS) {
            self.0.pop_front();
        }
        if self.0.back().is_none_or(|s| s.index < index) {
            self.0.push_back(Step {
                index,
                ..Step::default()
            });
        }
        self.0.back_mut().expect("a step was just ensured")
    }
}

impl Step {
    fn add_recovery(&mut self, ms: u64) {
        if ms <= FAST_RECOVERY_MS {
            self.recovered.within_5s += 1;
        } else if ms <= SLOW_RECOVERY_MS {
            self.recovered.within_30s += 1;
        } else {
            self.recovered.later += 1;
        }
        let x = ms as f64;
        self.sum_ms += x;
        self.sum_sq_ms += x * x;
        *self.bins.entry(bin_of(ms)).or_default() += 1;
    }

    fn merge(&mut self, other: &Step) {
        self.failures += other.failures;
        self.recovered.within_5s += other.recovered.within_5s;
        self.recovered.within_30s += other.recovered.within_30s;
        self.recovered.later += other.recovered.later;
        self.given_up += other.given_up;
        self.hit_max_attempts += other.hit_max_attempts;
        self.sum_ms += other.sum_ms;
        self.sum_sq_ms += other.sum_sq_ms;
        for (&bin, &n) in &other.bins {
            *self.bins.entry(bin).or_default() += n;
        }
    }

    fn recovery_times(&self) -> Option<RecoveryTimes> {
        let count = self.recovered.total();
        if count == 0 {
            return None;
        }
        let n = count as f64;
        let mean = self.sum_ms / n;
        let variance = (self.sum_sq_ms / n - mean * mean).max(0.0);
        Some(RecoveryTimes {
            count,
            mean_ms: mean,
            sd_ms: variance.sqrt(),
            median_ms: quantile(&self.bins, count, 0.5),
            p90_ms: quantile(&self.bins, count, 0.9),
        })
    }
}

/// Bin 0 holds recoveries under 1 ms; bin b ≥ 1 holds [2^((b-1)/8), 2^(b/8)) ms.
fn bin_of(ms: u64) -> u16 {
    if ms == 0 {
        return 0;
    }
    ((ms as f64).log2() * BINS_PER_DOUBLING).floor() as u16 + 1
}

/// The geometric middle of a bin, in milliseconds.
fn bin_value(bin: u16) -> f64 {
    if bin == 0 {
        return 0.0;
    }
    ((f64::from(bin) - 0.5) / BINS_PER_DOUBLING).exp2()
}

/// The value at rank ⌈q·count⌉ of the histogram.
fn quantile(bins: &BTreeMap<u16, u64>, count: u64, q: f64) -> f64 {
    let rank = ((q * count as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (&bin, &n) in bins {
        seen += n;
        if seen >= rank {
            return bin_value(bin);
        }
    }
    bins.keys().next_back().map_or(0.0, |&b| bin_value(b))
}

/// The three consecutive steps with the most failures (the earliest on a tie), ending no
/// later than `now`.
fn peak(failures: &[u64], first: i64, now: DateTime<Utc>) -> Option<PeakWindow> {
    let width = 3.min(failures.len());
    let (start, count) = failures
        .windows(width)
        .map(|w| w.iter().sum::<u64>())
        .enumerate()
        .fold(
            (0, 0),
            |best, (i, n)| if n > best.1 { (i, n) } else { best },
        );
    (count > 0).then(|| PeakWindow {
        from: step_start(first + start as i64),
        to: step_start(first + (start + width) as i64).min(now),
        failures: count,
    })
}

fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP)
}

fn step_start(index: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(index * STEP, 0)
        .single()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
