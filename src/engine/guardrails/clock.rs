//! The one clock the guardrails count on: the time of the latest decision (the record's
//! `timestamp` on `POST /failures`, the service's clock on `POST /recommendation`).
//!
//! An observed attempt is counted in the guardrails' windows (the retry share's traffic, the
//! circuit's failure rate) at its own timestamp when that lies within [`TOLERANCE_MS`] of the
//! decision clock, and at the decision clock otherwise. So records stamped by another clock
//! (a late batch, a replay, a host whose clock is off) still teach the models at their own
//! time, while the guardrails see them where the decisions are made: a worker whose clock is a
//! day behind gets the same budget, share, quota and circuit answers as one whose clock is
//! right. Before the first decision there is no clock and every record counts at its time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How far a record's timestamp may lie from the decision clock and still count at its own
/// time (a batch sent a little late).
pub const TOLERANCE_MS: i64 = 30_000;

/// The time of the latest decision.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DecisionClock {
    latest: Option<DateTime<Utc>>,
}

impl DecisionClock {
    /// A decision was made at `now`: the clock follows it, also backwards (a client in
    /// virtual time starts a new run earlier than the last one ended).
    pub fn decided(&mut self, now: DateTime<Utc>) {
        self.latest = Some(now);
    }

    /// The time of the latest decision, if one was made.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.latest
    }

    /// Where a record stamped `at` counts in the guardrails' windows.
    pub fn place(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self.latest {
            Some(clock) if (at - clock).num_milliseconds().abs() > TOLERANCE_MS => clock,
            _ => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn records_near_the_decision_clock_keep_their_time_far_ones_move_to_it() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let mut clock = DecisionClock::default();
        let day_old = now - Duration::hours(24);
        assert_eq!(clock.place(day_old), day_old, "no decision yet: own time");
        clock.decided(now);
        let late = now - Duration::seconds(5);
        assert_eq!(clock.place(late), late);
        assert_eq!(clock.place(day_old), now);
        assert_eq!(clock.place(now + Duration::minutes(5)), now);
        assert_eq!(clock.place(now - Duration::minutes(5)), now);
    }
}
