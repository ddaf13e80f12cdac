//! Episodes: a job's attempts linked by `job_id`, from its first failure to its success.
//!
//! Elapsed time is measured from the episode's first failure by record timestamps (never the
//! arrival time), so replayed or virtual-time histories learn the same thing. The table is
//! bounded: idle episodes are evicted by record time, and when it holds its capacity
//! (`[engine] max_open_episodes`, [`CAPACITY`] by default) each new job's episode takes the
//! place of the least recently touched one.
//!
//! An open episode costs about 90 bytes whatever the length of its job id (see [`table`]):
//! a slot of 72 bytes (the id as a 128-bit [`JobKey`] and 56 bytes of episode, no heap block
//! of its own), its slot number in a hash table and its place in the eviction order by last
//! failure. What an episode is about (job type, error class, tenant, queue) is one shared
//! [`Labels`] per combination, which the models bound, not one copy per job. A snapshot
//! writes the labels once and each episode as a short array that refers to them (see
//! [`stored`]).
//!
//! No operation walks the table under the engine's lock. Eviction and the idle sweep take
//! the oldest episodes off the eviction order, so they cost what leaves, not what stays; and
//! a full table evicts one episode per new one, not a tenth of itself at once (20,000
//! removals at the default capacity, 10–22 ms in a release build on 2 busy cores). A
//! snapshot's copy ([`Episodes::view`]) shares the table's chunks of slots, and the first
//! change to a chunk while a copy still holds it copies that chunk alone instead of the copy
//! taking the whole table at once.

mod stored;
mod table;

pub use stored::{EpisodesByJobId, LegacyEpisodes};

use super::job_key::JobKey;
use chrono::{DateTime, Duration, Utc};
use hashbrown::HashSet;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use table::{Chunks, Table};

/// Episodes with no attempt for this long (by record time) are dropped.
pub const IDLE_MS: i64 = 6 * 3_600_000;
/// Most episodes kept at once unless configured otherwise (`[engine] max_open_episodes`).
pub const CAPACITY: usize = 200_000;
/// The table finds keys in `2^RANGE_BITS` hash tables, by their top bits, so growing one
/// rehashes a 64th of the episodes under the engine's lock.
const RANGE_BITS: u32 = 6;

/// What an episode is about. One shared copy per combination (interned by `Episodes`): a
/// service with 100,000 pending jobs of a few kinds keeps a few of these, not 100,000.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Labels {
    pub job_type: Box<str>,
    pub error_class: Box<str>,
    pub tenant: Option<Box<str>>,
    pub queue: Box<str>,
}

/// [`Labels`] by reference, to find the shared copy without allocating: hashed as `Labels`
/// is (each field in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelsRef<'a> {
    pub job_type: &'a str,
    pub error_class: &'a str,
    pub tenant: Option<&'a str>,
    pub queue: &'a str,
}

impl hashbrown::Equivalent<Arc<Labels>> for LabelsRef<'_> {
    fn equivalent(&self, l: &Arc<Labels>) -> bool {
        self.job_type == &*l.job_type
            && self.error_class == &*l.error_class
            && self.tenant == l.tenant.as_deref()
            && self.queue == &*l.queue
    }
}

impl LabelsRef<'_> {
    fn owned(&self) -> Labels {
        Labels {
            job_type: self.job_type.into(),
            error_class: self.error_class.into(),
            tenant: self.tenant.map(Into::into),
            queue: self.queue.into(),
        }
    }
}

/// One job's open episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub labels: Arc<Labels>,
    pub first_failure: DateTime<Utc>,
    /// The last attempt that failed and its time (its elapsed time since the first failure is
    /// [`Self::last_elapsed_ms`]).
    pub last_attempt: u32,
    pub last_failure_at: DateTime<Utc>,
    /// The wait before the last failed attempt (its record's `delay_ms`).
    pub last_delay_ms: u64,
    /// The job's own evidence on how its failure ends: the summed log-likelihood ratio of
    /// its retries' outcomes, elapsed-time view over per-attempt view (positive: its failure
    /// behaves like an outage that ends on its own clock).
    pub view_evidence: f64,
}

