//! A maintenance window that its job type has never seen, as in `scenarios/mixed-day.toml`:
//! for hours only another job type fails with the same error class, and those failures are
//! flaky (the next try usually works); then for fifteen minutes every `ledger.sync` job times
//! out until the window ends. The window's first jobs are decided by the class-wide model
//! (`*/timeout`, the other job type's flaky data) and by a new model of their own that has seen
//! only failures, both in the per-attempt view.

use super::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const CLASS: &str = "timeout";
/// The flaky job type and its chance per retry (mixed-day's `search` workload).
const FLAKY_TYPE: &str = "search.index";
const FLAKY_SUCCESS: f64 = 0.7;
const FLAKY_RATE: f64 = 0.05;
/// The window's job type, rate, start and length (mixed-day's `db-maintenance` workload).
const WINDOW_TYPE: &str = "ledger.sync";
const WINDOW_RATE: f64 = 0.2;
const WINDOW_START_MIN: i64 = 270;
const WINDOW_MIN: i64 = 15;

/// An attempt due: (when, job index, attempt number, the wait before it in ms).
type Due = Reverse<(DateTime<Utc>, usize, u32, u64)>;

/// A failing job: its type and, for a window job, when its window ends.
struct Job {
    id: String,
    job_type: &'static str,
    queue: &'static str,
    arrival: DateTime<Utc>,
    window_end: Option<DateTime<Utc>>,
}

/// Arrival times from `from` to `until` of a Poisson process with `per_second`.
fn poisson(
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    per_second: f64,
    rng: &mut StdRng,
) -> Vec<DateTime<Utc>> {
    let mut times = Vec::new();
    let mut t = from;
    loop {
        let gap = -(1.0 - rng.random::<f64>()).ln() / per_second;
        t += Duration::milliseconds((gap * 1000.0) as i64);
        if t >= until {
            return times;
        }
        times.push(t);
    }
}

/// The flaky jobs from midnight to the window's end and the window's jobs, by arrival.
fn jobs(rng: &mut StdRng) -> Vec<Job> {
    let midnight = t0().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let start = midnight + Duration::minutes(WINDOW_START_MIN);
    let end = start + Duration::minutes(WINDOW_MIN);
    let flaky = poisson(midnight, end, FLAKY_RATE, rng)
        .into_iter()
        .enumerate()
        .map(|(i, arrival)| Job {
            id: format!("f{i}"),
            job_type: FLAKY_TYPE,
            queue: "search",
            arrival,
            window_end: None,
        });
    let window = poisson(start, end, WINDOW_RATE, rng)
        .into_iter()
        .enumerate()
        .map(|(i, arrival)| Job {
            id: format!("w{i}"),
            job_type: WINDOW_TYPE,
            queue: "db",
            arrival,
            window_end: Some(end),
        });
    let mut all: Vec<Job> = flaky.chain(window).collect();
    all.sort_by_key(|j| j.arrival);
    all
}

/// Replays `jobs` in virtual time through the facade; returns, per job, the attempts made and
/// when it was stopped (if it was).
fn replay(e: &mut Engine, jobs: &[Job], rng: &mut StdRng) -> Vec<(u32, Option<DateTime<Utc>>)> {
    let mut ends = vec![(0, None); jobs.len()];
    let mut queue: BinaryHeap<Due> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| Reverse((j.arrival, i, 1, 0)))
        .collect();
    while let Some(Reverse((at, i, n, delay))) = queue.pop() {
        let job = &jobs[i];
        let success = n > 1
            && match job.window_end {
                Some(end) => at >= end,
                None => rng.random_bool(FLAKY_SUCCESS),
            };
        let record = AttemptRecord {
            queue: job.queue.into(),
            ..attempt(&job.id, job.job_type, CLASS, n, delay, at, success)
        };
        e.observe(&record);
        ends[i].0 = n;
        if success {
            continue;
        }
        let mut f = record.features();
        f.first_failure_at = Some(job.arrival);
        let rec = e.recommend(&f, at);
        if rec.should_retry {
            queue.push(Reverse((
                at + Duration::milliseconds(rec.delay_ms as i64),
                i,
                n + 1,
                rec.delay_ms,
            )));
        } else {
            ends[i].1 = Some(at);
        }
    }
    ends
}

/// The window's jobs that used every attempt before the window ended, over seeds 1-5.
fn out_of_attempts(settings: EngineSettings) -> Vec<String> {
    let max_attempts = default_strategy().guardrails.max_attempts;
    let mut spent = Vec::new();
    for seed in 1..=5 {
        let mut e = Engine::new(default_strategy(), settings.clone(), seed);
        let mut rng = StdRng::seed_from_u64(seed);
        let jobs = jobs(&mut rng);
        let ends = replay(&mut e, &jobs, &mut rng);
        for (job, (attempts, stopped)) in jobs.iter().zip(ends) {
            let inside = matches!((job.window_end, stopped), (Some(end), Some(at)) if at < end);
            if inside && attempts >= max_attempts {
                spent.push(format!("seed {seed}: {} arrived {}", job.id, job.arrival));
            }
        }
    }
    spent
}

/// Issue 9 (`notes/r9-engine.md`, r15-engine to r17-engine): the window's first jobs spent
/// their attempts a second or two apart, each retry worth its cost in the per-attempt view
/// (the other job type's 70 %, then a few per cent in a model with no success yet), and ran
/// out inside the window: at aa3f8a1 (0e6c08b's engine) 4, 4, 5, 4, 4 window jobs on seeds
/// 1-5 (mixed-day in `eval`: 4, 5, 4, 4, 4). Since r17-engine a job whose job type has never
/// recovered spreads its attempts left in log-time (`bayes::sparing_floor`; since r18-engine
/// only the reserve, once half its attempts are spent, to its maximum retry age): none.
#[test]
fn a_window_its_job_type_never_saw_runs_no_job_out_of_attempts() {
    let spent = out_of_attempts(EngineSettings::default());
    assert!(spent.is_empty(), "{spent:#?}");
}

/// The same under `per_attempt=2, per_second=1, give_up=600`, where giving a window job up
/// is the plan: it must be a stop, not every attempt spent. At aa3f8a1 7, 9, 6, 7, 7 ran out
/// on seeds 1-5 (mixed-day in `eval`: 7, 7, 7, 7, 6); with r15-engine's changes 7, 4, 4, 10, 8;
/// with r16-engine's outage rule 5, 3, 9, 4, 7. Since r17-engine's spreading none: a retry
/// the spreading makes dear is a decided stop.
#[test]
fn under_dear_waiting_a_window_its_job_type_never_saw_runs_no_job_out_of_attempts() {
    let settings = EngineSettings {
        cost: CostWeights {
            per_attempt: 2.0,
            per_second: 1.0,
            give_up_penalty: 600.0,
        },
        ..EngineSettings::default()
    };
    let spent = out_of_attempts(settings);
    assert!(spent.is_empty(), "{spent:#?}");
}
