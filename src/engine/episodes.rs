//! Episodes: a job's attempts linked by `job_id`, from its first failure to its success.
//!
//! Elapsed time is measured from the episode's first failure by record timestamps (never the
//! arrival time), so replayed or virtual-time histories learn the same thing. The table is
//! bounded: idle episodes are evicted by record time, and when it is full the least recently
//! touched tenth goes.
//!
//! Memory is the job id and 64 bytes per open episode: what an episode is about (job type,
//! error class, tenant, queue) is one shared [`Labels`] per combination, which the models bound,
//! not one copy per job. A snapshot writes the labels once and each episode as a short array
//! that refers to them (layout version 2); [`LegacyEpisodes`] reads the layout of version 1.

use chrono::{DateTime, Duration, Utc};
use hashbrown::HashSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Episodes with no attempt for this long (by record time) are dropped.
pub const IDLE_MS: i64 = 6 * 3_600_000;
/// Most episodes kept at once.
pub const CAPACITY: usize = 200_000;

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
    /// The last attempt that failed, its time and its elapsed time since the first failure.
    pub last_attempt: u32,
    pub last_failure_at: DateTime<Utc>,
    pub last_elapsed_ms: u64,
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
}

/// The bounded episode table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Episodes {
    /// A B-tree, not a hash map: a hash map's doubling rehashes every episode in one insert, a
    /// stall of up to 100 ms at 10⁵ episodes under the engine's lock.
    map: BTreeMap<Box<str>, Episode>,
    /// The newest record time seen, the clock of eviction.
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
    /// The one shared copy of each combination of labels the episodes use.
    labels: LabelSet,
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
    pub fn get(&self, job_id: &str) -> Option<&Episode> {
        self.map.get(job_id)
    }

    pub fn remove(&mut self, job_id: &str) -> Option<Episode> {
        self.map.remove(job_id)
    }

    /// The shared copy of `labels` (made now if no episode uses them yet).
    pub fn labels(&mut self, labels: LabelsRef<'_>) -> Arc<Labels> {
        self.labels.intern(labels)
    }

    /// Inserts or replaces a job's episode, keeping the table bounded.
    pub fn put(&mut self, job_id: &str, episode: Episode) {
        self.tick(episode.last_failure_at);
        if let Some(open) = self.map.get_mut(job_id) {
            *open = episode;
            return;
        }
        if self.map.len() >= CAPACITY {
            self.evict_oldest_tenth();
        }
        self.map.insert(job_id.into(), episode);
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
            self.labels.prune();
            self.last_sweep = Some(newest);
        }
    }

    fn evict_oldest_tenth(&mut self) {
        let mut times: Vec<DateTime<Utc>> = self.map.values().map(|e| e.last_failure_at).collect();
        let cut = times.len() / 10;
        let (_, cutoff, _) = times.select_nth_unstable(cut);
        let cutoff = *cutoff;
        self.map.retain(|_, e| e.last_failure_at > cutoff);
        self.labels.prune();
    }
}

/// A time in a snapshot: seconds since the epoch and the nanoseconds past them (exact for
/// every time a record can carry).
type Time = (i64, u32);

fn time(t: DateTime<Utc>) -> Time {
    (t.timestamp(), t.timestamp_subsec_nanos())
}

fn from_time((secs, nanos): Time) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| format!("episode time {secs}.{nanos:09} s is out of range"))
}

/// One episode in a snapshot: job id, index of its labels, first failure, last attempt, last
/// failure, last elapsed ms, last delay ms, view evidence.
type Stored<Id> = (Id, u32, Time, u32, Time, u64, u64, f64);

/// The table as a snapshot holds it (layout version 2).
#[derive(Serialize, Deserialize)]
struct Layout<Open> {
    labels: Vec<Arc<Labels>>,
    open: Open,
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
}

/// Written in job id order, so equal tables give equal text.
impl Serialize for Episodes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut open: Vec<(&str, &Episode)> = self.map.iter().map(|(id, e)| (&**id, e)).collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        let mut index: HashMap<*const Labels, u32> = HashMap::new();
        let mut labels = Vec::new();
        for (_, e) in &open {
            index.entry(Arc::as_ptr(&e.labels)).or_insert_with(|| {
                labels.push(e.labels.clone());
                (labels.len() - 1) as u32
            });
        }
        let open = OpenRef {
            open: &open,
            index: &index,
        };
        Layout {
            labels,
            open,
            newest: self.newest,
            last_sweep: self.last_sweep,
        }
        .serialize(serializer)
    }
}

/// The open episodes written straight from the table (no copy of an episode).
struct OpenRef<'a> {
    open: &'a [(&'a str, &'a Episode)],
    index: &'a HashMap<*const Labels, u32>,
}

impl Serialize for OpenRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.open.iter().map(|&(id, e)| -> Stored<&str> {
            (
                id,
                self.index[&Arc::as_ptr(&e.labels)],
                time(e.first_failure),
                e.last_attempt,
                time(e.last_failure_at),
                e.last_elapsed_ms,
                e.last_delay_ms,
                e.view_evidence,
            )
        }))
    }
}

impl<'de> Deserialize<'de> for Episodes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let layout = Layout::<Vec<Stored<Box<str>>>>::deserialize(deserializer)?;
        Self::from_layout(layout).map_err(serde::de::Error::custom)
    }
}

