//! The ingest path: every way an attempt reaches the service (`/attempt`, `/attempts`,
//! `/failures`) records it durably, lets the engine learn from it, counts it, notes it in the
//! live stream and keeps the retry schedule in step. Handlers call these methods; nothing here
//! knows a handler.

use super::events::kind;
use super::ops::EVENT_CAPACITY;
use super::patterns::Ending;
use super::pauses;
use super::schedule;
use super::shadow_cache::ShadowCache;
use super::state::AppState;
use crate::engine::{Engine, PendingRecommendation, Shared};
use crate::model::pacing::{PACE_BLOCK, PaceAnswer};
use crate::model::{
    AttemptRecord, FailureReport, JobExpectation, JobState, RetryFeatures, RetryRecommendation,
    ScheduledJob,
};
use crate::server::edge::{ApiError, ApiResult};
use crate::store::{JobFilter, StoreResult};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::slice;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What [`AppState::recommend_paced`] does when the shared ledger does not answer a possible
/// probe's placement (every other retry is paced on synced counters, without waiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerDown {
    /// Answer the store's error (the caller writes to the store anyway).
    Fail,
    /// Pace with this replica's own counters and answer.
    PaceLocally,
}

/// The smart-vs-static comparison beside a recommendation: the static answer, and the
/// expectations of a first failure (cached for a second, or worked out now).
struct ShadowNote {
    first: bool,
    key: Option<String>,
    cached: Option<(JobExpectation, JobExpectation)>,
    computed: Option<(JobExpectation, JobExpectation)>,
    fixed: Option<RetryRecommendation>,
}

impl ShadowNote {
    /// Each job is compared once, from its first failure, with the expectations of an
    /// identical first failure when one was worked out within the last second.
    fn look_up(state: &AppState, features: &RetryFeatures) -> Self {
        let first = features.failed_attempt() == 1;
        let key = first.then(|| ShadowCache::key(features)).flatten();
        let cached = key
            .as_deref()
            .and_then(|key| state.ops.shadow.get(key, Instant::now()));
        Self {
            first,
            key,
            cached,
            computed: None,
            fixed: None,
        }
    }

    /// Works out what the engine must say (it is locked by the caller).
    fn compute(&mut self, engine: &Engine, features: &RetryFeatures, now: DateTime<Utc>) {
        self.fixed = Some(engine.static_shadow(features, now));
        if self.first && self.cached.is_none() {
            self.computed = Some(engine.shadow_expectations(features, now));
        }
    }
}

impl AppState {
    /// Asks the engine, timing the call and counting the answer in the metrics. What the
    /// static backoff would have said is noted beside it (the console's smart-vs-static view).
    pub fn recommend(&self, features: &RetryFeatures, now: DateTime<Utc>) -> RetryRecommendation {
        let mut shadow = ShadowNote::look_up(self, features);
        let started = Instant::now();
        let mut engine = self.engine.lock();
        let rec = engine.recommend(features, now);
        let took = started.elapsed();
        shadow.compute(&engine, features, now);
        drop(engine);
        self.account(features, rec, took, shadow, now)
    }

    /// [`Self::recommend`] with the pacing guardrails (retry budget, budget share, tenant
    /// quota, circuit probe) counted in the store's shared ledger when it keeps one (Redis),
    /// so N replicas spend one budget: paced on counters synced in blocks (see
    /// [`super::ledger`]), a possible probe placed by the ledger itself. When the ledger does
    /// not answer for a probe, `on_error` says what to do: fail (a write that needs the store
    /// anyway), or pace with this replica's own counters (a recommendation keeps coming from
    /// memory).
    pub async fn recommend_paced(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
        on_error: LedgerDown,
    ) -> ApiResult<RetryRecommendation> {
        if !self.store.shares_guardrails() {
            return Ok(self.recommend(features, now));
        }
        let mut shadow = ShadowNote::look_up(self, features);
        let (shared, mut took) = self.decide_shared(features, now, &mut shadow).await;
        let rec = match shared {
            Shared::Done(rec) => rec,
            Shared::Pace(pending) => {
                let answer = self.store.pace(pending.request()).await;
                let started = Instant::now();
                let rec = self.finish_paced(pending, answer, on_error)?;
                took += started.elapsed();
                rec
            }
        };
        Ok(self.account(features, rec, took, shadow, now))
    }

