//! The smart-vs-static expectations of a job's first failure, shared for a short while between
//! first failures that look the same.
//!
//! Working them out means planning the whole smart schedule and the static one under the
//! engine lock (about two thirds of a first failure's engine time). In an incident thousands
//! of jobs a second fail with the same features (job type, error class, queue, tenant, ...);
//! they get the same expectations, so one is computed per distinct failure per
//! [`MAX_AGE`] and reused by the others. A reused figure is at most [`MAX_AGE`] older than
//! what the models say now; the comparison is a running mean over jobs, so that does not show.

use crate::model::{JobExpectation, RetryFeatures};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a computed pair of expectations is reused.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// Most distinct failures remembered; past it the cache starts again (it only saves work).
pub const CAPACITY: usize = 4_096;

/// (smart, static) expectations of one first failure.
pub type Expectations = (JobExpectation, JobExpectation);

/// See the module docs.
#[derive(Debug, Default)]
pub struct ShadowCache {
    entries: Mutex<HashMap<String, (Instant, Expectations)>>,
}

impl ShadowCache {
    /// The key of a first failure: its features without what differs between jobs failing
    /// the same way (the job id, and the episode start, which is the failure's own time).
    pub fn key(features: &RetryFeatures) -> Option<String> {
        let same = RetryFeatures {
            job_id: None,
            first_failure_at: None,
            ..features.clone()
        };
        serde_json::to_string(&same).ok()
    }

    /// The expectations stored under `key` no longer ago than [`MAX_AGE`] before `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<Expectations> {
        let entries = self.entries.lock();
        let (at, found) = entries.get(key)?;
        (now.saturating_duration_since(*at) <= MAX_AGE).then_some(*found)
    }

    /// Remembers `found`, computed at `now`.
    pub fn put(&self, key: String, found: Expectations, now: Instant) {
        let mut entries = self.entries.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (now, found));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(job: &str, class: &str) -> RetryFeatures {
        RetryFeatures {
            job_id: Some(job.into()),
            job_type: "email".into(),
            error_class: class.into(),
            attempt_number: 1,
            ..RetryFeatures::default()
        }
    }

    fn expectation(attempts: f64) -> Expectations {
        let e = JobExpectation {
            attempts,
            ..JobExpectation::default()
        };
        (e, e)
    }

    #[test]
    fn jobs_failing_the_same_way_share_a_key_and_others_do_not() {
        let a = ShadowCache::key(&features("a", "timeout"));
        assert_eq!(a, ShadowCache::key(&features("b", "timeout")));
        assert_ne!(a, ShadowCache::key(&features("a", "rate_limit")));
    }

    #[test]
    fn an_entry_is_reused_until_it_is_older_than_max_age() {
        let cache = ShadowCache::default();
        let t0 = Instant::now();
        cache.put("k".into(), expectation(2.0), t0);
        assert_eq!(cache.get("k", t0 + MAX_AGE), Some(expectation(2.0)));
        assert_eq!(
            cache.get("k", t0 + MAX_AGE + Duration::from_millis(1)),
            None
        );
        assert_eq!(cache.get("other", t0), None);
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = ShadowCache::default();
        let t0 = Instant::now();
        for i in 0..CAPACITY {
            cache.put(format!("k{i}"), expectation(1.0), t0);
        }
        cache.put("new".into(), expectation(3.0), t0);
        assert_eq!(cache.get("k0", t0), None);
        assert_eq!(cache.get("new", t0), Some(expectation(3.0)));
        assert_eq!(cache.entries.lock().len(), 1);
    }
}
