//! Smart vs static over time (`GET /smart-vs-static`): jobs grouped by the 10-minute step in
//! which their first failure was heard of, each step holding the shadow comparison's estimates
//! for those jobs (smart plan and static backoff, judged by the same recovery models) and how
//! the ones the service followed actually ended.
//!
//! Memory is bounded: one slot per step for the last 24 hours (144 slots of a few numbers),
//! whatever the traffic. Not persisted: the estimates need the models of the moment, so a
//! restart starts empty and answers say from when they count.

use crate::model::{
    CohortStep, FieldError, JobExpectation, PATTERN_STEP_SECS, PATTERN_WINDOW_MAX_SECS,
    SmartVsStatic, parse_window,
};
use chrono::{DateTime, TimeZone, Utc};

const STEP: i64 = PATTERN_STEP_SECS as i64;
/// Steps kept: 24 hours.
pub const SLOTS: usize = (PATTERN_WINDOW_MAX_SECS / PATTERN_STEP_SECS) as usize;

/// Sums of one cohort.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    jobs: u64,
    smart_ok: f64,
    static_ok: f64,
    smart_retries: f64,
    static_retries: f64,
    /// Σ time to success × chance of success, per plan.
    smart_time: f64,
    static_time: f64,
    ended: u64,
    recovered: u64,
}

impl Sums {
    fn merge(&mut self, o: &Sums) {
        self.jobs += o.jobs;
        self.smart_ok += o.smart_ok;
        self.static_ok += o.static_ok;
        self.smart_retries += o.smart_retries;
        self.static_retries += o.static_retries;
        self.smart_time += o.smart_time;
        self.static_time += o.static_time;
        self.ended += o.ended;
        self.recovered += o.recovered;
    }

    fn view(&self) -> CohortStep {
        let n = self.jobs as f64;
        let mean = |sum: f64| (self.jobs > 0).then(|| sum / n);
        let weighted = |time: f64, ok: f64| (ok > 0.0).then(|| time / ok);
        CohortStep {
            jobs: self.jobs,
            smart_estimated: mean(self.smart_ok),
            static_estimated: mean(self.static_ok),
            smart_retries: mean(self.smart_retries),
            static_retries: mean(self.static_retries),
            smart_time_to_success_ms: weighted(self.smart_time, self.smart_ok),
            static_time_to_success_ms: weighted(self.static_time, self.static_ok),
            ended: self.ended,
            recovered: self.recovered,
            smart_measured: (self.ended > 0).then(|| self.recovered as f64 / self.ended as f64),
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct CohortBook {
    steps: Box<[i64]>,
    sums: Box<[Sums]>,
}

impl Default for CohortBook {
    fn default() -> Self {
        Self {
            steps: vec![i64::MIN; SLOTS].into_boxed_slice(),
            sums: vec![Sums::default(); SLOTS].into_boxed_slice(),
        }
    }
}

/// The step (10-minute index since the epoch) of `at`.
pub fn step_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP)
}

fn step_start(index: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(index * STEP, 0)
        .single()
        .unwrap_or_default()
}

impl CohortBook {
    /// Adds a job first failing at `now` with its expectations under each plan.
    pub fn compare(&mut self, smart: JobExpectation, fixed: JobExpectation, now: DateTime<Utc>) {
        let s = self.at(step_of(now));
        s.jobs += 1;
        s.smart_ok += 1.0 - smart.give_up;
        s.static_ok += 1.0 - fixed.give_up;
        s.smart_retries += smart.attempts;
        s.static_retries += fixed.attempts;
        s.smart_time += smart.time_to_success_ms * (1.0 - smart.give_up);
        s.static_time += fixed.time_to_success_ms * (1.0 - fixed.give_up);
    }

    /// Notes that a job whose first failure fell in step `opened` ended, recovered or not. A
    /// cohort older than the window is gone and not counted.
    pub fn ended(&mut self, opened: i64, recovered: bool, now: DateTime<Utc>) {
        if opened <= step_of(now) - SLOTS as i64 {
            return;
        }
        let s = self.at(opened);
        s.ended += 1;
        s.recovered += u64::from(recovered);
    }

    /// The last `steps` steps up to `now` (1..=144), none starting before `since`.
    pub fn view(&self, steps: u32, since: DateTime<Utc>, now: DateTime<Utc>) -> SmartVsStatic {
        let last = step_of(now);
        let wanted = i64::from(steps.clamp(1, SLOTS as u32));
        let first = (last - wanted + 1).max(step_of(since).min(last));
        let mut total = Sums::default();
        let cohorts = (first..=last)
            .map(|i| {
                let s = self.get(i);
                total.merge(&s);
                s.view()
            })
            .collect();
        let total = total.view();
        let difference = total
            .smart_estimated
            .zip(total.static_estimated)
            .map(|(a, b)| a - b);
        SmartVsStatic {
            step_seconds: PATTERN_STEP_SECS,
            from: Some(step_start(first).max(since)),
            to: Some(now),
            steps: cohorts,
            total,
            difference,
        }
    }

    fn slot(index: i64) -> usize {
        index.rem_euclid(SLOTS as i64) as usize
    }

    fn at(&mut self, index: i64) -> &mut Sums {
        let i = Self::slot(index);
        if self.steps[i] != index {
            self.steps[i] = index;
            self.sums[i] = Sums::default();
        }
        &mut self.sums[i]
    }

    fn get(&self, index: i64) -> Sums {
        let i = Self::slot(index);
        if self.steps[i] == index {
            self.sums[i]
        } else {
            Sums::default()
        }
    }
}

/// The window a request asks (default 24h) as a number of 10-minute steps: rounded up, and
/// kept within 10m..=24h (what the service keeps; the answer's `from` says where it starts).
/// `GET /patterns` and `GET /smart-vs-static` read their window so; errors name `window`.
pub fn steps(window: Option<&str>) -> Result<u32, FieldError> {
    let d = parse_window(window.unwrap_or("24h")).map_err(|e| FieldError::new("window", e))?;
    let secs = d
        .as_secs()
        .clamp(PATTERN_STEP_SECS, PATTERN_WINDOW_MAX_SECS);
    Ok(secs.div_ceil(PATTERN_STEP_SECS) as u32)
}

#[cfg(test)]
mod tests;
