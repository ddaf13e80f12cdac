//! The retry budget as a share of traffic (`max_budget_percent`, the percentage form of a
//! queue's retry budget beside the token bucket): in each queue, the retries scheduled to run
//! in any [`WINDOW_MS`] may be at most `max_budget_percent` of the attempts observed there in
//! the window ending at the decision (on the decision clock, see `clock`). The share paces, it never drops:
//! a retry that does not fit where its tier put it is scheduled for the first sub-window in
//! which it fits, so a failing dependency sees at most that much extra load from retries and
//! every job keeps its place in line.
//!
//! A quiet queue may always retry a little: below [`MIN_RETRIES`] retries in a window the
//! share does not apply (Finagle's "minimum retries per second", 10/s here).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The sliding window the share is measured over.
pub const WINDOW_MS: i64 = 60_000;
/// Sub-windows of the sliding window.
pub const SLOTS: i64 = 10;
/// The length of one sub-window.
pub const SLOT_MS: i64 = WINDOW_MS / SLOTS;
/// Retries per window a queue may always make, whatever its traffic (10 per second).
pub const MIN_RETRIES: u64 = 600;

/// One sub-window: attempts observed in it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct Slot {
    index: i64,
    attempts: u64,
}

/// A queue's traffic: attempts over the sliding window, retries by when they are scheduled.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Traffic {
    slots: [Slot; SLOTS as usize],
    /// Sub-window index → retries scheduled to run in it.
    #[serde(default)]
    scheduled: BTreeMap<i64, u64>,
}

pub(super) fn slot_index(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().div_euclid(SLOT_MS)
}

impl Traffic {
    /// An attempt observed at `at` (its record timestamp); ignored when `at` is older than
    /// the sub-window its slot holds (it fell out of the window already).
    pub fn attempt(&mut self, at: DateTime<Utc>) {
        let index = slot_index(at);
        let slot = &mut self.slots[index.rem_euclid(SLOTS) as usize];
        if slot.index > index {
            return;
        }
        if slot.index < index {
            *slot = Slot { index, attempts: 0 };
        }
        slot.attempts += 1;
    }

    /// A retry decided at `now` that runs at `at`.
    pub fn retry(&mut self, now: DateTime<Utc>, at: DateTime<Utc>) {
        *self.scheduled.entry(slot_index(at)).or_insert(0) += 1;
        let oldest = slot_index(now) - SLOTS;
        while let Some(entry) = self.scheduled.first_entry() {
            if *entry.key() >= oldest {
                break;
            }
            entry.remove();
        }
    }

    /// Attempts observed in the window ending at `now`.
    pub fn attempts(&self, now: DateTime<Utc>) -> u64 {
        let current = slot_index(now);
        self.slots
            .iter()
            .filter(|s| s.index > current - SLOTS && s.index <= current)
            .map(|s| s.attempts)
            .sum()
    }

    /// Retries scheduled to run in the window ending at `at`.
    pub fn retries(&self, at: DateTime<Utc>) -> u64 {
        self.retries_in_window_ending(slot_index(at))
    }

    fn retries_in_window_ending(&self, slot: i64) -> u64 {
        self.scheduled
            .range(slot - SLOTS + 1..=slot)
            .map(|(_, n)| n)
            .sum()
    }

    /// The earliest time at or after `at` at which one more retry keeps every window within
    /// `allowed` retries (`at` itself when it fits there). Sparse over the scheduled
    /// sub-windows: a start only fails to fit within a window's length of a scheduled retry, so
    /// the scan takes steps in proportion to the retries scheduled, whatever the times are
    /// (records may carry any timestamp from year 0 to 9999).
    pub fn pace(&self, allowed: u64, at: DateTime<Utc>) -> DateTime<Utc> {
        let allowed = allowed.max(1);
        let fits = |s: i64| (s..s + SLOTS).all(|w| self.retries_in_window_ending(w) < allowed);
        let first = slot_index(at);
        let mut s = first;
        while !fits(s) {
            s += 1;
        }
        if s == first {
            return at;
        }
        at.max(DateTime::<Utc>::UNIX_EPOCH + Duration::milliseconds(s * SLOT_MS))
    }
}

/// Retries allowed per window: `percent` of `attempts`, at least [`MIN_RETRIES`].
pub fn allowed(percent: f64, attempts: u64) -> u64 {
    (percent / 100.0 * attempts as f64).max(MIN_RETRIES as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn pacing_across_millennia_takes_no_memory_or_time_in_proportion_to_the_gap() {
        let year = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
        let mut traffic = Traffic::default();
        let far_future = year(9999);
        for _ in 0..3 {
            traffic.retry(far_future, far_future);
        }
        assert_eq!(traffic.pace(3, year(0)), year(0), "nothing near year 0");
        assert_eq!(traffic.pace(3, year(2026)), year(2026));
        let paced = traffic.pace(3, far_future);
        assert_eq!(slot_index(paced), slot_index(far_future) + SLOTS);
    }
}
