//! Redis as the shared store of many `retryctl serve` replicas (`--store redis://…`).
//!
//! Layout: every key is under one hash-tagged prefix (`{retryctl}:…`, see [`keys`]); attempts
//! form one log (a stream whose entry ids are the sequence numbers), indexed by job and by
//! (job type, error class) and time; jobs are JSON in a hash with lexicographic sorted sets
//! for list order and due order and a hash of counts per (queue, state, error class). Every
//! change that touches more than one key is one Lua script ([`scripts`]).
//!
//! Every call is bounded by the configured timeout (default 1 s; 250 ms once a call timed out,
//! until one succeeds), plus, for a call that carries many items (a batch of attempts, a claim,
//! a page of the log), an allowance for its size: a stalled or unreachable Redis makes the call
//! fail with a `timeout` or `io` error, never hang, and a large call is not mistaken for a
//! stall. The calls of background chores (the leader's lease, the engine snapshot) keep the
//! configured timeout during a stall, the snapshot with more for its size. Durability is
//! Redis's:
//! an acknowledged write is on disk only with `appendonly yes` and `appendfsync always`
//! ([`durability`] checks them at start-up).

mod attempts;
pub mod durability;
mod jobs;
pub mod keys;
mod pacing;
mod scripts;
mod upgrade;

use super::pieces::Pieces;
use super::{AttemptAggregate, Claim, ClassTally, JobFilter, Store, StoreError, StoreResult};
use crate::model::pacing::{PaceAnswer, PaceCounters, PaceRequest, PaceSync};
pub use crate::model::redact_url;
use crate::model::{
    Alert, AttemptRecord, AuditEntry, ForcedCircuit, JobPage, JobState, MlVersion, Pause,
    RetryStrategy, ScheduledJob, SnapshotReader, SnapshotSource, StoreFailureKind,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::Expect;
use keys::Keys;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Default bound on one store call. With [`STALLED_TIMEOUT`] for the calls after a timeout, a
/// write request (a read, a log catch-up and the write) answers 503 within 2 s of a stall.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Bound on a call while Redis is known to stall (since a call timed out, until one succeeds):
/// requests then fail fast instead of each waiting the full timeout.
pub const STALLED_TIMEOUT: Duration = Duration::from_millis(250);
/// What a call's bound grows by per item it carries (an attempt appended or read, a job claimed
/// or read), up to [`MOST_ALLOWANCE`]. Redis ran a 1,000-job claim in about 200 ms at a load
/// of 14 on 2 cores (README "Measured"); without this a claim or a page of the log larger than
/// the stall bound could never succeed once one call had timed out.
pub const PER_ITEM: Duration = Duration::from_micros(500);
/// The most [`PER_ITEM`] adds to a call's bound: a write request whose one large call times out
/// still answers 503 within 2 s (1 s + 750 ms; 250 ms + 750 ms during a known stall).
pub const MOST_ALLOWANCE: Duration = Duration::from_millis(750);
/// What a chore's call bound grows by per MiB of the document it carries (the engine
/// snapshot): Redis appends it to its AOF and fsyncs before it answers, and a 10 MB snapshot
/// took longer than 1.08 s at a load of 14 on this machine's shared disk.
pub const CHORE_PER_MB: Duration = Duration::from_millis(250);
/// Bytes of one piece of an engine snapshot staged in Redis: one `APPEND` each, about a
/// fifth of a second of Redis's AOF writing on this machine's shared disk at a load of 14
/// (see [`CHORE_PER_MB`]).
pub const SNAPSHOT_PIECE_BYTES: usize = 1 << 20;
/// How long a staged snapshot outlives its last piece: a leader that died while staging
/// leaves it behind for this long.
const STAGING_TTL_MS: i64 = 10 * 60 * 1_000;
/// Default key prefix (the hash tag).
pub const DEFAULT_PREFIX: &str = "retryctl";

/// How to reach Redis and where the state lives in it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS).
    pub url: String,
    /// Used when the URL has no password (`RETRYCTL_REDIS_PASSWORD`).
    pub password: Option<String>,
    /// Every key is `{prefix}:…`.
    pub prefix: String,
    /// Bound on every store call.
    pub timeout: Duration,
    /// Refuse to start unless Redis is configured to make acknowledged writes durable.
    pub require_durable: bool,
}

