//! The retry schedule in Redis: jobs as JSON in one hash, moved in every index by one script
//! per write; pages walk the list order, claims the due order with a compare-and-set per job,
//! so two replicas never hand out the same job while its lease holds.

use super::attempts::attempt_args;
use super::keys::{self, due_member, group, job_of_due_member, job_of_order_member, order_member};
use super::{RedisStore, err, from_json, scripts, to_json};
use crate::model::{AttemptRecord, JobPage, JobState, ScheduledJob};
use crate::store::{Claim, JobFilter, JobSortKey, StoreError, StoreResult, page_limit};
use redis::AsyncCommands;
use std::collections::BTreeMap;

/// Members read per round trip when walking an index.
const WALK_CHUNK: usize = 256;

/// What a job write expects to find.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Write whatever is stored.
    Any,
    /// Write only over exactly this stored body (as read).
    Body(String),
}

impl Expect {
    fn arg(&self) -> &str {
        match self {
            Expect::Any => "",
            Expect::Body(body) => body,
        }
    }
}

/// The six script arguments of a job write (see `scripts::PUT_JOBS`) and its encoded body.
fn job_args(job: &ScheduledJob, expect: &Expect) -> StoreResult<([String; 6], String)> {
    let body = to_json("a job", job)?;
    let args = [
        job.job_id.clone(),
        body.clone(),
        order_member(&JobSortKey::of(job)),
        group(job),
        due_member(job).unwrap_or_default(),
        expect.arg().to_string(),
    ];
    Ok((args, body))
}

impl RedisStore {
    fn job_keys(&self) -> [String; 7] {
        let k = &self.keys;
        [
            k.jobs(),
            k.job_order_member(),
            k.job_group(),
            k.job_due_member(),
            k.order(),
            k.due(),
            k.groups(),
        ]
    }

