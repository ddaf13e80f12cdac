//! Episodes: a job's attempts linked by `job_id`, from its first failure to its success.
//!
//! Elapsed time is measured from the episode's first failure by record timestamps (never the
//! arrival time), so replayed or virtual-time histories learn the same thing. The table is
//! bounded: idle episodes are evicted by record time, and when it is full the least recently
//! touched tenth goes.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Episodes with no attempt for this long (by record time) are dropped.
pub const IDLE_MS: i64 = 6 * 3_600_000;
/// Most episodes kept at once.
pub const CAPACITY: usize = 200_000;

/// One job's open episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub job_type: String,
    pub error_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub queue: String,
    pub first_failure: DateTime<Utc>,
    /// The last attempt that failed, its time and its elapsed time since the first failure.
    pub last_attempt: u32,
    pub last_failure_at: DateTime<Utc>,
    pub last_elapsed_ms: u64,
    /// The wait before the last failed attempt (its record's `delay_ms`).
    pub last_delay_ms: u64,
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
    map: HashMap<String, Episode>,
    /// The newest record time seen, the clock of eviction.
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
}

impl Episodes {
    pub fn get(&self, job_id: &str) -> Option<&Episode> {
        self.map.get(job_id)
    }

    pub fn remove(&mut self, job_id: &str) -> Option<Episode> {
        self.map.remove(job_id)
    }

    /// Inserts or replaces a job's episode, keeping the table bounded.
    pub fn put(&mut self, job_id: &str, episode: Episode) {
        self.tick(episode.last_failure_at);
        if !self.map.contains_key(job_id) && self.map.len() >= CAPACITY {
            self.evict_oldest_tenth();
        }
        self.map.insert(job_id.to_string(), episode);
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
            self.last_sweep = Some(newest);
        }
    }

    fn evict_oldest_tenth(&mut self) {
        let mut times: Vec<DateTime<Utc>> = self.map.values().map(|e| e.last_failure_at).collect();
        let cut = times.len() / 10;
        let (_, cutoff, _) = times.select_nth_unstable(cut);
        let cutoff = *cutoff;
        self.map.retain(|_, e| e.last_failure_at > cutoff);
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
}
