//! The load driver behind `retryctl simulate` and `retryctl demo`: a fleet of workers in real
//! time. Scenario time is real time since the start; the hidden truth of [`super::world`]
//! says which attempt succeeds when.
//!
//! Each failing job is reported with `POST /failures` (the service records it, recommends and
//! schedules the retry). Then, in [`Mode::Claim`], workers take due retries with `POST /claim`
//! (so an operator's override, retry-now or kill in the console takes effect); in
//! [`Mode::Sleep`] each job waits out its own recommended delay. A retry that succeeds is
//! recorded with `POST /attempt`, one that fails goes back through `/failures`.
//!
//! Talks to the service only through [`crate::client`] (never the engine, store or server).

mod live;
pub mod scrape;
pub mod tally;

use super::scenario::{Arrival, Scenario, Workload};
use super::world::{self, Job};
use crate::client::{Client, ClientError};
use crate::model::{AttemptRecord, ClaimRequest, FailureReport, FailureResponse};
use chrono::{Timelike, Utc};
use parking_lot::Mutex;
use scrape::ServiceCounters;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tally::{Report, Tally};
use tokio::sync::{Semaphore, watch};

/// How workers learn that a retry is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Poll `POST /claim` for due retries (honours operators' overrides, retry-now and kill).
    Claim,
    /// Each job sleeps the delay the service recommended, then retries.
    Sleep,
}

/// What to drive and how hard.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub scenario: Scenario,
    /// Mean arrival rate of failing jobs (jobs/s) the scenario is scaled to; `None` keeps it.
    pub rate: Option<f64>,
    /// How long jobs keep arriving (real time = scenario time).
    pub duration: Duration,
    pub seed: u64,
    pub mode: Mode,
    /// Requests in flight at most (the size of the worker fleet).
    pub workers: usize,
    /// Lease of a claimed retry.
    pub lease: Duration,
    /// How often idle workers ask `/claim` for due retries.
    pub poll: Duration,
    /// Print the live summary on stderr.
    pub live: bool,
    /// Keep retrying pending jobs after the last arrival, until `stop` (the demo's console).
    pub keep_retrying: bool,
}

/// Why the driver could not run.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot read the service's /metrics before starting: {0}")]
    Baseline(ClientError),
    #[error("--rate must be a positive number of jobs per second (got {0})")]
    Rate(f64),
}

/// A job the driver is working on.
#[derive(Debug, Clone)]
struct Run {
    job: Job,
    /// The attempt that last failed.
    attempt: u32,
    failed_at: Instant,
}

/// State shared by the arrival loop, the claim loop and every request task.
struct Shared {
    client: Client,
    workloads: Vec<Workload>,
    run_id: String,
    worker: String,
    t0: Instant,
    mode: Mode,
    permits: Arc<Semaphore>,
    workers: u32,
    stopping: AtomicBool,
    jobs: Mutex<HashMap<String, Run>>,
    tally: Mutex<Tally>,
}