    /// The engine's answer on the shared path, and how long the engine took. When this
    /// replica has a block of pacing spends unsent, the answer waits for a sync (see
    /// [`super::ledger`]), decided under the same lock as the answer.
    async fn decide_shared(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
        shadow: &mut ShadowNote,
    ) -> (Shared, std::time::Duration) {
        let decided = loop {
            let decided = {
                let mut engine = self.engine.lock();
                let started = Instant::now();
                (!self.must_sync_pacing(&engine)).then(|| {
                    let shared = engine.recommend_shared(features, now);
                    shadow.compute(&engine, features, now);
                    (shared, started.elapsed())
                })
            };
            match decided {
                Some(decided) => break decided,
                None => self.sync_pacing(PACE_BLOCK).await,
            }
        };
        self.nudge_pacing_sync();
        decided
    }

    fn finish_paced(
        &self,
        pending: PendingRecommendation,
        answer: StoreResult<Option<PaceAnswer>>,
        on_error: LedgerDown,
    ) -> ApiResult<RetryRecommendation> {
        match answer {
            Ok(Some(answer)) => Ok(self.engine.lock().finish_shared(pending, &answer)),
            Ok(None) => Ok(self.engine.lock().finish_local(pending)),
            Err(e) if on_error == LedgerDown::PaceLocally => {
                tracing::warn!(error = %e, "shared guardrails unreachable: paced by this replica's counters");
                // Counted (and on an unreachable Redis, marks the store degraded).
                let _ = self.store_read::<()>(Err(e));
                Ok(self.engine.lock().finish_local(pending))
            }
            Err(e) => self.store_write(Err(e)),
        }
    }

    /// Counts a recommendation in the metrics and the console's windows, notes its shadow
    /// comparison and applies an operator's pause.
    fn account(
        &self,
        features: &RetryFeatures,
        mut rec: RetryRecommendation,
        took: std::time::Duration,
        shadow: ShadowNote,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let ShadowNote {
            key,
            cached,
            computed,
            fixed,
            ..
        } = shadow;
        if let (Some(key), Some(found)) = (key, computed) {
            self.ops.shadow.put(key, found, Instant::now());
        }
        let expectations = cached.or(computed);
        self.metrics.record_recommendation(&rec, took);
        let wall = self.now();
        let job_id = features.job_id.as_deref();
        let mut ops = self.ops.lock();
        if let Some(fixed) = &fixed {
            ops.record_recommendation(&rec, fixed, job_id, wall);
        }
        ops.queues.note(&features.queue, &rec, wall);
        ops.today.note_recommendation(&rec, wall);
        if !rec.should_retry {
            ops.series.record_give_up(&features.queue, wall);
        }
        if let Some((smart, fixed)) = expectations {
            ops.compare_job(smart, fixed, wall);
        }
        drop(ops);
        // After the counting: a pause is the operator's choice, not a guardrail overriding the
        // model, so it does not feed the `guardrail_overrides` alert.
        let (queue, class, job_type) = (&features.queue, &features.error_class, &features.job_type);
        if let Some(pause) = self.ops.pauses.covering(queue, class, job_type, wall) {
            pauses::apply(&mut rec, &pause, now);
        }
        rec
    }

    /// Validates, appends durably (waits for the commit), then lets the engine learn. Returns
    /// the sequence numbers. Nothing is learned from a batch the store refused.
    /// Also notes them in the live event stream and finishes scheduled jobs that succeeded.
    pub async fn record_attempts(&self, attempts: Vec<AttemptRecord>) -> ApiResult<Vec<u64>> {
        for (i, a) in attempts.iter().enumerate() {
            a.validate().map_err(|e| {
                if attempts.len() == 1 {
                    ApiError::from(e)
                } else {
                    ApiError::bad_request(format!("[{i}].{e}"))
                }
            })?;
        }
        let gate = self.ingest_gate.read().await;
        let seqs = self.store_write(self.store.append_attempts(attempts.clone()).await)?;
        if self.follows_log() {
            // Learned in log order, with whatever other replicas appended before them. The
            // attempts are stored: a failure to read them back is logged, not answered (the
            // follower learns them on its next round).
            let max = seqs.iter().copied().max().unwrap_or(0);
            if let Err(e) = self.follow_log(max).await {
                tracing::warn!(error = %e, "cannot follow the attempt log after an append");
            }
        } else {
            self.learn(&attempts);
            if let Some(&max) = seqs.iter().max() {
                self.watermark.fetch_max(max, Ordering::Relaxed);
            }
        }
        self.count(&attempts);
        drop(gate);
        self.note_attempts(&attempts, None);
        self.finish_succeeded(&attempts).await;
        Ok(seqs)
    }

