//! The retry schedule in Redis: jobs as JSON in one hash, moved in every index by one script
//! per write. A claim is one script too (`scripts::CLAIM`): it stores the claim beside the
//! job's body, and every read merges the two, so two replicas never hand out the same job
//! while its lease holds.

use super::attempts::attempt_args;
use super::keys::{self, due_member, group, job_of_order_member, order_member, sortable_time};
use super::{RedisStore, err, from_json, scripts, to_json};
use crate::model::{AttemptRecord, JobPage, JobState, ScheduledJob};
use crate::store::{Claim, JobFilter, JobSortKey, StoreError, StoreResult, page_limit};
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Members read per round trip when walking the list order for a page of jobs.
const WALK_CHUNK: usize = 256;
/// Members read per round trip when walking the list order for ids only (groups are small).
const IDS_CHUNK: usize = 2_000;

/// Where a walk through the list order is: the exclusive lower bound of the next chunk.
struct OrderWalk {
    min: String,
    chunk: usize,
    done: bool,
}

impl OrderWalk {
    /// A walk from after `after` (from the start with `None`), `chunk` members a round trip.
    fn after(after: Option<&JobSortKey>, chunk: usize) -> Self {
        Self {
            min: after.map_or("-".to_string(), |k| format!("({}", order_member(k))),
            chunk,
            done: false,
        }
    }
}

/// Whether a job in `group` matches a filter on groups only.
fn group_matches(filter: &JobFilter, (queue, state, class): &(String, JobState, String)) -> bool {
    filter.queue.as_deref().is_none_or(|want| want == queue)
        && filter.state.is_none_or(|want| want == *state)
        && filter
            .error_class
            .as_deref()
            .is_none_or(|want| want == class)
}

/// What a claim script stores beside a job's body.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimState {
    claimed_by: String,
    lease_until: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A job as stored: its body as last written, and the claim on it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    pub body: String,
    pub claim: Option<String>,
}

impl Raw {
    /// The job the two make together.
    fn job(&self) -> StoreResult<ScheduledJob> {
        let mut job: ScheduledJob = from_json("a job", &self.body)?;
        if let Some(claim) = &self.claim {
            let claim: ClaimState = from_json("a claim", claim)?;
            job.state = JobState::Claimed;
            job.claimed_by = Some(claim.claimed_by);
            job.lease_until = Some(claim.lease_until);
            job.updated_at = claim.updated_at;
        }
        Ok(job)
    }

    /// What `PUT_JOBS` compares against for a compare-and-set.
    fn expectation(&self) -> String {
        format!("{}\n{}", self.body, self.claim.as_deref().unwrap_or(""))
    }
}

/// What a job write expects to find stored (see `scripts::PUT_JOBS`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect<'a> {
    /// Nothing: the write is unconditional.
    Anything,
    /// Exactly this body and claim (compare-and-set).
    Exactly(&'a Raw),
    /// Any job but a killed one, or none.
    NotKilled,
}

impl Expect<'_> {
    fn arg(self) -> String {
        match self {
            Expect::Anything => String::new(),
            Expect::Exactly(raw) => raw.expectation(),
            Expect::NotKilled => scripts::UNLESS_KILLED.to_string(),
        }
    }
}

/// The eight script arguments of a job write (see `scripts::PUT_JOBS`).
fn job_args(job: &ScheduledJob, expect: Expect) -> StoreResult<[String; 8]> {
    let mut claimed = job.clone();
    claimed.state = JobState::Claimed;
    Ok([
        job.job_id.clone(),
        to_json("a job", job)?,
        order_member(&JobSortKey::of(job)),
        group(job),
        due_member(job).unwrap_or_default(),
        expect.arg(),
        serde_json::json!([job.queue, job.error_class, job.job_type]).to_string(),
        group(&claimed),
    ])
}

impl RedisStore {
    fn job_keys(&self) -> [String; 10] {
        let k = &self.keys;
        [
            k.jobs(),
            k.job_order_member(),
            k.job_group(),
            k.job_due_member(),
            k.order(),
            k.due(),
            k.groups(),
            k.job_claim(),
            k.job_scope(),
            k.job_claimed_group(),
        ]
    }

