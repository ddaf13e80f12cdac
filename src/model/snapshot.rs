//! The engine's learned state as the store keeps it: an opaque, versioned JSON document.
//!
//! The engine writes and reads its layout; the store only saves and loads it whole, so the
//! store needs this type and not the engine.

use serde::{Deserialize, Serialize};

/// Everything the engine has learned, for persistence and restore.
///
/// `data` is the JSON text itself, not a `serde_json::Value` tree: with 100,000 open episodes
/// a tree was about 100 MB of short-lived allocations every snapshot; the text is a quarter
/// of that. It is written into the stored document verbatim, so the stored form is the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineSnapshot {
    /// Opaque to callers; versioned by the engine.
    pub version: u32,
    pub data: Box<serde_json::value::RawValue>,
}

impl EngineSnapshot {
    /// A snapshot of `data` encoded as JSON text (never through a `Value` tree).
    pub fn new<T: Serialize>(version: u32, data: &T) -> Result<Self, serde_json::Error> {
        let data = serde_json::value::to_raw_value(data)?;
        Ok(Self { version, data })
    }
}

/// The empty snapshot: version 0, data `null` ("nothing learned yet").
impl Default for EngineSnapshot {
    fn default() -> Self {
        Self {
            version: 0,
            data: serde_json::value::to_raw_value(&()).expect("null encodes"),
        }
    }
}

/// Equal when the versions match and the data is the same JSON (key order and spacing aside:
/// hash maps serialize in any order).
impl PartialEq for EngineSnapshot {
    fn eq(&self, other: &Self) -> bool {
        let value = |s: &Self| serde_json::from_str::<serde_json::Value>(s.data.get()).ok();
        self.version == other.version
            && (self.data.get() == other.data.get() || value(self) == value(other))
    }
}
