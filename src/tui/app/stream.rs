//! The live error stream under the job table: it can take the focus (`L`), scroll back through
//! the errors the console kept (the movement keys), be filtered (`/` while it has the focus)
//! and open the job of the highlighted error (Enter).
//!
//! While scrolled back the view holds still: it is anchored on the error at its top, so errors
//! arriving meanwhile go above it (the title counts them) instead of pushing the lines away
//! under the operator's eyes. Back at the top it follows the newest errors again.

use super::{Action, App, Call, Effect, Input, Mode, Outcome, Pane};
use crate::model::Event;
use chrono::{DateTime, Utc};

/// Kinds of stream events that are errors (the service's `/events` kinds).
pub const ERROR_KINDS: [&str; 2] = ["failure", "exhausted"];

/// The error stream's focus, position and filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamView {
    /// The movement keys, `/`, Enter and Esc act on the stream, not on the job table.
    pub focused: bool,
    /// The error at the top of the view while scrolled back (its sequence number and time,
    /// which together name it even across a service restart); `None` follows the newest.
    top: Option<(u64, DateTime<Utc>)>,
    /// Words every error shown contains (in its kind, job id or message, any case).
    pub filter: String,
}

fn key(e: &Event) -> (u64, DateTime<Utc>) {
    (e.seq, e.at)
}

/// Whether an event is an error that passes the stream's filter `words` (lower case).
fn shown(e: &Event, words: &[String]) -> bool {
    ERROR_KINDS.contains(&e.kind.as_str())
        && words.iter().all(|w| {
            [
                e.kind.as_str(),
                e.job_id.as_deref().unwrap_or(""),
                &e.message,
            ]
            .iter()
            .any(|field| field.to_lowercase().contains(w.as_str()))
        })
}

impl App {
    /// The errors the stream shows, newest first.
    pub fn stream_errors(&self) -> Vec<&Event> {
        let words: Vec<String> = self
            .stream
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.events.newest().filter(|e| shown(e, &words)).collect()
    }

    /// How many of `errors` (as [`Self::stream_errors`] lists them) are above the view: 0 while
    /// it follows the newest. An anchor that left the console's ring puts the view at the end.
    pub fn stream_offset(&self, errors: &[&Event]) -> usize {
        match self.stream.top {
            None => 0,
            Some(top) => errors
                .iter()
                .position(|e| key(e) == top)
                .unwrap_or(errors.len().saturating_sub(1)),
        }
    }

    /// `L`: the stream takes the focus, or gives it back to the job table.
    pub(super) fn toggle_stream(&mut self) -> Option<Effect> {
        if self.stream.focused {
            self.stream.focused = false;
            return None;
        }
        if self.stream_rows == 0 {
            return self.refuse("the error stream is not shown: the terminal is too short");
        }
        self.focus = Pane::Live;
        self.stream.focused = true;
        None
    }

    /// The keys of the normal mode while the stream has the focus; `None` for keys it leaves
    /// to the rest of the console.
    pub(super) fn on_stream_action(&mut self, action: Action) -> Option<Option<Effect>> {
        match action {
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                self.scroll_stream(action)
            }
            Action::Top | Action::Bottom => self.scroll_stream(action),
            Action::Filter => self.mode = Mode::StreamFilter(Input::with(&self.stream.filter)),
            Action::Apply => return Some(self.open_error_job()),
            Action::Cancel if !self.stream.filter.is_empty() => self.filter_stream(""),
            Action::Cancel => self.stream.focused = false,
            _ => return None,
        }
        Some(None)
    }

    /// Puts the error at `at` (counted from the newest shown) at the top, highlighted.
    pub(super) fn highlight_error(&mut self, at: usize) {
        let errors = self.stream_errors();
        let at = at.min(errors.len().saturating_sub(1));
        self.stream.top = (at > 0).then(|| key(errors[at]));
    }

    fn scroll_stream(&mut self, action: Action) {
        let errors = self.stream_errors();
        let (at, page) = (self.stream_offset(&errors), self.stream_rows.max(1));
        let last = errors.len().saturating_sub(1);
        let to = match action {
            Action::Up => at.saturating_sub(1),
            Action::Down => at + 1,
            Action::PageUp => at.saturating_sub(page),
            Action::PageDown => at + page,
            Action::Top => 0,
            _ => last,
        }
        .min(last);
        self.highlight_error(to);
    }

    /// Shows only the errors containing every word of `filter`, from the newest.
    pub(super) fn filter_stream(&mut self, filter: &str) {
        self.stream.filter = filter.trim().to_string();
        self.stream.top = None;
        let text = if self.stream.filter.is_empty() {
            "error stream: every error".to_string()
        } else {
            format!("error stream: errors with \"{}\"", self.stream.filter)
        };
        self.last = Some(Outcome { ok: true, text });
    }

    /// Enter on the stream: the detail of the highlighted error's job.
    fn open_error_job(&mut self) -> Option<Effect> {
        let errors = self.stream_errors();
        let at = self.stream_offset(&errors);
        let job = errors.get(at).and_then(|e| e.job_id.clone());
        let Some(job_id) = job else {
            return self.refuse("no error with a job highlighted");
        };
        self.mode = Mode::Loading(format!("reading {job_id}"));
        Some(Effect::Call(Call::JobInfo(job_id)))
    }
}
