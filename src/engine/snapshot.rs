//! The layout of the engine's snapshot: every learned count, open episodes, guardrail state
//! and the exploration share, as the JSON inside an `EngineSnapshot` of version
//! [`SNAPSHOT_VERSION`]. Version 0 with data `null` is the empty snapshot. Versions 1 (each
//! open episode an object with its own names, about four times larger) and 2 (episodes under
//! their job ids rather than their keys) are still read.
//!
//! The service writes a snapshot straight into the store as it encodes it ([`SnapshotCopy`] is
//! a [`SnapshotSource`]), and decodes it as the store reads it ([`StoredSnapshot`]), so the
//! text is never held whole.

use super::bayes::ExploreShare;
use super::episodes::{Episodes, EpisodesByJobId, EpisodesView, LegacyEpisodes};
use super::guardrails::GuardrailState;
use super::registry::ModelsSnapshot;
use crate::model::{EngineSnapshot, SnapshotSource};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;

/// Version of `EngineSnapshot::data`'s layout.
pub const SNAPSHOT_VERSION: u32 = 3;
/// The oldest layout still read.
const OLDEST_VERSION: u32 = 1;

/// What a snapshot holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotData {
    pub models: ModelsSnapshot,
    pub episodes: Episodes,
    pub guardrails: GuardrailState,
    pub explore: ExploreShare,
}

/// `SnapshotData` in an older layout, whose episode table `Old` reads.
#[derive(Deserialize)]
struct OlderData<Old> {
    models: ModelsSnapshot,
    episodes: Old,
    guardrails: GuardrailState,
    explore: ExploreShare,
}

impl<Old: Into<Episodes>> From<OlderData<Old>> for SnapshotData {
    fn from(old: OlderData<Old>) -> Self {
        Self {
            models: old.models,
            episodes: old.episodes.into(),
            guardrails: old.guardrails,
            explore: old.explore,
        }
    }
}

/// `SnapshotData` by reference, for writing a snapshot without copying the episode table.
#[derive(Serialize)]
pub struct SnapshotRef<'a> {
    pub models: &'a ModelsSnapshot,
    pub episodes: &'a EpisodesView,
    pub guardrails: &'a GuardrailState,
    pub explore: ExploreShare,
}

/// A copy of what the engine learned, taken by `Engine::snapshot_copy`, to be encoded away
/// from the engine. The episodes are a view that shares the table's ranges (see
/// [`Episodes::view`]), so taking the copy does not grow with the open episodes.
#[derive(Debug, Clone)]
pub struct SnapshotCopy {
    pub(super) models: ModelsSnapshot,
    pub(super) episodes: EpisodesView,
    pub(super) guardrails: GuardrailState,
    pub(super) explore: ExploreShare,
}

/// The stored document of the snapshot, as `Engine::snapshot` would have given it when the
/// copy was taken (the same text), written as it is encoded.
impl SnapshotSource for SnapshotCopy {
    fn write_document(&self, out: &mut dyn io::Write) -> io::Result<()> {
        let data = SnapshotRef {
            models: &self.models,
            episodes: &self.episodes,
            guardrails: &self.guardrails,
            explore: self.explore,
        };
        // The field order of `EngineSnapshot`, so the text is the one it would hold.
        #[derive(Serialize)]
        struct Document<'a> {
            version: u32,
            data: &'a SnapshotRef<'a>,
        }
        let document = Document {
            version: SNAPSHOT_VERSION,
            data: &data,
        };
        serde_json::to_writer(out, &document).map_err(io::Error::from)
    }
}

/// The snapshot of `data` (the empty one if it cannot be encoded).
pub fn encode(data: &SnapshotRef<'_>) -> EngineSnapshot {
    EngineSnapshot::new(SNAPSHOT_VERSION, data).unwrap_or_default()
}

/// What `snapshot` holds: `None` for the empty snapshot; an unknown version or malformed data
/// is an error that says which.
pub fn decode(snapshot: &EngineSnapshot) -> Result<Option<SnapshotData>, String> {
    if !(snapshot.version == 0 || (OLDEST_VERSION..=SNAPSHOT_VERSION).contains(&snapshot.version)) {
        return Err(unsupported(snapshot.version));
    }
    let mut data = serde_json::Deserializer::from_str(snapshot.data.get());
    let decoded = Layout(snapshot.version)
        .deserialize(&mut data)
        .and_then(|decoded| data.end().map(|()| decoded));
    decoded.map_err(|e| format!("engine snapshot data is malformed: {e}"))
}

/// A stored snapshot document (`{"version":V,"data":…}`) decoded as it is read: the version
/// picks the layout the data is read in, so the data is never held as text (as
/// [`EngineSnapshot`] holds it). `None` inside for the empty snapshot.
pub struct StoredSnapshot(pub(super) Option<SnapshotData>);

impl<'de> Deserialize<'de> for StoredSnapshot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor).map(Self)
    }
}

/// The error for a version this build does not read.
fn unsupported(version: u32) -> String {
    format!(
        "engine snapshot version {version} is not supported (this build reads versions \
         {OLDEST_VERSION} to {SNAPSHOT_VERSION})"
    )
}

/// Reads `version`, then `data` in the layout it names. Every writer puts `version` first;
/// data found before it is held as text until the version is known.
struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Option<SnapshotData>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an engine snapshot document {\"version\": …, \"data\": …}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut version = None;
        let mut decoded = None;
        let mut early: Option<Box<serde_json::value::RawValue>> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match (key.as_ref(), version) {
                ("version", _) => version = Some(map.next_value::<u32>()?),
                ("data", Some(v)) => decoded = Some(map.next_value_seed(Layout(v))?),
                ("data", None) => early = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let version = version.ok_or_else(|| de::Error::missing_field("version"))?;
        match (decoded, early) {
            (Some(decoded), _) => Ok(decoded),
            (None, Some(text)) => {
                let mut data = serde_json::Deserializer::from_str(text.get());
                Layout(version)
                    .deserialize(&mut data)
                    .map_err(de::Error::custom)
            }
            (None, None) => Err(de::Error::missing_field("data")),
        }
    }
}

/// The data of a snapshot of this layout version: `None` for the empty snapshot (version 0,
/// data `null`).
struct Layout(u32);

impl<'de> DeserializeSeed<'de> for Layout {
    type Value = Option<SnapshotData>;

    fn deserialize<D: Deserializer<'de>>(self, data: D) -> Result<Self::Value, D::Error> {
        let decoded = match self.0 {
            0 => match Option::<IgnoredAny>::deserialize(data)? {
                None => return Ok(None),
                Some(_) => return Err(de::Error::custom(unsupported(0))),
            },
            SNAPSHOT_VERSION => SnapshotData::deserialize(data)?,
            2 => OlderData::<EpisodesByJobId>::deserialize(data)?.into(),
            1 => OlderData::<LegacyEpisodes>::deserialize(data)?.into(),
            other => return Err(de::Error::custom(unsupported(other))),
        };
        Ok(Some(decoded))
    }
}
