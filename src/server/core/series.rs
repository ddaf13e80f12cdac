//! The time series behind `GET /series`: per queue, failures, retries, successes and give-ups
//! counted in fixed 10-second steps over the last hour, plus failures per error class, from
//! what this process recorded (not persisted: a restart starts empty).
//!
//! Memory is bounded: each queue and class has one ring of [`SLOTS`] steps, at most
//! [`MAX_KEYS`] queues and [`MAX_KEYS`] classes are kept (one idle for the whole hour gives its
//! ring to a newcomer), and the rest are counted under [`OTHER`].

use crate::model::{AttemptRecord, ErrorClassCount, FieldError, QueueSeries, Series, parse_window};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};

/// The finest step: every window is counted in steps of this many milliseconds.
pub const BASE_STEP_MS: u64 = 10_000;
/// Steps kept per ring: one hour.
pub const SLOTS: usize = 360;
/// Queues (and error classes) with their own ring; more are counted under [`OTHER`].
pub const MAX_KEYS: usize = 100;
/// Where queues and classes past [`MAX_KEYS`] are counted.
pub const OTHER: &str = "other";
/// Error classes answered in `top_error_classes`.
const TOP_CLASSES: usize = 10;
const DEFAULT_WINDOW: &str = "15m";
const DEFAULT_STEP: &str = "10s";

/// A queue's failed and successful attempts over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub failures: u64,
    pub successes: u64,
}

/// Counts of one queue in one step.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    failures: u32,
    retries: u32,
    successes: u32,
    give_ups: u32,
}

/// One value per base step for the last [`SLOTS`] steps; a slot holding an older step reads
/// as empty.
#[derive(Debug)]
struct Ring<T> {
    steps: Box<[i64]>,
    values: Box<[T]>,
    last: i64,
}

impl<T: Copy + Default> Ring<T> {
    fn new() -> Self {
        Self {
            steps: vec![i64::MIN; SLOTS].into_boxed_slice(),
            values: vec![T::default(); SLOTS].into_boxed_slice(),
            last: i64::MIN,
        }
    }

    fn at(&mut self, step: i64) -> &mut T {
        let i = step.rem_euclid(SLOTS as i64) as usize;
        if self.steps[i] != step {
            self.steps[i] = step;
            self.values[i] = T::default();
        }
        self.last = self.last.max(step);
        &mut self.values[i]
    }

    fn get(&self, step: i64) -> T {
        let i = step.rem_euclid(SLOTS as i64) as usize;
        if self.steps[i] == step {
            self.values[i]
        } else {
            T::default()
        }
    }
}

/// Rings by name, at most [`MAX_KEYS`] plus [`OTHER`].
#[derive(Debug)]
struct Rings<T> {
    rings: HashMap<String, Ring<T>>,
}

impl<T: Copy + Default> Rings<T> {
    fn new() -> Self {
        Self {
            rings: HashMap::new(),
        }
    }

    fn at(&mut self, name: &str, step: i64) -> &mut T {
        let name = if self.rings.contains_key(name) || self.has_room(step) {
            name
        } else {
            OTHER
        };
        self.rings
            .entry(name.to_string())
            .or_insert_with(Ring::new)
            .at(step)
    }

