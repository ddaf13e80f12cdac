//! The engine's learned state as the store keeps it: an opaque, versioned JSON document,
//! `{"version":V,"data":…}`.
//!
//! The engine writes and reads its layout; the store only saves and loads the document. It is
//! written in pieces as it is encoded ([`SnapshotSource`]): at the default cap of open
//! episodes a snapshot is megabytes, and the copies of it held whole while it was encoded and
//! stored (the text, the document around it, the store's own) made the service's largest
//! peaks of memory. It is read back in pieces too ([`SnapshotReader`]), as it is decoded.

use serde::{Deserialize, Serialize};
use std::io;

/// Everything the engine has learned, for persistence and restore, held whole (tests, small
/// documents; the service streams it instead, see [`SnapshotSource`]).
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

    /// The whole document read from `reader` (what a store's [`SnapshotReader`] gives).
    pub fn read(reader: impl io::Read) -> Result<Self, serde_json::Error> {
        serde_json::from_reader(io::BufReader::new(reader))
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

/// A snapshot that writes its stored document, `{"version":V,"data":…}`, into `out` as it
/// encodes it, so no whole copy of the text is ever held. A store calls it on a blocking
/// thread and sends the pieces on as they fill.
pub trait SnapshotSource: Send + 'static {
    /// Writes the document; an error of `out` (the store gave up) or of the encoding stops it.
    fn write_document(&self, out: &mut dyn io::Write) -> io::Result<()>;
}

/// The document [`EngineSnapshot`] serializes to.
impl SnapshotSource for EngineSnapshot {
    fn write_document(&self, out: &mut dyn io::Write) -> io::Result<()> {
        serde_json::to_writer(out, self).map_err(io::Error::from)
    }
}

/// A stored snapshot document, read in pieces as it is decoded (see the store's
/// `load_snapshot`). A byte-wise decoder wants it in a `BufReader`.
pub type SnapshotReader = Box<dyn io::Read + Send>;
