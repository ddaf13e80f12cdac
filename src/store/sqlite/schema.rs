//! Opening connections, the pragmas that make commits durable, schema migrations, and the
//! mapping of SQLite errors to `StoreError`.

use crate::model::StoreFailureKind;
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for another one's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache of the writer connection, in KiB (negative `cache_size` means KiB).
pub const WRITER_CACHE_KIB: i64 = -4_096;
/// The writer's page cache while it applies a transaction of many rows (a bulk action over
/// thousands of jobs), in KiB: large enough that the pages of the jobs table and its indexes
/// are read once, instead of being evicted and read again for the next rows.
pub const BIG_WRITE_CACHE_KIB: i64 = -65_536;
/// The WAL file's size after it starts over (`journal_size_limit`): twice the frames at which
/// the checkpointer has it started over (each a 4 KiB page and its 24-byte header), so the
/// file is cut only after it grew unusually (cutting it stalls the next commit), never in the
/// steady cycle.
const WAL_SIZE_LIMIT_BYTES: i64 = 2 * super::checkpointer::RESTART_FRAMES * (4_096 + 24);

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran. Append new
/// steps, never edit old ones.
const MIGRATIONS: &[&str] = &[
    r#"
-- AUTOINCREMENT: a sequence number is never reused, even after retention drops the newest.
CREATE TABLE attempts (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id         TEXT    NOT NULL,
    job_type       TEXT    NOT NULL,
    error_class    TEXT    NOT NULL,
    attempt_number INTEGER NOT NULL,
    success        INTEGER NOT NULL,
    delay_ms       INTEGER NOT NULL,
    ts_ns          INTEGER NOT NULL,
    body           TEXT    NOT NULL
);
CREATE INDEX attempts_by_job ON attempts (job_id);
CREATE INDEX attempts_by_key ON attempts (job_type, error_class, ts_ns);
CREATE INDEX attempts_by_ts  ON attempts (ts_ns);

-- finished/sort_ns/job_id is the list order (store::JobSortKey); due_ns is when the job may be
-- claimed (next_attempt_at while scheduled, lease_until while claimed, NULL when finished).
CREATE TABLE jobs (
    job_id      TEXT PRIMARY KEY,
    queue       TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    error_class TEXT    NOT NULL,
    finished    INTEGER NOT NULL,
    sort_ns     INTEGER NOT NULL,
    due_ns      INTEGER,
    body        TEXT    NOT NULL
);
CREATE INDEX jobs_in_order ON jobs (finished, sort_ns, job_id);
CREATE INDEX jobs_due      ON jobs (due_ns, job_id) WHERE due_ns IS NOT NULL;
CREATE INDEX jobs_by_state ON jobs (state);

-- Single documents: the strategy, the engine snapshot (with its attempt watermark).
CREATE TABLE documents (
    name      TEXT PRIMARY KEY,
    body      TEXT NOT NULL,
    watermark INTEGER
);

CREATE TABLE audit (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);

CREATE TABLE alerts (
    id        TEXT PRIMARY KEY,
    raised_ns INTEGER NOT NULL,
    body      TEXT    NOT NULL
);
"#,
    r#"
-- Filtered listings (by state, queue or error class) walk an index already in list order
-- instead of scanning every job; the state one also serves the counts by state.
DROP INDEX jobs_by_state;
CREATE INDEX jobs_by_state_in_order ON jobs (state, finished, sort_ns, job_id);
CREATE INDEX jobs_by_queue_in_order ON jobs (queue, finished, sort_ns, job_id);
CREATE INDEX jobs_by_class_in_order ON jobs (error_class, finished, sort_ns, job_id);
"#,
    r#"
-- Attempts and successes per error class, kept up to date on append (retention does not lower
-- them), so the summary's success by error class survives a restart without a scan.
CREATE TABLE error_classes (
    error_class TEXT PRIMARY KEY,
    attempts    INTEGER NOT NULL,
    successes   INTEGER NOT NULL
);
INSERT INTO error_classes (error_class, attempts, successes)
    SELECT error_class, count(*), sum(success) FROM attempts
    WHERE error_class != '' GROUP BY error_class;
"#,
    r#"
-- Paused scopes (operator pauses), until resumed or expired.
CREATE TABLE pauses (
    id         TEXT PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    body       TEXT    NOT NULL
);
"#,
    r#"
-- Circuits an operator forced open or closed, until released.
CREATE TABLE forced_circuits (
    queue       TEXT NOT NULL,
    error_class TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (queue, error_class)
);
"#,
    r#"
-- ML model versions: the description (state, metrics) and the fitted parameters.
CREATE TABLE ml_models (
    version TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL,
    body    TEXT    NOT NULL,
    model   BLOB
);
"#,
    r#"
-- The engine snapshot in chunks of a generation (`store::sqlite::snapshots`): each chunk is its
-- own small commit, so a snapshot of many megabytes never holds the writer in one long
-- transaction; the `snapshot` document names the generation that is complete.
CREATE TABLE snapshot_chunks (
    generation INTEGER NOT NULL,
    idx        INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (generation, idx)
);
"#,
    r#"
-- Fewer B-trees per failure (each one a page or more per commit; README "Round 8"):
-- retention prunes per (job type, error class) through attempts_by_key, not by time alone;
-- the unfiltered list merges the per-state list orders (state is a prefix of
-- jobs_by_state_in_order); a claim takes scheduled jobs from the per-state order, where
-- sort_ns is the due time, and expired leases from an index of the claimed jobs alone, which
-- a failure of a new job never touches.
DROP INDEX attempts_by_ts;
DROP INDEX jobs_in_order;
DROP INDEX jobs_due;
CREATE INDEX jobs_leases ON jobs (due_ns, job_id) WHERE state = 'claimed';
"#,
    r#"
-- Fewer B-trees per failure (README "Round 11"): a new job's entry lands at its due time, a
-- random leaf of each list order, so every list order costs about a page per failure. The
-- per-queue and per-error-class orders are gone: a filter on queue or error class walks the
-- per-state order, which now carries both columns so the filter is checked in the index
-- without reading the row; the totals of those filters come from job_counts, kept in step by
-- triggers on every change of a job, whatever statement makes it.
DROP INDEX jobs_by_queue_in_order;
DROP INDEX jobs_by_class_in_order;
DROP INDEX jobs_by_state_in_order;
CREATE INDEX jobs_by_state_in_order
    ON jobs (state, finished, sort_ns, job_id, queue, error_class);
CREATE TABLE job_counts (
    state       TEXT    NOT NULL,
    queue       TEXT    NOT NULL,
    error_class TEXT    NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (state, queue, error_class)
) WITHOUT ROWID;
INSERT INTO job_counts (state, queue, error_class, n)
    SELECT state, queue, error_class, count(*) FROM jobs GROUP BY state, queue, error_class;
CREATE TRIGGER jobs_counted_in AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (state, queue, error_class, n)
        VALUES (new.state, new.queue, new.error_class, 1)
        ON CONFLICT (state, queue, error_class) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER jobs_counted_out AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1
        WHERE state = old.state AND queue = old.queue AND error_class = old.error_class;
    DELETE FROM job_counts
        WHERE state = old.state AND queue = old.queue AND error_class = old.error_class
        AND n = 0;
END;
CREATE TRIGGER jobs_counted_again AFTER UPDATE OF state, queue, error_class ON jobs
WHEN old.state IS NOT new.state OR old.queue IS NOT new.queue
    OR old.error_class IS NOT new.error_class
BEGIN
    UPDATE job_counts SET n = n - 1
        WHERE state = old.state AND queue = old.queue AND error_class = old.error_class;
    DELETE FROM job_counts
        WHERE state = old.state AND queue = old.queue AND error_class = old.error_class
        AND n = 0;
    INSERT INTO job_counts (state, queue, error_class, n)
        VALUES (new.state, new.queue, new.error_class, 1)
        ON CONFLICT (state, queue, error_class) DO UPDATE SET n = n + 1;
END;
"#,
];

