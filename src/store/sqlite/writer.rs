//! Group commit: one thread owns the write connection. Callers queue a write and await its
//! reply; the thread takes everything queued, applies it in one transaction (if one write
//! fails, the group is applied again with each write in its own savepoint, so one failing
//! write does not undo the others), commits once (one fsync),
//! and only then replies to every caller. Between two commits it also runs the checkpoint that
//! lets the WAL start over when the checkpointer asks for it (see `checkpointer`).
//!
//! The reply carries the write (with the rows it captured) back to its caller, which drops it:
//! the rows' memory is freed on the runtime thread that allocated it, not on this thread, which
//! every commit waits for (about 4 µs per failure of frees on the worker path; README
//! "Round 10", where the effect on the service's total was within the noise of the runs).

use super::checkpointer::{Nudge, checkpoint};
use super::schema::{BIG_WRITE_CACHE_KIB, WRITER_CACHE_KIB, sql_error};
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, TransactionBehavior};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most rows one transaction takes (a write counts as the rows it touches), so an early caller
/// never waits for an unbounded commit; a single larger write still goes in whole.
const MAX_BATCH_ROWS: usize = 20_000;
/// From this many rows on, a transaction runs with the larger page cache
/// ([`BIG_WRITE_CACHE_KIB`]); the writer's own stays small the rest of the time.
const BIG_WRITE_ROWS: usize = 1_000;

/// Handle to the writer thread; the thread stops (and closes the database) when every handle
/// is dropped.
#[derive(Debug)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn PendingWrite>>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn`; it nudges `checkpoints` after its commits.
    pub fn spawn(conn: Connection, checkpoints: Nudge) -> StoreResult<Self> {
        let (queue, incoming) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        // Under 16 bytes, so Linux keeps the whole name: benches/http/failures_cpu.sh reads
        // this thread's CPU time by it.
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, incoming, &counter, &checkpoints))
            .map_err(|e| StoreError::unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { queue, commits })
    }

    /// Transactions committed so far (each is one fsync, whatever the number of writes in it).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `write`, which touches about `rows` rows, inside the next group commit; resolves
    /// after that commit is durable. `write` may run twice: when another write of its group
    /// fails, the group is rolled back and applied again, each write in a savepoint.
    pub async fn write<T, F>(&self, rows: usize, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Op {
            rows: rows.max(1),
            write,
            result: None,
            reply,
        };
        self.queue.send(Box::new(op)).map_err(|_| stopped())?;
        let (result, write) = answer.await.map_err(|_| stopped())?;
        // Dropped here, on the caller's thread, which allocated what it captured.
        drop(write);
        result
    }
}

fn stopped() -> StoreError {
    StoreError::unavailable("the SQLite writer thread has stopped")
}

/// A queued write, type-erased so writes of any result type share one queue.
trait PendingWrite: Send {
    /// Rows the write touches, for sizing a group commit.
    fn rows(&self) -> usize;
    /// Applies the write; false when it failed (its savepoint is then rolled back).
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Replies once the transaction's fate is known (`commit` is its error, if it failed).
    fn finish(self: Box<Self>, commit: Option<&StoreError>);
}

struct Op<T, F> {
    rows: usize,
    write: F,
    result: Option<StoreResult<T>>,
    /// The answer, and the write itself for the caller to drop.
    reply: oneshot::Sender<(StoreResult<T>, F)>,
}

impl<T, F> PendingWrite for Op<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> StoreResult<T> + Send,
{
    fn rows(&self) -> usize {
        self.rows
    }

    fn apply(&mut self, conn: &Connection) -> bool {
        let result = (self.write)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Option<&StoreError>) {
        let Op {
            write,
            result,
            reply,
            ..
        } = *self;
        let answer = match (result, commit) {
            (Some(Err(e)), _) => Err(e),
            (_, Some(err)) => Err(err.clone()),
            (Some(Ok(value)), None) => Ok(value),
            (None, None) => Err(StoreError::unavailable("write was not applied")),
        };
        // The caller may have gone away (request cancelled); the write stands regardless.
        let _ = reply.send((answer, write));
    }
}

fn run(
    mut conn: Connection,
    incoming: mpsc::Receiver<Box<dyn PendingWrite>>,
    commits: &AtomicU64,
    checkpoints: &Nudge,
) {
    while let Ok(first) = incoming.recv() {
        let mut rows = first.rows();
        let mut batch = vec![first];
        while rows < MAX_BATCH_ROWS {
            match incoming.try_recv() {
                Ok(op) => {
                    rows += op.rows();
                    batch.push(op);
                }
                Err(_) => break,
            }
        }
        let outcome = with_cache_for(&mut conn, rows, |conn| commit_batch(conn, &mut batch));
        if outcome.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
            checkpoints.committed();
        }
        if checkpoints.restart_requested()
            && let Err(e) = checkpoint(&conn)
        {
            tracing::warn!(error = %e, "the writer's WAL checkpoint failed; the WAL grows until the next");
        }
        let commit = outcome.err().map(|e| sql_error("commit", e));
        for op in batch {
            op.finish(commit.as_ref());
        }
    }
}

/// Runs `commit` with the page cache a transaction of `rows` rows needs, then the writer's
/// usual one again (the extra pages are freed as they are released).
fn with_cache_for<T>(
    conn: &mut Connection,
    rows: usize,
    commit: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    if rows < BIG_WRITE_ROWS {
        return commit(conn);
    }
    conn.pragma_update(None, "cache_size", BIG_WRITE_CACHE_KIB)?;
    let outcome = commit(conn);
    let restored = conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB);
    let value = outcome?;
    restored.map(|()| value)
}