    /// Records a failure reported through `/failures` and puts the job's next attempt on the
    /// schedule: the attempt and the job in ONE store write (both or neither). The report's
    /// `timestamp` (or now) places the failure in time, so a client in virtual time gets
    /// `next_attempt_at` on its own clock.
    ///
    /// The engine learns from the attempt first, because the recommendation depends on it
    /// (the episode, the circuit). So if the write fails the engine has seen an attempt the
    /// store does not hold; the client's resend of the same attempt number is learned once
    /// (episodes deduplicate repeated attempts).
    pub async fn record_failure(&self, report: &FailureReport) -> ApiResult<ScheduledJob> {
        let at = report.timestamp.unwrap_or_else(|| self.now());
        let _job_lock = self.ops.lock_job(&report.job_id).await;
        let previous = if self.stored_job_matters(report) {
            self.store_read(self.store.get_job(&report.job_id).await)?
        } else {
            None
        };
        schedule::check_lease(report, previous.as_ref(), at)
            .map_err(|e| ApiError::conflict(e.to_string()))?;
        let attempt = report.to_attempt(at);
        attempt.validate()?;
        let gate = self.ingest_gate.read().await;
        let job = if self.follows_log() {
            self.failure_on_shared_log(report, &attempt, previous.as_ref(), at)
                .await?
        } else {
            self.failure_in_process(report, &attempt, previous.as_ref(), at)
                .await?
        };
        drop(gate);
        self.ops.note_stored(&job.job_id, job.state);
        let attempts = slice::from_ref(&attempt);
        self.count(attempts);
        self.note_attempts(attempts, Some(&report.error_message));
        self.announce_schedule(&job);
        self.note_ending(&job);
        Ok(job)
    }

    /// Whether the answer to `report` may depend on the job as stored, so it must be read. A
    /// first failure without a lease depends on it only when the job is pending or killed
    /// (the service's own sets say when it surely is neither); on a store other replicas
    /// write to, those sets may be behind, so such a failure is written unread and the store
    /// keeps a killed job killed ([`Self::store_first_failure`]).
    fn stored_job_matters(&self, report: &FailureReport) -> bool {
        schedule::needs_stored_job(report)
            || (!self.follows_log() && self.ops.may_be_pending_or_killed(&report.job_id))
    }

    /// [`Self::record_failure`] on this node's own store: learn, recommend and write. No tail
    /// lock: failures of other jobs go into one group commit side by side (a job is
    /// serialised by its own lock), and a snapshot, which holds the ingest gate exclusively,
    /// sees none of them half done, so its watermark never passes an attempt not yet learned.
    async fn failure_in_process(
        &self,
        report: &FailureReport,
        attempt: &AttemptRecord,
        previous: Option<&ScheduledJob>,
        at: DateTime<Utc>,
    ) -> ApiResult<ScheduledJob> {
        self.learn(slice::from_ref(attempt));
        let features = schedule::attempt_features(report, attempt, previous, at);
        let rec = self.recommend(&features, at);
        let job = schedule::job_from_failure(report, previous, rec, at);
        let seq = self.store_failure(report, attempt, &job, previous).await?;
        self.watermark.fetch_max(seq, Ordering::Relaxed);
        Ok(job)
    }

