//! The embedded store: SQLite in WAL mode, `dir/retryctl.db`.
//!
//! Writes go through one writer thread that group-commits (see `writer`): a write's future
//! resolves only after the transaction holding it is committed with `synchronous=FULL`, so an
//! acknowledged attempt survives `kill -9` and power loss. Reads run on a small pool of
//! separate connections on tokio's blocking threads; WAL lets them proceed during a commit.
//! WAL checkpoints run on a thread of their own (see `checkpointer`), outside the commits.

mod checkpointer;
mod rows;
mod schema;
mod snapshots;
mod writer;

use super::pieces::Pieces;
use super::{
    AttemptAggregate, Claim, ClassTally, JobFilter, Store, StoreError, StoreResult, nanos,
};
use crate::model::{
    Alert, AttemptRecord, AuditEntry, ForcedCircuit, JobPage, JobState, MlVersion, Pause,
    RetryStrategy, ScheduledJob, SnapshotReader, SnapshotSource,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rows::{from_json, int, sql, to_json, uint};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use writer::Writer;

/// The database file inside the data directory.
pub const DB_FILE: &str = "retryctl.db";
/// The document the write probe replaces (it holds the time of the last probe).
const PROBE_DOCUMENT: &str = "health_probe";
/// Space the write probe wants available on the data directory's file system: room for a few
/// large attempt batches.
const PROBE_FREE_BYTES: u64 = 1024 * 1024;
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 4;
/// Rows one retention step deletes, so pruning never holds the writer for long.
const PRUNE_CHUNK: i64 = 10_000;

/// SQLite behind the `Store` trait. Cheap to share (`Arc<dyn Store>`); dropping the last handle
/// stops the writer thread after the writes already queued.
#[derive(Debug)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    writer: Writer,
    readers: Arc<Readers>,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/retryctl.db`, migrating its schema. Fails with a message
    /// naming the path when the directory cannot be created, the file is not a database, or
    /// SQLite refuses it.
    pub async fn open(dir: &Path) -> StoreResult<Self> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&dir))
            .await
            .map_err(|e| StoreError::unavailable(format!("opening the store was cancelled: {e}")))?
    }

    fn open_blocking(dir: &Path) -> StoreResult<Self> {
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::unavailable(format!(
                "data directory {} exists but is not a directory",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::unavailable(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DB_FILE);
        let conn = schema::open_writer(&path)?;
        let writer = Writer::spawn(conn, checkpointer::spawn(&path)?)?;
        let readers = Readers {
            path: path.clone(),
            idle: Mutex::new(vec![schema::open_reader(&path)?]),
        };
        Ok(Self {
            path: Arc::new(path),
            writer,
            readers: Arc::new(readers),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Group commits so far; with many concurrent writers this grows slower than the number of
    /// writes (a figure for metrics and for the group-commit test).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }

    /// Runs `f`, touching about `rows` rows, inside the next group commit.
    async fn write<T, F>(&self, rows: usize, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let result = self.writer.write(rows, f).await;
        result.map_err(|e| schema::locate(&self.path, e))
    }

    /// Runs `f` on a read connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let joined = tokio::task::spawn_blocking(move || readers.with(f)).await;
        let result =
            joined.map_err(|e| StoreError::unavailable(format!("read task failed: {e}")))?;
        result.map_err(|e| schema::locate(&self.path, e))
    }

    async fn save_document(
        &self,
        name: &'static str,
        body: String,
        mark: Option<u64>,
    ) -> StoreResult<()> {
        self.write(1, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO documents (name, body, watermark) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![name, body, mark.map(int)]))
            .map_err(sql("save document"))?;
            Ok(())
        })
        .await
    }

    async fn load_document(
        &self,
        name: &'static str,
    ) -> StoreResult<Option<(String, Option<i64>)>> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT body, watermark FROM documents WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("load document"))
        })
        .await
    }
}

/// A few read connections, opened on demand and kept for reuse.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.take()?;
        let result = f(&mut conn);
        self.give_back(conn);
        result
    }

    /// An idle connection, or a new one.
    fn take(&self) -> StoreResult<Connection> {
        let reused = self.idle.lock().pop();
        match reused {
            Some(conn) => Ok(conn),
            None => schema::open_reader(&self.path),
        }
    }

    /// Keeps `conn` for reuse, up to [`MAX_IDLE_READERS`].
    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// Reads `(key, body)` rows and decodes the bodies.
fn query_bodies<K: rusqlite::types::FromSql, T: serde::de::DeserializeOwned>(
    conn: &Connection,
    what: &'static str,
    sql_text: &str,
    args: impl rusqlite::Params,
) -> StoreResult<Vec<(K, T)>> {
    let raw: Vec<(K, String)> = conn
        .prepare_cached(sql_text)
        .and_then(|mut stmt| {
            stmt.query_map(args, |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql(what))?;
    raw.into_iter()
        .map(|(k, body)| Ok((k, from_json(what, &body)?)))
        .collect()
}

#[async_trait]
impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn append_attempts(&self, attempts: Vec<AttemptRecord>) -> StoreResult<Vec<u64>> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        // Encode here, on the caller's task, to keep the single writer thread lean.
        let encoded = attempts
            .into_iter()
            .map(|a| to_json("attempt", &a).map(|body| (a, body)))
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(encoded.len(), move |conn| {
            rows::insert_attempts(conn, &encoded)
        })
        .await
    }

    async fn job_attempts(&self, job_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        let job_id = job_id.to_string();
        self.read(move |conn| {
            let found: Vec<(i64, AttemptRecord)> = query_bodies(
                conn,
                "attempts of a job",
                "SELECT seq, body FROM attempts WHERE job_id = ?1 ORDER BY ts_ns, seq",
                [job_id],
            )?;
            Ok(found.into_iter().map(|(_, a)| a).collect())
        })
        .await
    }

    async fn attempts_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>> {
        self.read(move |conn| {
            let found: Vec<(i64, AttemptRecord)> = query_bodies(
                conn,
                "attempts after a sequence number",
                "SELECT seq, body FROM attempts WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                params![int(after), limit],
            )?;
            Ok(found.into_iter().map(|(seq, a)| (uint(seq), a)).collect())
        })
        .await
    }

    async fn attempt_aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate> {
        let key = (job_type.to_string(), error_class.to_string());
        self.read(move |conn| aggregate(conn, &key.0, &key.1, nanos(from), nanos(to)))
            .await
    }

    async fn error_class_counts(&self) -> StoreResult<BTreeMap<String, ClassTally>> {
        self.read(|conn| {
            let raw: Vec<(String, i64, i64)> = conn
                .prepare_cached("SELECT error_class, attempts, successes FROM error_classes")
                .and_then(|mut stmt| {
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
                .map_err(sql("count attempts by error class"))?;
            Ok(raw
                .into_iter()
                .map(|(class, attempts, successes)| {
                    let tally = ClassTally {
                        attempts: uint(attempts),
                        successes: uint(successes),
                    };
                    (class, tally)
                })
                .collect())
        })
        .await
    }

    /// Key by key through `attempts_by_key` (no index by time alone is kept: it was one more
    /// B-tree for every attempt), at most [`PRUNE_CHUNK`] rows per commit.
    async fn prune_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let cutoff = nanos(before);
        let mut from = None;
        let mut pruned = 0;
        loop {
            let start = from.take();
            let (deleted, next) = self
                .write(PRUNE_CHUNK as usize, move |conn| {
                    rows::prune_step(conn, cutoff, start.clone(), PRUNE_CHUNK)
                })
                .await?;
            pruned += uint(deleted);
            match next {
                Some(next) => from = next,
                None => return Ok(pruned),
            }
        }
    }

    async fn append_attempt_with_job(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
    ) -> StoreResult<u64> {
        let attempt_body = to_json("attempt", &attempt)?;
        let row = [(attempt, attempt_body)];
        let job_body = to_json("job", &job)?;
        // One write: if it fails, the group commit undoes both rows.
        self.write(2, move |conn| {
            let seqs = rows::insert_attempts(conn, &row)?;
            rows::upsert_job(conn, &job, &job_body)?;
            Ok(seqs[0])
        })
        .await
    }

    async fn put_job(&self, job: ScheduledJob) -> StoreResult<()> {
        let body = to_json("job", &job)?;
        self.write(1, move |conn| rows::upsert_job(conn, &job, &body))
            .await
    }

    async fn put_jobs(&self, jobs: Vec<ScheduledJob>) -> StoreResult<()> {
        // Encoded on the writer's thread: thousands of jobs (a bulk action) would otherwise
        // hold one of the runtime's threads, and the requests queued behind it, for as long.
        self.write(jobs.len(), move |conn| {
            for job in &jobs {
                rows::upsert_job(conn, job, &to_json("job", job)?)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_job(&self, job_id: &str) -> StoreResult<Option<ScheduledJob>> {
        let job_id = job_id.to_string();
        self.read(move |conn| {
            let found: Vec<(String, ScheduledJob)> = query_bodies(
                conn,
                "job",
                "SELECT job_id, body FROM jobs WHERE job_id = ?1",
                [job_id],
            )?;
            Ok(found.into_iter().next().map(|(_, job)| job))
        })
        .await
    }

    async fn list_jobs(&self, filter: JobFilter) -> StoreResult<JobPage> {
        self.read(move |conn| rows::list_jobs(conn, &filter)).await
    }

    async fn list_job_ids(&self, filter: JobFilter) -> StoreResult<Vec<String>> {
        self.read(move |conn| rows::list_job_ids(conn, &filter))
            .await
    }

    async fn claim_due(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>> {
        self.write(claim.limit as usize, move |conn| {
            rows::claim_due(conn, &claim)
        })
        .await
    }

    async fn count_jobs_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>> {
        self.read(|conn| {
            let raw: Vec<(String, i64)> = conn
                .prepare_cached("SELECT state, sum(n) FROM job_counts GROUP BY state")
                .and_then(|mut stmt| {
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(sql("count jobs by state"))?;
            raw.into_iter()
                .map(|(state, n)| Ok((rows::parse_state(&state)?, uint(n))))
                .collect()
        })
        .await
    }

    async fn save_strategy(&self, strategy: &RetryStrategy) -> StoreResult<()> {
        let body = to_json("strategy", strategy)?;
        self.save_document("strategy", body, None).await
    }

    async fn load_strategy(&self) -> StoreResult<Option<RetryStrategy>> {
        match self.load_document("strategy").await? {
            Some((body, _)) => Ok(Some(from_json("strategy", &body)?)),
            None => Ok(None),
        }
    }

    /// In chunks, each its own small commit (see `snapshots`), written as the encoding fills
    /// them.
    async fn save_snapshot(
        &self,
        snapshot: Box<dyn SnapshotSource>,
        watermark: u64,
    ) -> StoreResult<()> {
        let generation = self.write(1, snapshots::next_generation).await?;
        let mut pieces = Pieces::encode(snapshot, snapshots::CHUNK_BYTES);
        let mut count = 0;
        while let Some(chunk) = pieces.next().await {
            let idx = count;
            self.write(1, move |conn| {
                snapshots::put_chunk(conn, generation, idx, &chunk)
            })
            .await?;
            count += 1;
        }
        pieces.finish().await?;
        self.write(1, move |conn| {
            snapshots::publish(conn, generation, count, watermark)
        })
        .await
    }

    /// Chunk by chunk, inside one read transaction (see `snapshots::Reader`).
    async fn load_snapshot(&self) -> StoreResult<Option<(SnapshotReader, u64)>> {
        let readers = self.readers.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            snapshots::Reader::open(conn, move |conn| readers.give_back(conn))
        })
        .await
        .map_err(|e| StoreError::unavailable(format!("read task failed: {e}")))?;
        let Some((reader, mark)) = opened.map_err(|e| schema::locate(&self.path, e))? else {
            return Ok(None);
        };
        let mark = mark
            .and_then(|m| u64::try_from(m).ok())
            .ok_or_else(|| StoreError::Corrupt("the engine snapshot has no watermark".into()))?;
        Ok(Some((Box::new(reader), mark)))
    }

    async fn append_audit(&self, entry: AuditEntry) -> StoreResult<u64> {
        let body = to_json("audit entry", &entry)?;
        self.write(1, move |conn| {
            let id = conn
                .prepare_cached("INSERT INTO audit (body) VALUES (?1)")
                .and_then(|mut stmt| stmt.insert([&body]))
                .map_err(sql("append audit entry"))?;
            Ok(uint(id))
        })
        .await
    }

    async fn list_audit(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |conn| {
            let found: Vec<(i64, AuditEntry)> = query_bodies(
                conn,
                "audit entry",
                "SELECT id, body FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
                params![int(after), limit],
            )?;
            Ok(found
                .into_iter()
                .map(|(id, mut entry)| {
                    entry.id = uint(id);
                    entry
                })
                .collect())
        })
        .await
    }

    async fn put_alert(&self, alert: &Alert) -> StoreResult<()> {
        let body = to_json("alert", alert)?;
        let (id, raised) = (alert.id.clone(), nanos(alert.raised_at));
        self.write(1, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO alerts (id, raised_ns, body) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![id, raised, body]))
            .map_err(sql("put alert"))?;
            Ok(())
        })
        .await
    }

    async fn list_alerts(&self) -> StoreResult<Vec<Alert>> {
        self.read(|conn| {
            let found: Vec<(String, Alert)> = query_bodies(
                conn,
                "alert",
                "SELECT id, body FROM alerts ORDER BY raised_ns DESC, id",
                [],
            )?;
            Ok(found.into_iter().map(|(_, a)| a).collect())
        })
        .await
    }

    async fn put_ml_versions(
        &self,
        versions: Vec<(MlVersion, Option<Vec<u8>>)>,
    ) -> StoreResult<()> {
        let rows = versions
            .into_iter()
            .map(|(v, model)| {
                let seq = int(crate::store::ml_version_seq(&v.version));
                Ok((
                    v.version.clone(),
                    seq,
                    to_json("ML model version", &v)?,
                    model,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.write(rows.len().max(1), move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO ml_models (version, seq, body, model) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(version) DO UPDATE SET body = excluded.body, \
                     model = COALESCE(excluded.model, ml_models.model)",
                )
                .map_err(sql("put ML model version"))?;
            for (version, seq, body, model) in &rows {
                stmt.execute(params![version, seq, body, model])
                    .map_err(sql("put ML model version"))?;
            }
            Ok(())
        })
        .await
    }

    async fn list_ml_versions(&self) -> StoreResult<Vec<MlVersion>> {
        self.read(|conn| {
            let found: Vec<(String, MlVersion)> = query_bodies(
                conn,
                "ML model version",
                "SELECT version, body FROM ml_models ORDER BY seq DESC",
                [],
            )?;
            Ok(found.into_iter().map(|(_, v)| v).collect())
        })
        .await
    }

    async fn ml_model(&self, version: &str) -> StoreResult<Option<Vec<u8>>> {
        let version = version.to_string();
        self.read(move |conn| {
            conn.query_row(
                "SELECT model FROM ml_models WHERE version = ?1",
                [version],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(sql("read ML model"))
        })
        .await
    }

    async fn put_pause(&self, pause: &Pause) -> StoreResult<()> {
        let body = to_json("pause", pause)?;
        let (id, created) = (pause.id.clone(), nanos(pause.created_at));
        self.write(1, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO pauses (id, created_ns, body) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![id, created, body]))
            .map_err(sql("put pause"))?;
            Ok(())
        })
        .await
    }

    async fn list_pauses(&self) -> StoreResult<Vec<Pause>> {
        self.read(|conn| {
            let found: Vec<(String, Pause)> = query_bodies(
                conn,
                "pause",
                "SELECT id, body FROM pauses ORDER BY created_ns, id",
                [],
            )?;
            Ok(found.into_iter().map(|(_, p)| p).collect())
        })
        .await
    }

    async fn remove_pause(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(1, move |conn| {
            let n = conn
                .prepare_cached("DELETE FROM pauses WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute([&id]))
                .map_err(sql("remove pause"))?;
            Ok(n > 0)
        })
        .await
    }

    async fn put_forced_circuit(&self, forced: &ForcedCircuit) -> StoreResult<()> {
        let body = to_json("forced circuit", forced)?;
        let (queue, class) = (forced.queue.clone(), forced.error_class.clone());
        self.write(1, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO forced_circuits (queue, error_class, body) \
                 VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut stmt| stmt.execute(params![queue, class, body]))
            .map_err(sql("put forced circuit"))?;
            Ok(())
        })
        .await
    }

    async fn list_forced_circuits(&self) -> StoreResult<Vec<ForcedCircuit>> {
        self.read(|conn| {
            let found: Vec<(String, ForcedCircuit)> = query_bodies(
                conn,
                "forced circuit",
                "SELECT queue, body FROM forced_circuits ORDER BY queue, error_class",
                [],
            )?;
            Ok(found.into_iter().map(|(_, f)| f).collect())
        })
        .await
    }

    async fn remove_forced_circuit(&self, queue: &str, error_class: &str) -> StoreResult<bool> {
        let (queue, class) = (queue.to_string(), error_class.to_string());
        self.write(1, move |conn| {
            let n = conn
                .prepare_cached("DELETE FROM forced_circuits WHERE queue = ?1 AND error_class = ?2")
                .and_then(|mut stmt| stmt.execute(params![queue, class]))
                .map_err(sql("remove forced circuit"))?;
            Ok(n > 0)
        })
        .await
    }

    /// Also fails, as `full`, while the data directory's file system has less than
    /// [`PROBE_FREE_BYTES`] available: a row of a few bytes still fits in a page's free space
    /// long after attempt batches stopped fitting.
    async fn probe_write(&self) -> StoreResult<()> {
        if let Some(dir) = self.path.parent() {
            schema::check_free_space(dir, PROBE_FREE_BYTES)?;
        }
        self.save_document(PROBE_DOCUMENT, Utc::now().to_rfc3339(), None)
            .await
    }
}

fn aggregate(
    conn: &Connection,
    job_type: &str,
    class: &str,
    from: i64,
    to: i64,
) -> StoreResult<AttemptAggregate> {
    // total() rather than sum(): it cannot overflow on absurd delays.
    let sql_text = "SELECT count(*), \
        coalesce(sum(attempt_number > 1 AND success), 0), \
        coalesce(sum(attempt_number > 1 AND NOT success), 0), \
        total(CASE WHEN attempt_number > 1 THEN delay_ms END), max(ts_ns) \
        FROM attempts WHERE job_type = ?1 AND error_class = ?2 AND ts_ns >= ?3 AND ts_ns < ?4";
    conn.prepare_cached(sql_text)
        .and_then(|mut stmt| {
            stmt.query_row(params![job_type, class, from, to], |r| {
                Ok(AttemptAggregate {
                    total_attempts: uint(r.get(0)?),
                    successful_retries: uint(r.get(1)?),
                    failed_retries: uint(r.get(2)?),
                    retry_delay_ms_sum: r.get::<_, f64>(3)? as u64,
                    last_attempt_at: r
                        .get::<_, Option<i64>>(4)?
                        .map(DateTime::from_timestamp_nanos),
                })
            })
        })
        .map_err(sql("aggregate attempts"))
}
