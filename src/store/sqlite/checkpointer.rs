//! WAL checkpoints on their own thread and connection, so the writer never does one.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses 1000 WAL pages: that
//! commit copies the pages into the database file and fsyncs it before its callers hear back,
//! and every write queued behind it waits too. Here the writer's automatic checkpoint is off
//! (`wal_autocheckpoint=0`) and this thread runs a PASSIVE checkpoint (it never blocks the
//! writer or readers) after commits, at most once per [`PERIOD`]. Its connection uses
//! `synchronous=FULL`, so a checkpoint syncs the WAL before copying and the database after, as
//! the automatic one did: the WAL is never reused before its pages are durable in the database.
//!
//! SQLite starts the WAL over from its beginning only when a write transaction begins after a
//! checkpoint copied *every* frame. Under sustained writes a checkpoint on this thread never
//! catches up with the writer, so the WAL grew without end: 6.6 GB after 40 s of
//! `POST /failures` at 4,000/s, enough to fill a disk in a long incident. So once the WAL
//! holds [`RESTART_FRAMES`] frames, this thread asks the writer to copy the last few frames
//! itself between two commits ([`Nudge::restart_requested`]): with no write transaction open
//! nothing can be appended meanwhile, the copy completes, and the next commit starts the WAL
//! over. The WAL file then stays near that size (and `journal_size_limit` cuts back a file
//! that grew larger).

use super::schema::{self, sql_error};
use crate::store::StoreResult;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Shortest time between two checkpoints.
pub const PERIOD: Duration = Duration::from_millis(200);

/// WAL frames (of one page each) from which the WAL is started over (262,144 frames of 4 KiB
/// pages: 1 GiB). Starting over stalls the writer for one checkpoint of the last frames and
/// one slower commit (about 20–25 ms together at 4,000–5,000 failures/s, when the WAL grows by
/// 40,000–60,000 frames a second), so it should be rare: at 256 MiB it came every 1–2 s and
/// doubled the p99 of `POST /failures` at 16 connections.
pub const RESTART_FRAMES: i64 = 262_144;

/// Frames a checkpoint may leave uncopied before the writer is asked to copy the rest: the
/// writer's share of the work, done between two of its commits, stays this small.
const WRITER_SHARE_FRAMES: i64 = 256;

/// Most checkpoints in a row this thread runs to catch up before it hands the rest over.
const CATCH_UP_ROUNDS: usize = 8;

/// Tells the checkpointer that commits happened; dropping it stops the thread.
#[derive(Debug)]
pub struct Nudge {
    nudges: mpsc::SyncSender<()>,
    restart: Arc<AtomicBool>,
}

impl Nudge {
    /// Notes a commit; never waits (one pending nudge covers any number of commits).
    pub fn committed(&self) {
        let _ = self.nudges.try_send(());
    }

    /// Whether the WAL should be started over: the writer then checkpoints
    /// between two commits (a [`checkpoint`] on its own connection: no frame can be
    /// appended while it runs, so it copies them all unless a reader still needs some, and the
    /// next commit starts the WAL over). True once per request.
    pub fn restart_requested(&self) -> bool {
        self.restart.swap(false, Ordering::Relaxed)
    }
}

/// Starts the checkpointer on its own connection to `path`.
pub fn spawn(path: &Path) -> StoreResult<Nudge> {
    spawn_restarting_at(path, RESTART_FRAMES)
}

/// [`spawn`], starting the WAL over from `restart_frames` frames.
fn spawn_restarting_at(path: &Path, restart_frames: i64) -> StoreResult<Nudge> {
    let conn = schema::open_checkpointer(path)?;
    let (nudges, nudged) = mpsc::sync_channel(1);
    let restart = Arc::new(AtomicBool::new(false));
    let request = restart.clone();
    std::thread::Builder::new()
        .name("sqlite-checkpt".into())
        .spawn(move || run(&conn, &nudged, &request, restart_frames))
        .map_err(|e| {
            crate::store::StoreError::unavailable(format!(
                "cannot start the checkpoint thread: {e}"
            ))
        })?;
    Ok(Nudge { nudges, restart })
}