impl Episode {
    /// Elapsed milliseconds of an attempt at `at`.
    pub fn elapsed_at(&self, at: DateTime<Utc>) -> u64 {
        (at - self.first_failure).num_milliseconds().max(0) as u64
    }

    /// Elapsed milliseconds of the last failed attempt: worked out, not kept, since every
    /// episode's is `elapsed_at(last_failure_at)` (8 bytes less per open job).
    pub fn last_elapsed_ms(&self) -> u64 {
        self.elapsed_at(self.last_failure_at)
    }
}

/// The bounded episode table.
#[derive(Debug, Clone)]
pub struct Episodes {
    /// The open episodes by key, and their eviction order.
    table: Table,
    /// The newest record time seen, the clock of eviction.
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
    /// The one shared copy of each combination of labels the episodes use.
    labels: LabelSet,
}

impl Default for Episodes {
    fn default() -> Self {
        Self {
            table: Table::new(RANGE_BITS),
            newest: None,
            last_sweep: None,
            labels: LabelSet::default(),
        }
    }
}

/// Two tables are equal when they hold the same episodes under the same keys and the same
/// clock, however their slots are laid out.
impl PartialEq for Episodes {
    fn eq(&self, other: &Self) -> bool {
        (self.newest, self.last_sweep, self.count())
            == (other.newest, other.last_sweep, other.count())
            && table::in_key_order(&self.table.chunks())
                .into_iter()
                .all(|(key, e)| other.table.get(*key) == Some(e))
    }
}

/// The episode table as it was when [`Episodes::view`] was called, for a snapshot: shares the
/// table's chunks of slots until the table changes them.
#[derive(Debug, Clone)]
pub struct EpisodesView {
    chunks: Chunks,
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
}

impl EpisodesView {
    /// The open episodes in key order (sorted now: the table keeps none).
    fn open(&self) -> Vec<&(JobKey, Episode)> {
        table::in_key_order(&self.chunks)
    }
}

/// The interner of [`Labels`].
#[derive(Debug, Clone, Default)]
struct LabelSet(HashSet<Arc<Labels>>);

impl LabelSet {
    fn intern(&mut self, labels: LabelsRef<'_>) -> Arc<Labels> {
        if let Some(shared) = self.0.get(&labels) {
            return shared.clone();
        }
        let shared = Arc::new(labels.owned());
        self.0.insert(shared.clone());
        shared
    }

    /// Forgets `labels` if no episode but the caller's uses them.
    fn forget_if_unused(&mut self, labels: &Arc<Labels>) {
        // One reference here, one in the set.
        if Arc::strong_count(labels) == 2 {
            self.0.remove(&**labels);
        }
    }

    /// Forgets labels no episode uses any more.
    fn prune(&mut self) {
        self.0.retain(|l| Arc::strong_count(l) > 1);
    }
}

/// The interner is a cache: two tables with the same episodes are equal whatever it holds.
impl PartialEq for LabelSet {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Episodes {
    /// Open episodes.
    pub fn count(&self) -> usize {
        self.table.len()
    }

    pub fn get(&self, job_id: &str) -> Option<&Episode> {
        self.table.get(JobKey::of(job_id))
    }

    pub fn remove(&mut self, job_id: &str) -> Option<Episode> {
        self.remove_key(JobKey::of(job_id))
    }

    /// The shared copy of `labels` (made now if no episode uses them yet).
    pub fn labels(&mut self, labels: LabelsRef<'_>) -> Arc<Labels> {
        self.labels.intern(labels)
    }

    /// The table as it is now, for a snapshot, at the cost of one pointer per chunk of slots.
    pub fn view(&self) -> EpisodesView {
        EpisodesView {
            chunks: self.table.chunks(),
            newest: self.newest,
            last_sweep: self.last_sweep,
        }
    }