impl RedisConfig {
    /// Defaults for `url`: prefix `retryctl`, 1 s timeout, durability only warned about.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
            require_durable: false,
        }
    }

    /// The URL with any password replaced by `***`, for logs and messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Checks what can be checked without connecting: the scheme and the prefix.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("redis://") || self.url.starts_with("rediss://")) {
            return Err(format!(
                "{} is not a Redis URL: expected redis://HOST:PORT/DB or rediss://…",
                self.redacted_url()
            ));
        }
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(format!(
                "the Redis key prefix {:?} must be non-empty and hold no brace",
                self.prefix
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("require_durable", &self.require_durable)
            .finish()
    }
}

/// The Redis backend (see the module docs).
pub struct RedisStore {
    conn: ConnectionManager,
    /// A connection of its own for the small calls that keep this replica up to date and that
    /// requests wait on: reading the log, syncing and placing in the pacing counters. Redis
    /// answers one connection's calls in turn, so on the shared one they waited behind every
    /// large append this replica had sent before them (README "Measured", 2026-12-07 round 2).
    follow_conn: ConnectionManager,
    /// A connection for the follower's blocking wait for new attempts only: Redis answers
    /// nothing else sent on a connection while a blocking read waits on it.
    wait_conn: ConnectionManager,
    /// A connection for the leader's lease and the replicas' published counts. On the shared
    /// one, under a full load of appends, the lease call waited behind this replica's queued
    /// appends past its bound: no replica held the lease for minutes, so no snapshot was taken
    /// (README "Redis: many replicas", round 5).
    chore_conn: ConnectionManager,
    keys: Keys,
    timeout: Duration,
    /// Set when a call timed out, cleared when one succeeds (see [`STALLED_TIMEOUT`]).
    stalled: AtomicBool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects, then checks Redis's durability settings (warns, or refuses with
    /// `require_durable`).
    pub async fn open(config: &RedisConfig) -> StoreResult<Self> {
        config.validate().map_err(|message| StoreError::Invalid {
            field: "store".into(),
            message,
        })?;
        let info = connection_info(config)?;
        let client = redis::Client::open(info).map_err(err("open the Redis client"))?;
        let store = Self {
            conn: connect(&client, config).await?,
            follow_conn: connect(&client, config).await?,
            wait_conn: connect(&client, config).await?,
            chore_conn: connect(&client, config).await?,
            keys: Keys::new(&config.prefix),
            timeout: config.timeout,
            stalled: AtomicBool::new(false),
        };
        durability::check(&store, config.require_durable).await?;
        Ok(store)
    }

    /// A connection to issue commands on (a cheap handle to the shared one).
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The connection for reading the log and the pacing calls (see `follow_conn`).
    fn follow_conn(&self) -> ConnectionManager {
        self.follow_conn.clone()
    }

    /// The connection for the blocking wait for new attempts (see `wait_conn`).
    fn wait_conn(&self) -> ConnectionManager {
        self.wait_conn.clone()
    }

    /// The connection for the lease and the published counts (see `chore_conn`).
    fn chore_conn(&self) -> ConnectionManager {
        self.chore_conn.clone()
    }

    /// Runs one store call within the timeout (the short one while Redis is known to stall).
    async fn timed<T>(
        &self,
        what: &str,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        self.timed_sized(what, 1, call).await
    }

    /// [`Self::timed`] for a call carrying `items` items: its bound grows with them (see
    /// [`PER_ITEM`]).
    async fn timed_sized<T>(
        &self,
        what: &str,
        items: usize,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let limit = call_bound(self.timeout, self.stalled.load(Ordering::Relaxed), items);
        self.within(what, limit, call).await
    }

    /// A call of a background chore (the leader's lease, the replica's published counts, the
    /// engine snapshot of `bytes` bytes): no request waits for it, so it gets the configured
    /// timeout even while Redis is known to stall, plus [`CHORE_PER_MB`] for a document. On a
    /// busy Redis the stall bound made the leader lose its lease and the snapshots stop.
    async fn timed_chore<T>(
        &self,
        what: &str,
        bytes: usize,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        self.within(what, chore_bound(self.timeout, bytes), call)
            .await
    }

