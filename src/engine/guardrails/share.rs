//! The retry budget as a share of traffic (`max_budget_percent`, the percentage form of a
//! queue's retry budget beside the token bucket): in each queue, the retries the engine
//! lets through in the last [`WINDOW_MS`] may be at most `max_budget_percent` of the attempts
//! it observed there in the same window (by record timestamps). Once a queue is over its
//! share, further retries are stopped, as retry budgets do (Finagle, Envoy, gRPC throttling):
//! a failing dependency then sees at most that much extra load from retries.
//!
//! A quiet queue may always retry a little: below [`MIN_RETRIES`] retries in the window the
//! share does not apply (Finagle's "minimum retries per second", 10/s here).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The sliding window the share is measured over.
pub const WINDOW_MS: i64 = 60_000;
/// Sub-windows of the sliding window.
const SLOTS: usize = 10;
/// Retries per window a queue may always make, whatever its traffic (10 per second).
pub const MIN_RETRIES: u64 = 600;

/// One sub-window: attempts observed and retries let through in it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct Slot {
    index: i64,
    attempts: u64,
    retries: u64,
}

/// A queue's traffic over the sliding window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Traffic {
    slots: [Slot; SLOTS],
}

pub(super) fn slot_index(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().div_euclid(WINDOW_MS / SLOTS as i64)
}

impl Traffic {
    /// The slot of time `at`, emptied if it held an older sub-window; `None` when `at` is
    /// older than what the slot holds (it fell out of the window already).
    fn slot(&mut self, at: DateTime<Utc>) -> Option<&mut Slot> {
        let index = slot_index(at);
        let slot = &mut self.slots[index.rem_euclid(SLOTS as i64) as usize];
        if slot.index > index {
            return None;
        }
        if slot.index < index {
            *slot = Slot {
                index,
                ..Slot::default()
            };
        }
        Some(slot)
    }

    /// An attempt observed at `at` (its record timestamp).
    pub fn attempt(&mut self, at: DateTime<Utc>) {
        if let Some(slot) = self.slot(at) {
            slot.attempts += 1;
        }
    }

    /// A retry let through at `at`.
    pub fn retry(&mut self, at: DateTime<Utc>) {
        if let Some(slot) = self.slot(at) {
            slot.retries += 1;
        }
    }

    /// (attempts, retries) in the window ending at `now`.
    pub fn sums(&self, now: DateTime<Utc>) -> (u64, u64) {
        let current = slot_index(now);
        self.slots
            .iter()
            .filter(|s| s.index > current - SLOTS as i64 && s.index <= current)
            .fold((0, 0), |(a, r), s| (a + s.attempts, r + s.retries))
    }
}

/// Whether one more retry fits: `retries + 1` within `percent` of `attempts`, or within the
/// floor of [`MIN_RETRIES`].
pub fn fits(percent: f64, attempts: u64, retries: u64) -> bool {
    let allowed = (percent / 100.0 * attempts as f64).max(MIN_RETRIES as f64);
    (retries + 1) as f64 <= allowed
}
