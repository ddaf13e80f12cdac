//! The engine snapshot as chunks of one generation. A snapshot is megabytes of JSON (7.8 MB at
//! 80,000 open jobs); written as one row it was one long commit that every write queued behind
//! it waited for. Here each chunk of [`CHUNK_BYTES`] is its own write in the group commit, and
//! a last small write publishes the generation in the `snapshot` document (with its
//! watermark) and drops every other generation. A crash before that write leaves the previous
//! snapshot published; its unfinished chunks are dropped by the next snapshot. A `snapshot`
//! document written whole by an earlier version is still read.

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

/// The published snapshot's JSON and watermark, read in one transaction (a snapshot published
/// meanwhile cannot drop the chunks half-way through).
pub fn load(conn: &mut Connection) -> StoreResult<Option<(Vec<u8>, Option<i64>)>> {
    let tx = conn.transaction().map_err(sql("read the snapshot"))?;
    let document: Option<(String, Option<i64>)> = tx
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
    let json = match published_generation(&body)? {
        Some((generation, count)) => chunks(&tx, generation, count)?,
        None => body.into_bytes(),
    };
    Ok(Some((json, watermark)))
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

/// The chunks of `generation` joined, checked to be `count` in a row from 0.
fn chunks(conn: &Connection, generation: i64, count: usize) -> StoreResult<Vec<u8>> {
    let mut stmt = conn
        .prepare("SELECT idx, data FROM snapshot_chunks WHERE generation = ?1 ORDER BY idx")
        .map_err(sql("read the snapshot's chunks"))?;
    let rows = stmt
        .query_map([generation], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(sql("read the snapshot's chunks"))?;
    let mut json = Vec::new();
    let mut found = 0;
    for row in rows {
        let (idx, data) = row.map_err(sql("read the snapshot's chunks"))?;
        if idx != found as i64 {
            break;
        }
        json.extend_from_slice(&data);
        found += 1;
    }
    if found != count {
        return Err(StoreError::Corrupt(format!(
            "the engine snapshot (generation {generation}) has {found} of its {count} chunks in a row"
        )));
    }
    Ok(json)
}
