//! The order of the job list: by next attempt (the service's order), most attempts, oldest
//! first failure, or queue. Sorts the page the console holds, stably, so the selection stays on
//! its job and ties keep the service's order.

use super::{App, Effect, Outcome};
use crate::model::ScheduledJob;
use std::cmp::Ordering;

/// What the job list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Soonest next attempt first, finished jobs last (by when they finished): the order the
    /// service sends the page in, so the console keeps it as it came.
    #[default]
    NextAttempt,
    /// Most attempts first.
    Attempts,
    /// Oldest first failure first.
    Age,
    /// By queue name, then next attempt.
    Queue,
}

impl SortKey {
    const ORDER: [SortKey; 4] = [
        SortKey::NextAttempt,
        SortKey::Attempts,
        SortKey::Age,
        SortKey::Queue,
    ];

    /// How the list's title names the order.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::NextAttempt => "next attempt",
            SortKey::Attempts => "attempts",
            SortKey::Age => "age",
            SortKey::Queue => "queue",
        }
    }

    fn next(self) -> SortKey {
        let at = SortKey::ORDER.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ORDER[(at + 1) % SortKey::ORDER.len()]
    }

    /// The order of two jobs under this key.
    pub fn compare(self, a: &ScheduledJob, b: &ScheduledJob) -> Ordering {
        let next = |j: &ScheduledJob| {
            let at = j.next_attempt_at.unwrap_or(j.updated_at);
            (j.next_attempt_at.is_none(), at, j.job_id.clone())
        };
        match self {
            SortKey::NextAttempt => next(a).cmp(&next(b)),
            SortKey::Attempts => b.attempt_number.cmp(&a.attempt_number),
            SortKey::Age => a.first_failure_at.cmp(&b.first_failure_at),
            SortKey::Queue => a.queue.cmp(&b.queue).then_with(|| next(a).cmp(&next(b))),
        }
    }
}

impl App {
    /// `S`: the next order; the selected job stays selected.
    pub(super) fn next_sort(&mut self) -> Option<Effect> {
        self.sort = self.sort.next();
        self.refilter();
        self.last = Some(Outcome {
            ok: true,
            text: format!("jobs sorted by {}", self.sort.label()),
        });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs() -> Vec<ScheduledJob> {
        let page: crate::model::JobPage =
            serde_json::from_str(include_str!("../../../tests/data/console/jobs.json")).unwrap();
        page.jobs
    }

    fn order(key: SortKey) -> Vec<String> {
        let mut jobs = jobs();
        jobs.sort_by(|a, b| key.compare(a, b));
        jobs.into_iter().map(|j| j.job_id).collect()
    }

    #[test]
    fn each_key_orders_the_list_and_finished_jobs_wait_at_the_end() {
        let by_next = order(SortKey::NextAttempt);
        assert_eq!(
            by_next.last().map(String::as_str),
            Some("img-42"),
            "{by_next:?}"
        );
        let by_attempts = order(SortKey::Attempts);
        assert_eq!(by_attempts[0], "report-3", "4 attempts: {by_attempts:?}");
        let by_queue = order(SortKey::Queue);
        assert_eq!(by_queue[0], "report-3", "batch first: {by_queue:?}");
        let mut key = SortKey::default();
        let labels: Vec<_> = (0..4)
            .map(|_| {
                key = key.next();
                key.label()
            })
            .collect();
        assert_eq!(labels, ["attempts", "age", "queue", "next attempt"]);
    }
}
