//! What `/health` and `/summary` say about the store: whether writes are failing, why, and
//! since when.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why the store refused a write, in the few classes an operator acts on differently. Every
/// backend maps its own errors to these (SQLite: `SQLITE_FULL` is `full`, `SQLITE_BUSY` /
/// `SQLITE_LOCKED` after the busy timeout is `locked`, `SQLITE_IOERR` and `SQLITE_CANTOPEN`
/// are `io`, `SQLITE_READONLY` is `read_only`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StoreFailureKind {
    /// No space left: the disk, the file system, or a size limit of the backend.
    Full,
    /// Another writer holds the lock beyond the wait allowed.
    Locked,
    /// The device or the file failed to read or write.
    Io,
    /// The backend did not answer in time.
    Timeout,
    /// The backend refuses writes (read-only file or mount, read-only replica).
    ReadOnly,
    /// Anything else.
    Other,
}

impl StoreFailureKind {
    pub const ALL: [StoreFailureKind; 6] = [
        Self::Full,
        Self::Locked,
        Self::Io,
        Self::Timeout,
        Self::ReadOnly,
        Self::Other,
    ];

    /// The label value in metrics and JSON: `full`, `locked`, `io`, `timeout`, `read_only`,
    /// `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Locked => "locked",
            Self::Io => "io",
            Self::Timeout => "timeout",
            Self::ReadOnly => "read_only",
            Self::Other => "other",
        }
    }

    /// The short reason an operator reads in `/health`, alerts and the console header.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Full => "store full",
            Self::Locked => "store locked",
            Self::Io => "store I/O error",
            Self::Timeout => "store timeout",
            Self::ReadOnly => "store read-only",
            Self::Other => "store failing",
        }
    }
}

/// The service is degraded: its last write to the store failed and none has succeeded since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Degradation {
    pub kind: StoreFailureKind,
    /// Short, for a header or a page: `store full`.
    pub reason: String,
    /// The backend's own message of the latest failed write; left out for callers without a
    /// viewer or operator token when tokens are configured.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// When the first failed write of this episode happened.
    pub since: DateTime<Utc>,
}

/// `GET /health` (upstream `{status, timestamp, service}`; the rest is ours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthResponse {
    /// `healthy`, or `degraded` while writes to the store fail.
    pub status: String,
    pub timestamp: DateTime<Utc>,
    pub service: String,
    /// True while writes to the store fail (answers then come from memory; writes get 503);
    /// then the fields of a `Degradation` (`kind`, `reason`, `detail`, `since`) are added at
    /// the top level.
    #[serde(default)]
    pub degraded: bool,
    /// On a store shared by replicas (Redis): the sequence number of the last attempt this
    /// replica has learned from the shared log (compare replicas to see their lag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_position: Option<u64>,
    /// On a shared store: which replica answered (`LISTEN/PID`) and whether it runs the
    /// chores (snapshots, retention) now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<bool>,
    // utoipa documents a flattened `Option` as "Degradation or null" for the whole object,
    // which no answer matches; the `degraded` doc above names the fields instead.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub degradation: Option<Degradation>,
}

/// A store URL as logs, messages and `/health` may show it: `scheme://user:secret@host` →
/// `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_string(),
    }
}
