//! Rows: JSON bodies (the record as the API knows it) plus the indexed columns queries need.

use super::schema::sql_error;

use crate::model::{AttemptRecord, JobPage, JobState, PauseScope, ScheduledJob};
use crate::store::{
    Claim, ClassTally, JobFilter, JobSortKey, StoreError, StoreResult, nanos, page_limit,
};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Maps a rusqlite error to a `StoreError` naming the operation.
pub fn sql(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| sql_error(what, e)
}

pub fn to_json<T: Serialize>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::unavailable(format!("cannot encode {what}: {e}")))
}

pub fn from_json<T: DeserializeOwned>(what: &str, body: &str) -> StoreResult<T> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("cannot decode {what}: {e}")))
}

/// An unsigned value as SQLite's signed integer, saturating (SQLite has no u64).
pub fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A count or id read back from SQLite (never negative in our tables).
pub fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// Inserts attempts (with their encoded bodies); returns their sequence numbers.
pub fn insert_attempts(
    conn: &Connection,
    rows: &[(AttemptRecord, String)],
) -> StoreResult<Vec<u64>> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO attempts (job_id, job_type, error_class, attempt_number, success, \
             delay_ms, ts_ns, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(sql("append attempts"))?;
    let mut seqs = Vec::with_capacity(rows.len());
    for (a, body) in rows {
        let seq = insert
            .insert(params![
                a.job_id,
                a.job_type,
                a.error_class,
                a.attempt_number,
                a.success,
                int(a.delay_ms),
                nanos(a.timestamp),
                body
            ])
            .map_err(sql("append attempts"))?;
        seqs.push(uint(seq));
    }
    count_classes(conn, rows.iter().map(|(a, _)| a))?;
    Ok(seqs)
}

/// Adds attempts to the per-class tallies: one upsert per class in the batch.
fn count_classes<'a>(
    conn: &Connection,
    attempts: impl Iterator<Item = &'a AttemptRecord>,
) -> StoreResult<()> {
    let mut tallies = BTreeMap::new();
    ClassTally::add_all(&mut tallies, attempts);
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO error_classes (error_class, attempts, successes) VALUES (?1, ?2, ?3) \
             ON CONFLICT (error_class) DO UPDATE SET attempts = attempts + excluded.attempts, \
             successes = successes + excluded.successes",
        )
        .map_err(sql("count attempts by error class"))?;
    for (class, t) in tallies {
        upsert
            .execute(params![class, int(t.attempts), int(t.successes)])
            .map_err(sql("count attempts by error class"))?;
    }
    Ok(())
}

/// Inserts or replaces a job, keeping its order and due columns in step with its body.
pub fn upsert_job(conn: &Connection, job: &ScheduledJob, body: &str) -> StoreResult<()> {
    let key = JobSortKey::of(job);
    let due = Claim::due_since(job).map(nanos);
    // An upsert, not `INSERT OR REPLACE`: a replace deletes the row and inserts it again,
    // touching every index (the primary key's too) twice; an update in place leaves the row
    // where it is and the key's index alone.
    conn.prepare_cached(
        "INSERT INTO jobs (job_id, queue, state, error_class, finished, sort_ns, due_ns, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (job_id) DO UPDATE SET \
         queue = excluded.queue, state = excluded.state, error_class = excluded.error_class, \
         finished = excluded.finished, sort_ns = excluded.sort_ns, due_ns = excluded.due_ns, \
         body = excluded.body",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            job.job_id,
            job.queue,
            job.state.as_str(),
            job.error_class,
            key.finished,
            key.at_ns,
            due,
            body
        ])
    })
    .map_err(sql("put job"))?;
    Ok(())
}

/// Claims due jobs inside the writer's transaction, so no other claim can interleave.
pub fn claim_due(conn: &Connection, claim: &Claim) -> StoreResult<Vec<ScheduledJob>> {
    let mut args = vec![
        Value::Integer(nanos(claim.now)),
        claim.queue.clone().map_or(Value::Null, Value::Text),
    ];
    let mut text =
        String::from("SELECT body FROM jobs WHERE due_ns <= ?1 AND (?2 IS NULL OR queue = ?2)");
    for scope in &claim.paused {
        text.push_str(&paused_condition(scope, &mut args));
    }
    text.push_str(&format!(" ORDER BY due_ns, job_id LIMIT {}", claim.limit));
    let bodies: Vec<String> = conn
        .prepare_cached(&text)
        .and_then(|mut stmt| {
            let rows = stmt.query_map(params_from_iter(args.iter()), |r| r.get(0))?;
            rows.collect()
        })
        .map_err(sql("find due jobs"))?;
    let mut claimed = Vec::with_capacity(bodies.len());
    for body in bodies {
        let mut job: ScheduledJob = from_json("job", &body)?;
        claim.apply(&mut job);
        upsert_job(conn, &job, &to_json("job", &job)?)?;
        claimed.push(job);
    }
    Ok(claimed)
}

