//! The nightly maintenance window of `scenarios/db-maintenance.toml`, through the facade: a
//! class of timeouts that is flaky all day (the next try nearly always works) but lasts until
//! the window ends for every job that fails in the twenty minutes from 02:00 UTC. Jobs overlap
//! in virtual time as they do in `eval`: an event queue of attempts, ordered by time.

use super::*;
use chrono::Timelike;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const JOB_TYPE: &str = "ledger.sync";
const CLASS: &str = "timeout";
/// The window: from 02:00 UTC, twenty minutes, every night.
const WINDOW_START_H: i64 = 2;
const WINDOW_MIN: i64 = 20;
/// Jobs per second failing in the window, and flaky ones all day (the scenario's rates).
const WINDOW_RATE: f64 = 0.3;
const FLAKY_RATE: f64 = 0.01;
/// Chance a retry of a flaky timeout succeeds.
const FLAKY_SUCCESS: f64 = 0.9;

/// How a job's failure ends.
#[derive(Debug, Clone, Copy)]
enum Truth {
    /// Every attempt from this time on succeeds (the end of the window).
    Until(DateTime<Utc>),
    /// Each retry succeeds with this chance.
    Flaky(f64),
}

/// An attempt due: (when, job index, attempt number, the wait before it in ms).
type Due = Reverse<(DateTime<Utc>, usize, u32, u64)>;

/// A failing job: its first attempt fails on arrival.
struct Job {
    id: String,
    arrival: DateTime<Utc>,
    truth: Truth,
}

/// What the engine did with one job.
#[derive(Debug, Default, Clone)]
struct Outcome {
    /// Attempts made so far (the first run included).
    attempts: u32,
    /// The recommendation that stopped the job, if one did.
    stopped_by: Option<RetryRecommendation>,
    /// When it stopped.
    stopped_at: Option<DateTime<Utc>>,
    /// The rationale of every recommendation made for it.
    rationales: Vec<String>,
}

/// Midnight UTC of the scenario's `day`.
fn midnight(day: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::days(day)
}

/// The window of `day`: (start, end).
fn window(day: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = midnight(day) + Duration::hours(WINDOW_START_H);
    (start, start + Duration::minutes(WINDOW_MIN))
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

/// Every failing job of `day`, by arrival: the window's, then the flaky ones all day.
fn jobs_of(day: i64, rng: &mut StdRng) -> Vec<Job> {
    let (start, end) = window(day);
    let job = |kind: &str, i: usize, arrival, truth| Job {
        id: format!("d{day}-{kind}{i}"),
        arrival,
        truth,
    };
    let in_window = poisson(start, end, WINDOW_RATE, rng)
        .into_iter()
        .enumerate()
        .map(|(i, at)| job("w", i, at, Truth::Until(end)));
    let flaky = poisson(midnight(day), midnight(day + 1), FLAKY_RATE, rng)
        .into_iter()
        .enumerate()
        .map(|(i, at)| job("f", i, at, Truth::Flaky(FLAKY_SUCCESS)));
    let mut jobs: Vec<Job> = in_window.chain(flaky).collect();
    jobs.sort_by_key(|j| j.arrival);
    jobs
}

fn record(job: &Job, n: u32, delay_ms: u64, at: DateTime<Utc>, success: bool) -> AttemptRecord {
    AttemptRecord {
        queue: "db".into(),
        time_of_day: at.hour() as u8,
        ..attempt(&job.id, JOB_TYPE, CLASS, n, delay_ms, at, success)
    }
}

/// Replays `jobs` in virtual time: each failure is observed, then a recommendation is asked
/// for (with `first_failure_at`, as workers send it) and its retry queued.
fn replay(e: &mut Engine, jobs: &[Job], rng: &mut StdRng) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::default(); jobs.len()];
    let mut queue: BinaryHeap<Due> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| Reverse((j.arrival, i, 1, 0)))
        .collect();
    while let Some(Reverse((at, i, n, delay))) = queue.pop() {
        let job = &jobs[i];
        let success = n > 1
            && match job.truth {
                Truth::Until(end) => at >= end,
                Truth::Flaky(p) => rng.random_bool(p),
            };
        e.observe(&record(job, n, delay, at, success));
        let outcome = &mut outcomes[i];
        outcome.attempts = n;
        if success {
            continue;
        }
        let mut f = record(job, n, delay, at, false).features();
        f.first_failure_at = Some(job.arrival);
        let rec = e.recommend(&f, at);
        outcome.rationales.push(rec.rationale.clone());
        if rec.should_retry {
            let next = at + Duration::milliseconds(rec.delay_ms as i64);
            queue.push(Reverse((next, i, n + 1, rec.delay_ms)));
        } else {
            outcome.stopped_at = Some(at);
            outcome.stopped_by = Some(rec);
        }
    }
    outcomes
}

/// The jobs of the window that were stopped before it ended, with what stopped them.
fn given_up_in_window(jobs: &[Job], outcomes: &[Outcome]) -> Vec<String> {
    jobs.iter()
        .zip(outcomes)
        .filter_map(|(job, o)| match (job.truth, o.stopped_at) {
            (Truth::Until(end), Some(at)) if at < end => {
                let why = o.stopped_by.as_ref().map_or("", |r| r.rationale.as_str());
                Some(format!(
                    "{} at {at} (attempt {}): {why}",
                    job.id, o.attempts
                ))
            }
            _ => None,
        })
        .collect()
}