/// Applies a group in one transaction. First without savepoints (a savepoint copies every
/// page a write touches into its journal: about a tenth of the writer's time on the worker
/// path); if a write fails, the transaction is rolled back and the group applied again with
/// one savepoint per write, so the failing write is undone alone.
fn commit_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn PendingWrite>],
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if batch.iter_mut().all(|op| op.apply(&tx)) {
        return tx.commit();
    }
    if let [_] = batch {
        // Alone in the group: its failure rolls the transaction back, nothing else is lost.
        return tx.rollback();
    }
    tx.rollback()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for op in batch.iter_mut() {
        run_cached(&tx, "SAVEPOINT op")?;
        if !op.apply(&tx) {
            run_cached(&tx, "ROLLBACK TO op")?;
        }
        run_cached(&tx, "RELEASE op")?;
    }
    tx.commit()
}

/// Runs a statement from the connection's cache: the savepoint statements of every write are
/// prepared once, not parsed again for each (as `Transaction::savepoint` does).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{checkpointer, schema};

    fn cache_size(conn: &Connection) -> StoreResult<i64> {
        conn.pragma_query_value(None, "cache_size", |r| r.get(0))
            .map_err(|e| sql_error("cache_size", e))
    }

    #[tokio::test]
    async fn a_big_transaction_gets_the_big_cache_and_the_writer_its_own_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = schema::open_writer(&path).unwrap();
        let writer = Writer::spawn(conn, checkpointer::spawn(&path).unwrap()).unwrap();
        let small = writer.write(1, cache_size).await.unwrap();
        assert_eq!(small, WRITER_CACHE_KIB);
        let big = writer.write(BIG_WRITE_ROWS, cache_size).await.unwrap();
        assert_eq!(big, BIG_WRITE_CACHE_KIB);
        // A failed big write gives the cache back too.
        let failed = writer
            .write(BIG_WRITE_ROWS, |_| -> StoreResult<()> {
                Err(StoreError::unavailable("refused"))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(writer.write(1, cache_size).await.unwrap(), WRITER_CACHE_KIB);
    }

    /// Notes the name of the thread that drops it.
    struct DropProbe(Arc<std::sync::Mutex<Option<String>>>);

    impl Drop for DropProbe {
        fn drop(&mut self) {
            let name = std::thread::current().name().map(str::to_string);
            *self.0.lock().unwrap() = Some(name.unwrap_or_default());
        }
    }

    /// What a write captured is freed by its caller, not by the writer thread that every
    /// commit waits for, whether the write succeeded or failed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_is_dropped_on_the_callers_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = schema::open_writer(&path).unwrap();
        let writer = Writer::spawn(conn, checkpointer::spawn(&path).unwrap()).unwrap();
        for fail in [false, true] {
            let dropped_on = Arc::new(std::sync::Mutex::new(None));
            let probe = DropProbe(dropped_on.clone());
            let result = writer
                .write(1, move |_| {
                    let _held = &probe;
                    if fail {
                        return Err(StoreError::unavailable("refused"));
                    }
                    Ok(())
                })
                .await;
            assert_eq!(result.is_err(), fail);
            let name = dropped_on.lock().unwrap().clone();
            assert!(
                name.as_deref().is_some_and(|n| n != "sqlite-writer"),
                "dropped on {name:?}"
            );
        }
    }

    /// Writes of one group: one fails after changing a row, the others stand, the failing
    /// one's change is undone, and each caller gets its own answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_is_undone_alone_and_the_others_of_its_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = schema::open_writer(&path).unwrap();
        let writer = Arc::new(Writer::spawn(conn, checkpointer::spawn(&path).unwrap()).unwrap());
        let put = |conn: &Connection, name: &str| {
            conn.execute(
                "INSERT INTO documents (name, body) VALUES (?1, 'x')",
                [name],
            )
            .map_err(|e| sql_error("put", e))
        };
        // The first write holds the writer, so the next ones queue up into one group.
        let holder = writer.clone();
        let hold = tokio::spawn(async move {
            holder
                .write(1, |_| {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Ok(())
                })
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let commits = writer.commits();
        let writes: Vec<_> = (0..6)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(1, move |conn| {
                            put(conn, &format!("d{i}"))?;
                            if i == 3 {
                                return Err(StoreError::unavailable("refused"));
                            }
                            Ok(i)
                        })
                        .await
                })
            })
            .collect();
        hold.await.unwrap().unwrap();
        let mut answers = Vec::new();
        for write in writes {
            answers.push(write.await.unwrap().ok());
        }
        assert_eq!(answers, [Some(0), Some(1), Some(2), None, Some(4), Some(5)]);
        assert!(
            writer.commits() - commits <= 3,
            "the six writes did not share a group: {} commits",
            writer.commits() - commits
        );
        let names: Vec<String> = writer
            .write(1, |conn| {
                let mut stmt = conn
                    .prepare("SELECT name FROM documents WHERE name LIKE 'd_' ORDER BY name")
                    .map_err(|e| sql_error("read", e))?;
                let rows = stmt
                    .query_map([], |r| r.get(0))
                    .map_err(|e| sql_error("read", e))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(|e| sql_error("read", e))
            })
            .await
            .unwrap();
        assert_eq!(names, ["d0", "d1", "d2", "d4", "d5"]);
    }
}
