//! What the per-job tables hold against the attempts recorded, and what each costs per entry.
//!
//! ```text
//! cargo bench --bench tables -- [--cap N] [--attempts N]
//! ```
//! (defaults: `max_open_episodes` 200,000, 2,000,000 attempts). The workload is the one
//! `benches/startup.sh` sends (`benches/http/attempts_unique.lua`: batches of 1,000 attempts,
//! every job new, attempt numbers 1–4, a third successes), fed straight into what
//! `POST /attempts` feeds: the engine (`Engine::observe`: open episodes) and the operational
//! memory (`Ops::record_attempt`: the pattern analysis's followed jobs, windows, series). Each
//! is fed on its own, one thread, no HTTP and no store, so the heap it holds is measured alone:
//! glibc's bytes in use (`mallinfo2`: the main arena's blocks plus mmapped ones, with malloc's
//! own overhead), before and after. Printed at 10⁵, 3·10⁵, 10⁶ and the last count: the heap
//! each holds, its entries, the bytes per entry added since 10⁵ (the marginal cost of an
//! entry, as the service pays it between the 10⁵ baseline and full tables), and the slowest
//! single attempt since the previous line (a table that grows in one step shows there).

use chrono::{DateTime, Duration, TimeZone, Utc};
use retryctl::engine::{Engine, EngineSettings, default_strategy};
use retryctl::model::AttemptRecord;
use retryctl::server::core::ops::Ops;
use std::time::Instant;

const BATCH: u64 = 1_000;
const CLASSES: [&str; 4] = [
    "timeout",
    "rate_limit",
    "service_unavailable",
    "connection_reset",
];

struct Options {
    cap: usize,
    attempts: u64,
}

fn options() -> Options {
    let mut opts = Options {
        cap: retryctl::engine::EPISODE_CAPACITY,
        attempts: 2_000_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || {
            args.get(i + 1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{} needs a whole number", args[i]))
        };
        match args[i].as_str() {
            "--cap" => opts.cap = value() as usize,
            "--attempts" => opts.attempts = value(),
            // cargo bench passes --bench to every bench target.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    opts
}

/// Attempt `i` (1-based) of batch `n`, as `attempts_unique.lua` writes it.
fn attempt(n: u64, i: u64) -> AttemptRecord {
    let number = (i % 4) as u32 + 1;
    AttemptRecord {
        job_id: format!("u1-1-{n}-{i}"),
        job_type: format!("job_{}", i % 100),
        attempt_number: number,
        error_class: CLASSES[(i % 4) as usize].into(),
        error_code: String::new(),
        status: String::new(),
        queue: format!("q{}", i % 8),
        tenant: None,
        payload_size: 0,
        time_of_day: 0,
        worker_version: String::new(),
        health: None,
        delay_ms: u64::from(number - 1) * 1_000,
        success: i.is_multiple_of(3),
        timestamp: Utc
            .with_ymd_and_hms(2026, 1, 1, 0, (i % 60) as u32, (i % 60) as u32)
            .unwrap(),
        processing_time: None,
    }
}

/// Heap bytes in use (this process is single-threaded: the main arena is all of it).
fn heap_in_use() -> usize {
    // SAFETY: mallinfo2 takes no pointer and only reads malloc's counters.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

/// One table's figures at a count of attempts.
struct Point {
    attempts: u64,
    heap: usize,
    entries: usize,
    slowest: std::time::Duration,
}

/// Feeds `attempts` into `feed` batch by batch, reading the heap and the entries at the
/// checkpoints.
fn run(
    attempts: u64,
    mut feed: impl FnMut(&AttemptRecord, DateTime<Utc>),
    entries: impl Fn() -> usize,
) -> Vec<Point> {
    let checkpoints = [100_000, 300_000, 1_000_000, attempts];
    let base = heap_in_use();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut points = Vec::new();
    let mut slowest = std::time::Duration::ZERO;
    for n in 1..=attempts / BATCH {
        // The service's clock: a batch every 2 ms (a little over the rate measured).
        let now = start + Duration::milliseconds(2 * n as i64);
        for i in 1..=BATCH {
            let a = attempt(n, i);
            let began = Instant::now();
            feed(&a, now);
            slowest = slowest.max(began.elapsed());
        }
        if checkpoints.contains(&(n * BATCH)) {
            points.push(Point {
                attempts: n * BATCH,
                heap: heap_in_use() - base,
                entries: entries(),
                slowest: std::mem::take(&mut slowest),
            });
        }
    }
    points
}

fn report(table: &str, points: &[Point]) {
    let Some(baseline) = points.first() else {
        return;
    };
    for p in points {
        let added = p.entries.saturating_sub(baseline.entries);
        let per_entry = if added == 0 {
            "-".to_string()
        } else {
            format!("{:.0}", (p.heap - baseline.heap) as f64 / added as f64)
        };
        println!(
            "{table:<24} {:>10} {:>10.1} MB {:>9} {per_entry:>9} {:>9.2} ms",
            p.attempts,
            p.heap as f64 / 1e6,
            p.entries,
            p.slowest.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    let opts = options();
    println!(
        "max_open_episodes {}, {} attempts of new jobs (benches/http/attempts_unique.lua)",
        opts.cap, opts.attempts
    );
    println!(
        "{:<24} {:>10} {:>13} {:>9} {:>9} {:>12}",
        "table", "attempts", "heap in use", "entries", "B/entry", "slowest"
    );
    let settings = EngineSettings {
        max_open_episodes: opts.cap,
        ..EngineSettings::default()
    };
    let engine = std::cell::RefCell::new(Engine::new(default_strategy(), settings, 1));
    let points = run(
        opts.attempts,
        |a, _| engine.borrow_mut().observe(a),
        || engine.borrow().open_episodes(),
    );
    report("engine: open episodes", &points);
    drop(engine);
    let ops = std::cell::RefCell::new(Ops::new(opts.cap));
    let points = run(
        opts.attempts,
        |a, now| ops.borrow_mut().record_attempt(a, now),
        || ops.borrow().patterns.followed_jobs(),
    );
    report("ops: followed jobs", &points);
}