    /// Whether a new name gets a ring: under the cap, or after dropping rings idle for the
    /// whole hour.
    fn has_room(&mut self, step: i64) -> bool {
        let own =
            |rings: &HashMap<String, Ring<T>>| rings.len() - usize::from(rings.contains_key(OTHER));
        if own(&self.rings) < MAX_KEYS {
            return true;
        }
        let oldest = step - SLOTS as i64;
        self.rings
            .retain(|name, r| name == OTHER || r.last > oldest);
        own(&self.rings) < MAX_KEYS
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct SeriesBook {
    queues: Rings<Counts>,
    classes: Rings<u32>,
}

impl Default for SeriesBook {
    fn default() -> Self {
        Self {
            queues: Rings::new(),
            classes: Rings::new(),
        }
    }
}

fn base_step(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().div_euclid(BASE_STEP_MS as i64)
}

fn queue_name(queue: &str) -> &str {
    if queue.is_empty() { "default" } else { queue }
}

impl SeriesBook {
    /// Counts an attempt recorded at `now`: a failure or a success, and a retry when it was
    /// not the job's first run; a failure also counts for its error class.
    pub fn record_attempt(&mut self, a: &AttemptRecord, now: DateTime<Utc>) {
        let step = base_step(now);
        let counts = self.queues.at(queue_name(&a.queue), step);
        if a.success {
            counts.successes += 1;
        } else {
            counts.failures += 1;
        }
        if a.attempt_number > 1 {
            counts.retries += 1;
        }
        if !a.success {
            *self.classes.at(&a.error_class, step) += 1;
        }
    }

    /// Counts a recommendation at `now` that said stop (the job is given up).
    pub fn record_give_up(&mut self, queue: &str, now: DateTime<Utc>) {
        self.queues.at(queue_name(queue), base_step(now)).give_ups += 1;
    }

    /// The counts over `window_ms` ending now in steps of `step_ms` (as [`resolve`] checked).
    pub fn series(&self, window_ms: u64, step_ms: u64, now: DateTime<Utc>) -> Series {
        let per = (step_ms / BASE_STEP_MS) as i64;
        let steps = (window_ms / step_ms) as usize;
        let last = base_step(now).div_euclid(per) * per;
        let first = last - (steps as i64 - 1) * per;
        let step_of = |j: usize| first + j as i64 * per;
        let mut queues: Vec<QueueSeries> = self
            .queues
            .rings
            .iter()
            .map(|(name, ring)| queue_series(name, ring, steps, per, step_of))
            .filter(|q| q.any())
            .collect();
        queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        Series {
            window_ms,
            step_ms,
            start: DateTime::from_timestamp_millis(first * BASE_STEP_MS as i64).unwrap_or(now),
            steps,
            queues,
            top_error_classes: self.top_classes(first, last + per),
        }
    }

    /// Per queue, the failures and successes recorded in the last `window_secs` (whole
    /// 10-second steps, the current one included).
    pub fn outcomes(&self, window_secs: u32, now: DateTime<Utc>) -> BTreeMap<String, Outcomes> {
        let last = base_step(now);
        let first = last - i64::from(window_secs) * 1000 / BASE_STEP_MS as i64 + 1;
        self.queues
            .rings
            .iter()
            .map(|(name, ring)| {
                let mut sum = Outcomes::default();
                for step in first..=last {
                    let c = ring.get(step);
                    sum.failures += u64::from(c.failures);
                    sum.successes += u64::from(c.successes);
                }
                (name.clone(), sum)
            })
            .filter(|(_, o)| o.failures + o.successes > 0)
            .collect()
    }

    fn top_classes(&self, from: i64, to: i64) -> Vec<ErrorClassCount> {
        let mut counts: Vec<ErrorClassCount> = self
            .classes
            .rings
            .iter()
            .map(|(name, ring)| ErrorClassCount {
                error_class: name.clone(),
                failures: (from..to).map(|s| u64::from(ring.get(s))).sum(),
            })
            .filter(|c| c.failures > 0)
            .collect();
        counts.sort_by(|a, b| (b.failures, &a.error_class).cmp(&(a.failures, &b.error_class)));
        counts.truncate(TOP_CLASSES);
        counts
    }
}

fn queue_series(
    name: &str,
    ring: &Ring<Counts>,
    steps: usize,
    per: i64,
    step_of: impl Fn(usize) -> i64,
) -> QueueSeries {
    let mut q = QueueSeries {
        queue: name.to_string(),
        failures: vec![0; steps],
        retries: vec![0; steps],
        successes: vec![0; steps],
        give_ups: vec![0; steps],
    };
    for j in 0..steps {
        for s in step_of(j)..step_of(j) + per {
            let c = ring.get(s);
            q.failures[j] += u64::from(c.failures);
            q.retries[j] += u64::from(c.retries);
            q.successes[j] += u64::from(c.successes);
            q.give_ups[j] += u64::from(c.give_ups);
        }
    }
    q
}

trait AnyCount {
    fn any(&self) -> bool;
}

impl AnyCount for QueueSeries {
    fn any(&self) -> bool {
        [
            &self.failures,
            &self.retries,
            &self.successes,
            &self.give_ups,
        ]
        .iter()
        .any(|v| v.iter().any(|n| *n > 0))
    }
}

/// The window and step a request asks (defaults 15m and 10s), in milliseconds; errors name
/// the parameter.
pub fn resolve(window: Option<&str>, step: Option<&str>) -> Result<(u64, u64), FieldError> {
    let window_ms = millis("window", window.unwrap_or(DEFAULT_WINDOW))?;
    let step_ms = millis("step", step.unwrap_or(DEFAULT_STEP))?;
    let max_window = BASE_STEP_MS * SLOTS as u64;
    let step_ms = step_ms.div_ceil(BASE_STEP_MS).max(1) * BASE_STEP_MS;
    let step_ms = step_ms.min(max_window);
    let steps = window_ms
        .min(max_window)
        .div_ceil(step_ms)
        .clamp(1, max_window / step_ms);
    Ok((steps * step_ms, step_ms))
}

/// A duration above zero, in milliseconds.
fn millis(field: &str, text: &str) -> Result<u64, FieldError> {
    let d = parse_window(text).map_err(|e| FieldError::new(field, e))?;
    if d.is_zero() {
        return Err(FieldError::new(
            field,
            format!("must be longer than zero (got {text:?})"),
        ));
    }
    Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