    /// [`Self::record_failure`] on a shared log: learn this failure (ahead of its position,
    /// see `follow`), recommend (pacing in the shared ledger) and write the attempt with its
    /// job. A report that continues a stored job (a later attempt, a lease) first learns what
    /// the log holds now (a round shared with the reports that wait with it), so the earlier
    /// attempts of its job come first even when another replica took them; a first failure
    /// depends on no earlier one and learns the others' attempts from the follower, as a
    /// recommendation does. No lock is held across a Redis call: one held across the log read
    /// made every failure of a replica wait for the one before it (about 200/s, one fsync
    /// each; README "Measured", 2026-12-07 round 3).
    async fn failure_on_shared_log(
        &self,
        report: &FailureReport,
        attempt: &AttemptRecord,
        previous: Option<&ScheduledJob>,
        at: DateTime<Utc>,
    ) -> ApiResult<ScheduledJob> {
        if schedule::needs_stored_job(report) {
            self.store_read(self.catch_up().await)?;
        }
        let ahead = self.learning_ahead(attempt);
        self.learn(slice::from_ref(attempt));
        let features = schedule::attempt_features(report, attempt, previous, at);
        let stored = async {
            let rec = self
                .recommend_paced(&features, at, LedgerDown::Fail)
                .await?;
            let job = schedule::job_from_failure(report, previous, rec, at);
            if schedule::needs_stored_job(report) {
                let seq = self.store_failure(report, attempt, &job, previous).await?;
                Ok((job, seq))
            } else {
                self.store_first_failure(attempt, job).await
            }
        }
        .await;
        self.positioned(ahead, stored.as_ref().ok().map(|(_, seq)| *seq));
        stored.map(|(job, _)| job)
    }

    /// The write of a first failure without a lease, on a store other replicas write to: the
    /// job was not read, so the store writes it unless it is stored killed; a killed one is
    /// then written as still killed (a kill is final, so nothing can have revived it).
    async fn store_first_failure(
        &self,
        attempt: &AttemptRecord,
        job: ScheduledJob,
    ) -> ApiResult<(ScheduledJob, u64)> {
        let write = self
            .store
            .append_attempt_with_job_unless_killed(attempt.clone(), job.clone())
            .await;
        if let Some(seq) = self.store_write(write)? {
            return Ok((job, seq));
        }
        let job = schedule::stays_killed(job);
        let write = self
            .store
            .append_attempt_with_job(attempt.clone(), job.clone())
            .await;
        Ok((job, self.store_write(write)?))
    }

    /// The write of [`Self::record_failure`]. Under a lease it is a compare-and-set against the
    /// job as read, so a second report under the same lease (through another replica, at the
    /// same moment) is refused with 409 instead of applied twice.
    async fn store_failure(
        &self,
        report: &FailureReport,
        attempt: &AttemptRecord,
        job: &ScheduledJob,
        previous: Option<&ScheduledJob>,
    ) -> ApiResult<u64> {
        let (attempt, job) = (attempt.clone(), job.clone());
        let Some(expected) = previous.filter(|_| report.names_lease()) else {
            return self.store_write(self.store.append_attempt_with_job(attempt, job).await);
        };
        let stored = self
            .store
            .append_attempt_with_job_if(attempt, job, expected)
            .await;
        self.store_write(stored)?.ok_or_else(|| {
            ApiError::conflict(format!(
                "stale lease on job {}: the job changed while the report was applied; the \
                 report was not applied",
                report.job_id
            ))
        })
    }

    /// Stores a job on the schedule and keeps the pending and killed sets in step.
    pub async fn save_job(&self, job: ScheduledJob) -> ApiResult<()> {
        let job_state = job.state;
        let id = job.job_id.clone();
        self.store_write(self.store.put_job(job).await)?;
        self.ops.note_stored(&id, job_state);
        Ok(())
    }

    /// Loads the ids of the pending jobs at start-up (the set a recorded success consults to
    /// find the scheduled job it finishes) and of the killed ones (a new failure keeps them
    /// killed). Returns how many pending jobs there are. Reads ids only: a store that keeps
    /// each job's state apart from its body never reads the bodies.
    pub async fn restore_pending(&self) -> StoreResult<u64> {
        let mut n = 0;
        for job_state in [JobState::Scheduled, JobState::Claimed, JobState::Killed] {
            let filter = JobFilter {
                state: Some(job_state),
                ..JobFilter::default()
            };
            let ids = self.store.list_job_ids(filter).await?;
            for id in &ids {
                self.ops.note_stored(id, job_state);
            }
            if job_state.is_pending() {
                n += ids.len() as u64;
            }
        }
        Ok(n)
    }

    fn learn(&self, attempts: &[AttemptRecord]) {
        let mut engine = self.engine.lock();
        for a in attempts {
            engine.observe(a);
        }
    }

    fn count(&self, attempts: &[AttemptRecord]) {
        for a in attempts {
            self.metrics.record_attempt(a);
        }
    }

