//! Storage behind one trait, chosen by config. It depends on `model` only: the engine's
//! snapshot is an opaque, versioned document to it. `sqlite` is the embedded default; `redis`
//! is shared by many replicas; `memory` serves unit tests. Every backend passes the same
//! contract suite (`tests/store_contract.rs`).
//!
//! Durability contract: when `append_attempts` returns `Ok`, the attempts are on disk (for a
//! persistent backend). Writes are group-committed, so many concurrent callers share one commit.

use crate::model::pacing::{PaceAnswer, PaceCounters, PaceRequest, PaceSync};
use crate::model::{
    Alert, AttemptRecord, AuditEntry, ForcedCircuit, JobPage, JobState, MlVersion, Pause,
    PauseScope, RetryStrategy, ScheduledJob, SnapshotReader, SnapshotSource, StoreFailureKind,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod memory;
pub mod pieces;
pub mod redis;
pub mod sqlite;

/// Which backend `open` builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// SQLite (WAL) in `dir/retryctl.db`; the directory is created if missing.
    Sqlite { dir: PathBuf },
    /// Everything in process memory, lost on exit (tests, throw-away demos).
    Memory,
    /// Redis, shared by any number of replicas.
    Redis(redis::RedisConfig),
}

/// Opens the configured backend. Errors name what failed (path, SQLite message).
pub async fn open(config: &StoreConfig) -> StoreResult<Arc<dyn Store>> {
    match config {
        StoreConfig::Sqlite { dir } => Ok(Arc::new(sqlite::SqliteStore::open(dir).await?)),
        StoreConfig::Memory => Ok(Arc::new(memory::MemoryStore::default())),
        StoreConfig::Redis(config) => Ok(Arc::new(redis::RedisStore::open(config).await?)),
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or refused the operation; `kind` says why (each backend
    /// classifies its own errors). A failed write makes the service report itself degraded.
    #[error("store unavailable: {message}")]
    Unavailable {
        kind: StoreFailureKind,
        message: String,
    },
    /// Data on disk could not be read back.
    #[error("store data corrupt: {0}")]
    Corrupt(String),
    /// The caller passed something malformed (e.g. a `cursor` that no page handed out); the
    /// server answers 400.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// An `Unavailable` error of kind `other` (for failures no backend code classifies).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            kind: StoreFailureKind::Other,
            message: message.into(),
        }
    }

    /// The error behind a failed read of a [`SnapshotReader`]: the store's own when the reader
    /// wrapped one, else an `Unavailable` one naming the I/O error.
    pub fn of_read(error: std::io::Error) -> Self {
        let message = error.to_string();
        match error.into_inner().map(|inner| inner.downcast::<Self>()) {
            Some(Ok(store_error)) => *store_error,
            _ => Self::unavailable(format!("cannot read the engine snapshot: {message}")),
        }
    }

    /// The backend's message, without the variant's prefix.
    pub fn detail(&self) -> String {
        match self {
            Self::Unavailable { message, .. } | Self::Corrupt(message) => message.clone(),
            Self::Invalid { field, message } => format!("{field}: {message}"),
        }
    }

    /// Why the store failed, or `None` when the caller is at fault (`Invalid`). Damaged data
    /// counts as an I/O failure.
    pub fn kind(&self) -> Option<StoreFailureKind> {
        match self {
            Self::Unavailable { kind, .. } => Some(*kind),
            Self::Corrupt(_) => Some(StoreFailureKind::Io),
            Self::Invalid { .. } => None,
        }
    }
}

/// The sequence number of an ML model version named `ml-N` (0 for any other name), the
/// order versions are listed in.
pub fn ml_version_seq(version: &str) -> u64 {
    version
        .strip_prefix("ml-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Which jobs `list_jobs` returns. Jobs with a `next_attempt_at` come first, in order of it;
/// then finished jobs (which have none) in order of `updated_at`; ties by job id. `limit` 0
/// means 100; larger than 10,000 means 10,000.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobFilter {
    pub queue: Option<String>,
    pub state: Option<JobState>,
    pub error_class: Option<String>,
    pub job_type: Option<String>,
    pub tenant: Option<String>,
    /// Jobs whose id or last error contains this text (case-sensitive).
    pub text: Option<String>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: u32,
}

/// Counts over the attempts of one (job type, error class) in a time window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AttemptAggregate {
    pub total_attempts: u64,
    /// Attempts with `attempt_number > 1` that succeeded / failed.
    pub successful_retries: u64,
    pub failed_retries: u64,
    /// Sum of `delay_ms` over retries.
    pub retry_delay_ms_sum: u64,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// Attempts with one error class, and how many of them succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassTally {
    pub attempts: u64,
    pub successes: u64,
}

