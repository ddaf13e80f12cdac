//! The episode table as snapshots hold it.
//!
//! Layout version 3 (written): the labels once, then each open episode as a short array that
//! refers to them, under its [`JobKey`] as 32 hexadecimal digits, in key order. Read too:
//! version 2 ([`EpisodesByJobId`], the same arrays under the job ids themselves) and version 1
//! ([`LegacyEpisodes`], every episode an object with its own copy of its names); their ids are
//! turned into keys as they are read.

use super::{Episode, Episodes, EpisodesView, JobKey, Labels, LabelsRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::sync::Arc;

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

/// One episode in a snapshot: job key (job id before version 3), index of its labels, first
/// failure, last attempt, last failure, last elapsed ms, last delay ms, view evidence. The
/// elapsed ms is written for the builds that keep it and not read: it is always the time from
/// the first failure to the last.
type Stored<Id> = (Id, u32, Time, u32, Time, u64, u64, f64);

/// The table as a snapshot holds it (layouts 2 and 3).
#[derive(Serialize, Deserialize)]
struct Layout<Open> {
    labels: Vec<Arc<Labels>>,
    open: Open,
    newest: Option<DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
}

/// Written in key order (the table's own), so equal tables give equal text.
impl Serialize for EpisodesView {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let table = self.open();
        let mut index: HashMap<*const Labels, u32> = HashMap::new();
        let mut labels = Vec::new();
        for (_, e) in &table {
            index.entry(Arc::as_ptr(&e.labels)).or_insert_with(|| {
                labels.push(e.labels.clone());
                (labels.len() - 1) as u32
            });
        }
        let open = OpenRef {
            table: &table,
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

/// Written as its [`Episodes::view`].
impl Serialize for Episodes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(serializer)
    }
}

/// The open episodes written straight from the table (no copy of an episode).
struct OpenRef<'a> {
    table: &'a [&'a (JobKey, Episode)],
    index: &'a HashMap<*const Labels, u32>,
}

impl Serialize for OpenRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.table.iter().map(|&&(key, ref e)| -> Stored<JobKey> {
            (
                key,
                self.index[&Arc::as_ptr(&e.labels)],
                time(e.first_failure),
                e.last_attempt,
                time(e.last_failure_at),
                e.last_elapsed_ms(),
                e.last_delay_ms,
                e.view_evidence,
            )
        }))
    }
}

impl<'de> Deserialize<'de> for Episodes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let layout = Layout::<Vec<Stored<JobKey>>>::deserialize(deserializer)?;
        Episodes::from_layout(layout).map_err(serde::de::Error::custom)
    }
}

/// The episode table in the layout of snapshot version 2: as version 3, under job ids.
pub struct EpisodesByJobId(Episodes);

impl<'de> Deserialize<'de> for EpisodesByJobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let layout = Layout::<Vec<Stored<Box<str>>>>::deserialize(deserializer)?;
        let open = layout.open.into_iter();
        let layout = Layout {
            open: open.map(|(id, l, f, a, t, e, d, v)| (JobKey::of(&id), l, f, a, t, e, d, v)),
            labels: layout.labels,
            newest: layout.newest,
            last_sweep: layout.last_sweep,
        };
        Episodes::from_layout(layout)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

impl From<EpisodesByJobId> for Episodes {
    fn from(old: EpisodesByJobId) -> Self {
        old.0
    }
}

impl Episodes {
    fn from_layout(
        layout: Layout<impl IntoIterator<Item = Stored<JobKey>>>,
    ) -> Result<Self, String> {
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
        for (key, label, first, last_attempt, last, _elapsed, delay, evidence) in layout.open {
            let labels = labels
                .get(label as usize)
                .ok_or_else(|| format!("episode {key} names labels {label} of {}", labels.len()))?;
            let episode = Episode {
                labels: labels.clone(),
                first_failure: from_time(first)?,
                last_attempt,
                last_failure_at: from_time(last)?,
                last_delay_ms: delay,
                view_evidence: evidence,
            };
            table.set(key, episode);
        }
        drop(labels);
        table.labels.prune();
        Ok(table)
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
                last_delay_ms: e.last_delay_ms,
                view_evidence: e.view_evidence,
            };
            table.set(JobKey::of(&id), episode);
        }
        table
    }
}