impl Episodes {
    fn from_layout(layout: Layout<Vec<Stored<Box<str>>>>) -> Result<Self, String> {
        let mut table = Self {
            newest: layout.newest,
            last_sweep: layout.last_sweep,
            ..Self::default()
        };
        let labels: Vec<Arc<Labels>> = layout
            .labels
            .into_iter()
            .map(|l| table.labels.intern(l.as_ref().into()))
            .collect();
        for (id, label, first, last_attempt, last, elapsed, delay, evidence) in layout.open {
            let labels = labels
                .get(label as usize)
                .ok_or_else(|| format!("episode {id} names labels {label} of {}", labels.len()))?;
            let episode = Episode {
                labels: labels.clone(),
                first_failure: from_time(first)?,
                last_attempt,
                last_failure_at: from_time(last)?,
                last_elapsed_ms: elapsed,
                last_delay_ms: delay,
                view_evidence: evidence,
            };
            table.map.insert(id, episode);
        }
        drop(labels);
        table.labels.prune();
        Ok(table)
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

/// The episode table in the layout of snapshot version 1: every episode an object carrying
/// its own copy of its names.
#[derive(Debug, Deserialize)]
pub struct LegacyEpisodes {
    map: HashMap<Box<str>, LegacyEpisode>,
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct LegacyEpisode {
    job_type: Box<str>,
    error_class: Box<str>,
    #[serde(default)]
    tenant: Option<Box<str>>,
    queue: Box<str>,
    first_failure: DateTime<Utc>,
    last_attempt: u32,
    last_failure_at: DateTime<Utc>,
    last_elapsed_ms: u64,
    last_delay_ms: u64,
    #[serde(default)]
    view_evidence: f64,
}

impl From<LegacyEpisodes> for Episodes {
    fn from(old: LegacyEpisodes) -> Self {
        let mut table = Self {
            newest: old.newest,
            last_sweep: old.last_sweep,
            ..Self::default()
        };
        for (id, e) in old.map {
            let labels = table.labels.intern(LabelsRef {
                job_type: &e.job_type,
                error_class: &e.error_class,
                tenant: e.tenant.as_deref(),
                queue: &e.queue,
            });
            let episode = Episode {
                labels,
                first_failure: e.first_failure,
                last_attempt: e.last_attempt,
                last_failure_at: e.last_failure_at,
                last_elapsed_ms: e.last_elapsed_ms,
                last_delay_ms: e.last_delay_ms,
                view_evidence: e.view_evidence,
            };
            table.map.insert(id, episode);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            last_elapsed_ms: 0,
            view_evidence: 0.0,
            last_delay_ms: 0,
        }
    }

    #[test]
    fn idle_episodes_are_evicted_by_record_time() {
        let mut eps = Episodes::default();
        let old = episode(&mut eps, "q", t0());
        eps.put("old", old);
        let fresh = episode(&mut eps, "q", t0() + Duration::hours(5));
        eps.put("fresh", fresh);
        assert_eq!(eps.map.len(), 2);
        eps.tick(t0() + Duration::hours(7));
        assert!(eps.get("old").is_none(), "idle for 7h");
        assert!(eps.get("fresh").is_some(), "idle for 2h");
    }

    #[test]
    fn an_episode_takes_the_64_bytes_the_module_docs_promise() {
        assert_eq!(std::mem::size_of::<Episode>(), 64);
    }

    #[test]
    fn elapsed_is_measured_from_the_first_failure() {
        let e = episode(&mut Episodes::default(), "q", t0());
        assert_eq!(e.elapsed_at(t0() + Duration::milliseconds(7_500)), 7_500);
        assert_eq!(e.elapsed_at(t0() - Duration::seconds(1)), 0);
    }

    #[test]
    fn a_full_table_evicts_its_least_recently_touched_tenth_and_their_labels() {
        let mut eps = Episodes::default();
        for i in 0..CAPACITY {
            let queue = if i == 0 { "only-the-oldest" } else { "q" };
            let e = episode(&mut eps, queue, t0() + Duration::milliseconds(i as i64));
            eps.put(&format!("job-{i}"), e);
        }
        let newest = episode(&mut eps, "q", t0() + Duration::hours(1));
        eps.put("newest", newest);
        assert_eq!(eps.map.len(), CAPACITY - CAPACITY / 10);
        assert!(eps.get("job-0").is_none() && eps.get("newest").is_some());
        assert_eq!(eps.labels.0.len(), 1, "the evicted job's labels were kept");
    }

    #[test]
    fn episodes_share_their_labels_also_after_a_round_trip() {
        let mut eps = Episodes::default();
        let at = t0() + Duration::nanoseconds(123_456_789);
        for (id, queue) in [("a", "q"), ("b", "q"), ("c", "other")] {
            let mut e = episode(&mut eps, queue, at);
            e.view_evidence = -1.25;
            eps.put(id, e);
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
        let json = r#"{"labels":[],"open":[["a",0,[0,0],1,[0,0],0,0,0.0]],
                       "newest":null,"last_sweep":null}"#;
        let err = serde_json::from_str::<Episodes>(json).unwrap_err();
        assert!(
            err.to_string().contains("episode a names labels 0 of 0"),
            "{err}"
        );
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
        assert_eq!((a.last_attempt, a.last_elapsed_ms), (2, 1_000));
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
}