impl ClassTally {
    /// Counts `attempts` into per-class tallies, by the rule [`Store::error_class_counts`]
    /// states (attempts without an error class are left out).
    pub fn add_all<'a>(
        tallies: &mut BTreeMap<String, ClassTally>,
        attempts: impl IntoIterator<Item = &'a AttemptRecord>,
    ) {
        for a in attempts {
            if a.error_class.is_empty() {
                continue;
            }
            let t = tallies.entry(a.error_class.clone()).or_default();
            t.attempts += 1;
            t.successes += u64::from(a.success);
        }
    }
}

/// A claim: jobs due at `now` (scheduled with `next_attempt_at <= now`, or claimed with an
/// expired lease) move to `Claimed` with `lease_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub worker: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub limit: u32,
    pub queue: Option<String>,
    /// Scopes whose jobs are not handed out (the pauses active now).
    pub paused: Vec<PauseScope>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Short backend name for `/summary` and logs: `sqlite`, `memory`, `redis`.
    fn name(&self) -> &'static str;

    /// Whether other processes append to this store's attempt log (Redis shared by replicas):
    /// the service then learns by following the log in order instead of from its own writes.
    fn shared_log(&self) -> bool {
        false
    }

    /// Whether the pacing guardrails' counters (retry budget, budget share, tenant quota,
    /// circuit probe) are shared by every replica of this store ([`Store::sync_pacing`],
    /// [`Store::pace`]).
    fn shares_guardrails(&self) -> bool {
        false
    }

    /// Places a retry in the shared pacing counters and spends them, in one atomic step;
    /// `None` when this store keeps no such counters (the engine paces in process).
    async fn pace(&self, _request: &PaceRequest) -> StoreResult<Option<PaceAnswer>> {
        Ok(None)
    }

    /// Adds a replica's spends to the shared pacing counters and returns those counters, in
    /// one atomic step; `None` when this store keeps no such counters.
    async fn sync_pacing(&self, _sync: &PaceSync) -> StoreResult<Option<PaceCounters>> {
        Ok(None)
    }

    /// Appends attempts; returns each one's sequence number. Durable when it returns.
    async fn append_attempts(&self, attempts: Vec<AttemptRecord>) -> StoreResult<Vec<u64>>;
    /// Every attempt of one job, oldest `timestamp` first (ties in arrival order).
    async fn job_attempts(&self, job_id: &str) -> StoreResult<Vec<AttemptRecord>>;
    /// Attempts with a sequence number above `after`, in order, at most `limit`: for replaying
    /// what a snapshot does not hold.
    async fn attempts_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>>;
    /// Waits until the attempt log holds an attempt after `after`, at most `at_most`; whether
    /// it does. A replica following a log others append to waits here between reads instead
    /// of polling. The default waits `at_most` and says yes (a poll).
    async fn wait_for_attempts(&self, _after: u64, at_most: Duration) -> StoreResult<bool> {
        tokio::time::sleep(at_most).await;
        Ok(true)
    }
    /// Counts over the attempts of (job type, error class) with `timestamp` in `[from, to)`.
    async fn attempt_aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate>;
    /// Attempts and successes per error class over every attempt ever appended (retention
    /// does not lower them); attempts without an error class are not counted. Kept up to date
    /// on append, so reading them is cheap (the service seeds `/summary` from it at start-up).
    async fn error_class_counts(&self) -> StoreResult<BTreeMap<String, ClassTally>>;
    /// Drops attempts with `timestamp` before `before`; returns how many.
    async fn prune_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Appends one attempt and inserts or replaces the job it (re)scheduled, atomically: both
    /// or neither, in one commit (`POST /failures`). Returns the attempt's sequence number.
    /// Durable when it returns, like [`Store::append_attempts`].
    async fn append_attempt_with_job(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
    ) -> StoreResult<u64>;

    /// [`Store::append_attempt_with_job`] only if the stored job is still `expected`
    /// (compare-and-set): `Ok(None)`, with nothing written, when it changed meanwhile. The
    /// default compares then writes, which is atomic only where one process writes (the
    /// service serialises the writes of one job); a shared backend overrides it.
    async fn append_attempt_with_job_if(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
        expected: &ScheduledJob,
    ) -> StoreResult<Option<u64>> {
        if self.get_job(&job.job_id).await?.as_ref() != Some(expected) {
            return Ok(None);
        }
        self.append_attempt_with_job(attempt, job).await.map(Some)
    }

    /// [`Store::append_attempt_with_job`] unless the job is stored as killed: `Ok(None)`, with
    /// nothing written, when it is (an operator's kill is final, so a new failure must keep
    /// it killed). Lets a first failure be written without reading the job first. The default
    /// reads then writes, which is atomic only where one process writes; a shared backend
    /// overrides it.
    async fn append_attempt_with_job_unless_killed(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
    ) -> StoreResult<Option<u64>> {
        let stored = self.get_job(&job.job_id).await?;
        if stored.is_some_and(|j| j.state == JobState::Killed) {
            return Ok(None);
        }
        self.append_attempt_with_job(attempt, job).await.map(Some)
    }

    /// Inserts or replaces a job on the schedule.
    async fn put_job(&self, job: ScheduledJob) -> StoreResult<()>;
    /// Inserts or replaces many jobs at once: all or none in one commit where the backend
    /// commits (cheaper than one `put_job` per job, each waiting for its own commit). The
    /// default stores them one by one, for backends without a batch write.
    async fn put_jobs(&self, jobs: Vec<ScheduledJob>) -> StoreResult<()> {
        for job in jobs {
            self.put_job(job).await?;
        }
        Ok(())
    }
    async fn get_job(&self, job_id: &str) -> StoreResult<Option<ScheduledJob>>;
    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<JobPage>;
    /// The ids of every job the filter matches, in list order (its cursor and limit are
    /// ignored): what a bulk action locks before it reads the jobs. The default pages through
    /// [`Store::list_jobs`]; a backend that can read the ids alone does so.
    async fn list_job_ids(&self, filter: JobFilter) -> StoreResult<Vec<String>> {
        let mut filter = JobFilter {
            cursor: None,
            limit: MAX_PAGE,
            ..filter
        };
        let mut ids = Vec::new();
        loop {
            let page = self.list_jobs(filter.clone()).await?;
            ids.extend(page.jobs.into_iter().map(|j| j.job_id));
            match page.next_cursor {
                Some(next) => filter.cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }
    /// Atomically claims due jobs (no two claims get the same job while its lease holds), the
    /// longest-due first (see [`Claim::takes`] and [`Claim::apply`]).
    async fn claim_due(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>>;
    /// How many jobs are in each state; states with no job are absent.
    async fn count_jobs_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>>;

    async fn save_strategy(&self, strategy: &RetryStrategy) -> StoreResult<()>;
    async fn load_strategy(&self) -> StoreResult<Option<RetryStrategy>>;

    /// Saves what the engine learned up to attempt sequence `watermark`, writing the document
    /// as `snapshot` encodes it (see [`pieces`]), never holding it whole. Until it returns
    /// `Ok` the previous snapshot is the one loaded, also after a crash half-way through.
    async fn save_snapshot(
        &self,
        snapshot: Box<dyn SnapshotSource>,
        watermark: u64,
    ) -> StoreResult<()>;
    /// The last snapshot saved, to be read as it is decoded, and its watermark. A reader's
    /// error wraps the [`StoreError`] behind it ([`StoreError::of_read`] unwraps it).
    async fn load_snapshot(&self) -> StoreResult<Option<(SnapshotReader, u64)>>;

    /// Appends to the audit log; the entry's `id` is assigned by the store and returned.
    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<u64>;
    /// Audit entries with id above `after`, oldest first, at most `limit`.
    async fn list_audit(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    /// Inserts or replaces an alert (by id).
    async fn put_alert(&self, alert: &Alert) -> StoreResult<()>;
    /// Every alert, newest `raised_at` first (ties by id).
    async fn list_alerts(&self) -> StoreResult<Vec<Alert>>;

    /// Inserts or replaces a pause (by id).
    async fn put_pause(&self, pause: &Pause) -> StoreResult<()>;
    /// Every stored pause, oldest `created_at` first (ties by id).
    async fn list_pauses(&self) -> StoreResult<Vec<Pause>>;
    /// Removes a pause; whether it was there.
    async fn remove_pause(&self, id: &str) -> StoreResult<bool>;

    /// Inserts or replaces the forced state of a circuit (by queue and error class).
    async fn put_forced_circuit(&self, forced: &ForcedCircuit) -> StoreResult<()>;
    /// Every forced circuit, by queue then error class.
    async fn list_forced_circuits(&self) -> StoreResult<Vec<ForcedCircuit>>;
    /// Releases a forced circuit; whether it was forced.
    async fn remove_forced_circuit(&self, queue: &str, error_class: &str) -> StoreResult<bool>;

    /// Inserts or replaces ML model versions (by `version`), all in one commit where the
    /// backend commits; a version given with its parameters (the model document) stores them
    /// too, one given with `None` keeps the parameters stored before.
    async fn put_ml_versions(&self, versions: Vec<(MlVersion, Option<Vec<u8>>)>)
    -> StoreResult<()>;
    /// Every stored ML model version, newest (highest `ml-N`) first, without parameters.
    async fn list_ml_versions(&self) -> StoreResult<Vec<MlVersion>>;
    /// The stored parameters (model document) of one version.
    async fn ml_model(&self, version: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Takes or renews the lease `name` for `holder` for `ttl`: whether `holder` holds it
    /// now. Replicas sharing a store elect the one that runs the chores (snapshots, retention)
    /// this way. A backend only one process uses has no one to share with: always `true`.
    async fn hold_lease(
        &self,
        _name: &str,
        _holder: &str,
        _ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        Ok(true)
    }

    /// Who holds the lease `name`, if anyone. A backend only one process uses has no lease
    /// to share: `None`.
    async fn lease_holder(&self, _name: &str) -> StoreResult<Option<String>> {
        Ok(None)
    }

    /// Publishes one replica's counts (JSON) for the leader to add up (its alert inputs).
    /// A backend only one process uses has no leader to tell: nothing is kept.
    async fn put_replica_counts(&self, _replica: &str, _counts: String) -> StoreResult<()> {
        Ok(())
    }

    /// Every replica's published counts, as (replica, JSON).
    async fn replica_counts(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    /// A tiny real write (one row replaced, committed like any other write): the service
    /// probes with it while degraded, to learn without waiting for traffic that writes work
    /// again.
    async fn probe_write(&self) -> StoreResult<()>;

    /// Brings data an earlier build wrote in an older layout to this build's, in place;
    /// idempotent (a store already in this layout is left as it is). Returns what it changed,
    /// one sentence each, empty when nothing. The replica that leads runs it. A backend whose
    /// layout never changed in place has nothing to do.
    async fn upgrade_layout(&self) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }
}

impl JobFilter {
    /// Whether the job matches every field given (cursor and limit aside). Backends that
    /// filter in code use this; SQL backends state the same conditions.
    pub fn matches(&self, job: &ScheduledJob) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.queue, &job.queue)
            && self.state.is_none_or(|s| s == job.state)
            && eq(&self.error_class, &job.error_class)
            && eq(&self.job_type, &job.job_type)
            && self
                .tenant
                .as_deref()
                .is_none_or(|t| job.tenant.as_deref() == Some(t))
            && self
                .text
                .as_deref()
                .is_none_or(|t| job.job_id.contains(t) || job.last_error.contains(t))
    }

    /// Whether only the fields the per-group counts know (queue, state, error class) are set.
    pub fn by_group_only(&self) -> bool {
        self.job_type.is_none() && self.tenant.is_none() && self.text.is_none()
    }
}

impl Claim {
    /// Whether `job` may be claimed now, and since when it has been due: a scheduled job at its
    /// `next_attempt_at`, a claimed job once its lease ran out. Every backend uses this rule.
    pub fn due_since(job: &ScheduledJob) -> Option<DateTime<Utc>> {
        match job.state {
            JobState::Scheduled => job.next_attempt_at,
            JobState::Claimed => job.lease_until,
            _ => None,
        }
    }

    /// Whether this claim takes `job`.
    pub fn takes(&self, job: &ScheduledJob) -> bool {
        let due = Self::due_since(job).is_some_and(|at| at <= self.now);
        due && self.queue.as_ref().is_none_or(|q| *q == job.queue)
            && !self
                .paused
                .iter()
                .any(|p| p.covers(&job.queue, &job.error_class, &job.job_type))
    }

    /// What a claimed job looks like: `Claimed` by this worker until the lease ends.
    pub fn apply(&self, job: &mut ScheduledJob) {
        job.state = JobState::Claimed;
        job.claimed_by = Some(self.worker.clone());
        job.lease_until = Some(self.lease_until);
        job.updated_at = self.now;
    }
}

/// Page size when a filter says 0, and the most one page may hold.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 10_000;

/// The page size a filter asks for, after applying the default and the cap.
pub fn page_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// Where a job sits in `list_jobs` order: (0 = pending / 1 = finished, time in ns, job id).
/// Every backend sorts by this key so cursors mean the same thing everywhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobSortKey {
    pub finished: bool,
    pub at_ns: i64,
    pub job_id: String,
}

impl JobSortKey {
    pub fn of(job: &ScheduledJob) -> Self {
        let (finished, at) = match job.next_attempt_at {
            Some(at) => (false, at),
            None => (true, job.updated_at),
        };
        Self {
            finished,
            at_ns: nanos(at),
            job_id: job.job_id.clone(),
        }
    }

    /// What every cursor [`JobSortKey::encode`] makes looks like, and every text
    /// [`JobSortKey::decode`] reads: hex of `0|1`, `:`, nanoseconds, `:`, a job id.
    pub const CURSOR_PATTERN: &str = "^3[01]3[aA](2[dD])?(3[0-9]){1,19}3[aA]([0-9a-fA-F]{2})*$";

    /// The opaque, URL-safe cursor for the page that starts after this key.
    pub fn encode(&self) -> String {
        let raw = format!("{}:{}:{}", u8::from(self.finished), self.at_ns, self.job_id);
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a cursor made by [`JobSortKey::encode`].
    pub fn decode(cursor: &str) -> StoreResult<Self> {
        let bad = || StoreError::Invalid {
            field: "cursor".into(),
            message: "not a cursor this service handed out".into(),
        };
        let raw = hex_decode(cursor).ok_or_else(bad)?;
        let mut parts = raw.splitn(3, ':');
        let finished = match parts.next() {
            Some("0") => false,
            Some("1") => true,
            _ => return Err(bad()),
        };
        // Saturating: nineteen digits can pass i64, and any time is a position in the order.
        let at_ns = parts
            .next()
            .and_then(|t| t.parse::<i128>().ok())
            .map(|ns| ns.clamp(i64::MIN.into(), i64::MAX.into()) as i64)
            .ok_or_else(bad)?;
        let job_id = parts.next().ok_or_else(bad)?.to_string();
        Ok(Self {
            finished,
            at_ns,
            job_id,
        })
    }
}

/// Hex text back to the text it encodes. Bytes that are not UTF-8 become U+FFFD: a cursor only
/// names a position in the job order, and any job id is one.
fn hex_decode(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect();
    Some(String::from_utf8_lossy(&bytes?).into_owned())
}

/// A time as nanoseconds since the epoch, clamped to the i64 range (years 1677–2262) so that
/// indexes keep their order for any time chrono can hold.
pub fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let key = JobSortKey {
            finished: true,
            at_ns: -42,
            job_id: "a:b/ü c".into(),
        };
        assert_eq!(JobSortKey::decode(&key.encode()).unwrap(), key);
        for bad in ["", "zz", "abc", "303a", "323a313a61"] {
            assert!(
                matches!(JobSortKey::decode(bad), Err(StoreError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn every_documented_cursor_is_read(
            text in proptest::string::string_regex(
                JobSortKey::CURSOR_PATTERN.trim_start_matches('^').trim_end_matches('$')
            ).unwrap()
        ) {
            proptest::prop_assert!(JobSortKey::decode(&text).is_ok(), "{text:?}");
        }

        #[test]
        fn every_cursor_made_matches_the_documented_pattern(
            finished: bool, at_ns: i64, job_id in "\\PC{1,20}"
        ) {
            let cursor = JobSortKey { finished, at_ns, job_id }.encode();
            let pattern = regex::Regex::new(JobSortKey::CURSOR_PATTERN).unwrap();
            proptest::prop_assert!(pattern.is_match(&cursor), "{cursor}");
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_http_cursor_text_is_a_cursor_or_refused(text in crate::fuzz::hostile_text()) {
            check_cursor(&text)?;
        }

        /// Well-formed hex of any bytes: the layer inside the hex is what is fuzzed.
        #[test]
        fn fuzz_http_cursor_hex_of_any_bytes(
            head in "[01]?:?-?[0-9]{0,40}:?",
            bytes in crate::fuzz::hostile_bytes(),
        ) {
            let raw: Vec<u8> = head.bytes().chain(bytes).collect();
            let text: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            check_cursor(&text)?;
        }
    }

    fn check_cursor(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        match JobSortKey::decode(text) {
            Ok(_) | Err(StoreError::Invalid { .. }) => Ok(()),
            Err(e) => Err(proptest::test_runner::TestCaseError::fail(format!(
                "{text:?}: {e}"
            ))),
        }
    }

    #[test]
    fn page_limit_defaults_and_caps() {
        assert_eq!(page_limit(0), DEFAULT_PAGE);
        assert_eq!(page_limit(7), 7);
        assert_eq!(page_limit(u32::MAX), MAX_PAGE);
    }
}