/// ` AND NOT (…)`: leaves out the jobs of one paused scope (the job type is read from the
/// body: it has no column, and only due rows are looked at).
fn paused_condition(scope: &PauseScope, args: &mut Vec<Value>) -> String {
    args.push(Value::Text(scope.queue.clone()));
    let mut cond = format!(" AND NOT (queue = ?{}", args.len());
    if let Some(class) = &scope.error_class {
        args.push(Value::Text(class.clone()));
        cond.push_str(&format!(" AND error_class = ?{}", args.len()));
    }
    if let Some(job_type) = &scope.job_type {
        args.push(Value::Text(job_type.clone()));
        cond.push_str(&format!(
            " AND json_extract(body, '$.job_type') = ?{}",
            args.len()
        ));
    }
    cond.push(')');
    cond
}

/// One page of jobs plus the total for the filter, read in one transaction so they agree.
pub fn list_jobs(conn: &mut Connection, filter: &JobFilter) -> StoreResult<JobPage> {
    let after = filter
        .cursor
        .as_deref()
        .map(JobSortKey::decode)
        .transpose()?;
    let limit = page_limit(filter.limit) as usize;
    let (mut conds, mut args) = filter_conditions(filter);
    let tx = conn.transaction().map_err(sql("list jobs"))?;
    let total: i64 = tx
        .query_row(
            &format!("SELECT count(*) FROM jobs{}", where_clause(&conds)),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )
        .map_err(sql("count jobs"))?;
    if let Some(key) = after {
        conds.push("(finished, sort_ns, job_id) > (?, ?, ?)");
        args.extend([
            Value::Integer(key.finished.into()),
            Value::Integer(key.at_ns),
            Value::Text(key.job_id),
        ]);
    }
    let sql_text = format!(
        "SELECT body FROM jobs{} ORDER BY finished, sort_ns, job_id LIMIT {}",
        where_clause(&conds),
        limit + 1
    );
    let bodies: Vec<String> = tx
        .prepare(&sql_text)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(args.iter()), |r| r.get(0))?
                .collect()
        })
        .map_err(sql("list jobs"))?;
    let mut jobs = bodies
        .iter()
        .map(|b| from_json::<ScheduledJob>("job", b))
        .collect::<StoreResult<Vec<_>>>()?;
    let next_cursor = (jobs.len() > limit).then(|| {
        jobs.truncate(limit);
        jobs.last().map(|j| JobSortKey::of(j).encode())
    });
    Ok(JobPage {
        jobs,
        next_cursor: next_cursor.flatten(),
        total: uint(total),
    })
}

/// Every id the filter matches, in list order, read from the indexes without the bodies
/// (unless the filter looks into them: job type, tenant, text).
pub fn list_job_ids(conn: &Connection, filter: &JobFilter) -> StoreResult<Vec<String>> {
    let (conds, args) = filter_conditions(filter);
    let sql_text = format!(
        "SELECT job_id FROM jobs{} ORDER BY finished, sort_ns, job_id",
        where_clause(&conds)
    );
    conn.prepare(&sql_text)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(args.iter()), |r| r.get(0))?
                .collect()
        })
        .map_err(sql("list job ids"))
}

fn filter_conditions(filter: &JobFilter) -> (Vec<&'static str>, Vec<Value>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(queue) = &filter.queue {
        conds.push("queue = ?");
        args.push(Value::Text(queue.clone()));
    }
    if let Some(state) = filter.state {
        conds.push("state = ?");
        args.push(Value::Text(state.as_str().into()));
    }
    if let Some(class) = &filter.error_class {
        conds.push("error_class = ?");
        args.push(Value::Text(class.clone()));
    }
    if let Some(job_type) = &filter.job_type {
        conds.push("json_extract(body, '$.job_type') = ?");
        args.push(Value::Text(job_type.clone()));
    }
    if let Some(tenant) = &filter.tenant {
        conds.push("json_extract(body, '$.tenant') = ?");
        args.push(Value::Text(tenant.clone()));
    }
    if let Some(text) = &filter.text {
        conds.push("(instr(job_id, ?) > 0 OR instr(json_extract(body, '$.last_error'), ?) > 0)");
        args.extend([Value::Text(text.clone()), Value::Text(text.clone())]);
    }
    (conds, args)
}

fn where_clause(conds: &[&str]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// Reads a state name stored by `upsert_job`.
pub fn parse_state(name: &str) -> StoreResult<JobState> {
    serde_json::from_value(serde_json::Value::String(name.into()))
        .map_err(|_| StoreError::Corrupt(format!("unknown job state {name:?} in the jobs table")))
}
