//! The job list: filtering, selection that survives refreshes, one spinner per waiting job.

use super::{App, Effect, Outcome, SortKey};
use crate::client::JobQuery;
use crate::model::ScheduledJob;
use crate::tui::action::Action;
use std::collections::HashSet;
use throbber_widgets_tui::ThrobberState;

/// Rows fetched per poll: enough for the tallest screen and some scrolling.
pub const PAGE_LIMIT: u32 = 500;

/// The `queue:`, `state:` and `error:` terms of a filter, which the service applies.
pub fn server_query(filter: &str) -> JobQuery {
    let mut q = JobQuery {
        limit: Some(PAGE_LIMIT),
        ..JobQuery::default()
    };
    for term in filter.split_whitespace() {
        match term.split_once(':') {
            Some(("queue", v)) => q.queue = Some(v.to_string()),
            Some(("state", v)) => q.state = Some(v.to_string()),
            Some(("error", v)) => q.error_class = Some(v.to_string()),
            _ => {}
        }
    }
    q
}

/// The free-text terms of a filter (lower case), matched by the console against each row.
fn text_terms(filter: &str) -> Vec<String> {
    filter
        .split_whitespace()
        .filter(|t| !matches!(t.split_once(':'), Some(("queue" | "state" | "error", _))))
        .map(str::to_lowercase)
        .collect()
}

fn matches(job: &ScheduledJob, terms: &[String]) -> bool {
    terms.iter().all(|t| {
        [
            &job.job_id,
            &job.job_type,
            &job.queue,
            &job.error_class,
            &job.error_code,
            &job.last_error,
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(t.as_str()))
    })
}

/// Where the selection goes among `rows` (the visible jobs, in order) on new data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reselect {
    /// The selected job is still listed at this row (or nothing was selected yet).
    Stay(usize),
    /// The selected job left the list; its neighbour at this row takes the selection.
    Neighbour(usize),
}

/// The selection stays on the job the operator chose, by id, for as long as it is listed,
/// whatever its state: rows must not change under a key that acts on them. A job that left
/// the list hands the selection to the row that took its place (`row` was its index). At
/// start-up the first pending row is selected: the console is for what still waits.
fn reselect(rows: &[&ScheduledJob], before: Option<&str>, row: usize) -> Reselect {
    let Some(id) = before else {
        return Reselect::Stay(rows.iter().position(|j| j.state.is_pending()).unwrap_or(0));
    };
    match rows.iter().position(|j| j.job_id == id) {
        Some(i) => Reselect::Stay(i),
        None => Reselect::Neighbour(row.min(rows.len().saturating_sub(1))),
    }
}

/// A stable starting phase per job so neighbouring spinners do not move in lockstep.
fn phase(job_id: &str) -> i8 {
    let hash = job_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (hash % 8) as i8
}

impl App {
    /// Recomputes the visible rows and keeps the selected job selected if it is still there.
    pub(super) fn refilter(&mut self) {
        let terms = text_terms(&self.filter);
        let Some(data) = &self.data else {
            self.visible.clear();
            return;
        };
        self.visible = (0..data.jobs.jobs.len())
            .filter(|&i| matches(&data.jobs.jobs[i], &terms))
            .collect();
        let (jobs, key) = (&data.jobs.jobs, self.sort);
        // The service sends the page by next attempt already; other orders sort it, stably
        // (ties keep the service's order).
        if key != SortKey::NextAttempt {
            self.visible
                .sort_by(|&a, &b| key.compare(&jobs[a], &jobs[b]));
        }
        let rows: Vec<&ScheduledJob> = self.visible.iter().map(|&i| &data.jobs.jobs[i]).collect();
        let before = self.selected_id.take();
        match reselect(&rows, before.as_deref(), self.selected) {
            Reselect::Stay(i) => self.selected = i,
            Reselect::Neighbour(i) => {
                self.selected = i;
                let gone = before.unwrap_or_default();
                self.remember_selection();
                self.last = Some(Outcome {
                    ok: true,
                    text: match &self.selected_id {
                        Some(now) => format!("{gone} left the list; selected {now}"),
                        None => format!("{gone} left the list"),
                    },
                });
            }
        }
        self.remember_selection();
    }

    fn remember_selection(&mut self) {
        self.selected_id = self.selected_job().map(|j| j.job_id.clone());
    }

    /// The query the poller fetches the job list with: the filter's terms and the page.
    pub fn job_query(&self) -> JobQuery {
        JobQuery {
            cursor: self.pages.cursor().map(str::to_string),
            ..server_query(&self.filter)
        }
    }

