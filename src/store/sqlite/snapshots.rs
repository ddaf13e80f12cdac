//! The engine snapshot as chunks of one generation. A snapshot is megabytes of JSON (7.8 MB at
//! 80,000 open jobs); written as one row it was one long commit that every write queued behind
//! it waited for. Here each chunk of [`CHUNK_BYTES`] is its own write in the group commit, and
//! a last small write publishes the generation in the `snapshot` document (with its
//! watermark) and drops every other generation. A crash before that write leaves the previous
//! snapshot published; its unfinished chunks are dropped by the next snapshot. The chunks are
//! written as the engine's encoding fills them and read back one at a time as the engine
//! decodes them ([`Reader`]), so neither side holds the whole text. A `snapshot` document
//! written whole by an earlier version is still read.

use super::rows::{int, sql};
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};

/// Bytes of one chunk: 64 pages of 4 KiB, about what one group commit of failures writes.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// The name of the document that holds the snapshot (or, now, names its generation).
pub const DOCUMENT: &str = "snapshot";

/// Prefix of a `snapshot` document that names a generation: `chunks GENERATION COUNT`.
const PUBLISHED: &str = "chunks ";

/// A generation no snapshot has used, finished or not.
pub fn next_generation(conn: &Connection) -> StoreResult<i64> {
    conn.query_row(
        "SELECT coalesce(max(generation), 0) + 1 FROM snapshot_chunks",
        [],
        |r| r.get(0),
    )
    .map_err(sql("number a snapshot"))
}

/// Stores chunk `idx` of `generation`.
pub fn put_chunk(conn: &Connection, generation: i64, idx: usize, data: &[u8]) -> StoreResult<()> {
    conn.prepare_cached("INSERT INTO snapshot_chunks (generation, idx, data) VALUES (?1, ?2, ?3)")
        .and_then(|mut stmt| stmt.execute(params![generation, int(idx as u64), data]))
        .map_err(sql("save a snapshot chunk"))?;
    Ok(())
}

/// Makes `generation` (of `count` chunks, covering attempts up to `watermark`) the snapshot
/// and drops every other generation.
pub fn publish(
    conn: &Connection,
    generation: i64,
    count: usize,
    watermark: u64,
) -> StoreResult<()> {
    conn.execute(
        "INSERT OR REPLACE INTO documents (name, body, watermark) VALUES (?1, ?2, ?3)",
        params![
            DOCUMENT,
            format!("{PUBLISHED}{generation} {count}"),
            int(watermark)
        ],
    )
    .and_then(|_| {
        conn.execute(
            "DELETE FROM snapshot_chunks WHERE generation != ?1",
            [generation],
        )
    })
    .map_err(sql("publish the snapshot"))?;
    Ok(())
}

/// The published snapshot, read chunk by chunk as it is decoded, inside one read transaction
/// on a connection of its own (a snapshot published meanwhile cannot drop its chunks half-way
/// through); the connection is handed back when the reader is dropped. A snapshot written
/// whole by an earlier version is read from its one row.
pub struct Reader {
    /// Holds the read transaction until the last chunk is read.
    conn: Option<Connection>,
    give_back: Option<Box<dyn FnOnce(Connection) + Send>>,
    generation: i64,
    count: usize,
    next: usize,
    chunk: Vec<u8>,
    pos: usize,
}

impl Reader {
    /// The published snapshot and its watermark, or `None` when none was saved. A generation
    /// whose chunks are not all there is corrupt (never read short).
    pub fn open(
        conn: Connection,
        give_back: impl FnOnce(Connection) + Send + 'static,
    ) -> StoreResult<Option<(Self, Option<i64>)>> {
        conn.execute_batch("BEGIN")
            .map_err(sql("read the snapshot"))?;
        let mut reader = Self {
            conn: Some(conn),
            give_back: Some(Box::new(give_back)),
            generation: 0,
            count: 0,
            next: 0,
            chunk: Vec::new(),
            pos: 0,
        };
        let conn = reader.conn.as_ref().expect("just set");
        let document: Option<(String, Option<i64>)> = conn
            .query_row(
                "SELECT body, watermark FROM documents WHERE name = ?1",
                [DOCUMENT],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql("read the snapshot"))?;
        let Some((body, watermark)) = document else {
            return Ok(None);
        };
        match published_generation(&body)? {
            Some((generation, count)) => {
                check_chunks(conn, generation, count)?;
                (reader.generation, reader.count) = (generation, count);
            }
            None => {
                reader.chunk = body.into_bytes();
                reader.release();
            }
        }
        Ok(Some((reader, watermark)))
    }

    /// The next chunk into `self.chunk`; false after the last.
    fn advance(&mut self) -> StoreResult<bool> {
        let Some(conn) = self.conn.as_ref().filter(|_| self.next < self.count) else {
            self.release();
            return Ok(false);
        };
        self.chunk = conn
            .prepare_cached("SELECT data FROM snapshot_chunks WHERE generation = ?1 AND idx = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![self.generation, int(self.next as u64)], |r| {
                    r.get(0)
                })
            })
            .map_err(sql("read a snapshot chunk"))?;
        (self.next, self.pos) = (self.next + 1, 0);
        Ok(true)
    }

    /// Ends the read transaction and hands the connection back.
    fn release(&mut self) {
        if let (Some(conn), Some(give_back)) = (self.conn.take(), self.give_back.take())
            && conn.execute_batch("ROLLBACK").is_ok()
        {
            give_back(conn);
        }
    }
}

impl std::io::Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.chunk.len() {
            if !self.advance().map_err(std::io::Error::other)? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.release();
    }
}

/// `(generation, chunk count)` of a document that names one; `None` for a whole snapshot.
fn published_generation(body: &str) -> StoreResult<Option<(i64, usize)>> {
    let Some(rest) = body.strip_prefix(PUBLISHED) else {
        return Ok(None);
    };
    let mut fields = rest.split(' ').map(str::parse::<u64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(generation)), Some(Ok(count)), None) => Ok(Some((
            i64::try_from(generation).unwrap_or(i64::MAX),
            usize::try_from(count).unwrap_or(usize::MAX),
        ))),
        _ => Err(StoreError::Corrupt(format!(
            "the snapshot document reads {body:?}, not `{PUBLISHED}GENERATION COUNT`"
        ))),
    }
}

/// Checks that `generation` has its `count` chunks, numbered from 0 in a row.
fn check_chunks(conn: &Connection, generation: i64, count: usize) -> StoreResult<()> {
    let mut stmt = conn
        .prepare("SELECT idx FROM snapshot_chunks WHERE generation = ?1 ORDER BY idx")
        .map_err(sql("read the snapshot's chunks"))?;
    let rows = stmt
        .query_map([generation], |r| r.get::<_, i64>(0))
        .map_err(sql("read the snapshot's chunks"))?;
    let mut found = 0;
    for idx in rows {
        if idx.map_err(sql("read the snapshot's chunks"))? != found as i64 {
            break;
        }
        found += 1;
    }
    if found != count {
        return Err(StoreError::Corrupt(format!(
            "the engine snapshot (generation {generation}) has {found} of its {count} chunks in a row"
        )));
    }
    Ok(())
}