    /// Runs `call` within `limit`; a timeout marks Redis as stalling, a success clears it.
    async fn within<T>(
        &self,
        what: &str,
        limit: Duration,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(timeout_error(&format!("{what} (after {limit:?})"))),
        };
        let timed_out = matches!(&result, Err(e) if e.kind() == Some(StoreFailureKind::Timeout));
        if timed_out || result.is_ok() {
            self.stalled.store(timed_out, Ordering::Relaxed);
        }
        result
    }

    async fn put_json<T: Serialize>(
        &self,
        what: &str,
        key: String,
        field: &str,
        value: &T,
    ) -> StoreResult<()> {
        let body = to_json(what, value)?;
        self.timed(what, async {
            let () = self
                .conn()
                .hset(key, field, body)
                .await
                .map_err(err(what))?;
            Ok(())
        })
        .await
    }

    async fn all_json<T: DeserializeOwned>(&self, what: &str, key: String) -> StoreResult<Vec<T>> {
        let bodies: Vec<String> = self
            .timed(what, async {
                self.conn().hvals(key).await.map_err(err(what))
            })
            .await?;
        bodies.iter().map(|b| from_json(what, b)).collect()
    }

    async fn remove_field(&self, what: &str, key: String, field: String) -> StoreResult<bool> {
        self.timed(what, async {
            let removed: u64 = self.conn().hdel(key, field).await.map_err(err(what))?;
            Ok(removed > 0)
        })
        .await
    }

    /// Appends the snapshot's document to `staging` as its encoding fills each piece; the
    /// bytes staged.
    async fn stage_snapshot(
        &self,
        snapshot: Box<dyn SnapshotSource>,
        staging: &str,
    ) -> StoreResult<usize> {
        let what = "stage the engine snapshot";
        let mut pieces = Pieces::encode(snapshot, SNAPSHOT_PIECE_BYTES);
        let mut bytes = 0;
        while let Some(piece) = pieces.next().await {
            bytes += piece.len();
            self.timed_chore(what, piece.len(), async {
                let () = redis::pipe()
                    .atomic()
                    .append(staging, piece)
                    .ignore()
                    .pexpire(staging, STAGING_TTL_MS)
                    .ignore()
                    .query_async(&mut self.conn())
                    .await
                    .map_err(err(what))?;
                Ok(())
            })
            .await?;
        }
        pieces.finish().await?;
        Ok(bytes)
    }

    /// Makes the document staged in `staging` (`bytes` long) the snapshot, with its
    /// watermark, and drops the staging key.
    async fn publish_snapshot(
        &self,
        staging: &str,
        bytes: usize,
        watermark: u64,
    ) -> StoreResult<()> {
        let what = "publish the engine snapshot";
        self.timed_chore(what, bytes, async {
            let () = scripts::PUBLISH_SNAPSHOT
                .key(staging)
                .key(self.keys.snapshot())
                .arg(watermark)
                .invoke_async(&mut self.conn())
                .await
                .map_err(err(what))?;
            Ok(())
        })
        .await
    }
}

/// A managed connection to Redis, reconnecting after a drop; the connect is bounded too.
async fn connect(client: &redis::Client, config: &RedisConfig) -> StoreResult<ConnectionManager> {
    let manager = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.timeout))
        // Every call is bounded by `within`; a chore's bound grows with its document.
        .set_response_timeout(None)
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let what = format!("connect to {}", config.redacted_url());
    let connect = client.get_connection_manager_with_config(manager);
    match tokio::time::timeout(config.timeout * 2, connect).await {
        Ok(conn) => conn.map_err(err(&what)),
        Err(_) => Err(timeout_error(&what)),
    }
}

/// The bound on one call of `items` items: the timeout (the stall bound while Redis is known to
/// stall) plus [`PER_ITEM`] for each item beyond the first, at most [`MOST_ALLOWANCE`] more.
fn call_bound(timeout: Duration, stalled: bool, items: usize) -> Duration {
    let base = if stalled {
        timeout.min(STALLED_TIMEOUT)
    } else {
        timeout
    };
    let extra = u32::try_from(items.saturating_sub(1)).unwrap_or(u32::MAX);
    base + PER_ITEM.saturating_mul(extra).min(MOST_ALLOWANCE)
}

