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
//!
//! In an incident every paced retry lands past the ones paced before it, so the sub-windows
//! between a decision and the first one with room are all full, and a scan from the decision
//! would walk all of them (thousands when many retries are decided at one instant: a replay, a
//! burst). A queue keeps what its last scan learned ([`Blocked`]): which starts are blocked
//! and by windows how full. Scheduling a retry only fills windows, so that stays true until
//! the scheduled retries are replaced or pruned, and the next scan starts where the last
//! one stopped.

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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Traffic {
    slots: [Slot; SLOTS as usize],
    /// Sub-window index → retries scheduled to run in it.
    #[serde(default)]
    scheduled: BTreeMap<i64, u64>,
    /// What the last scan learned, while it holds; a cache, so not in snapshots or equality.
    #[serde(skip)]
    blocked: Option<Blocked>,
    /// Bumped whenever scheduled retries are replaced, which voids what a scan learned.
    #[serde(skip)]
    generation: u64,
}

impl PartialEq for Traffic {
    fn eq(&self, other: &Self) -> bool {
        self.slots == other.slots && self.scheduled == other.scheduled
    }
}

/// Learned by a scan: no start in `from..until` fits while a retry may be one of fewer than
/// `at_least` in each window (each of those starts has a window holding at least that many).
/// Adding retries keeps it true; replacing or pruning scheduled retries may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    from: i64,
    until: i64,
    at_least: u64,
    generation: u64,
}

/// Where a retry fits, and what the scan that found it learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paced {
    pub at: DateTime<Utc>,
    pub learned: Option<Blocked>,
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

    /// A retry decided at `now` that runs at `at`; `learned` is what the scan that paced it
    /// learned (kept for the next scan while it still holds).
    pub fn retry(&mut self, now: DateTime<Utc>, at: DateTime<Utc>, learned: Option<Blocked>) {
        *self.scheduled.entry(slot_index(at)).or_insert(0) += 1;
        if let Some(learned) = learned.filter(|b| b.generation == self.generation) {
            self.blocked = Some(learned);
        }
        let oldest = slot_index(now) - SLOTS;
        while let Some(entry) = self.scheduled.first_entry() {
            if *entry.key() >= oldest {
                break;
            }
            let pruned = entry.remove_entry().0;
            // The pruned sub-window counted in the windows ending up to SLOTS - 1 after it.
            if self.blocked.is_some_and(|b| pruned + SLOTS > b.from) {
                self.blocked = None;
            }
        }
    }

    /// Replaces the scheduled retries with a shared ledger's (see `ledger`).
    pub fn set_scheduled(&mut self, scheduled: BTreeMap<i64, u64>) {
        self.scheduled = scheduled;
        self.blocked = None;
        self.generation += 1;
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
    pub fn pace(&self, allowed: u64, at: DateTime<Utc>) -> Paced {
        let allowed = allowed.max(1);
        let first = slot_index(at);
        let known = self.blocked.filter(|b| {
            b.generation == self.generation
                && (b.from..b.until).contains(&first)
                && allowed <= b.at_least
        });
        let scan = self.first_fitting_slot(allowed, known.map_or(first, |b| b.until));
        let learned = match (known, scan.least_blocking) {
            (Some(b), least) => Some(Blocked {
                until: scan.slot,
                at_least: least.map_or(b.at_least, |l| l.min(b.at_least)),
                ..b
            }),
            (None, Some(least)) => Some(Blocked {
                from: first,
                until: scan.slot,
                at_least: least,
                generation: self.generation,
            }),
            (None, None) => None,
        };
        let at = if scan.slot == first {
            at
        } else {
            at.max(DateTime::<Utc>::UNIX_EPOCH + Duration::milliseconds(scan.slot * SLOT_MS))
        };
        Paced { at, learned }
    }

    /// The first sub-window `s >= first` such that each window ending in `s..s + SLOTS` holds
    /// fewer than `allowed` retries. One pass: each window's count is the previous one's plus
    /// the sub-window entering it minus the one leaving it (two lookups a step; summing every
    /// window afresh for every candidate start took a hundred, and pacing at incident rates
    /// pushes the start tens of sub-windows ahead).
    ///
    /// Every start the scan passes over is blocked by a window it found full (a window ending
    /// within SLOTS of the start), so the least of those windows' counts bounds them all.
    fn first_fitting_slot(&self, allowed: u64, first: i64) -> Scan {
        let count = |w: i64| self.scheduled.get(&w).copied().unwrap_or(0);
        let mut window = self.retries_in_window_ending(first);
        let (mut start, mut w) = (first, first);
        let mut least_blocking = None::<u64>;
        loop {
            if window >= allowed {
                start = w + 1;
                least_blocking = Some(least_blocking.map_or(window, |l| l.min(window)));
            } else if w == start + SLOTS - 1 {
                return Scan {
                    slot: start,
                    least_blocking,
                };
            }
            w += 1;
            window = window + count(w) - count(w - SLOTS);
        }
    }
}

