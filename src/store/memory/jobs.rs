//! The retry schedule in memory, indexed so that no request walks every job: the list order
//! and the due order are ordered sets, and counts per (queue, state, error class) are kept up
//! to date on every write. A page costs O(log n + page) (a sparse filter skips what it does not
//! match), a count O(number of (queue, state, class) groups).

use crate::model::{JobState, ScheduledJob};
use crate::store::{Claim, JobFilter, JobSortKey};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

/// The groups the counts are kept by: (queue, state, error class).
type Group = (String, JobState, String);

/// See the module docs.
#[derive(Debug, Default)]
pub struct JobIndex {
    /// A B-tree, not a hash map: a hash map's doubling moves every job in one insert (a stall
    /// of hundreds of milliseconds at 10⁵ jobs under the store's lock).
    jobs: BTreeMap<String, ScheduledJob>,
    order: BTreeSet<JobSortKey>,
    /// (due since, job id) of every job a claim may take (see [`Claim::due_since`]).
    due: BTreeSet<(DateTime<Utc>, String)>,
    counts: HashMap<Group, u64>,
}

fn group_of(job: &ScheduledJob) -> Group {
    (job.queue.clone(), job.state, job.error_class.clone())
}

fn matches(filter: &JobFilter, queue: &str, state: JobState, class: &str) -> bool {
    filter.queue.as_deref().is_none_or(|q| q == queue)
        && filter.state.is_none_or(|s| s == state)
        && filter.error_class.as_deref().is_none_or(|e| e == class)
}

impl JobIndex {
    pub fn get(&self, job_id: &str) -> Option<&ScheduledJob> {
        self.jobs.get(job_id)
    }

    /// Inserts or replaces a job, moving it in every index.
    pub fn put(&mut self, job: ScheduledJob) {
        if let Some(old) = self.jobs.remove(&job.job_id) {
            self.unindex(&old);
        }
        self.order.insert(JobSortKey::of(&job));
        if let Some(at) = Claim::due_since(&job) {
            self.due.insert((at, job.job_id.clone()));
        }
        *self.counts.entry(group_of(&job)).or_insert(0) += 1;
        self.jobs.insert(job.job_id.clone(), job);
    }

    fn unindex(&mut self, old: &ScheduledJob) {
        self.order.remove(&JobSortKey::of(old));
        if let Some(at) = Claim::due_since(old) {
            self.due.remove(&(at, old.job_id.clone()));
        }
        let group = group_of(old);
        if let Some(n) = self.counts.get_mut(&group) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&group);
            }
        }
    }

    /// How many jobs match the filter (its cursor and limit aside).
    pub fn count(&self, filter: &JobFilter) -> u64 {
        if !filter.by_group_only() {
            return self.jobs.values().filter(|j| filter.matches(j)).count() as u64;
        }
        self.counts
            .iter()
            .filter(|((q, s, c), _)| matches(filter, q, *s, c))
            .map(|(_, n)| n)
            .sum()
    }

    /// How many jobs are in each state; states with no job are absent.
    pub fn count_by_state(&self) -> BTreeMap<JobState, u64> {
        let mut by_state = BTreeMap::new();
        for ((_, state, _), n) in &self.counts {
            *by_state.entry(*state).or_insert(0) += n;
        }
        by_state
    }

    /// Up to `take` matching jobs after `after` in list order.
    pub fn page(
        &self,
        filter: &JobFilter,
        after: Option<&JobSortKey>,
        take: usize,
    ) -> Vec<(&JobSortKey, &ScheduledJob)> {
        if self.count(filter) == 0 {
            return Vec::new();
        }
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range((from, Bound::Unbounded))
            .filter_map(|key| self.jobs.get(&key.job_id).map(|job| (key, job)))
            .filter(|(_, j)| filter.matches(j))
            .take(take)
            .collect()
    }

    /// Claims due jobs, the longest-due first.
    pub fn claim(&mut self, claim: &Claim) -> Vec<ScheduledJob> {
        let ids: Vec<String> = self
            .due
            .iter()
            .take_while(|(at, _)| *at <= claim.now)
            .filter(|(_, id)| self.jobs.get(id).is_some_and(|j| claim.takes(j)))
            .take(claim.limit as usize)
            .map(|(_, id)| id.clone())
            .collect();
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(mut job) = self.jobs.get(&id).cloned() {
                claim.apply(&mut job);
                claimed.push(job.clone());
                self.put(job);
            }
        }
        claimed
    }
}