    /// Inserts or replaces a job's episode, keeping the table within `capacity` episodes
    /// (at least 1): a new job's episode evicts the least recently touched one when the table
    /// is full (and, when the capacity was lowered, as many as it is over).
    pub fn put(&mut self, job_id: &str, episode: Episode, capacity: usize) {
        self.tick(episode.last_failure_at);
        let key = JobKey::of(job_id);
        if self.table.get(key).is_none() {
            while self.count() >= capacity.max(1) {
                self.evict_oldest();
            }
        }
        self.set(key, episode);
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
            while self.oldest_failure().is_some_and(|t| t < horizon) {
                self.evict_oldest();
            }
            self.labels.prune();
            self.last_sweep = Some(newest);
        }
    }

    /// Inserts or replaces the episode under `key`.
    fn set(&mut self, key: JobKey, episode: Episode) {
        self.table.insert(key, episode);
    }

    fn remove_key(&mut self, key: JobKey) -> Option<Episode> {
        self.table.remove(key)
    }

    /// The last failure of the least recently touched episode.
    fn oldest_failure(&self) -> Option<DateTime<Utc>> {
        self.table.oldest().map(|(at, _)| at)
    }

    /// Drops the least recently touched episode (of those touched at the same time, the one
    /// of the lowest key), and its labels if no other episode uses them.
    fn evict_oldest(&mut self) {
        if let Some(episode) = self.table.pop_oldest() {
            self.labels.forget_if_unused(&episode.labels);
        }
    }
}

