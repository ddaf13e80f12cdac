//! The layout of the engine's snapshot: every learned count, open episodes, guardrail state
//! and the exploration share, as the JSON inside an `EngineSnapshot` of version
//! [`SNAPSHOT_VERSION`]. Version 0 with data `null` is the empty snapshot. Versions 1 (each
//! open episode an object with its own names, about four times larger) and 2 (episodes under
//! their job ids rather than their keys) are still read.

use super::bayes::ExploreShare;
use super::episodes::{Episodes, EpisodesByJobId, EpisodesView, LegacyEpisodes};
use super::guardrails::GuardrailState;
use super::registry::ModelsSnapshot;
use crate::model::EngineSnapshot;
use serde::{Deserialize, Serialize};

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

impl SnapshotCopy {
    /// The snapshot, as `Engine::snapshot` would have given it when the copy was taken.
    pub fn encode(&self) -> EngineSnapshot {
        encode(&SnapshotRef {
            models: &self.models,
            episodes: &self.episodes,
            guardrails: &self.guardrails,
            explore: self.explore,
        })
    }
}

/// The snapshot of `data` (the empty one if it cannot be encoded).
pub fn encode(data: &SnapshotRef<'_>) -> EngineSnapshot {
    EngineSnapshot::new(SNAPSHOT_VERSION, data).unwrap_or_default()
}

/// What `snapshot` holds: `None` for the empty snapshot; an unknown version or malformed data
/// is an error that says which.
pub fn decode(snapshot: &EngineSnapshot) -> Result<Option<SnapshotData>, String> {
    if snapshot.version == 0 && snapshot.data.get() == "null" {
        return Ok(None);
    }
    let data = snapshot.data.get();
    let decoded = match snapshot.version {
        SNAPSHOT_VERSION => serde_json::from_str(data),
        2 => serde_json::from_str::<OlderData<EpisodesByJobId>>(data).map(SnapshotData::from),
        1 => serde_json::from_str::<OlderData<LegacyEpisodes>>(data).map(SnapshotData::from),
        other => {
            return Err(format!(
                "engine snapshot version {other} is not supported (this build reads versions \
                 {OLDEST_VERSION} to {SNAPSHOT_VERSION})"
            ));
        }
    };
    decoded
        .map(Some)
        .map_err(|e| format!("engine snapshot data is malformed: {e}"))
}
