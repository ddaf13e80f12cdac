//! Paging through the job list past the first [`super::jobs::PAGE_LIMIT`] jobs: the service
//! hands out a cursor with each page (`next_cursor`, the sort key of its last job), and the
//! console keeps the cursors of the pages it walked through, so it can go back.
//!
//! A page is "the jobs after this one in the service's order" (next attempt, then finished
//! jobs by when they finished). Jobs move while the operator reads (a retry puts a job further
//! down), so going back shows the jobs that are now before the cursor, not a frozen copy.
//! Changing the filter starts again at the first page.

use super::{App, Effect, Outcome};

/// The cursors that lead to the page shown: empty on the first page, the last one is the
/// current page's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pages {
    cursors: Vec<String>,
}

impl Pages {
    /// The cursor of the page shown (`None` on the first page).
    pub fn cursor(&self) -> Option<&str> {
        self.cursors.last().map(String::as_str)
    }

    /// The page shown, counted from 1.
    pub fn number(&self) -> usize {
        self.cursors.len() + 1
    }

    fn reset(&mut self) {
        self.cursors.clear();
    }
}

impl App {
    /// `]`: the jobs after the last one of this page.
    pub(super) fn next_page(&mut self) -> Option<Effect> {
        let next = self.data.as_ref().and_then(|d| d.jobs.next_cursor.clone());
        let Some(cursor) = next else {
            return self.refuse("this is the last page of jobs");
        };
        self.pages.cursors.push(cursor);
        self.turned_page()
    }

    /// `[`: the page before this one.
    pub(super) fn prev_page(&mut self) -> Option<Effect> {
        if self.pages.cursors.pop().is_none() {
            return self.refuse("this is the first page of jobs");
        }
        self.turned_page()
    }

    /// Back to the first page (a new filter).
    pub(super) fn first_page(&mut self) {
        self.pages.reset();
    }

    /// The selection starts at the top of the new page; the poller fetches it at once.
    fn turned_page(&mut self) -> Option<Effect> {
        self.selected = 0;
        self.selected_id = None;
        self.last = Some(Outcome {
            ok: true,
            text: format!("page {} of the jobs", self.pages.number()),
        });
        Some(Effect::Refresh)
    }
}
