//! WAL checkpoints on their own thread and connection, so the writer never does one.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses 1000 WAL pages: that
//! commit copies the pages into the database file and fsyncs it before its callers hear back,
//! and every write queued behind it waits too. Here the writer's automatic checkpoint is off
//! (`wal_autocheckpoint=0`) and this thread runs a PASSIVE checkpoint (it never blocks the
//! writer or readers) after commits, at most once per [`PERIOD`]. Its connection uses
//! `synchronous=FULL`, so a checkpoint syncs the WAL before copying and the database after, as
//! the automatic one did: the WAL is never reused before its pages are durable in the database.

use super::schema::{self, sql_error};
use crate::store::StoreResult;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// Shortest time between two checkpoints.
pub const PERIOD: Duration = Duration::from_millis(200);

/// Tells the checkpointer that commits happened; dropping it stops the thread.
#[derive(Debug)]
pub struct Nudge(mpsc::SyncSender<()>);

impl Nudge {
    /// Notes a commit; never waits (one pending nudge covers any number of commits).
    pub fn committed(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts the checkpointer on its own connection to `path`.
pub fn spawn(path: &Path) -> StoreResult<Nudge> {
    let conn = schema::open_checkpointer(path)?;
    let (nudge, nudged) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("retryctl-sqlite-checkpoint".into())
        .spawn(move || run(&conn, &nudged))
        .map_err(|e| {
            crate::store::StoreError::unavailable(format!(
                "cannot start the checkpoint thread: {e}"
            ))
        })?;
    Ok(Nudge(nudge))
}

fn run(conn: &Connection, nudged: &mpsc::Receiver<()>) {
    while nudged.recv().is_ok() {
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries");
        }
        std::thread::sleep(PERIOD);
    }
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
}
