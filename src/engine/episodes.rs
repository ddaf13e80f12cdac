//! Episodes: a job's attempts linked by `job_id`, from its first failure to its success.
//!
//! Elapsed time is measured from the episode's first failure by record timestamps (never the
//! arrival time), so replayed or virtual-time histories learn the same thing. The table is
//! bounded: idle episodes are evicted by record time, and when it is full the least recently
//! touched tenth goes.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Episodes with no attempt for this long (by record time) are dropped.
pub const IDLE_MS: i64 = 6 * 3_600_000;
/// Most episodes kept at once.
pub const CAPACITY: usize = 200_000;

/// One job's open episode. The names are shared (interned by `Episodes`): a service with
/// 100,000 pending jobs of a few kinds keeps a few copies of each name, not 100,000.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub job_type: Arc<str>,
    pub error_class: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Arc<str>>,
    pub queue: Arc<str>,
    pub first_failure: DateTime<Utc>,
    /// The last attempt that failed, its time and its elapsed time since the first failure.
    pub last_attempt: u32,
    pub last_failure_at: DateTime<Utc>,
    pub last_elapsed_ms: u64,
    /// The wait before the last failed attempt (its record's `delay_ms`).
    pub last_delay_ms: u64,
    /// The job's own evidence on how its failure ends: the summed log-likelihood ratio of
    /// its retries' outcomes, elapsed-time view over per-attempt view (positive: its failure
    /// behaves like an outage that ends on its own clock).
    #[serde(default)]
    pub view_evidence: f64,
}

impl Episode {
    /// Elapsed milliseconds of an attempt at `at`.
    pub fn elapsed_at(&self, at: DateTime<Utc>) -> u64 {
        (at - self.first_failure).num_milliseconds().max(0) as u64
    }
}

/// The bounded episode table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Episodes {
    /// A B-tree, not a hash map: a hash map's doubling rehashes every episode in one insert, a
    /// stall of up to 100 ms at 10⁵ episodes under the engine's lock.
    map: BTreeMap<Box<str>, Episode>,
    /// The newest record time seen, the clock of eviction.
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
    /// The one shared copy of each name the episodes use; rebuilt after a restore.
    #[serde(skip)]
    names: Names,
}

/// An interner of the names in episodes (job types, error classes, tenants, queues).
#[derive(Debug, Clone, Default)]
struct Names(HashSet<Arc<str>>);

impl Names {
    fn intern(&mut self, name: &Arc<str>) -> Arc<str> {
        if let Some(shared) = self.0.get(&**name) {
            return shared.clone();
        }
        self.0.insert(name.clone());
        name.clone()
    }

    fn share(&mut self, e: &mut Episode) {
        e.job_type = self.intern(&e.job_type);
        e.error_class = self.intern(&e.error_class);
        e.tenant = e.tenant.as_ref().map(|t| self.intern(t));
        e.queue = self.intern(&e.queue);
    }

    /// Forgets names no episode uses any more.
    fn prune(&mut self) {
        self.0.retain(|n| Arc::strong_count(n) > 1);
    }
}

/// The interner is a cache: two tables with the same episodes are equal whatever it holds.
impl PartialEq for Names {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Episodes {
    pub fn get(&self, job_id: &str) -> Option<&Episode> {
        self.map.get(job_id)
    }

    pub fn remove(&mut self, job_id: &str) -> Option<Episode> {
        self.map.remove(job_id)
    }

    /// Inserts or replaces a job's episode, keeping the table bounded.
    pub fn put(&mut self, job_id: &str, mut episode: Episode) {
        self.tick(episode.last_failure_at);
        if !self.map.contains_key(job_id) && self.map.len() >= CAPACITY {
            self.evict_oldest_tenth();
        }
        self.names.share(&mut episode);
        self.map.insert(job_id.into(), episode);
    }

    /// The same table with its names shared again (a deserialized table holds one copy of
    /// each name per episode).
    pub fn reinterned(mut self) -> Self {
        let mut names = Names::default();
        for e in self.map.values_mut() {
            names.share(e);
        }
        self.names = names;
        self
    }

    /// Advances the eviction clock to `at` (a record time) and sweeps idle episodes now and
    /// then (every quarter of the idle horizon).
    pub fn tick(&mut self, at: DateTime<Utc>) {
        let newest = self.newest.map_or(at, |n| n.max(at));
        self.newest = Some(newest);
        let due = self
            .last_sweep
            .is_none_or(|s| newest - s >= Duration::milliseconds(IDLE_MS / 4));
        if due {
            let horizon = newest - Duration::milliseconds(IDLE_MS);
            self.map.retain(|_, e| e.last_failure_at >= horizon);
            self.names.prune();
            self.last_sweep = Some(newest);
        }
    }

    fn evict_oldest_tenth(&mut self) {
        let mut times: Vec<DateTime<Utc>> = self.map.values().map(|e| e.last_failure_at).collect();
        let cut = times.len() / 10;
        let (_, cutoff, _) = times.select_nth_unstable(cut);
        let cutoff = *cutoff;
        self.map.retain(|_, e| e.last_failure_at > cutoff);
        self.names.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(at: DateTime<Utc>) -> Episode {
        Episode {
            job_type: "j".into(),
            error_class: "e".into(),
            tenant: None,
            queue: "q".into(),
            first_failure: at,
            last_attempt: 1,
            last_failure_at: at,
            last_elapsed_ms: 0,
            view_evidence: 0.0,
            last_delay_ms: 0,
        }
    }

    #[test]
    fn idle_episodes_are_evicted_by_record_time() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut eps = Episodes::default();
        eps.put("old", episode(t0));
        eps.put("fresh", episode(t0 + Duration::hours(5)));
        assert_eq!(eps.map.len(), 2);
        eps.tick(t0 + Duration::hours(7));
        assert!(eps.get("old").is_none(), "idle for 7h");
        assert!(eps.get("fresh").is_some(), "idle for 2h");
    }

    #[test]
    fn elapsed_is_measured_from_the_first_failure() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let e = episode(t0);
        assert_eq!(e.elapsed_at(t0 + Duration::milliseconds(7_500)), 7_500);
        assert_eq!(e.elapsed_at(t0 - Duration::seconds(1)), 0);
    }

    #[test]
    fn episodes_share_their_names_also_after_a_round_trip() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut eps = Episodes::default();
        eps.put("a", episode(t0));
        eps.put("b", episode(t0));
        let shared = |eps: &Episodes| {
            let (a, b) = (eps.get("a").unwrap(), eps.get("b").unwrap());
            Arc::ptr_eq(&a.job_type, &b.job_type) && Arc::ptr_eq(&a.queue, &b.queue)
        };
        assert!(shared(&eps));
        let json = serde_json::to_string(&eps).unwrap();
        let back: Episodes = serde_json::from_str(&json).unwrap();
        assert!(!shared(&back), "deserialized names are separate copies");
        let back = back.reinterned();
        assert!(shared(&back));
        assert_eq!(back, eps);
    }
}
