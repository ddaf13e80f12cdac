//! What the service knows of the jobs on its schedule without reading the store: which are
//! pending (a recorded success looks up only those) and which may have been killed (a first
//! failure reads the stored job only then, so a killed job stays killed).
//!
//! Pending jobs are live work: their ids are kept exactly, and a job leaves the set when it
//! finishes. A killed job never changes again, and jobs are never removed from the store, so
//! an exact set of killed ids would only grow with history. They go into a Bloom filter of
//! fixed size instead ([`KILLED_FILTER_JOBS`] jobs at a 1 % false-positive rate, about 1.2 MB):
//! it never forgets a killed job, and a job it mistakes for killed costs one read of the store
//! (the job is answered from what is stored, as it would be without the filter). Past that many
//! kills the mistakes grow (15 % at twice as many in this module's test, nearly every first
//! failure at ten times as many), never the memory.

use crate::model::JobState;
use fastbloom::BloomFilter;
use std::collections::BTreeSet;

/// Kills the filter is sized for (see the module docs).
pub const KILLED_FILTER_JOBS: usize = 1_000_000;
/// Its false-positive rate at that many kills.
const KILLED_FILTER_FALSE_POSITIVES: f64 = 0.01;

/// The ids of the jobs stored pending, and a filter of those stored killed.
#[derive(Debug)]
pub struct KnownJobs {
    // A B-tree: a hash set's doubling rehashes every job id in one insert, a stall under the
    // lock every failure takes.
    pending: BTreeSet<String>,
    killed: BloomFilter,
}

impl Default for KnownJobs {
    fn default() -> Self {
        Self::new(KILLED_FILTER_JOBS)
    }
}

impl KnownJobs {
    /// Empty, with a filter sized for `kills` killed jobs.
    fn new(kills: usize) -> Self {
        Self {
            pending: BTreeSet::new(),
            killed: BloomFilter::with_false_pos(KILLED_FILTER_FALSE_POSITIVES)
                .expected_items(kills.max(1)),
        }
    }

    /// Keeps the sets in step with a job just stored in `state`.
    pub fn note(&mut self, job_id: &str, state: JobState) {
        if state.is_pending() {
            self.pending.insert(job_id.to_string());
        } else {
            self.pending.remove(job_id);
        }
        if state == JobState::Killed {
            self.killed.insert(job_id);
        }
    }

    /// Whether the job may be pending (false: it surely is not).
    pub fn may_be_pending(&self, job_id: &str) -> bool {
        self.pending.contains(job_id)
    }

    /// Whether the job may be pending or killed (false: it surely is neither).
    pub fn may_be_pending_or_killed(&self, job_id: &str) -> bool {
        self.may_be_pending(job_id) || self.killed.contains(job_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_job_is_never_forgotten_and_a_finished_one_is_no_longer_pending() {
        let mut known = KnownJobs::default();
        known.note("a", JobState::Scheduled);
        assert!(known.may_be_pending("a") && known.may_be_pending_or_killed("a"));
        known.note("a", JobState::Killed);
        assert!(!known.may_be_pending("a"), "killed is not pending");
        assert!(known.may_be_pending_or_killed("a"));
        known.note("b", JobState::Scheduled);
        known.note("b", JobState::Succeeded);
        assert!(!known.may_be_pending_or_killed("b"));
    }

    #[test]
    fn past_its_size_the_filter_mistakes_more_jobs_for_killed_and_forgets_none() {
        let sized_for = 10_000;
        let mut known = KnownJobs::new(sized_for);
        let killed = sized_for * 2;
        for i in 0..killed {
            known.note(&format!("killed-{i}"), JobState::Killed);
        }
        let forgotten = (0..killed)
            .filter(|i| !known.may_be_pending_or_killed(&format!("killed-{i}")))
            .count();
        assert_eq!(forgotten, 0, "a killed job was forgotten");
        let others = 20_000;
        let mistaken = (0..others)
            .filter(|i| known.may_be_pending_or_killed(&format!("other-{i}")))
            .count();
        println!("{mistaken} of {others} jobs never killed taken for killed");
        assert!(
            (others / 50..others / 4).contains(&mistaken),
            "{mistaken} of {others} jobs never killed taken for killed"
        );
    }
}