fn run(conn: &Connection, nudged: &mpsc::Receiver<()>, restart: &AtomicBool, restart_frames: i64) {
    while nudged.recv().is_ok() {
        match catch_up(conn, restart_frames) {
            Ok(true) => restart.store(true, Ordering::Relaxed),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries"),
        }
        std::thread::sleep(PERIOD);
    }
}

/// One checkpoint, and while the WAL is due to start over, a few more in a row until few
/// frames are left uncopied. True when the writer should copy the rest and start over.
fn catch_up(conn: &Connection, restart_frames: i64) -> StoreResult<bool> {
    for _ in 0..CATCH_UP_ROUNDS {
        let (log, copied) = checkpoint(conn)?;
        if log < restart_frames {
            return Ok(false);
        }
        if log - copied <= WRITER_SHARE_FRAMES {
            return Ok(true);
        }
    }
    Ok(true)
}

/// One PASSIVE checkpoint: copies what it can without waiting for anyone.
pub fn checkpoint(conn: &Connection) -> StoreResult<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
    .map_err(|e| sql_error("checkpoint the WAL", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_frames_after_writes(conn: &Connection, rows: usize) {
        conn.execute_batch("CREATE TABLE IF NOT EXISTS filler (body TEXT)")
            .unwrap();
        for _ in 0..rows {
            conn.execute("INSERT INTO filler VALUES (?1)", ["x".repeat(2_000)])
                .unwrap();
        }
    }

    #[test]
    fn the_writer_leaves_the_wal_to_the_checkpointer_which_copies_all_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = schema::open_writer(&path).unwrap();
        // Well past the 1000 pages at which an automatic checkpoint would have run.
        wal_frames_after_writes(&writer, 3_000);
        let (log, copied) = checkpoint(&schema::open_checkpointer(&path).unwrap()).unwrap();
        assert!(
            log > 1_500,
            "the WAL holds {log} frames: someone else checkpointed"
        );
        assert_eq!(
            copied, log,
            "a passive checkpoint with no reader copies every frame"
        );
    }

    #[test]
    fn the_thread_checkpoints_after_a_nudge_and_stops_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = schema::open_writer(&path).unwrap();
        wal_frames_after_writes(&writer, 200);
        assert!(std::fs::metadata(&path).unwrap().len() < 300_000);
        let nudge = spawn(&path).unwrap();
        nudge.committed();
        // The rows reach the database file only through a checkpoint (bounded wait).
        let copied_by_thread = (0..250).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::metadata(&path).map_or(0, |m| m.len()) > 300_000
        });
        drop(nudge);
        assert!(
            copied_by_thread,
            "the checkpointer did not run after a nudge"
        );
    }

    #[tokio::test]
    async fn under_writes_without_a_pause_the_wal_starts_over_instead_of_growing() {
        use crate::store::sqlite::writer::Writer;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = schema::open_writer(&path).unwrap();
        conn.execute_batch("CREATE TABLE filler (body TEXT)")
            .unwrap();
        let writer = Writer::spawn(conn, spawn_restarting_at(&path, 256).unwrap()).unwrap();
        let wal = dir.path().join("t.db-wal");
        let mut largest = 0;
        // 8,000 commits of one 2 KB row back to back, ~16,000 frames: a WAL that never starts
        // over ends above 60 MB.
        for _ in 0..8_000 {
            writer
                .write(1, |conn| {
                    conn.execute("INSERT INTO filler VALUES (?1)", ["x".repeat(2_000)])
                        .map_err(|e| sql_error("insert", e))
                })
                .await
                .unwrap();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        assert!(
            largest < 30_000_000,
            "the WAL grew to {largest} bytes under writes without a pause"
        );
    }
}
