//! The features of a retry decision, computed point-in-time — from the failed attempt and
//! records before it only — by the same functions in training ([`super::dataset`]) and in
//! serving ([`super::serve`]), so a model sees in production what it was fitted on.
//!
//! A decision is a [`Situation`] (the failed attempt: who failed, how, how long its episode has
//! lasted, how busy its dependency is failing) and a candidate delay. The model predicts
//! P(the attempt after that delay succeeds). The delay enters twice: as the wait itself and as
//! the elapsed time of the retry since the episode's first failure, because an outage ends on
//! its own clock. Durations and sizes are on a log scale (`ln(1 + x)`), so a linear model can
//! weigh "twice as long" the same at 1 s and at 1 min.
//!
//! `health` signals are not features: they are free-form keys that differ between workers.

use super::MlError;
use super::encode::{FeatureKind, Value};
use std::collections::HashMap;

/// Every feature the tier knows, in row order, with its kind.
pub const FEATURES: [(&str, FeatureKind); 12] = [
    ("job_type", FeatureKind::Categorical),
    ("error_class", FeatureKind::Categorical),
    ("error_code", FeatureKind::Categorical),
    ("queue", FeatureKind::Categorical),
    ("tenant", FeatureKind::Categorical),
    ("attempt_number", FeatureKind::Numeric),
    ("payload_size", FeatureKind::Numeric),
    ("time_of_day", FeatureKind::Numeric),
    ("since_first_failure", FeatureKind::Numeric),
    ("recent_failures", FeatureKind::Numeric),
    ("delay", FeatureKind::Numeric),
    ("retry_elapsed", FeatureKind::Numeric),
];

/// Features every model uses whatever the caller selects: without them P(success) would not
/// depend on the delay, and there would be nothing to choose.
pub const REQUIRED: [&str; 2] = ["delay", "retry_elapsed"];

/// The window of [`RecentFailures`], in seconds.
pub const RECENT_WINDOW_S: i64 = 60;

/// A failed attempt as the tier sees it when choosing the next delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Situation<'a> {
    pub job_type: &'a str,
    pub error_class: &'a str,
    pub error_code: &'a str,
    pub queue: &'a str,
    pub tenant: Option<&'a str>,
    /// The attempt that failed (1 is the first run).
    pub attempt: u32,
    pub payload_size: u64,
    /// Hour (UTC) of the decision: the failure's record time in training, the request's time
    /// in serving.
    pub hour: u8,
    /// Milliseconds from the episode's first failure to this one.
    pub elapsed_ms: u64,
    /// Failures of (queue, error class) recorded in the [`RECENT_WINDOW_S`] up to the decision.
    pub recent_failures: u32,
}

/// Which of [`FEATURES`] a model uses, by index, in row order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSet(Vec<usize>);

impl FeatureSet {
    /// Every feature.
    pub fn all() -> Self {
        Self((0..FEATURES.len()).collect())
    }

    /// The named features plus [`REQUIRED`]; empty names mean all. An unknown name is refused
    /// with the list of known ones.
    pub fn select(names: &[String]) -> Result<Self, MlError> {
        if names.is_empty() {
            return Ok(Self::all());
        }
        if names.len() > FEATURES.len() {
            return Err(MlError::Feature {
                column: "features".into(),
                problem: format!(
                    "{} names given, at most {} (one per feature)",
                    names.len(),
                    FEATURES.len()
                ),
            });
        }
        let mut chosen = vec![false; FEATURES.len()];
        for name in names.iter().map(String::as_str).chain(REQUIRED) {
            let i = FEATURES
                .iter()
                .position(|(f, _)| *f == name)
                .ok_or_else(|| MlError::Feature {
                    column: name.to_string(),
                    problem: format!("unknown feature; known: {}", known_names()),
                })?;
            chosen[i] = true;
        }
        Ok(Self((0..FEATURES.len()).filter(|&i| chosen[i]).collect()))
    }

    /// Names and kinds, in row order (what the encoder is fitted on).
    pub fn columns(&self) -> Vec<(&'static str, FeatureKind)> {
        self.0.iter().map(|&i| FEATURES[i]).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|&i| FEATURES[i].0.to_string()).collect()
    }

    /// The row of `situation` with a retry after `delay_ms`, in this set's order.
    pub fn row<'a>(&self, situation: &Situation<'a>, delay_ms: u64) -> Vec<Value<'a>> {
        let full = full_row(situation, delay_ms);
        self.0.iter().map(|&i| full[i]).collect()
    }
}

fn known_names() -> String {
    FEATURES.map(|(name, _)| name).join(", ")
}

/// `ln(1 + x)`, the scale of durations, sizes and counts.
fn log1p(x: f64) -> Value<'static> {
    Value::Num(x.ln_1p())
}

fn text(s: &str) -> Value<'_> {
    if s.is_empty() {
        Value::Missing
    } else {
        Value::Cat(s)
    }
}

fn full_row<'a>(s: &Situation<'a>, delay_ms: u64) -> [Value<'a>; 12] {
    let seconds = |ms: u64| ms as f64 / 1000.0;
    [
        text(s.job_type),
        text(s.error_class),
        text(s.error_code),
        text(s.queue),
        s.tenant.map_or(Value::Missing, text),
        Value::Num(f64::from(s.attempt)),
        log1p(s.payload_size as f64),
        Value::Num(f64::from(s.hour)),
        log1p(seconds(s.elapsed_ms)),
        log1p(f64::from(s.recent_failures)),
        log1p(seconds(delay_ms)),
        log1p(seconds(s.elapsed_ms.saturating_add(delay_ms))),
    ]
}