/// The bound on a chore's call carrying a document of `bytes` bytes.
fn chore_bound(timeout: Duration, bytes: usize) -> Duration {
    let mib = u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX);
    timeout + CHORE_PER_MB.saturating_mul(mib)
}

/// The connection settings from the URL, with the configured password when the URL has none.
fn connection_info(config: &RedisConfig) -> StoreResult<redis::ConnectionInfo> {
    let invalid = |e: redis::RedisError| StoreError::Invalid {
        field: "store".into(),
        message: format!("{}: {e}", config.redacted_url()),
    };
    let info =
        redis::IntoConnectionInfo::into_connection_info(config.url.as_str()).map_err(invalid)?;
    let settings = info.redis_settings().clone();
    match (&config.password, settings.password()) {
        (Some(password), None) => {
            let settings = settings.set_password(password);
            Ok(info.set_redis_settings(settings))
        }
        _ => Ok(info),
    }
}

/// Turns a Redis error into a store error naming the operation.
fn err(what: &str) -> impl Fn(redis::RedisError) -> StoreError + '_ {
    move |e| StoreError::Unavailable {
        kind: classify(&e),
        message: format!("redis: cannot {what}: {e}"),
    }
}

/// Why Redis failed, in the kinds the service reports.
fn classify(e: &redis::RedisError) -> StoreFailureKind {
    use redis::{ErrorKind, ServerErrorKind};
    if e.is_timeout() {
        return StoreFailureKind::Timeout;
    }
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        return StoreFailureKind::Io;
    }
    match (e.kind(), e.code()) {
        (ErrorKind::Server(ServerErrorKind::ReadOnly), _) => StoreFailureKind::ReadOnly,
        (ErrorKind::Server(ServerErrorKind::BusyLoading), _) => StoreFailureKind::Locked,
        (_, Some("OOM")) => StoreFailureKind::Full,
        (_, Some("MISCONF")) => StoreFailureKind::Io,
        _ => StoreFailureKind::Other,
    }
}

fn timeout_error(what: &str) -> StoreError {
    StoreError::Unavailable {
        kind: StoreFailureKind::Timeout,
        message: format!("redis did not answer: {what}"),
    }
}

fn to_json<T: Serialize>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::unavailable(format!("cannot encode {what}: {e}")))
}

fn from_json<T: DeserializeOwned>(what: &str, body: &str) -> StoreResult<T> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("cannot decode {what}: {e}")))
}