/// Opens the writer's connection: WAL, `synchronous=FULL`, schema migrated.
///
/// Why FULL: in WAL mode `synchronous=NORMAL` survives a killed process but may lose the last
/// commits on power loss or an OS crash, because it does not fsync the WAL at commit. The API
/// promises an acknowledged attempt is on disk, so every commit fsyncs; group commit makes
/// that one fsync per batch rather than per request.
pub fn open_writer(path: &Path) -> StoreResult<Connection> {
    let mut conn = Connection::open(path).map_err(|e| classify(path, "cannot open", e))?;
    let setup = |conn: &Connection| -> rusqlite::Result<String> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Savepoints (one per write in a group commit) journal pages to a temp store: keep it
        // in memory. The page cache is kept small (4 MiB): the OS file cache holds the rest,
        // and 32 MiB here was most of the resident memory of a service with 100k jobs.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        // Checkpoints run on their own thread (`checkpointer`), never inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // When the WAL starts over (see `checkpointer`), its file is cut back to this size.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
        Ok(mode)
    };
    let mode = setup(&conn).map_err(|e| classify(path, "cannot configure", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::unavailable(format!(
            "{}: cannot switch to WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens the checkpointer's connection: `synchronous=FULL`, so a checkpoint fsyncs the
/// database file before the WAL pages it copied may be overwritten.
pub fn open_checkpointer(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(|e| classify(path, "cannot open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
        .map_err(|e| classify(path, "cannot configure the checkpointer", e))?;
    Ok(conn)
}

/// Opens a connection for reads only.
pub fn open_reader(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| classify(path, "cannot open for reading", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| conn.pragma_update(None, "query_only", true))
        .map_err(|e| classify(path, "cannot configure reader", e))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    let fail = |e| classify(path, "cannot migrate schema", e);
    let stored: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(fail)?;
    let version = usize::try_from(stored).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(StoreError::unavailable(format!(
            "{}: schema version {version} was written by a newer retryctl (this one knows {})",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    let tx = conn.transaction().map_err(fail)?;
    for step in &MIGRATIONS[version..] {
        tx.execute_batch(step).map_err(fail)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
        .map_err(fail)?;
    tx.commit().map_err(fail)
}

/// Turns a SQLite error into a `StoreError` that says what failed and where.
pub fn classify(path: &Path, what: &str, err: rusqlite::Error) -> StoreError {
    locate(path, sql_error(what, err))
}

/// Turns a SQLite error into a `StoreError` that says what failed: damaged files are `Corrupt`,
/// everything else `Unavailable` with its [`failure_kind`].
pub fn sql_error(what: &str, err: rusqlite::Error) -> StoreError {
    let message = format!("{what}: {err}");
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt(message),
        code => StoreError::Unavailable {
            kind: failure_kind(code),
            message,
        },
    }
}

/// The class of a SQLite result code: the one mapping from SQLite to [`StoreFailureKind`].
pub fn failure_kind(code: Option<ErrorCode>) -> StoreFailureKind {
    match code {
        Some(ErrorCode::DiskFull) => StoreFailureKind::Full,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreFailureKind::Locked,
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => StoreFailureKind::Io,
        Some(ErrorCode::ReadOnly) => StoreFailureKind::ReadOnly,
        _ => StoreFailureKind::Other,
    }
}

/// Fails as `full` when the file system holding `dir` has less than `wanted` bytes available
/// to this process.
pub fn check_free_space(dir: &Path, wanted: u64) -> StoreResult<()> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| StoreError::Unavailable {
        kind: StoreFailureKind::Io,
        message: format!("cannot read the free space of {}: {e}", dir.display()),
    })?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < wanted {
        return Err(StoreError::Unavailable {
            kind: StoreFailureKind::Full,
            message: format!(
                "the file system of {} has {free} bytes available (the write probe wants {wanted})",
                dir.display()
            ),
        });
    }
    Ok(())
}

/// Prefixes the database path to a backend error, so an operator knows which file failed.
pub fn locate(path: &Path, err: StoreError) -> StoreError {
    match err {
        StoreError::Unavailable { kind, message } => StoreError::Unavailable {
            kind,
            message: format!("{}: {message}", path.display()),
        },
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
        invalid @ StoreError::Invalid { .. } => invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_record_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(open_writer(&path).unwrap());
        let conn = open_writer(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn an_older_database_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute(
            "INSERT INTO jobs VALUES ('j', 'q', 'scheduled', 'timeout', 0, 5, 5, '{}')",
            [],
        )
        .unwrap();
        old.execute_batch(
            "INSERT INTO attempts VALUES (NULL, 'j', 'email', 'timeout', 1, 0, 0, 1, '{}'); \
             INSERT INTO attempts VALUES (NULL, 'j', 'email', 'timeout', 2, 1, 9, 2, '{}'); \
             INSERT INTO attempts VALUES (NULL, 'k', 'email', '', 2, 1, 9, 3, '{}');",
        )
        .unwrap();
        drop(old);
        let conn = open_writer(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'jobs_by_state_in_order'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 1);
        let jobs: i64 = conn
            .query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(jobs, 1);
        let counted: i64 = conn
            .query_row(
                "SELECT n FROM job_counts WHERE state = 'scheduled' AND queue = 'q' \
                 AND error_class = 'timeout'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(counted, 1, "existing jobs are counted");
        let tally: (String, i64, i64) = conn
            .query_row("SELECT * FROM error_classes", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(
            tally,
            ("timeout".to_string(), 2, 1),
            "existing attempts are counted"
        );
    }

    /// `job_counts` holds, for every (state, queue, error class) with jobs, how many: after
    /// inserts, upserts that change those columns or only the body, and deletes.
    #[test]
    fn job_counts_follow_every_change_of_the_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("t.db")).unwrap();
        let put = |id: &str, state: &str, queue: &str, class: &str| {
            conn.execute(
                "INSERT INTO jobs VALUES (?1, ?3, ?2, ?4, 0, 5, 5, '{}') \
                 ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, \
                 queue = excluded.queue, error_class = excluded.error_class, body = 'x'",
                [id, state, queue, class],
            )
            .unwrap();
        };
        put("a", "scheduled", "q1", "timeout");
        put("b", "scheduled", "q1", "timeout");
        put("c", "scheduled", "q2", "timeout");
        put("a", "claimed", "q1", "timeout");
        put("b", "scheduled", "q1", "timeout");
        put("c", "scheduled", "q2", "rate_limit");
        put("d", "killed", "q2", "rate_limit");
        conn.execute("DELETE FROM jobs WHERE job_id = 'd'", [])
            .unwrap();
        let rows = |sql: &str| -> Vec<(String, String, String, i64)> {
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let counted = rows("SELECT state, queue, error_class, n FROM job_counts ORDER BY 1, 2, 3");
        let actual = rows(
            "SELECT state, queue, error_class, count(*) FROM jobs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        );
        assert_eq!(counted, actual);
        assert_eq!(
            counted.len(),
            3,
            "no row is kept for a combination without jobs"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open_writer(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = open_writer(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    /// A database capped by `max_page_count` fails like a full disk: SQLITE_FULL, kind `full`.
    #[test]
    fn a_database_at_its_size_limit_fails_as_full() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("t.db")).unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", pages + 2)
            .unwrap();
        let body = "x".repeat(64 * 1024);
        let err = conn
            .execute(
                "INSERT INTO documents (name, body) VALUES ('big', ?1)",
                [body],
            )
            .unwrap_err();
        let err = sql_error("save document", err);
        assert_eq!(err.kind(), Some(StoreFailureKind::Full), "{err}");
        assert!(err.to_string().contains("full"), "{err}");
    }

    #[test]
    fn sqlite_codes_map_to_the_kinds_operators_act_on() {
        let cases = [
            (Some(ErrorCode::DiskFull), StoreFailureKind::Full),
            (Some(ErrorCode::DatabaseBusy), StoreFailureKind::Locked),
            (Some(ErrorCode::DatabaseLocked), StoreFailureKind::Locked),
            (Some(ErrorCode::SystemIoFailure), StoreFailureKind::Io),
            (Some(ErrorCode::ReadOnly), StoreFailureKind::ReadOnly),
            (
                Some(ErrorCode::ConstraintViolation),
                StoreFailureKind::Other,
            ),
            (None, StoreFailureKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(failure_kind(code), kind, "{code:?}");
        }
    }

    #[test]
    fn too_little_free_space_is_full() {
        let dir = tempfile::tempdir().unwrap();
        check_free_space(dir.path(), 1).unwrap();
        let err = check_free_space(dir.path(), u64::MAX).unwrap_err();
        assert_eq!(err.kind(), Some(StoreFailureKind::Full), "{err}");
    }
}
