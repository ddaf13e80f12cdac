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

    /// Replaces the scheduled retries with a shared ledger's (see `ledger`).
    pub fn set_scheduled(&mut self, scheduled: BTreeMap<i64, u64>) {
        self.scheduled = scheduled;
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
    /// `allowed` retries (`at` itself when it fits there). A start only fails to fit within a
    /// window's length of a scheduled retry, so the scan takes steps in proportion to the
    /// retries scheduled, whatever the times are (records may carry any timestamp from year 0
    /// to 9999); see [`Self::first_fitting_slot`] for the cost of a step.
    pub fn pace(&self, allowed: u64, at: DateTime<Utc>) -> DateTime<Utc> {
        let first = slot_index(at);
        let s = self.first_fitting_slot(allowed.max(1), first);
        if s == first {
            return at;
        }
        at.max(DateTime::<Utc>::UNIX_EPOCH + Duration::milliseconds(s * SLOT_MS))
    }

    /// The first sub-window `s >= first` such that each window ending in `s..s + SLOTS` holds
    /// fewer than `allowed` retries. One pass: each window's count is the previous one's plus
    /// the sub-window entering it minus the one leaving it (two lookups a step; summing every
    /// window afresh for every candidate start took a hundred, and pacing at incident rates
    /// pushes the start tens of sub-windows ahead).
    fn first_fitting_slot(&self, allowed: u64, first: i64) -> i64 {
        let count = |w: i64| self.scheduled.get(&w).copied().unwrap_or(0);
        let mut window = self.retries_in_window_ending(first);
        let (mut start, mut w) = (first, first);
        loop {
            if window >= allowed {
                start = w + 1;
            } else if w == start + SLOTS - 1 {
                return start;
            }
            w += 1;
            window = window + count(w) - count(w - SLOTS);
        }
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

    /// The definition: every window ending in the SLOTS sub-windows from `s` has room.
    fn first_fitting_by_definition(traffic: &Traffic, allowed: u64, first: i64) -> i64 {
        let fits = |s: i64| (s..s + SLOTS).all(|w| traffic.retries_in_window_ending(w) < allowed);
        (first..).find(|&s| fits(s)).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_scan_finds_the_slot_the_definition_gives(
            scheduled in proptest::collection::btree_map(0i64..60, 1u64..8, 0..40),
            allowed in 1u64..30,
            first in -15i64..70,
        ) {
            let traffic = Traffic { scheduled, ..Traffic::default() };
            proptest::prop_assert_eq!(
                traffic.first_fitting_slot(allowed, first),
                first_fitting_by_definition(&traffic, allowed, first)
            );
        }
    }

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