/// Failures per (queue, error class) over the last [`RECENT_WINDOW_S`] seconds of record time,
/// in one-second buckets. Records older than the window (late arrivals) are not counted.
///
/// Keyed queue first, then error class, so a count or a record of a known pair looks the pair
/// up by `&str` without allocating (it runs once per failure, in training at 10⁶ attempts).
#[derive(Debug, Clone, Default)]
pub struct RecentFailures {
    keys: HashMap<Box<str>, HashMap<Box<str>, Ring>>,
}

#[derive(Debug, Clone)]
struct Ring {
    /// The newest second counted.
    newest: i64,
    counts: [u32; RECENT_WINDOW_S as usize],
}

impl RecentFailures {
    /// Counts one failure of (queue, class) at `second` (Unix seconds).
    pub fn record(&mut self, queue: &str, class: &str, second: i64) {
        let classes = match self.keys.get_mut(queue) {
            Some(classes) => classes,
            None => self.keys.entry(Box::from(queue)).or_default(),
        };
        let ring = match classes.get_mut(class) {
            Some(ring) => ring,
            None => classes.entry(Box::from(class)).or_insert(Ring {
                newest: second,
                counts: [0; RECENT_WINDOW_S as usize],
            }),
        };
        ring.record(second);
    }

    /// Failures of (queue, class) in the window ending at `second`, that second included.
    pub fn count(&self, queue: &str, class: &str, second: i64) -> u32 {
        self.keys
            .get(queue)
            .and_then(|classes| classes.get(class))
            .map_or(0, |r| r.count(second))
    }

    /// Forgets keys with no failure in the window before `second` (bounds memory).
    pub fn sweep(&mut self, second: i64) {
        for classes in self.keys.values_mut() {
            classes.retain(|_, r| r.newest > second - RECENT_WINDOW_S);
        }
        self.keys.retain(|_, classes| !classes.is_empty());
    }

    /// (queue, error class) pairs counted.
    pub fn len(&self) -> usize {
        self.keys.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Ring {
    fn slot(second: i64) -> usize {
        second.rem_euclid(RECENT_WINDOW_S) as usize
    }

    fn record(&mut self, second: i64) {
        if second <= self.newest - RECENT_WINDOW_S {
            return;
        }
        if second > self.newest {
            let gap = (second - self.newest).min(RECENT_WINDOW_S);
            for s in (second - gap + 1)..=second {
                self.counts[Self::slot(s)] = 0;
            }
            self.newest = second;
        }
        self.counts[Self::slot(second)] += 1;
    }

    fn count(&self, second: i64) -> u32 {
        let from = (second - RECENT_WINDOW_S + 1).max(self.newest - RECENT_WINDOW_S + 1);
        let to = second.min(self.newest);
        (from..=to).map(|s| self.counts[Self::slot(s)]).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn situation() -> Situation<'static> {
        Situation {
            job_type: "email",
            error_class: "timeout",
            error_code: "",
            queue: "q",
            tenant: None,
            attempt: 2,
            payload_size: 0,
            hour: 13,
            elapsed_ms: 9_000,
            recent_failures: 3,
        }
    }

    #[test]
    fn a_row_carries_the_delay_and_the_retry_elapsed_time_on_a_log_scale() {
        let row = FeatureSet::all().row(&situation(), 1_000);
        assert_eq!(row[0], Value::Cat("email"));
        assert_eq!(row[2], Value::Missing, "an empty error code is missing");
        assert_eq!(row[4], Value::Missing, "no tenant is missing");
        assert_eq!(row[10], Value::Num(1f64.ln_1p()));
        assert_eq!(row[11], Value::Num(10f64.ln_1p()));
    }

    #[test]
    fn a_selection_always_keeps_the_delay_features_and_refuses_unknown_names() {
        let set = FeatureSet::select(&["queue".to_string()]).unwrap();
        assert_eq!(set.names(), ["queue", "delay", "retry_elapsed"]);
        let err = FeatureSet::select(&["colour".to_string()]).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        assert!(err.to_string().contains("payload_size"), "{err}");
        assert_eq!(FeatureSet::select(&[]).unwrap(), FeatureSet::all());
    }

    #[test]
    fn recent_failures_count_the_last_minute_of_record_time_only() {
        let mut r = RecentFailures::default();
        for s in [100, 100, 130, 159] {
            r.record("q", "timeout", s);
        }
        r.record("q", "other", 150);
        assert_eq!(r.count("q", "timeout", 159), 4);
        assert_eq!(
            r.count("q", "timeout", 160),
            2,
            "second 100 left the window"
        );
        assert_eq!(
            r.count("q", "timeout", 129),
            2,
            "only what was recorded by then"
        );
        r.record("q", "timeout", 50);
        assert_eq!(r.count("q", "timeout", 159), 4, "too late to count");
        assert_eq!(r.count("q", "timeout", 1_000), 0);
        r.sweep(1_000);
        assert_eq!(r.len(), 0);
    }
}
