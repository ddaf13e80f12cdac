//! Sliding-window counters for rates and alert rules: per-second buckets, time passed in.
//!
//! The window is measured on the service's clock (arrival time), not on record timestamps:
//! a retry storm is about load on the service and its dependencies now, even when clients
//! replay history in virtual time.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, VecDeque};

/// Counts of events per key over the last `span_secs` seconds, in one-second buckets.
#[derive(Debug, Clone)]
pub struct WindowCounter {
    span_secs: i64,
    /// (second since the epoch, counts by key), oldest first.
    buckets: VecDeque<(i64, BTreeMap<String, u64>)>,
}

impl WindowCounter {
    /// A counter that remembers `span_secs` seconds (at least one).
    pub fn new(span_secs: u32) -> Self {
        Self {
            span_secs: i64::from(span_secs.max(1)),
            buckets: VecDeque::new(),
        }
    }

    /// Adds `n` to `key` at `now`.
    pub fn add(&mut self, key: &str, n: u64, now: DateTime<Utc>) {
        let second = now.timestamp();
        self.expire(second);
        match self.buckets.back_mut() {
            // A timestamp older than the newest bucket (clock step back) joins the newest one.
            Some((s, counts)) if *s >= second => match counts.get_mut(key) {
                Some(count) => *count += n,
                None => {
                    counts.insert(key.to_string(), n);
                }
            },
            _ => {
                let counts = BTreeMap::from([(key.to_string(), n)]);
                self.buckets.push_back((second, counts));
            }
        }
    }

    /// The total of `key` over the last `secs` seconds up to `now` (capped at the span).
    pub fn sum(&self, key: &str, secs: u32, now: DateTime<Utc>) -> u64 {
        self.in_range(secs, now)
            .filter_map(|counts| counts.get(key))
            .sum()
    }

    /// Totals of every key over the last `secs` seconds up to `now`.
    pub fn sums(&self, secs: u32, now: DateTime<Utc>) -> BTreeMap<String, u64> {
        let mut totals = BTreeMap::new();
        for counts in self.in_range(secs, now) {
            for (key, n) in counts {
                *totals.entry(key.clone()).or_default() += n;
            }
        }
        totals
    }

    fn in_range(
        &self,
        secs: u32,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = &BTreeMap<String, u64>> {
        let secs = i64::from(secs).min(self.span_secs);
        let newest = now.timestamp();
        let oldest = newest - secs + 1;
        self.buckets
            .iter()
            .filter(move |(s, _)| *s >= oldest && *s <= newest)
            .map(|(_, counts)| counts)
    }

    fn expire(&mut self, second: i64) {
        while let Some((s, _)) = self.buckets.front() {
            if *s > second - self.span_secs {
                break;
            }
            self.buckets.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap()
    }

    #[test]
    fn sums_only_the_requested_window() {
        let mut w = WindowCounter::new(300);
        w.add("payments", 2, at(0));
        w.add("payments", 3, at(30));
        w.add("emails", 1, at(59));
        assert_eq!(w.sum("payments", 60, at(59)), 5);
        assert_eq!(w.sum("payments", 30, at(59)), 3);
        assert_eq!(w.sum("payments", 60, at(61)), 3);
        assert_eq!(w.sums(60, at(59)).get("emails"), Some(&1));
    }

    #[test]
    fn forgets_what_is_older_than_the_span() {
        let mut w = WindowCounter::new(10);
        w.add("q", 7, at(0));
        w.add("q", 1, at(10));
        assert_eq!(
            w.sum("q", 300, at(10)),
            1,
            "the window is capped at the span"
        );
        assert_eq!(w.buckets.len(), 1);
    }

    #[test]
    fn a_clock_step_back_is_not_lost() {
        let mut w = WindowCounter::new(60);
        w.add("q", 1, at(20));
        w.add("q", 1, at(19));
        assert_eq!(w.sum("q", 60, at(20)), 2);
    }
}
