//! Following the service's live event stream (`GET /events?since=N`) from the poller task.
//!
//! The cursor survives reconnects, so a console that lost the service for a while carries on
//! where it stopped. It starts near the newest events rather than at the oldest the service
//! still holds: a cursor from the future (`since=u64::MAX`) is answered with the newest
//! sequence number and no events, which tells us where "now" is. The same rule shows when the
//! service restarted under us (its sequence numbers begin again at 1): our cursor is then ahead
//! of its newest event, or the summary reports a different start time; either way the cursor is
//! placed again near the new service's newest events.

use crate::client::{Client, ClientError};
use crate::model::{Event, EventPage};
use chrono::{DateTime, Utc};

/// How many events before the newest the console starts from (enough to fill the view).
pub const BACKFILL: u64 = 50;
/// The service's default page (`DEFAULT_PAGE` of `/events`): a full page means more are waiting.
pub const PAGE: usize = 100;
/// Calls to `/events` in one poll at most; a console further behind than that jumps ahead.
pub const MAX_CALLS: usize = 5;

/// Where the console is in the service's event stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCursor {
    /// The last sequence number received; `None` until placed near the newest event.
    since: Option<u64>,
    /// When the service we follow started (from `/summary`).
    started_at: Option<DateTime<Utc>>,
}

/// The next call the cursor needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `GET /events?since=u64::MAX`: learn the newest sequence number.
    FindHead,
    /// `GET /events?since=N`.
    Fetch(u64),
}

/// What a page of events meant for the cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum Took {
    /// New events, oldest first; `more` when the page was full and others are waiting.
    Events { events: Vec<Event>, more: bool },
    /// The cursor was ahead of the service (it restarted): it must be placed again.
    Reset,
}

impl EventCursor {
    /// The call to make next.
    pub fn step(&self) -> Step {
        match self.since {
            None => Step::FindHead,
            Some(since) => Step::Fetch(since),
        }
    }

    /// The start time the summary reports; a different one than before means a restart.
    pub fn service_started(&mut self, started_at: DateTime<Utc>) {
        if self.started_at.is_some_and(|known| known != started_at) {
            self.since = None;
        }
        self.started_at = Some(started_at);
    }

    /// The answer to [`Step::FindHead`]: start a little before the newest event.
    pub fn found_head(&mut self, page: &EventPage) {
        self.since = Some(page.cursor.saturating_sub(BACKFILL));
    }

    /// The answer to [`Step::Fetch`] with `since`.
    pub fn take(&mut self, since: u64, page: EventPage) -> Took {
        if page.cursor < since {
            self.since = None;
            return Took::Reset;
        }
        self.since = Some(page.cursor);
        let more = page.events.len() >= PAGE;
        Took::Events {
            events: page.events,
            more,
        }
    }

    /// Still behind after [`MAX_CALLS`]: skip to the newest events next time rather than lag
    /// further and further (the console keeps only the most recent ones anyway).
    pub fn fell_behind(&mut self) {
        self.since = None;
    }
}

/// Fetches the events that are new since the last call, oldest first.
pub async fn follow(client: &Client, cursor: &mut EventCursor) -> Result<Vec<Event>, ClientError> {
    let mut new = Vec::new();
    for _ in 0..MAX_CALLS {
        match cursor.step() {
            Step::FindHead => cursor.found_head(&client.events(u64::MAX).await?),
            Step::Fetch(since) => match cursor.take(since, client.events(since).await?) {
                Took::Events { events, more } => {
                    new.extend(events);
                    if !more {
                        return Ok(new);
                    }
                }
                Took::Reset => {}
            },
        }
    }
    cursor.fell_behind();
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        format!("2026-11-23T{s}Z").parse().unwrap()
    }

    fn page(seqs: std::ops::RangeInclusive<u64>, cursor: u64) -> EventPage {
        let events = seqs
            .map(|seq| Event {
                seq,
                at: at("10:00:00"),
                kind: "failure".into(),
                job_id: None,
                message: format!("e{seq}"),
            })
            .collect();
        EventPage { events, cursor }
    }

    fn empty(cursor: u64) -> EventPage {
        EventPage {
            events: vec![],
            cursor,
        }
    }

    fn seqs(took: &Took) -> Vec<u64> {
        match took {
            Took::Events { events, .. } => events.iter().map(|e| e.seq).collect(),
            Took::Reset => vec![],
        }
    }

    #[test]
    fn starts_a_little_before_the_newest_event_and_follows() {
        let mut c = EventCursor::default();
        assert_eq!(c.step(), Step::FindHead);
        c.found_head(&empty(5_000));
        assert_eq!(c.step(), Step::Fetch(5_000 - BACKFILL));
        let took = c.take(4_950, page(4_951..=5_000, 5_000));
        assert_eq!(seqs(&took).len(), 50);
        assert_eq!(c.step(), Step::Fetch(5_000));
        // Nothing new: the service answers with the same cursor.
        assert_eq!(
            c.take(5_000, empty(5_000)),
            Took::Events {
                events: vec![],
                more: false
            }
        );
        assert_eq!(c.step(), Step::Fetch(5_000));
    }

    #[test]
    fn a_young_service_is_followed_from_its_first_event() {
        let mut c = EventCursor::default();
        c.found_head(&empty(3));
        assert_eq!(c.step(), Step::Fetch(0));
    }

    #[test]
    fn a_cursor_ahead_of_a_restarted_service_is_placed_again() {
        let mut c = EventCursor::default();
        c.found_head(&empty(900));
        c.take(850, page(851..=900, 900));
        // The restarted service has 4 events; it clamps our cursor to its newest.
        assert_eq!(c.take(900, empty(4)), Took::Reset);
        assert_eq!(c.step(), Step::FindHead);
        c.found_head(&empty(4));
        assert_eq!(seqs(&c.take(0, page(1..=4, 4))), [1, 2, 3, 4]);
    }

    #[test]
    fn a_new_start_time_means_a_restart_and_the_same_one_does_not() {
        let mut c = EventCursor::default();
        c.service_started(at("09:00:00"));
        c.found_head(&empty(10));
        c.service_started(at("09:00:00"));
        assert_eq!(c.step(), Step::Fetch(0), "kept across reconnects");
        c.take(0, page(1..=10, 10));
        c.service_started(at("09:30:00"));
        assert_eq!(c.step(), Step::FindHead);
    }

    #[test]
    fn a_full_page_asks_for_more_and_lagging_skips_ahead() {
        let mut c = EventCursor::default();
        c.found_head(&empty(1_000));
        let full = c.take(950, page(951..=1_050, 1_050));
        assert!(matches!(full, Took::Events { more: true, .. }));
        c.fell_behind();
        assert_eq!(c.step(), Step::FindHead);
    }
}