    /// Writes jobs unconditionally.
    pub(super) async fn write_jobs(&self, jobs: Vec<ScheduledJob>) -> StoreResult<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut call = scripts::PUT_JOBS.prepare_invoke();
        call.key(&self.job_keys()[..]);
        for job in &jobs {
            call.arg(&job_args(job, Expect::Anything)?[..]);
        }
        let _: Vec<u8> = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(err("put jobs"))?;
        Ok(())
    }

    /// Appends `attempt` and writes `job` in one script, only if the job is stored as `expect`
    /// says (else `Ok(None)`, nothing written).
    pub(super) async fn append_with_job(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
        expect: Expect<'_>,
    ) -> StoreResult<Option<u64>> {
        let mut call = scripts::APPEND_WITH_JOB.prepare_invoke();
        call.key(&self.job_keys()[..])
            .key(&self.log_keys()[..])
            .key(&self.attempt_keys(&attempt)[..]);
        call.arg(&attempt_args(&attempt)?[..]);
        call.arg(&job_args(&job, expect)?[..]);
        let seq: i64 = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(err("append an attempt with its job"))?;
        Ok(u64::try_from(seq).ok())
    }

    /// [`Self::append_with_job`] if the stored job equals `expected` as read now; the script
    /// checks that nothing changed between this read and the write.
    pub(super) async fn append_with_job_if(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
        expected: &ScheduledJob,
    ) -> StoreResult<Option<u64>> {
        let Some(raw) = self.read_raw(&[&job.job_id]).await?.pop().flatten() else {
            return Ok(None);
        };
        if raw.job()? != *expected {
            return Ok(None);
        }
        self.append_with_job(attempt, job, Expect::Exactly(&raw))
            .await
    }

    /// Bodies and claims of these jobs, in order (`None` for an unknown id).
    async fn read_raw(&self, ids: &[&str]) -> StoreResult<Vec<Option<Raw>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (bodies, claims): (Vec<Option<String>>, Vec<Option<String>>) = redis::pipe()
            .cmd("HMGET")
            .arg(self.keys.jobs())
            .arg(ids)
            .cmd("HMGET")
            .arg(self.keys.job_claim())
            .arg(ids)
            .query_async(&mut self.conn())
            .await
            .map_err(err("read jobs"))?;
        Ok(bodies
            .into_iter()
            .zip(claims)
            .map(|(body, claim)| body.map(|body| Raw { body, claim }))
            .collect())
    }

    /// These jobs as stored (unknown ids left out), in order.
    async fn read_jobs(&self, ids: &[&str]) -> StoreResult<Vec<ScheduledJob>> {
        let raw = self.read_raw(ids).await?;
        raw.into_iter().flatten().map(|r| r.job()).collect()
    }

    pub(super) async fn read_job(&self, job_id: &str) -> StoreResult<Option<ScheduledJob>> {
        Ok(self.read_jobs(&[job_id]).await?.pop())
    }

    async fn group_counts(&self) -> StoreResult<Vec<((String, JobState, String), u64)>> {
        let raw: BTreeMap<String, i64> = self
            .conn()
            .hgetall(self.keys.groups())
            .await
            .map_err(err("count jobs"))?;
        raw.into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(g, n)| {
                let parsed = keys::parse_group(&g)
                    .ok_or_else(|| StoreError::Corrupt(format!("job group {g:?} is malformed")))?;
                Ok((parsed, n as u64))
            })
            .collect()
    }

    pub(super) async fn counts_by_state(&self) -> StoreResult<BTreeMap<JobState, u64>> {
        let mut by_state = BTreeMap::new();
        for ((_, state, _), n) in self.group_counts().await? {
            *by_state.entry(state).or_insert(0) += n;
        }
        Ok(by_state)
    }

    /// How many jobs match the filter: from the group counts when it filters by group only,
    /// else by reading every job.
    async fn count(&self, filter: &JobFilter) -> StoreResult<u64> {
        if filter.by_group_only() {
            let groups = self.group_counts().await?;
            return Ok(groups
                .into_iter()
                .filter(|(group, _)| group_matches(filter, group))
                .map(|(_, n)| n)
                .sum());
        }
        let what = "count jobs";
        let bodies: BTreeMap<String, String> = self
            .conn()
            .hgetall(self.keys.jobs())
            .await
            .map_err(err(what))?;
        let mut claims: BTreeMap<String, String> = self
            .conn()
            .hgetall(self.keys.job_claim())
            .await
            .map_err(err(what))?;
        let mut n = 0;
        for (id, body) in bodies {
            let raw = Raw {
                body,
                claim: claims.remove(&id),
            };
            n += u64::from(filter.matches(&raw.job()?));
        }
        Ok(n)
    }

    pub(super) async fn page(&self, filter: JobFilter) -> StoreResult<JobPage> {
        let after = filter
            .cursor
            .as_deref()
            .map(JobSortKey::decode)
            .transpose()?;
        let limit = page_limit(filter.limit) as usize;
        let total = self.timed("count jobs", self.count(&filter)).await?;
        let mut jobs = Vec::new();
        let mut walk = OrderWalk::after(after.as_ref(), (limit + 1).max(WALK_CHUNK));
        while total > 0 && jobs.len() <= limit {
            let Some(ids) = self.walk_step(&mut walk).await? else {
                break;
            };
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            let read = self.read_jobs(&ids);
            for job in self.timed_sized("list jobs", ids.len(), read).await? {
                if filter.matches(&job) && jobs.len() <= limit {
                    jobs.push(job);
                }
            }
        }
        let next_cursor = (jobs.len() > limit).then(|| {
            jobs.truncate(limit);
            jobs.last().map(|j| JobSortKey::of(j).encode())
        });
        Ok(JobPage {
            jobs,
            next_cursor: next_cursor.flatten(),
            total,
        })
    }

    /// The ids of every job `filter` matches, in list order. A filter on groups only (queue,
    /// state, error class) reads each job's group, not its body.
    pub(super) async fn ids(&self, filter: JobFilter) -> StoreResult<Vec<String>> {
        let mut ids = Vec::new();
        if filter.by_group_only() && self.timed("count jobs", self.count(&filter)).await? == 0 {
            return Ok(ids);
        }
        let mut walk = OrderWalk::after(None, IDS_CHUNK);
        while let Some(chunk) = self.walk_step(&mut walk).await? {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            if filter.by_group_only() {
                let groups = self.timed_sized("list job ids", refs.len(), self.groups_of(&refs));
                for (id, group) in chunk.iter().zip(groups.await?) {
                    if group.is_some_and(|g| group_matches(&filter, &g)) {
                        ids.push(id.clone());
                    }
                }
            } else {
                let read = self.timed_sized("list job ids", refs.len(), self.read_jobs(&refs));
                ids.extend(
                    read.await?
                        .into_iter()
                        .filter(|j| filter.matches(j))
                        .map(|j| j.job_id),
                );
            }
        }
        Ok(ids)
    }

    /// The next chunk of job ids in list order (`None` once the walk is over), one bounded call.
    async fn walk_step(&self, walk: &mut OrderWalk) -> StoreResult<Option<Vec<String>>> {
        if walk.done {
            return Ok(None);
        }
        let members: Vec<String> = self
            .timed_sized("list jobs", walk.chunk, async {
                self.conn()
                    .zrangebylex_limit(self.keys.order(), &walk.min, "+", 0, walk.chunk as isize)
                    .await
                    .map_err(err("list jobs"))
            })
            .await?;
        let Some(last) = members.last() else {
            return Ok(None);
        };
        walk.min = format!("({last}");
        walk.done = members.len() < walk.chunk;
        let ids = members
            .iter()
            .filter_map(|m| job_of_order_member(m))
            .map(str::to_string)
            .collect();
        Ok(Some(ids))
    }

    /// The groups of these jobs, in order (`None` for an unknown id).
    async fn groups_of(
        &self,
        ids: &[&str],
    ) -> StoreResult<Vec<Option<(String, JobState, String)>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let groups: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.job_group())
            .arg(ids)
            .query_async(&mut self.conn())
            .await
            .map_err(err("read job groups"))?;
        Ok(groups
            .iter()
            .map(|g| g.as_deref().and_then(keys::parse_group))
            .collect())
    }

    /// Claims due jobs, the longest-due first, in one script (see `scripts::CLAIM`).
    pub(super) async fn claim(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        let state = ClaimState {
            claimed_by: claim.worker.clone(),
            lease_until: claim.lease_until,
            updated_at: claim.now,
        };
        let claim_json = to_json("a claim", &state)?;
        let paused: Vec<_> = claim
            .paused
            .iter()
            .map(|p| serde_json::json!([p.queue, p.error_class, p.job_type]))
            .collect();
        let mut call = scripts::CLAIM.prepare_invoke();
        call.key(&self.job_keys()[..])
            .arg(keys::due_until(claim.now))
            .arg(claim.limit)
            .arg(&claim_json)
            .arg(sortable_time(claim.lease_until))
            .arg(u8::from(claim.queue.is_some()))
            .arg(claim.queue.as_deref().unwrap_or(""))
            .arg(serde_json::Value::from(paused).to_string());
        let bodies: Vec<String> = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(err("claim jobs"))?;
        bodies
            .into_iter()
            .map(|body| {
                Raw {
                    body,
                    claim: Some(claim_json.clone()),
                }
                .job()
            })
            .collect()
    }
}
