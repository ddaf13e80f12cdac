//! The live event stream: a bounded in-memory ring with a monotonic cursor (`GET /events`).
//!
//! Events are for the console's live view, not a record: the audit log and the attempts in the
//! store are the record. When the ring is full the oldest events are dropped; a reader whose
//! cursor fell behind simply continues from the oldest event still held.

use crate::model::{Event, EventPage};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// Kinds of events, as in [`Event::kind`].
pub mod kind {
    pub const FAILURE: &str = "failure";
    pub const SUCCESS: &str = "success";
    pub const SCHEDULED: &str = "scheduled";
    pub const EXHAUSTED: &str = "exhausted";
    pub const CLAIMED: &str = "claimed";
    pub const OVERRIDE: &str = "override";
    pub const APPLY: &str = "apply";
    pub const RETRY_NOW: &str = "retry_now";
    pub const KILL: &str = "kill";
    pub const ALERT: &str = "alert";
    pub const GUARDRAIL: &str = "guardrail";
}

/// Longest event message kept (error texts are untrusted and may be huge).
pub const MAX_MESSAGE_LEN: usize = 1_000;

/// The ring of recent events.
#[derive(Debug)]
pub struct EventLog {
    capacity: usize,
    next_seq: u64,
    events: VecDeque<Event>,
}

impl EventLog {
    /// A ring holding at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next_seq: 1,
            events: VecDeque::new(),
        }
    }

    /// Appends an event and returns its sequence number (1, 2, 3, ...).
    pub fn push(
        &mut self,
        at: DateTime<Utc>,
        kind: &str,
        job_id: Option<&str>,
        message: impl Into<String>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            seq,
            at,
            kind: kind.to_string(),
            job_id: job_id.map(str::to_string),
            message: truncate(message.into(), MAX_MESSAGE_LEN),
        });
        seq
    }

    /// Events with `seq > since`, oldest first, at most `limit`. The page's cursor is the last
    /// sequence number returned (or `since` / the newest seq when nothing is new).
    pub fn since(&self, since: u64, limit: usize) -> EventPage {
        let events: Vec<Event> = self
            .events
            .iter()
            .filter(|e| e.seq > since)
            .take(limit)
            .cloned()
            .collect();
        let cursor = match events.last() {
            Some(last) => last.seq,
            // A cursor from the future (a restarted service) is brought back to the present.
            None => since.min(self.next_seq - 1),
        };
        EventPage { events, cursor }
    }

    /// The newest `n` events of `kind`, newest first.
    pub fn recent(&self, kind: &str, n: usize) -> Vec<Event> {
        self.events
            .iter()
            .rev()
            .filter(|e| e.kind == kind)
            .take(n)
            .cloned()
            .collect()
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn cursor_pages_through_events_in_order() {
        let mut log = EventLog::new(100);
        for i in 0..5 {
            log.push(now(), kind::FAILURE, Some("j"), format!("e{i}"));
        }
        let first = log.since(0, 3);
        assert_eq!(
            first.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(first.cursor, 3);
        let second = log.since(first.cursor, 3);
        assert_eq!(
            second.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [4, 5]
        );
        let empty = log.since(second.cursor, 3);
        assert!(empty.events.is_empty());
        assert_eq!(empty.cursor, 5);
    }

    #[test]
    fn full_ring_drops_the_oldest_and_seq_stays_monotonic() {
        let mut log = EventLog::new(3);
        for _ in 0..5 {
            log.push(now(), kind::SUCCESS, None, "ok");
        }
        let page = log.since(0, 10);
        assert_eq!(
            page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
    }

    #[test]
    fn a_cursor_from_the_future_is_clamped() {
        let mut log = EventLog::new(3);
        log.push(now(), kind::SUCCESS, None, "ok");
        assert_eq!(log.since(99, 10).cursor, 1);
    }

    #[test]
    fn recent_filters_by_kind_newest_first_and_long_text_is_capped() {
        let mut log = EventLog::new(10);
        log.push(now(), kind::FAILURE, Some("a"), "x".repeat(5_000));
        log.push(now(), kind::SUCCESS, Some("b"), "ok");
        log.push(now(), kind::FAILURE, Some("c"), "é".repeat(600));
        let recent = log.recent(kind::FAILURE, 5);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].job_id.as_deref(), Some("c"));
        assert!(recent[1].message.len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
        assert!(recent[0].message.ends_with('…'));
    }
}