/// A scan's answer: the first fitting start, and the least count among the full windows it
/// passed (none when `slot` is where it began).
struct Scan {
    slot: i64,
    least_blocking: Option<u64>,
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
                traffic.first_fitting_slot(allowed, first).slot,
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
            traffic.retry(far_future, far_future, None);
        }
        assert_eq!(traffic.pace(3, year(0)).at, year(0), "nothing near year 0");
        assert_eq!(traffic.pace(3, year(2026)).at, year(2026));
        let paced = traffic.pace(3, far_future).at;
        assert_eq!(slot_index(paced), slot_index(far_future) + SLOTS);
    }

    fn at_slot(slot: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::milliseconds(slot * SLOT_MS)
    }

    /// One step of a queue's life: a decision at `now` for a retry wanted at `now + ahead`
    /// (sub-windows) under `allowed`, or the shared ledger replacing the scheduled retries.
    #[derive(Debug, Clone)]
    enum Step {
        Decide { now: i64, ahead: i64, allowed: u64 },
        Replace(BTreeMap<i64, u64>),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            20 => (0i64..40, 0i64..8, 1u64..12)
                .prop_map(|(now, ahead, allowed)| Step::Decide { now, ahead, allowed }),
            1 => proptest::collection::btree_map(0i64..60, 1u64..6, 0..20).prop_map(Step::Replace),
        ]
    }

    proptest::proptest! {
        #[test]
        fn what_a_scan_learned_never_changes_where_a_retry_is_paced(
            steps in proptest::collection::vec(step(), 1..150),
        ) {
            let mut traffic = Traffic::default();
            for step in steps {
                match step {
                    Step::Decide { now, ahead, allowed } => {
                        let wanted = at_slot(now + ahead);
                        let paced = traffic.pace(allowed, wanted);
                        let fresh = first_fitting_by_definition(&traffic, allowed, now + ahead);
                        proptest::prop_assert_eq!(slot_index(paced.at), fresh);
                        traffic.retry(at_slot(now), paced.at, paced.learned);
                    }
                    Step::Replace(scheduled) => traffic.set_scheduled(scheduled),
                }
            }
        }
    }

    #[test]
    fn retries_decided_at_one_instant_scan_from_where_the_last_scan_stopped() {
        let now = at_slot(1_000);
        let mut traffic = Traffic::default();
        for _ in 0..20_000 {
            let paced = traffic.pace(60, now);
            traffic.retry(now, paced.at, paced.learned);
        }
        let kept = traffic
            .blocked
            .expect("the queue keeps what its last scan learned");
        assert_eq!(kept.from, 1_000);
        let paced = traffic.pace(60, now);
        assert_eq!(
            slot_index(paced.at),
            first_fitting_by_definition(&traffic, 60, 1_000)
        );
        let learned = paced.learned.expect("the scan passed full windows");
        assert_eq!((learned.from, learned.until), (1_000, slot_index(paced.at)));
        assert!(kept.until <= learned.until && learned.until <= kept.until + SLOTS);
    }
}