/// Runs the workload until its duration is over or `stop` turns true, waits for the requests
/// in flight, and reports what it did beside what the service's `/metrics` counted meanwhile.
pub async fn run(
    client: Client,
    config: DriverConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<Report, DriverError> {
    let before = scrape_metrics(&client)
        .await
        .map_err(DriverError::Baseline)?;
    let scenario = scaled(&config.scenario, config.rate)?;
    let shared = Arc::new(Shared::new(client, &scenario, &config));
    let live = live::spawn(shared.clone(), config.live);
    let claimer = (config.mode == Mode::Claim)
        .then(|| tokio::spawn(claim_loop(shared.clone(), config.clone())));
    let jobs = arrivals(&scenario, config.seed, config.duration);
    tokio::select! {
        () = work(shared.clone(), jobs, &config) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
    let wall = shared.t0.elapsed();
    shared.stopping.store(true, Ordering::SeqCst);
    if let Some(claimer) = claimer {
        let _ = claimer.await;
    }
    drain(&shared).await;
    live.abort();
    live::finish(config.live);
    let after = scrape_metrics(&shared.client).await;
    let pending = shared.jobs.lock().len() as u64;
    let tally = shared.tally.lock().clone();
    Ok(tally.report(ReportInput {
        scenario: &scenario,
        config: &config,
        wall,
        pending,
        service: after.map(|a| a.since(&before)).map_err(|e| e.to_string()),
    }))
}

/// Jobs arrive; then the run lasts until its duration is over (or, keeping on retrying, until
/// stopped).
async fn work(shared: Arc<Shared>, jobs: Vec<Job>, config: &DriverConfig) {
    let end = shared.t0 + config.duration;
    arrive(shared, jobs).await;
    if config.keep_retrying {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep_until(end.into()).await;
}

/// What the final report is made of besides the tally.
pub(crate) struct ReportInput<'a> {
    pub scenario: &'a Scenario,
    pub config: &'a DriverConfig,
    pub wall: Duration,
    pub pending: u64,
    pub service: Result<ServiceCounters, String>,
}

async fn scrape_metrics(client: &Client) -> Result<ServiceCounters, ClientError> {
    let text = client.metrics_text().await?;
    Ok(ServiceCounters::parse(&text))
}

impl Shared {
    fn new(client: Client, scenario: &Scenario, config: &DriverConfig) -> Self {
        let run_id = format!("{:04x}", rand::random::<u16>());
        let workers = config.workers.clamp(1, 10_000) as u32;
        let warmup = scenario
            .warmup
            .0
            .min(config.duration.as_millis() as u64 / 2);
        Self {
            client,
            workloads: scenario.workloads.clone(),
            worker: format!("simulate-{run_id}"),
            run_id,
            t0: Instant::now(),
            mode: config.mode,
            permits: Arc::new(Semaphore::new(workers as usize)),
            workers,
            stopping: AtomicBool::new(false),
            jobs: Mutex::new(HashMap::new()),
            tally: Mutex::new(Tally::new(warmup)),
        }
    }

    /// Scenario time now, in ms.
    fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// The scenario with every workload's arrivals scaled so the whole arrives at `rate` jobs/s.
fn scaled(scenario: &Scenario, rate: Option<f64>) -> Result<Scenario, DriverError> {
    let Some(rate) = rate else {
        return Ok(scenario.clone());
    };
    if !(rate.is_finite() && rate > 0.0) {
        return Err(DriverError::Rate(rate));
    }
    let natural = natural_rate(scenario);
    let factor = if natural > 0.0 { rate / natural } else { 1.0 };
    let mut out = scenario.clone();
    for w in &mut out.workloads {
        w.arrival = match w.arrival {
            Arrival::Rate(r) => Arrival::Rate(r * factor),
            Arrival::Count(n) => Arrival::Count(((n as f64 * factor).round() as u64).max(1)),
        };
    }
    Ok(out)
}

/// Mean arrivals per second over the scenario's whole length.
fn natural_rate(scenario: &Scenario) -> f64 {
    let end = scenario.end_ms();
    let jobs: f64 = scenario
        .workloads
        .iter()
        .map(|w| match w.arrival {
            Arrival::Count(n) => n as f64,
            Arrival::Rate(r) => {
                let until = w.until.map_or(end, |u| u.0.min(end));
                r * until.saturating_sub(w.from.0) as f64 / 1000.0
            }
        })
        .sum();
    jobs / (end as f64 / 1000.0)
}

/// The failing jobs that arrive within `duration`, in order.
fn arrivals(scenario: &Scenario, seed: u64, duration: Duration) -> Vec<Job> {
    let limit = duration.as_millis() as u64;
    world::generate(scenario, seed)
        .into_iter()
        .filter(|j| j.arrival_ms < limit)
        .collect()
}

/// Reports each job's first failure at its arrival time.
async fn arrive(shared: Arc<Shared>, jobs: Vec<Job>) {
    for job in jobs {
        tokio::time::sleep_until((shared.t0 + Duration::from_millis(job.arrival_ms)).into()).await;
        let shared = shared.clone();
        tokio::spawn(async move {
            let run = Run {
                job,
                attempt: 1,
                failed_at: Instant::now(),
            };
            report_failure(&shared, run, 0).await;
        });
    }
}

/// Waits until no request is in flight (the semaphore is fair, so queued tasks go first and,
/// seeing `stopping`, send nothing).
async fn drain(shared: &Shared) {
    let _all = shared.permits.acquire_many(shared.workers).await;
}

/// Sends `/failures` for `run`'s latest attempt and acts on the answer.
async fn report_failure(shared: &Arc<Shared>, run: Run, delay_ms: u64) {
    let Ok(_permit) = shared.permits.acquire().await else {
        return;
    };
    if shared.stopping() {
        return;
    }
    let report = failure_report(shared, &run, delay_ms);
    // Known before the answer: a retry due at once may be claimed before it arrives.
    shared
        .jobs
        .lock()
        .insert(report.job_id.clone(), run.clone());
    let answer = shared.client.record_failure(&report).await;
    let phase_ms = shared.now_ms();
    match answer {
        Ok(resp) => {
            shared
                .tally
                .lock()
                .failure_acked(run.attempt, &resp, phase_ms);
            after_failure(shared, run, resp);
        }
        Err(e) => {
            shared.jobs.lock().remove(&report.job_id);
            shared.tally.lock().http_error(&e);
        }
    }
}

/// Keeps the job for its next retry, or lets it go when the service said stop.
fn after_failure(shared: &Arc<Shared>, run: Run, resp: FailureResponse) {
    let Some(next) = resp.next_attempt_at else {
        shared.jobs.lock().remove(&resp.job_id);
        return;
    };
    if shared.mode == Mode::Sleep {
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            retry(&shared, run).await;
        });
    }
}

/// Runs the next attempt of `run` now: the truth decides its outcome.
async fn retry(shared: &Arc<Shared>, mut run: Run) {
    if shared.stopping() {
        return;
    }
    let delay_ms = run.failed_at.elapsed().as_millis() as u64;
    run.attempt += 1;
    run.failed_at = Instant::now();
    if run.job.truth.succeeds(run.attempt, shared.now_ms()) {
        report_success(shared, &run, delay_ms).await;
    } else {
        report_failure(shared, run, delay_ms).await;
    }
}

async fn report_success(shared: &Arc<Shared>, run: &Run, delay_ms: u64) {
    let Ok(_permit) = shared.permits.acquire().await else {
        return;
    };
    if shared.stopping() {
        return;
    }
    let mut attempt = attempt_record(shared, run, delay_ms);
    attempt.success = true;
    attempt.status = "succeeded".into();
    match shared.client.record_attempt(&attempt).await {
        Ok(()) => {
            shared.jobs.lock().remove(&attempt.job_id);
            shared.tally.lock().success_acked(run.attempt);
        }
        Err(e) => shared.tally.lock().http_error(&e),
    }
}

/// Asks `/claim` for due retries every `poll` and retries each job the driver knows.
async fn claim_loop(shared: Arc<Shared>, config: DriverConfig) {
    let mut tick = tokio::time::interval(config.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !shared.stopping() {
        tick.tick().await;
        let Ok(permit) = shared.permits.acquire().await else {
            return;
        };
        if shared.stopping() {
            return;
        }
        let req = ClaimRequest {
            worker: shared.worker.clone(),
            limit: (shared.permits.available_permits() as u32).clamp(1, 100),
            lease_ms: config.lease.as_millis() as u64,
            queue: None,
            now: None,
        };
        let claimed = shared.client.claim(&req).await;
        drop(permit);
        match claimed {
            Ok(resp) => start_claimed(&shared, resp.jobs.iter().map(|j| j.job_id.as_str())),
            Err(e) => shared.tally.lock().http_error(&e),
        }
    }
}

fn start_claimed<'a>(shared: &Arc<Shared>, ids: impl Iterator<Item = &'a str>) {
    for id in ids {
        let Some(run) = shared.jobs.lock().get(id).cloned() else {
            // Another worker's job: its lease runs out and it is due again for them.
            shared.tally.lock().foreign_claims += 1;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move { retry(&shared, run).await });
    }
}

/// The id the service knows a job by: the scenario's id (first, so narrow columns show it)
/// and the run, so runs against the same service do not collide.
fn report_id(shared: &Shared, job: &Job) -> String {
    format!("{}.{}", job.id, shared.run_id)
}

fn attempt_record(shared: &Shared, run: &Run, delay_ms: u64) -> AttemptRecord {
    let w = &shared.workloads[run.job.workload];
    let now = Utc::now();
    AttemptRecord {
        job_id: report_id(shared, &run.job),
        job_type: w.job_type.clone(),
        attempt_number: run.attempt,
        error_class: w.error_class.clone(),
        error_code: w.error_code.clone(),
        status: "failed".into(),
        queue: w.queue.clone(),
        tenant: w.tenant.clone(),
        payload_size: 0,
        time_of_day: now.hour() as u8,
        worker_version: concat!("retryctl-simulate/", env!("CARGO_PKG_VERSION")).into(),
        health: None,
        delay_ms,
        success: false,
        timestamp: now,
        processing_time: None,
    }
}

fn failure_report(shared: &Shared, run: &Run, delay_ms: u64) -> FailureReport {
    let a = attempt_record(shared, run, delay_ms);
    let w = &shared.workloads[run.job.workload];
    FailureReport {
        error_message: format!(
            "{} {} from {} (simulated)",
            w.error_code, w.error_class, w.name
        )
        .trim()
        .to_string(),
        retry_after_ms: run.job.truth.retry_after_ms(shared.now_ms()),
        job_id: a.job_id,
        job_type: a.job_type,
        attempt_number: a.attempt_number,
        error_class: a.error_class,
        error_code: a.error_code,
        queue: a.queue,
        tenant: a.tenant,
        payload_size: a.payload_size,
        time_of_day: a.time_of_day,
        worker_version: a.worker_version,
        health: None,
        delay_ms,
        timestamp: None,
        claimed_by: None,
        lease_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario::parse(
            r#"
            duration = "100s"
            [[workload]]
            name = "a"
            job_type = "t"
            error_class = "timeout"
            rate = 2.0
            failure = "permanent"
            [[workload]]
            name = "b"
            job_type = "t"
            error_class = "timeout"
            count = 100
            failure = "permanent"
            "#,
            "<test>",
        )
        .unwrap()
    }

    #[test]
    fn rate_scales_every_workload() {
        let s = scenario();
        assert!((natural_rate(&s) - 3.0).abs() < 1e-9);
        let scaled = scaled(&s, Some(6.0)).unwrap();
        assert!((natural_rate(&scaled) - 6.0).abs() < 1e-9);
        assert_eq!(scaled.workloads[1].arrival, Arrival::Count(200));
        assert!(matches!(
            super::scaled(&s, Some(0.0)),
            Err(DriverError::Rate(_))
        ));
    }

    #[test]
    fn only_jobs_within_the_duration_arrive() {
        let jobs = arrivals(&scenario(), 7, Duration::from_secs(10));
        assert!(!jobs.is_empty());
        assert!(jobs.iter().all(|j| j.arrival_ms < 10_000));
        assert!(jobs.windows(2).all(|w| w[0].arrival_ms <= w[1].arrival_ms));
    }
}