/// Three days of the workload on a fresh engine seeded with `seed`: each night's jobs and
/// what happened to them.
fn three_nights(seed: u64) -> Vec<(Vec<Job>, Vec<Outcome>)> {
    three_nights_under(seed, EngineSettings::default())
}

/// [`three_nights`] with the engine's `settings` (e.g. other cost weights).
fn three_nights_under(seed: u64, settings: EngineSettings) -> Vec<(Vec<Job>, Vec<Outcome>)> {
    let mut e = Engine::new(default_strategy(), settings, seed);
    let mut rng = StdRng::seed_from_u64(seed);
    (0..3)
        .map(|day| {
            let jobs = jobs_of(day, &mut rng);
            let outcomes = replay(&mut e, &jobs, &mut rng);
            (jobs, outcomes)
        })
        .collect()
}

/// The jobs of the window that used every attempt the guardrails allow before it ended.
fn out_of_attempts_in_window(jobs: &[Job], outcomes: &[Outcome], max_attempts: u32) -> Vec<String> {
    jobs.iter()
        .zip(outcomes)
        .filter(|(job, o)| {
            let ended = |at| matches!(job.truth, Truth::Until(end) if at < end);
            o.attempts >= max_attempts && o.stopped_at.is_some_and(ended)
        })
        .map(|(job, o)| format!("{} ({} attempts): {:#?}", job.id, o.attempts, o.rationales))
        .collect()
}

/// The rationales given to the window's jobs that say the per-attempt view was overruled.
fn overruled(jobs: &[Job], outcomes: &[Outcome]) -> Vec<String> {
    jobs.iter()
        .zip(outcomes)
        .filter(|(j, _)| matches!(j.truth, Truth::Until(_)))
        .flat_map(|(_, o)| &o.rationales)
        .filter(|r| r.contains("the per-attempt view would give up"))
        .cloned()
        .collect()
}

/// On the first night the class is known as flaky (the per-attempt view decides) and that view
/// would give up inside the window after the failed early retries: the elapsed view's retry is
/// taken instead, and the recommendation says so. So the window's tail gets tried and learned,
/// and on the third night its jobs are waited out. Before 2eb6bdc the first night's jobs were
/// given up, the tail stayed unexplored, and on this seed 384 jobs of the third night's window
/// were given up too. The bound of 5 % is for this night's view alone; the next test holds no
/// job may run out of attempts inside the window.
#[test]
fn a_nightly_maintenance_window_is_waited_out_not_given_up() {
    let nights = three_nights(1);
    let (jobs, outcomes) = &nights[0];
    let notes = overruled(jobs, outcomes);
    let note = notes
        .first()
        .expect("the per-attempt view would stop on night 1");
    assert!(
        note.contains("but the elapsed view expects recovery") && note.contains("recover by"),
        "{note}"
    );
    let (jobs, outcomes) = &nights[2];
    let stopped = given_up_in_window(jobs, outcomes);
    let window = jobs.iter().filter(|j| matches!(j.truth, Truth::Until(_)));
    let total = window.count();
    assert!(
        stopped.len() * 20 <= total,
        "{} of {total} window jobs given up on night 3 while the window was still on: {:#?}",
        stopped.len(),
        &stopped[..stopped.len().min(5)]
    );
}

/// When the per-attempt view decides as the window opens (after the flaky jobs of the hour
/// before), it plans quick retries that each look likely to work. A window job's own failed
/// retries soon favour the elapsed-time view (its summed log-likelihood ratio passes the
/// margin), so from then on it is waited out with the attempts it has left, and exploration
/// only tries near-optimal delays; before that, on this seed 14 of the third night's window
/// jobs ran out of attempts inside the window.
#[test]
fn no_window_job_runs_out_of_attempts_before_the_window_ends() {
    let nights = three_nights(4);
    let (jobs, outcomes) = &nights[2];
    let stopped = given_up_in_window(jobs, outcomes);
    assert!(stopped.is_empty(), "{stopped:#?}");
}

/// When a second of waiting costs 1 and a lost job 600 (`--cost
/// per_attempt=2,per_second=1,give_up=600`), waiting out the rest of a twenty-minute window
/// costs about as much as giving the job up, so most window jobs are given up, and that is
/// the plan. What must not happen is a job spending every attempt it has inside the window:
/// each failed retry costs 2 and buys nothing a stop would not.
/// Seeds the test under dear waiting runs (three simulated days each).
const SEEDS: u64 = 5;

#[test]
fn under_dear_waiting_no_window_job_runs_out_of_attempts() {
    let settings = EngineSettings {
        cost: CostWeights {
            per_attempt: 2.0,
            per_second: 1.0,
            give_up_penalty: 600.0,
        },
        ..EngineSettings::default()
    };
    let max_attempts = default_strategy().guardrails.max_attempts;
    let mut spent = Vec::new();
    for seed in 1..=SEEDS {
        let nights = three_nights_under(seed, settings.clone());
        for (night, (jobs, outcomes)) in nights.iter().enumerate().skip(1) {
            for job in out_of_attempts_in_window(jobs, outcomes, max_attempts) {
                spent.push(format!("seed {seed}, night {}, {job}", night + 1));
            }
        }
    }
    assert!(spent.is_empty(), "{spent:#?}");
}