#[async_trait]
impl Store for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn shared_log(&self) -> bool {
        true
    }

    fn shares_guardrails(&self) -> bool {
        true
    }

    async fn pace(&self, request: &PaceRequest) -> StoreResult<Option<PaceAnswer>> {
        let call = self.place(request);
        Ok(Some(
            self.timed("place a retry in the shared guardrails", call)
                .await?,
        ))
    }

    async fn sync_pacing(&self, sync: &PaceSync) -> StoreResult<Option<PaceCounters>> {
        let call = self.sync_counters(sync);
        Ok(Some(
            self.timed("sync the shared pacing counters", call).await?,
        ))
    }

    async fn append_attempts(&self, attempts: Vec<AttemptRecord>) -> StoreResult<Vec<u64>> {
        let items = attempts.len();
        self.timed_sized("append attempts", items, self.append(attempts))
            .await
    }

    async fn job_attempts(&self, job_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        self.timed("read a job's attempts", self.attempts_of_job(job_id))
            .await
    }

    async fn attempts_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>> {
        let call = self.log_after(after, limit);
        self.timed_sized("read the attempt log", limit as usize, call)
            .await
    }

    async fn wait_for_attempts(&self, after: u64, at_most: Duration) -> StoreResult<bool> {
        let limit = call_bound(self.timeout, self.stalled.load(Ordering::Relaxed), 1) + at_most;
        let call = self.wait_after(after, at_most);
        self.within("wait for new attempts", limit, call).await
    }

    async fn attempt_aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate> {
        let call = self.aggregate(job_type, error_class, from, to);
        self.timed("aggregate attempts", call).await
    }

    async fn error_class_counts(&self) -> StoreResult<BTreeMap<String, ClassTally>> {
        self.timed("read error class counts", self.class_counts())
            .await
    }

    async fn prune_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        // Pruning walks the log in bounded chunks, each under its own timeout.
        self.prune(before).await
    }

    async fn append_attempt_with_job(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
    ) -> StoreResult<u64> {
        let call = self.append_with_job(attempt, job, Expect::Anything);
        let seq = self.timed("append an attempt with its job", call).await?;
        seq.ok_or_else(|| StoreError::unavailable("redis refused an unconditional job write"))
    }

    async fn append_attempt_with_job_unless_killed(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
    ) -> StoreResult<Option<u64>> {
        let call = self.append_with_job(attempt, job, Expect::NotKilled);
        self.timed("append an attempt with its job", call).await
    }

    async fn append_attempt_with_job_if(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
        expected: &ScheduledJob,
    ) -> StoreResult<Option<u64>> {
        let call = self.append_with_job_if(attempt, job, expected);
        self.timed("append an attempt with its job", call).await
    }

    async fn put_job(&self, job: ScheduledJob) -> StoreResult<()> {
        self.timed("put a job", self.write_jobs(vec![job])).await
    }

    async fn put_jobs(&self, jobs: Vec<ScheduledJob>) -> StoreResult<()> {
        let items = jobs.len();
        self.timed_sized("put jobs", items, self.write_jobs(jobs))
            .await
    }

    async fn get_job(&self, job_id: &str) -> StoreResult<Option<ScheduledJob>> {
        self.timed("read a job", self.read_job(job_id)).await
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<JobPage> {
        // A page walks the list order in chunks, each under its own bound.
        self.page(filter).await
    }

    async fn list_job_ids(&self, filter: JobFilter) -> StoreResult<Vec<String>> {
        self.ids(filter).await
    }

    async fn claim_due(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>> {
        let items = claim.limit as usize;
        self.timed_sized("claim jobs", items, self.claim(claim))
            .await
    }

    async fn count_jobs_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>> {
        self.timed("count jobs", self.counts_by_state()).await
    }

    async fn save_strategy(&self, strategy: &RetryStrategy) -> StoreResult<()> {
        let body = to_json("the strategy", strategy)?;
        self.timed("save the strategy", async {
            let () = self
                .conn()
                .set(self.keys.strategy(), body)
                .await
                .map_err(err("save the strategy"))?;
            Ok(())
        })
        .await
    }

    async fn load_strategy(&self) -> StoreResult<Option<RetryStrategy>> {
        let body: Option<String> = self
            .timed("load the strategy", async {
                self.conn()
                    .get(self.keys.strategy())
                    .await
                    .map_err(err("load the strategy"))
            })
            .await?;
        body.map(|b| from_json("the strategy", &b)).transpose()
    }

    /// Piece by piece into a staging key of its own (see [`SNAPSHOT_PIECE_BYTES`]), then
    /// published into the snapshot hash by one script: a leader that dies half-way leaves the
    /// previous snapshot in place and its staging key expires.
    async fn save_snapshot(
        &self,
        snapshot: Box<dyn SnapshotSource>,
        watermark: u64,
    ) -> StoreResult<()> {
        let staging = self
            .keys
            .snapshot_staging(&format!("{:016x}", rand::random::<u64>()));
        let staged = self.stage_snapshot(snapshot, &staging).await;
        let published = match staged {
            Ok(bytes) => self.publish_snapshot(&staging, bytes, watermark).await,
            Err(e) => Err(e),
        };
        if published.is_err() {
            // Best effort: the key expires anyway.
            let what = "drop a staged engine snapshot";
            let dropped = self.timed_chore(what, 0, async {
                let () = self.conn().del(&staging).await.map_err(err(what))?;
                Ok(())
            });
            if let Err(e) = dropped.await {
                tracing::debug!(error = %e, "the staged snapshot is left to expire");
            }
        }
        published
    }

    /// Read whole from its hash field (Redis has no ranges of a hash field).
    async fn load_snapshot(&self) -> StoreResult<Option<(SnapshotReader, u64)>> {
        let what = "load the engine snapshot";
        let size: usize = self
            .timed_chore(what, 0, async {
                redis::cmd("HSTRLEN")
                    .arg(self.keys.snapshot())
                    .arg("doc")
                    .query_async(&mut self.conn())
                    .await
                    .map_err(err(what))
            })
            .await?;
        let (doc, watermark): (Option<Vec<u8>>, Option<u64>) = self
            .timed_chore(what, size, async {
                redis::cmd("HMGET")
                    .arg(self.keys.snapshot())
                    .arg(&["doc", "watermark"])
                    .query_async(&mut self.conn())
                    .await
                    .map_err(err("load the engine snapshot"))
            })
            .await?;
        match (doc, watermark) {
            (Some(doc), Some(watermark)) => Ok(Some((Box::new(io::Cursor::new(doc)), watermark))),
            _ => Ok(None),
        }
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<u64> {
        let body = to_json("an audit entry", &entry)?;
        self.timed("append to the audit log", async {
            scripts::AUDIT
                .key(self.keys.audit_seq())
                .key(self.keys.audit())
                .arg(body)
                .invoke_async(&mut self.conn())
                .await
                .map_err(err("append to the audit log"))
        })
        .await
    }

    async fn list_audit(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.timed("read the audit log", self.audit_after(after, limit))
            .await
    }

    async fn put_alert(&self, alert: &Alert) -> StoreResult<()> {
        self.put_json("save an alert", self.keys.alerts(), &alert.id, alert)
            .await
    }

    async fn list_alerts(&self) -> StoreResult<Vec<Alert>> {
        let mut alerts: Vec<Alert> = self.all_json("read alerts", self.keys.alerts()).await?;
        alerts.sort_by(|a, b| b.raised_at.cmp(&a.raised_at).then_with(|| a.id.cmp(&b.id)));
        Ok(alerts)
    }

    /// Descriptions and parameters in one MULTI/EXEC, so both or neither are written.
    async fn put_ml_versions(
        &self,
        versions: Vec<(MlVersion, Option<Vec<u8>>)>,
    ) -> StoreResult<()> {
        let what = "save ML model versions";
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (v, model) in &versions {
            pipe.hset(self.keys.ml_versions(), &v.version, to_json(what, v)?)
                .ignore();
            if let Some(bytes) = model {
                pipe.hset(self.keys.ml_models(), &v.version, bytes.as_slice())
                    .ignore();
            }
        }
        self.timed(what, async {
            let () = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(err(what))?;
            Ok(())
        })
        .await
    }

    async fn list_ml_versions(&self) -> StoreResult<Vec<MlVersion>> {
        let mut all: Vec<MlVersion> = self
            .all_json("read ML model versions", self.keys.ml_versions())
            .await?;
        all.sort_by_key(|v| std::cmp::Reverse(crate::store::ml_version_seq(&v.version)));
        Ok(all)
    }

    async fn ml_model(&self, version: &str) -> StoreResult<Option<Vec<u8>>> {
        let what = "read an ML model";
        self.timed(what, async {
            self.conn()
                .hget(self.keys.ml_models(), version)
                .await
                .map_err(err(what))
        })
        .await
    }

    async fn put_pause(&self, pause: &Pause) -> StoreResult<()> {
        self.put_json("save a pause", self.keys.pauses(), &pause.id, pause)
            .await
    }

    async fn list_pauses(&self) -> StoreResult<Vec<Pause>> {
        let mut pauses: Vec<Pause> = self.all_json("read pauses", self.keys.pauses()).await?;
        pauses.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(pauses)
    }

    async fn remove_pause(&self, id: &str) -> StoreResult<bool> {
        self.remove_field("remove a pause", self.keys.pauses(), id.to_string())
            .await
    }

    async fn put_forced_circuit(&self, forced: &ForcedCircuit) -> StoreResult<()> {
        let field = keys::circuit_field(&forced.queue, &forced.error_class);
        let key = self.keys.forced_circuits();
        self.put_json("save a forced circuit", key, &field, forced)
            .await
    }

    async fn list_forced_circuits(&self) -> StoreResult<Vec<ForcedCircuit>> {
        let key = self.keys.forced_circuits();
        let mut all: Vec<ForcedCircuit> = self.all_json("read forced circuits", key).await?;
        all.sort_by(|a, b| (&a.queue, &a.error_class).cmp(&(&b.queue, &b.error_class)));
        Ok(all)
    }

    async fn remove_forced_circuit(&self, queue: &str, error_class: &str) -> StoreResult<bool> {
        let field = keys::circuit_field(queue, error_class);
        let key = self.keys.forced_circuits();
        self.remove_field("release a forced circuit", key, field)
            .await
    }

    async fn hold_lease(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let what = "hold a lease";
        self.timed_chore(what, 0, async {
            let held: u8 = scripts::LEASE
                .key(self.keys.lease(name))
                .arg(holder)
                .arg(ttl.as_millis() as u64)
                .invoke_async(&mut self.chore_conn())
                .await
                .map_err(err(what))?;
            Ok(held == 1)
        })
        .await
    }

    async fn lease_holder(&self, name: &str) -> StoreResult<Option<String>> {
        self.timed("read a lease", async {
            self.chore_conn()
                .get(self.keys.lease(name))
                .await
                .map_err(err("read a lease"))
        })
        .await
    }

    async fn put_replica_counts(&self, replica: &str, counts: String) -> StoreResult<()> {
        self.timed_chore("publish this replica's counts", 0, async {
            let () = self
                .chore_conn()
                .hset(self.keys.replica_counts(), replica, counts)
                .await
                .map_err(err("publish this replica's counts"))?;
            Ok(())
        })
        .await
    }

    async fn replica_counts(&self) -> StoreResult<Vec<(String, String)>> {
        self.timed_chore("read the replicas' counts", 0, async {
            self.chore_conn()
                .hgetall(self.keys.replica_counts())
                .await
                .map_err(err("read the replicas' counts"))
        })
        .await
    }

    async fn upgrade_layout(&self) -> StoreResult<Vec<String>> {
        self.upgrade().await
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let now = Utc::now().to_rfc3339();
        self.timed("write the probe key", async {
            let () = self
                .conn()
                .set(self.keys.probe(), now)
                .await
                .map_err(err("write the probe key"))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redact_url("rediss://app:s3cr:et@cache/2"),
            "rediss://app:***@cache/2"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        let mut config = RedisConfig::new("redis://:hunter2@cache:6379/0");
        config.password = Some("other".into());
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!format!("{config:?}").contains("other"));
    }

    #[test]
    fn a_large_call_gets_time_for_its_size_within_the_2_s_promise() {
        let ms = Duration::from_millis;
        assert_eq!(call_bound(DEFAULT_TIMEOUT, false, 1), DEFAULT_TIMEOUT);
        assert_eq!(call_bound(DEFAULT_TIMEOUT, true, 1), STALLED_TIMEOUT);
        assert_eq!(call_bound(DEFAULT_TIMEOUT, false, 0), DEFAULT_TIMEOUT);
        // A 501-job claim while Redis is known to stall: 250 ms + 500 × 0.5 ms.
        assert_eq!(call_bound(DEFAULT_TIMEOUT, true, 501), ms(500));
        // The allowance stops growing; the largest call still fails within 2 s.
        assert_eq!(call_bound(DEFAULT_TIMEOUT, true, 10_000), ms(1_000));
        assert_eq!(call_bound(DEFAULT_TIMEOUT, false, usize::MAX), ms(1_750));
        // A configured timeout shorter than the stall bound is kept.
        assert_eq!(call_bound(ms(100), true, 1), ms(100));
        // A chore's document adds 250 ms a MiB begun, without a ceiling.
        assert_eq!(chore_bound(DEFAULT_TIMEOUT, 0), DEFAULT_TIMEOUT);
        assert_eq!(chore_bound(DEFAULT_TIMEOUT, 10_000_000), ms(3_500));
    }

    #[test]
    fn urls_and_prefixes_are_checked() {
        assert!(
            RedisConfig::new("redis://localhost:6379/0")
                .validate()
                .is_ok()
        );
        let err = RedisConfig::new("http://localhost").validate().unwrap_err();
        assert!(err.contains("not a Redis URL"), "{err}");
        let mut braces = RedisConfig::new("redis://localhost");
        braces.prefix = "a{b}".into();
        assert!(braces.validate().unwrap_err().contains("brace"));
    }
}