    /// Notes recorded attempts in the live stream and windows; `error_text` is the worker's
    /// error message for a single failure reported through `/failures`.
    fn note_attempts(&self, attempts: &[AttemptRecord], error_text: Option<&str>) {
        let now = self.now();
        let mut ops = self.ops.lock();
        // The ring keeps only the newest events: of a large batch, only its tail would survive.
        let first_event = attempts.len().saturating_sub(EVENT_CAPACITY);
        for (i, a) in attempts.iter().enumerate() {
            ops.record_attempt(a, now);
            if i < first_event {
                continue;
            }
            let (event, message) = if a.success {
                (kind::SUCCESS, success_text(a))
            } else {
                (kind::FAILURE, failure_text(a, error_text))
            };
            ops.events.push(now, event, Some(&a.job_id), message);
        }
    }

    /// Notes in the pattern analysis a job the service stopped retrying.
    fn note_ending(&self, job: &ScheduledJob) {
        if job.state != JobState::Exhausted {
            return;
        }
        let now = self.now();
        let ending = Ending::of(job);
        self.ops.lock().record_end(&job.job_id, ending, now);
    }

    fn announce_schedule(&self, job: &ScheduledJob) {
        let (event, message) = match job.next_attempt_at {
            Some(next) => (
                kind::SCHEDULED,
                format!(
                    "attempt {}/{} at {next} ({} ms, {})",
                    job.attempt_number.saturating_add(1),
                    job.max_attempts,
                    job.recommendation.delay_ms,
                    job.recommendation.method.as_str()
                ),
            ),
            None => (
                kind::EXHAUSTED,
                format!(
                    "no retry after attempt {} ({}): {}",
                    job.attempt_number,
                    job.state.as_str(),
                    job.recommendation.rationale
                ),
            ),
        };
        let now = self.now();
        self.ops
            .lock()
            .events
            .push(now, event, Some(&job.job_id), message);
    }

    /// Marks each job with a recorded success as succeeded, in one store write. The attempts
    /// are already durable, so a store failure here is logged (the jobs stay due and are
    /// retried: at-least-once), not answered as an error that would make the client send the
    /// attempts again.
    async fn finish_succeeded(&self, attempts: &[AttemptRecord]) {
        // The first success of each job that may be pending (most attempts belong to none).
        let mut first: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        for a in attempts.iter().filter(|a| a.success) {
            if self.ops.may_be_pending(&a.job_id) {
                let at = first.entry(a.job_id.as_str()).or_insert(a.timestamp);
                *at = (*at).min(a.timestamp);
            }
        }
        if first.is_empty() {
            return;
        }
        let _job_locks = self.ops.lock_jobs(first.keys().copied()).await;
        if let Err(e) = self.finish_all(&first).await {
            let jobs = first.len();
            tracing::warn!(jobs, error = %e, "could not mark the jobs succeeded");
        }
    }

    async fn finish_all(&self, first: &BTreeMap<&str, DateTime<Utc>>) -> ApiResult<()> {
        let mut done = Vec::with_capacity(first.len());
        for (&id, &at) in first {
            let Some(job) = self.store_read(self.store.get_job(id).await)? else {
                continue;
            };
            done.extend(schedule::succeeded(&job, at.max(job.updated_at)));
        }
        let finished: Vec<String> = done.iter().map(|j| j.job_id.clone()).collect();
        self.store_write(self.store.put_jobs(done).await)?;
        for id in finished {
            self.ops.note_stored(&id, JobState::Succeeded);
        }
        Ok(())
    }
}

fn success_text(a: &AttemptRecord) -> String {
    format!(
        "attempt {} succeeded ({} on {})",
        a.attempt_number,
        a.job_type,
        queue_name(&a.queue)
    )
}

fn failure_text(a: &AttemptRecord, error_text: Option<&str>) -> String {
    let code = if a.error_code.is_empty() {
        String::new()
    } else {
        format!(" {}", a.error_code)
    };
    let text = match error_text {
        Some(t) if !t.is_empty() => format!(": {t}"),
        _ => String::new(),
    };
    format!(
        "attempt {} failed: {}{code} ({} on {}){text}",
        a.attempt_number,
        a.error_class,
        a.job_type,
        queue_name(&a.queue)
    )
}

fn queue_name(queue: &str) -> &str {
    if queue.is_empty() { "default" } else { queue }
}