    /// Writes jobs, each under its expectation; returns, per job, its new body if it was
    /// written.
    pub(super) async fn write_jobs(
        &self,
        jobs: Vec<(ScheduledJob, Option<Expect>)>,
    ) -> StoreResult<Vec<Option<String>>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = scripts::PUT_JOBS.prepare_invoke();
        call.key(&self.job_keys()[..]);
        let mut bodies = Vec::with_capacity(jobs.len());
        for (job, expect) in &jobs {
            let (args, body) = job_args(job, expect.as_ref().unwrap_or(&Expect::Any))?;
            call.arg(&args[..]);
            bodies.push(body);
        }
        let written: Vec<u8> = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(err("put jobs"))?;
        Ok(bodies
            .into_iter()
            .zip(written)
            .map(|(body, ok)| (ok == 1).then_some(body))
            .collect())
    }

    /// Appends `attempt` and writes `job` in one script. `Ok(None)` when the job was not as
    /// `expect` said (nothing written).
    pub(super) async fn append_with_job(
        &self,
        attempt: AttemptRecord,
        job: ScheduledJob,
        expect: Option<Expect>,
    ) -> StoreResult<u64> {
        let mut call = scripts::APPEND_WITH_JOB.prepare_invoke();
        call.key(&self.job_keys()[..])
            .key(&self.log_keys()[..])
            .key(&self.attempt_keys(&attempt)[..]);
        call.arg(&attempt_args(&attempt)?[..]);
        let (args, _) = job_args(&job, expect.as_ref().unwrap_or(&Expect::Any))?;
        call.arg(&args[..]);
        let seq: i64 = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(err("append an attempt with its job"))?;
        u64::try_from(seq).map_err(|_| StoreError::Invalid {
            field: "job".into(),
            message: format!("job {} changed meanwhile; nothing was written", job.job_id),
        })
    }

    /// A job and its stored body.
    pub(super) async fn read_job(&self, job_id: &str) -> StoreResult<Option<(ScheduledJob, String)>> {
        let body: Option<String> = self
            .conn()
            .hget(self.keys.jobs(), job_id)
            .await
            .map_err(err("read a job"))?;
        body.map(|b| Ok((from_json("a job", &b)?, b))).transpose()
    }

    async fn bodies(&self, ids: &[&str]) -> StoreResult<Vec<Option<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        redis::cmd("HMGET")
            .arg(self.keys.jobs())
            .arg(ids)
            .query_async(&mut self.conn())
            .await
            .map_err(err("read jobs"))
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
                .filter(|((q, s, c), _)| {
                    filter.queue.as_deref().is_none_or(|want| want == q)
                        && filter.state.is_none_or(|want| want == *s)
                        && filter.error_class.as_deref().is_none_or(|want| want == c)
                })
                .map(|(_, n)| n)
                .sum());
        }
        let bodies: Vec<String> = self
            .conn()
            .hvals(self.keys.jobs())
            .await
            .map_err(err("count jobs"))?;
        let mut n = 0;
        for body in bodies {
            let job: ScheduledJob = from_json("a job", &body)?;
            n += u64::from(filter.matches(&job));
        }
        Ok(n)
    }

    pub(super) async fn page(&self, filter: JobFilter) -> StoreResult<JobPage> {
        let after = filter.cursor.as_deref().map(JobSortKey::decode).transpose()?;
        let limit = page_limit(filter.limit) as usize;
        let total = self.count(&filter).await?;
        let mut jobs = Vec::new();
        let mut min = after.map_or("-".to_string(), |k| format!("({}", order_member(&k)));
        let chunk = (limit + 1).max(WALK_CHUNK);
        while total > 0 && jobs.len() <= limit {
            let members: Vec<String> = self
                .conn()
                .zrangebylex_limit(self.keys.order(), &min, "+", 0, chunk as isize)
                .await
                .map_err(err("list jobs"))?;
            let Some(last) = members.last() else { break };
            min = format!("({last}");
            let ids: Vec<&str> = members.iter().filter_map(|m| job_of_order_member(m)).collect();
            for body in self.bodies(&ids).await?.into_iter().flatten() {
                let job: ScheduledJob = from_json("a job", &body)?;
                if filter.matches(&job) && jobs.len() <= limit {
                    jobs.push(job);
                }
            }
            if members.len() < chunk {
                break;
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

    /// Claims due jobs, the longest-due first. Each is written only if it is still as read
    /// (compare-and-set), so a job another claim took meanwhile is left to it; jobs lost that
    /// way are read again on the next round.
    pub(super) async fn claim(&self, claim: Claim) -> StoreResult<Vec<ScheduledJob>> {
        let limit = claim.limit as usize;
        let until = keys::due_until(claim.now);
        let mut claimed = Vec::new();
        let mut skipped = 0;
        while claimed.len() < limit {
            let members: Vec<String> = self
                .conn()
                .zrangebylex_limit(self.keys.due(), "-", &until, skipped, WALK_CHUNK as isize)
                .await
                .map_err(err("claim jobs"))?;
            if members.is_empty() {
                break;
            }
            let ids: Vec<&str> = members.iter().filter_map(|m| job_of_due_member(m)).collect();
            let mut tries = Vec::new();
            for body in self.bodies(&ids).await? {
                let job = match body {
                    Some(body) => Some((from_json::<ScheduledJob>("a job", &body)?, body)),
                    None => None,
                };
                if claimed.len() + tries.len() >= limit {
                    break;
                }
                match job {
                    Some((mut job, body)) if claim.takes(&job) => {
                        claim.apply(&mut job);
                        tries.push((job, Some(Expect::Body(body))));
                    }
                    _ => skipped += 1,
                }
            }
            if tries.is_empty() {
                if members.len() < WALK_CHUNK {
                    break;
                }
                continue;
            }
            let jobs: Vec<ScheduledJob> = tries.iter().map(|(j, _)| j.clone()).collect();
            let written = self.write_jobs(tries).await?;
            claimed.extend(jobs.into_iter().zip(written).filter_map(|(j, w)| w.map(|_| j)));
        }
        Ok(claimed)
    }
}