impl<'a> From<&'a Labels> for LabelsRef<'a> {
    fn from(l: &'a Labels) -> Self {
        Self {
            job_type: &l.job_type,
            error_class: &l.error_class,
            tenant: l.tenant.as_deref(),
            queue: &l.queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn episode(eps: &mut Episodes, queue: &str, at: DateTime<Utc>) -> Episode {
        let labels = eps.labels(LabelsRef {
            job_type: "j",
            error_class: "e",
            tenant: None,
            queue,
        });
        Episode {
            labels,
            first_failure: at,
            last_attempt: 1,
            last_failure_at: at,
            view_evidence: 0.0,
            last_delay_ms: 0,
        }
    }

    #[test]
    fn idle_episodes_are_evicted_by_record_time() {
        let mut eps = Episodes::default();
        let old = episode(&mut eps, "q", t0());
        eps.put("old", old, CAPACITY);
        let fresh = episode(&mut eps, "q", t0() + Duration::hours(5));
        eps.put("fresh", fresh, CAPACITY);
        assert_eq!(eps.count(), 2);
        eps.tick(t0() + Duration::hours(7));
        assert!(eps.get("old").is_none(), "idle for 7h");
        assert!(eps.get("fresh").is_some(), "idle for 2h");
    }

    #[test]
    fn an_episode_takes_the_56_bytes_the_module_docs_promise() {
        assert_eq!(std::mem::size_of::<Episode>(), 56);
    }

    #[test]
    fn elapsed_is_measured_from_the_first_failure() {
        let e = episode(&mut Episodes::default(), "q", t0());
        assert_eq!(e.elapsed_at(t0() + Duration::milliseconds(7_500)), 7_500);
        assert_eq!(e.elapsed_at(t0() - Duration::seconds(1)), 0);
    }

    #[test]
    fn a_full_table_evicts_its_least_recently_touched_episode_and_its_labels() {
        let mut eps = Episodes::default();
        for i in 0..CAPACITY {
            let queue = if i == 0 { "only-the-oldest" } else { "q" };
            let e = episode(&mut eps, queue, t0() + Duration::milliseconds(i as i64));
            eps.put(&format!("job-{i}"), e, CAPACITY);
        }
        let newest = episode(&mut eps, "q", t0() + Duration::hours(1));
        eps.put("newest", newest, CAPACITY);
        assert_eq!(eps.count(), CAPACITY);
        assert!(eps.get("job-0").is_none() && eps.get("newest").is_some());
        assert!(
            eps.get("job-1").is_some(),
            "one episode left for the new one"
        );
        assert_eq!(eps.labels.0.len(), 1, "the evicted job's labels were kept");
    }

    #[test]
    fn a_table_over_a_lowered_capacity_comes_down_to_it_keeping_its_newest() {
        let mut eps = Episodes::default();
        for i in 0..100 {
            let e = episode(&mut eps, "q", t0() + Duration::milliseconds(i));
            eps.put(&format!("job-{i}"), e, 100);
        }
        let newest = episode(&mut eps, "q", t0() + Duration::hours(1));
        eps.put("newest", newest, 20);
        assert_eq!(eps.count(), 20, "19 kept and the new one");
        assert!(eps.get("job-80").is_none() && eps.get("job-81").is_some());
        let one = episode(&mut eps, "q", t0() + Duration::hours(2));
        eps.put("one", one, 1);
        let keys: Vec<_> = eps.view().open().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [JobKey::of("one")]);
    }

    #[test]
    fn ids_of_any_length_are_found_also_after_a_round_trip() {
        let mut eps = Episodes::default();
        let long = "3f0c9f3e-58b1-4c1a-9d1e-2b7f0a6c1d22-retry-of-an-older-job".repeat(20);
        for id in [long.as_str(), "short", ""] {
            let e = episode(&mut eps, "q", t0());
            eps.put(id, e, CAPACITY);
        }
        let json = serde_json::to_string(&eps).unwrap();
        assert!(
            !json.contains("short"),
            "keys, not ids, are written: {json}"
        );
        let back: Episodes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, eps);
        assert!(
            back.get(&long).is_some() && back.get("").is_some(),
            "{json}"
        );
        assert!(back.get("shor").is_none() && back.get("short ").is_none());
    }

    #[test]
    fn episodes_share_their_labels_also_after_a_round_trip() {
        let mut eps = Episodes::default();
        let at = t0() + Duration::nanoseconds(123_456_789);
        for (id, queue) in [("a", "q"), ("b", "q"), ("c", "other")] {
            let mut e = episode(&mut eps, queue, at);
            e.view_evidence = -1.25;
            eps.put(id, e, CAPACITY);
        }
        let shared = |eps: &Episodes| {
            let (a, b) = (eps.get("a").unwrap(), eps.get("b").unwrap());
            Arc::ptr_eq(&a.labels, &b.labels)
        };
        assert!(shared(&eps));
        let json = serde_json::to_string(&eps).unwrap();
        let back: Episodes = serde_json::from_str(&json).unwrap();
        assert!(shared(&back));
        assert_eq!(
            back, eps,
            "times to the nanosecond, evidence, labels: {json}"
        );
        assert_eq!(back.labels.0.len(), 2);
    }

    #[test]
    fn a_snapshot_naming_labels_it_does_not_hold_is_refused() {
        let key = "0000000000000000000000000000002a";
        let json = format!(
            r#"{{"labels":[],"open":[["{key}",0,[0,0],1,[0,0],0,0,0.0]],
                 "newest":null,"last_sweep":null}}"#
        );
        let err = serde_json::from_str::<Episodes>(&json).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("episode {key} names labels 0 of 0")),
            "{err}"
        );
    }

    #[test]
    fn the_version_2_layout_is_read_under_the_keys_of_its_ids() {
        let json = r#"{"labels":[{"job_type":"j","error_class":"e","tenant":null,"queue":"q"}],
            "open":[["a",0,[1767225600,5],2,[1767225601,0],1000,1000,0.5],
                    ["b",0,[1767225600,0],1,[1767225600,0],0,0,0.0]],
            "newest":"2026-01-01T00:00:01Z","last_sweep":null}"#;
        let eps = Episodes::from(serde_json::from_str::<EpisodesByJobId>(json).unwrap());
        let (a, b) = (eps.get("a").unwrap(), eps.get("b").unwrap());
        assert!(Arc::ptr_eq(&a.labels, &b.labels));
        assert_eq!(a.first_failure, t0() + Duration::nanoseconds(5));
        assert_eq!(
            (a.last_attempt, a.last_elapsed_ms(), a.view_evidence),
            (2, 999, 0.5),
            "the elapsed time is worked out from the times (1 s less 5 ns), not read"
        );
        assert_eq!(eps.newest, Some(t0() + Duration::seconds(1)));
    }

    #[test]
    fn the_version_1_layout_is_read_with_its_labels_shared() {
        let json = r#"{"map":{
            "a":{"job_type":"j","error_class":"e","queue":"q",
                 "first_failure":"2026-01-01T00:00:00Z","last_attempt":2,
                 "last_failure_at":"2026-01-01T00:00:01Z","last_elapsed_ms":1000,
                 "last_delay_ms":1000,"view_evidence":0.5},
            "b":{"job_type":"j","error_class":"e","tenant":null,"queue":"q",
                 "first_failure":"2026-01-01T00:00:00Z","last_attempt":1,
                 "last_failure_at":"2026-01-01T00:00:00Z","last_elapsed_ms":0,
                 "last_delay_ms":0}},
            "newest":"2026-01-01T00:00:01Z","last_sweep":null}"#;
        let old: LegacyEpisodes = serde_json::from_str(json).unwrap();
        let eps = Episodes::from(old);
        let (a, b) = (eps.get("a").unwrap(), eps.get("b").unwrap());
        assert!(Arc::ptr_eq(&a.labels, &b.labels));
        assert_eq!((a.last_attempt, a.last_elapsed_ms()), (2, 1_000));
        assert_eq!(a.view_evidence, 0.5);
        assert_eq!(eps.newest, Some(t0() + Duration::seconds(1)));
    }

    #[test]
    fn labels_and_their_reference_hash_and_compare_alike() {
        use std::hash::BuildHasher;
        let hasher = hashbrown::DefaultHashBuilder::default();
        let all = [
            LabelsRef {
                job_type: "j",
                error_class: "e",
                tenant: None,
                queue: "q",
            },
            LabelsRef {
                job_type: "j",
                error_class: "e",
                tenant: Some("t"),
                queue: "q",
            },
            LabelsRef {
                job_type: "j",
                error_class: "eq",
                tenant: None,
                queue: "",
            },
        ];
        for r in all {
            let owned = Arc::new(r.owned());
            assert_eq!(hasher.hash_one(r), hasher.hash_one(&owned));
            for other in all.iter().filter(|o| **o != r) {
                assert!(!hashbrown::Equivalent::equivalent(other, &owned));
            }
        }
    }

    /// Eviction and the idle sweep as full passes over every episode (the idle sweep as it was
    /// before the index by last failure). Only the job and its last failure matter to them.
    #[derive(Default)]
    struct FullPassTable {
        map: BTreeMap<JobKey, DateTime<Utc>>,
        newest: Option<DateTime<Utc>>,
        last_sweep: Option<DateTime<Utc>>,
    }

    impl FullPassTable {
        fn put(&mut self, job_id: &str, at: DateTime<Utc>, capacity: usize) {
            self.tick(at);
            let key = JobKey::of(job_id);
            if let Some(open) = self.map.get_mut(&key) {
                *open = at;
                return;
            }
            self.keep_newest(capacity.max(1) - 1);
            self.map.insert(key, at);
        }

        fn tick(&mut self, at: DateTime<Utc>) {
            let newest = self.newest.map_or(at, |n| n.max(at));
            self.newest = Some(newest);
            let due = self
                .last_sweep
                .is_none_or(|s| newest - s >= Duration::milliseconds(IDLE_MS / 4));
            if due {
                let horizon = newest - Duration::milliseconds(IDLE_MS);
                self.map.retain(|_, t| *t >= horizon);
                self.last_sweep = Some(newest);
            }
        }

        /// Keeps the `keep` most recently touched (of equal times, the higher keys).
        fn keep_newest(&mut self, keep: usize) {
            let mut all: Vec<(DateTime<Utc>, JobKey)> =
                self.map.iter().map(|(k, t)| (*t, *k)).collect();
            all.sort();
            let gone = all.len().saturating_sub(keep);
            for (_, key) in &all[..gone] {
                self.map.remove(key);
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put {
            job: u8,
            minutes: i64,
            capacity: usize,
        },
        Succeed {
            job: u8,
            minutes: i64,
        },
    }

    /// Times on a coarse grid (many ties) that span several idle horizons.
    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..60, 0i64..1_500, 1usize..40)
                .prop_map(|(job, minutes, capacity)| Op::Put { job, minutes: minutes * 2, capacity }),
            1 => (0u8..60, 0i64..1_500)
                .prop_map(|(job, minutes)| Op::Succeed { job, minutes: minutes * 2 }),
        ]
    }

    proptest::proptest! {
        #[test]
        fn eviction_by_the_index_drops_what_a_full_pass_drops(
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let mut eps = Episodes::default();
            let mut full = FullPassTable::default();
            for op in ops {
                match op {
                    Op::Put { job, minutes, capacity } => {
                        let at = t0() + Duration::minutes(minutes);
                        let e = episode(&mut eps, "q", at);
                        eps.put(&format!("job-{job}"), e, capacity);
                        full.put(&format!("job-{job}"), at, capacity);
                    }
                    Op::Succeed { job, minutes } => {
                        let at = t0() + Duration::minutes(minutes);
                        eps.remove(&format!("job-{job}"));
                        eps.tick(at);
                        full.map.remove(&JobKey::of(&format!("job-{job}")));
                        full.tick(at);
                    }
                }
                let open: BTreeMap<JobKey, DateTime<Utc>> =
                    eps.view().open().iter().map(|(k, e)| (*k, e.last_failure_at)).collect();
                proptest::prop_assert_eq!(&open, &full.map);
                proptest::prop_assert_eq!(eps.count(), full.map.len());
                let indexed: BTreeSet<(DateTime<Utc>, JobKey)> =
                    open.iter().map(|(k, t)| (*t, *k)).collect();
                proptest::prop_assert_eq!(eps.table.oldest(), indexed.first().copied());
                eps.table.check_invariants();
            }
        }
    }

    #[test]
    fn a_view_keeps_the_table_as_it_was_while_the_table_changes() {
        let mut eps = Episodes::default();
        for i in 0..3_000 {
            let e = episode(&mut eps, "q", t0() + Duration::milliseconds(i));
            eps.put(&format!("job-{i}"), e, CAPACITY);
        }
        let view = eps.view();
        let before = serde_json::to_string(&view).unwrap();
        for i in 0..1_500 {
            eps.remove(&format!("job-{i}"));
        }
        let later = episode(&mut eps, "q", t0() + Duration::hours(1));
        eps.put("job-2999", later, CAPACITY);
        let again = episode(&mut eps, "q", t0() + Duration::hours(1));
        eps.put("job-new", again, CAPACITY);
        assert_eq!(serde_json::to_string(&view).unwrap(), before);
        assert_eq!(view.open().len(), 3_000);
        assert_eq!(eps.count(), 1_501);
        let keys: Vec<JobKey> = view.open().iter().map(|(k, _)| *k).collect();
        assert!(keys.is_sorted(), "written in key order");
    }

    #[test]
    fn equal_tables_give_equal_snapshots_whatever_order_filled_their_slots() {
        let fill = |order: &mut dyn Iterator<Item = i64>| {
            let mut eps = Episodes::default();
            for i in order {
                let e = episode(&mut eps, "q", t0() + Duration::milliseconds(i % 7));
                eps.put(&format!("job-{i}"), e, CAPACITY);
            }
            for i in (0..2_500).step_by(3) {
                eps.remove(&format!("job-{i}"));
            }
            eps
        };
        let (up, down) = (fill(&mut (0..2_500)), fill(&mut (0..2_500).rev()));
        assert_eq!(up, down);
        let text = serde_json::to_string(&up).unwrap();
        assert_eq!(text, serde_json::to_string(&down).unwrap());
        let back: Episodes = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }

    #[test]
    fn a_slot_takes_the_72_bytes_the_table_docs_promise() {
        assert_eq!(std::mem::size_of::<Option<(JobKey, Episode)>>(), 72);
    }
}