    /// Applies a filter typed by the operator; the poller fetches with it at once, from the
    /// first page.
    pub(super) fn apply_filter(&mut self, filter: &str) -> Option<Effect> {
        self.filter = filter.to_string();
        self.first_page();
        self.filter_error = None;
        self.refilter();
        Some(Effect::Refresh)
    }

    /// Esc in the normal mode: drops an applied filter (nothing happens without one).
    pub(super) fn clear_filter(&mut self) -> Option<Effect> {
        self.mode = super::Mode::Normal;
        if self.filter.is_empty() && self.filter_error.is_none() {
            return None;
        }
        self.last = Some(Outcome {
            ok: true,
            text: "filter cleared".into(),
        });
        self.apply_filter("")
    }

    /// The service answered this job query: if it is the current filter's, that filter works.
    pub fn on_filter_answered(&mut self, query: &JobQuery) {
        if self.job_query() == *query {
            self.filter_good = self.filter.clone();
        }
    }

    /// The service refused this job query: when it is the current filter's, the last filter
    /// that worked comes back and the refusal is shown by the filter. The connection is fine.
    pub fn on_filter_refused(&mut self, query: &JobQuery, error: String) {
        if self.job_query() != *query {
            return;
        }
        let refused = std::mem::replace(&mut self.filter, self.filter_good.clone());
        self.filter_error = Some(format!("filter \"{refused}\" refused: {error}"));
        self.refilter();
    }

    /// One throbber per job of the page; jobs that left the page lose theirs.
    pub(super) fn sync_throbbers(&mut self) {
        let Some(data) = &self.data else { return };
        // A set, not a scan per spinner: a page may hold thousands of jobs.
        let ids: HashSet<&str> = data.jobs.jobs.iter().map(|j| j.job_id.as_str()).collect();
        self.throbbers.retain(|id, _| ids.contains(id.as_str()));
        for job in &data.jobs.jobs {
            self.throbbers.entry(job.job_id.clone()).or_insert_with(|| {
                let mut s = ThrobberState::default();
                s.calc_step(phase(&job.job_id));
                s
            });
        }
    }

    pub(super) fn move_by(&mut self, action: Action) -> Option<Effect> {
        if self.focus == super::Pane::Alerts || matches!(self.mode, super::Mode::Alerts) {
            return self.move_alert(action);
        }
        if self.focus == super::Pane::Analytics {
            return self.scroll_analytics(action);
        }
        let last = self.visible.len().saturating_sub(1);
        let page = self.page_rows.max(1);
        self.selected = match action {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(last),
            Action::PageUp => self.selected.saturating_sub(page),
            Action::PageDown => (self.selected + page).min(last),
            Action::Top => 0,
            _ => last,
        };
        self.remember_selection();
        None
    }

    /// Movement keys scroll the Analytics pane while it has the focus.
    fn scroll_analytics(&mut self, action: Action) -> Option<Effect> {
        let (at, page) = (self.analytics_scroll, self.page_rows.max(1));
        let max = self.analytics_max.get();
        self.analytics_scroll = match action {
            Action::Up => at.saturating_sub(1),
            Action::Down => at + 1,
            Action::PageUp => at.saturating_sub(page),
            Action::PageDown => at + page,
            Action::Top => 0,
            _ => max,
        }
        .min(max);
        None
    }

    fn move_alert(&mut self, action: Action) -> Option<Effect> {
        let count = self.data.as_ref().map_or(0, |d| d.summary.alerts.len());
        self.alert_selected = match action {
            Action::Up | Action::PageUp => self.alert_selected.saturating_sub(1),
            Action::Top => 0,
            _ => (self.alert_selected + 1).min(count.saturating_sub(1)),
        };
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_terms_split_between_service_and_console() {
        let q = server_query("queue:emails payment state:scheduled error:timeout");
        assert_eq!(q.queue.as_deref(), Some("emails"));
        assert_eq!(q.state.as_deref(), Some("scheduled"));
        assert_eq!(q.error_class.as_deref(), Some("timeout"));
        assert_eq!(
            text_terms("queue:emails Payment x:y"),
            vec!["payment", "x:y"]
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        /// Any filter text splits into the service's terms and the console's, losing none.
        #[test]
        fn fuzz_console_any_filter_text_splits_into_terms(text in crate::fuzz::hostile_text()) {
            let q = server_query(&text);
            let terms = text_terms(&text);
            let served = [&q.queue, &q.state, &q.error_class].iter().filter(|v| v.is_some()).count();
            proptest::prop_assert!(terms.len() + served <= text.split_whitespace().count());
            for term in text.split_whitespace() {
                let lower = term.to_lowercase();
                let by_service = matches!(term.split_once(':'), Some(("queue" | "state" | "error", _)));
                proptest::prop_assert!(terms.contains(&lower) || by_service, "{term:?} lost");
            }
        }
    }
}
