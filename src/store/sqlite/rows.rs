//! Rows: JSON bodies (the record as the API knows it) plus the indexed columns queries need.

use super::schema::sql_error;

use crate::model::{AttemptRecord, JobPage, JobState, PauseScope, ScheduledJob};
use crate::store::{
    Claim, ClassTally, JobFilter, JobSortKey, StoreError, StoreResult, nanos, page_limit,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
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

/// The last (job type, error class) a retention pass has pruned whole, `None` before the first.
pub type PrunedUpTo = Option<(String, String)>;

/// One step of retention: deletes up to `budget` attempts older than `cutoff`, one (job type,
/// error class) after another from the one after `from`, each through `attempts_by_key`.
/// Returns how many it deleted and where the next step starts, `None` once every key was
/// visited.
pub fn prune_step(
    conn: &Connection,
    cutoff: i64,
    from: PrunedUpTo,
    budget: i64,
) -> StoreResult<(i64, Option<PrunedUpTo>)> {
    let mut delete = conn
        .prepare_cached(
            "DELETE FROM attempts WHERE seq IN (SELECT seq FROM attempts \
             WHERE job_type = ?1 AND error_class = ?2 AND ts_ns < ?3 LIMIT ?4)",
        )
        .map_err(sql("prune attempts"))?;
    let mut done = from;
    let mut deleted = 0;
    while let Some(key) = key_after(conn, done.as_ref())? {
        let n = delete
            .execute(params![key.0, key.1, cutoff, budget - deleted])
            .map_err(sql("prune attempts"))?;
        deleted += i64::try_from(n).unwrap_or(i64::MAX);
        if deleted >= budget {
            // This key may hold more: the next step starts with it again.
            return Ok((deleted, Some(done)));
        }
        done = Some(key);
    }
    Ok((deleted, None))
}

/// The first (job type, error class) of the attempts after `after`, in `attempts_by_key`'s
/// order.
fn key_after(
    conn: &Connection,
    after: Option<&(String, String)>,
) -> StoreResult<Option<(String, String)>> {
    let pair = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    let found = match after {
        None => conn
            .prepare_cached(
                "SELECT job_type, error_class FROM attempts \
                 ORDER BY job_type, error_class LIMIT 1",
            )
            .and_then(|mut stmt| stmt.query_row([], pair).optional()),
        Some((job_type, class)) => conn
            .prepare_cached(
                "SELECT job_type, error_class FROM attempts \
                 WHERE (job_type, error_class) > (?1, ?2) \
                 ORDER BY job_type, error_class LIMIT 1",
            )
            .and_then(|mut stmt| stmt.query_row([job_type, class], pair).optional()),
    };
    found.map_err(sql("prune attempts"))
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

/// Claims due jobs inside the writer's transaction, so no other claim can interleave. Due
/// scheduled jobs come from the per-state list order (a scheduled job's sort time is its due
/// time), expired leases from `jobs_leases`; the two are merged in due order.
pub fn claim_due(conn: &Connection, claim: &Claim) -> StoreResult<Vec<ScheduledJob>> {
    let (text, args) = due_query(claim);
    let bodies: Vec<String> = conn
        .prepare_cached(&text)
        .and_then(|mut stmt| {
            let rows = stmt.query_map(params_from_iter(args.iter()), |r| r.get(2))?;
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

/// The due jobs a claim takes, in due order: `(sort or due time, job_id, body)` rows. The
/// claimed jobs' index is named: without statistics SQLite would rather walk every claimed
/// job by state and sort them.
fn due_query(claim: &Claim) -> (String, Vec<Value>) {
    let mut args = vec![
        Value::Integer(nanos(claim.now)),
        claim.queue.clone().map_or(Value::Null, Value::Text),
    ];
    let mut conds = String::from(" AND (?2 IS NULL OR queue = ?2)");
    for scope in &claim.paused {
        conds.push_str(&paused_condition(scope, &mut args));
    }
    let text = format!(
        "SELECT sort_ns, job_id, body FROM jobs WHERE state = 'scheduled' AND finished = 0 \
         AND sort_ns <= ?1{conds} UNION ALL SELECT due_ns, job_id, body FROM jobs \
         INDEXED BY jobs_leases WHERE state = 'claimed' AND due_ns <= ?1{conds} \
         ORDER BY 1, 2 LIMIT {}",
        claim.limit
    );
    (text, args)
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
            &count_query(filter, &conds),
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
    let (sql_text, args) = in_list_order("body", &conds, &args, filter);
    let bodies: Vec<String> = tx
        .prepare(&format!("{sql_text} LIMIT {}", limit + 1))
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(args.iter()), |r| r.get(3))?
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

/// The query for how many jobs match `conds`. A filter on state, queue and error class alone
/// adds up `job_counts` (a row per combination that has jobs); one that looks into the bodies
/// (job type, tenant, text) counts the matching jobs themselves.
fn count_query(filter: &JobFilter, conds: &[&str]) -> String {
    let table = if looks_into_bodies(filter) {
        "count(*) FROM jobs"
    } else {
        "coalesce(sum(n), 0) FROM job_counts"
    };
    format!("SELECT {table}{}", where_clause(conds))
}

/// Whether the filter reads the job bodies (no column or count holds those fields).
fn looks_into_bodies(filter: &JobFilter) -> bool {
    filter.job_type.is_some() || filter.tenant.is_some() || filter.text.is_some()
}

/// Every id the filter matches, in list order, read from the indexes without the bodies
/// (unless the filter looks into them: job type, tenant, text).
pub fn list_job_ids(conn: &Connection, filter: &JobFilter) -> StoreResult<Vec<String>> {
    let (conds, args) = filter_conditions(filter);
    let (sql_text, args) = in_list_order("NULL", &conds, &args, filter);
    conn.prepare(&sql_text)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(args.iter()), |r| r.get(2))?
                .collect()
        })
        .map_err(sql("list job ids"))
}

/// The jobs matching `conds` in list order (finished, sort_ns, job_id), with `column` as the
/// fourth result column. A filter on the state walks that state's part of
/// `jobs_by_state_in_order`, which is in list order; without one, one SELECT per state is
/// merged in order (together they are every job), each walking its state's part, so no index
/// of the whole list order is kept up to date on every write. A filter on queue or error class
/// is checked on the index's entries as they are walked (the index carries both columns), so
/// only the rows of matching jobs are read.
fn in_list_order(
    column: &str,
    conds: &[&str],
    args: &[Value],
    filter: &JobFilter,
) -> (String, Vec<Value>) {
    let select = |conds: &[&str]| {
        format!(
            "SELECT finished, sort_ns, job_id, {column} FROM jobs{}",
            where_clause(conds)
        )
    };
    let order = " ORDER BY 1, 2, 3";
    if filter.state.is_some() {
        return (format!("{}{order}", select(conds)), args.to_vec());
    }
    let mut arms = Vec::with_capacity(EVERY_STATE.len());
    let mut all_args = Vec::with_capacity(args.len() * EVERY_STATE.len());
    for state in EVERY_STATE {
        let state = format!("state = '{}'", state.as_str());
        let mut arm_conds = vec![state.as_str()];
        arm_conds.extend_from_slice(conds);
        arms.push(select(&arm_conds));
        all_args.extend_from_slice(args);
    }
    (format!("{}{order}", arms.join(" UNION ALL ")), all_args)
}

/// Every state a job can have, for [`in_list_order`]'s merge.
const EVERY_STATE: [JobState; 5] = [
    JobState::Scheduled,
    JobState::Claimed,
    JobState::Succeeded,
    JobState::Exhausted,
    JobState::Killed,
];
/// A state added to [`JobState`] stops the build here until it is in [`EVERY_STATE`] too
/// (a job in a state the merge leaves out would be missing from the unfiltered list).
const _: fn(JobState) = |state| match state {
    JobState::Scheduled
    | JobState::Claimed
    | JobState::Succeeded
    | JobState::Exhausted
    | JobState::Killed => {}
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PauseScope;
    use chrono::Utc;

    /// How SQLite runs `text`: one line per step of its plan.
    fn plan(conn: &Connection, text: &str, args: &[Value]) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
        let rows = stmt
            .query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("\n")
    }

    /// The list order and the claims walk indexes already in order: no sort of the jobs
    /// (which would read every matching job for one page), with or without filters.
    #[test]
    fn listings_and_claims_read_in_index_order_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let conn = super::super::schema::open_writer(&dir.path().join("p.db")).unwrap();
        let filters = [
            JobFilter::default(),
            JobFilter {
                tenant: Some("acme".into()),
                text: Some("x".into()),
                ..JobFilter::default()
            },
            JobFilter {
                state: Some(JobState::Claimed),
                ..JobFilter::default()
            },
            JobFilter {
                queue: Some("q".into()),
                ..JobFilter::default()
            },
            JobFilter {
                error_class: Some("timeout".into()),
                job_type: Some("email".into()),
                ..JobFilter::default()
            },
        ];
        for filter in &filters {
            let (mut conds, mut args) = filter_conditions(filter);
            conds.push("(finished, sort_ns, job_id) > (?, ?, ?)");
            args.extend([
                Value::Integer(0),
                Value::Integer(5),
                Value::Text("j".into()),
            ]);
            let (text, args) = in_list_order("body", &conds, &args, filter);
            let plan = plan(&conn, &format!("{text} LIMIT 51"), &args);
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?}:\n{plan}");
            assert!(!plan.contains("SCAN jobs"), "{filter:?}:\n{plan}");
        }
        for queue in [None, Some("q".to_string())] {
            let claim = Claim {
                worker: "w".into(),
                now: Utc::now(),
                lease_until: Utc::now(),
                limit: 10,
                queue,
                paused: vec![PauseScope {
                    queue: "q2".into(),
                    error_class: Some("timeout".into()),
                    job_type: None,
                }],
            };
            let (text, args) = due_query(&claim);
            let plan = plan(&conn, &text, &args);
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            assert!(plan.contains("jobs_leases"), "{plan}");
        }
    }
}
