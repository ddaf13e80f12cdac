//! SQLite store ingestion and start-up replay, on a real database file.
//!
//! ```text
//! cargo bench --bench store -- [--attempts N] [--batch B] [--callers C] [--dir DIR]
//! ```
//! (defaults: 1,000,000 attempts, batches of 1,000, 8 concurrent callers, a temp dir;
//! `--attempts 0 --dir DIR` replays an existing database only).
//!
//! Phase 1 appends N attempts: C tasks each send batches of B, as HTTP handlers would, and the
//! writer thread group-commits them. Phase 2 replays them all with `attempts_after` in pages of
//! 10,000 after reopening the store, as `retryctl serve` does at start-up. Besides wall-clock
//! rates it prints the CPU the writer thread spent per attempt, a figure a busy machine does
//! not distort much.

use chrono::{Duration, TimeZone, Utc};
use retryctl::model::AttemptRecord;
use retryctl::store::Store;
use retryctl::store::sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Page size of the start-up replay.
const REPLAY_PAGE: u32 = 10_000;
/// Linux reports /proc CPU times in these ticks per second (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

struct Options {
    attempts: u64,
    batch: u64,
    callers: u64,
    dir: Option<PathBuf>,
}

fn options() -> Options {
    let mut opts = Options {
        attempts: 1_000_000,
        batch: 1_000,
        callers: 8,
        dir: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.windows(2) {
        let number = || pair[1].parse().expect("a number after the flag");
        match pair[0].as_str() {
            "--attempts" => opts.attempts = number(),
            "--batch" => opts.batch = number(),
            "--callers" => opts.callers = number(),
            "--dir" => opts.dir = Some(PathBuf::from(&pair[1])),
            _ => {}
        }
    }
    opts
}

fn attempt(i: u64) -> AttemptRecord {
    AttemptRecord {
        job_id: format!("job-{}", i / 3),
        job_type: format!("type-{}", i % 10),
        attempt_number: (i % 3) as u32 + 1,
        error_class: ["timeout", "rate_limit", "unavailable"][(i % 3) as usize].into(),
        error_code: "503".into(),
        status: "failed".into(),
        queue: "default".into(),
        tenant: Some(format!("tenant-{}", i % 7)),
        payload_size: 1_024,
        time_of_day: 12,
        worker_version: "1.4.2".into(),
        health: None,
        delay_ms: (i % 3) * 1_000,
        success: i % 3 == 2,
        timestamp: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
            + Duration::milliseconds(i as i64),
        processing_time: None,
    }
}

/// CPU seconds (user + system) used so far by this process's threads named `name` (all
/// threads for "").
fn thread_cpu_seconds(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with(name) {
            continue;
        }
        // After the command name: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = tail.split_whitespace().collect();
        ticks += fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    }
    ticks as f64 / TICKS_PER_SECOND
}

async fn ingest(store: Arc<SqliteStore>, opts: &Options) {
    let per_caller = opts.attempts / opts.callers;
    let writer_cpu = thread_cpu_seconds("sqlite-writer");
    let (commits, start) = (store.commits(), Instant::now());
    let tasks: Vec<_> = (0..opts.callers)
        .map(|c| {
            let (store, batch) = (store.clone(), opts.batch);
            tokio::spawn(async move {
                let first = c * per_caller;
                for start in (first..first + per_caller).step_by(batch as usize) {
                    let end = (start + batch).min(first + per_caller);
                    store
                        .append_attempts((start..end).map(attempt).collect())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let (secs, total) = (start.elapsed().as_secs_f64(), per_caller * opts.callers);
    let cpu = thread_cpu_seconds("sqlite-writer") - writer_cpu;
    println!(
        "ingest: {total} attempts, batch {}, {} callers: {secs:.2} s wall, {:.0} attempts/s, \
         {} commits, writer thread CPU {:.1} µs/attempt ({:.0} attempts per writer CPU-second)",
        opts.batch,
        opts.callers,
        total as f64 / secs,
        store.commits() - commits,
        cpu * 1e6 / total as f64,
        total as f64 / cpu
    );
}

async fn replay(store: &SqliteStore) {
    let (cpu, start) = (thread_cpu_seconds(""), Instant::now());
    let (mut after, mut seen) = (0, 0u64);
    loop {
        let page = store.attempts_after(after, REPLAY_PAGE).await.unwrap();
        let Some((last, _)) = page.last() else { break };
        after = *last;
        seen += page.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds("") - cpu;
    println!(
        "replay: {seen} attempts via attempts_after (pages of {REPLAY_PAGE}) in {secs:.2} s \
         wall, {:.0} attempts/s; {cpu:.2} CPU-seconds in all threads",
        seen as f64 / secs
    );
}

fn main() {
    let opts = options();
    let temp = tempfile::tempdir().unwrap();
    let dir = opts
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Arc::new(SqliteStore::open(&dir).await.unwrap());
        println!("database: {}", store.path().display());
        if opts.attempts > 0 {
            ingest(store.clone(), &opts).await;
        }
        drop(store);
        let start = Instant::now();
        let reopened = SqliteStore::open(&dir).await.unwrap();
        println!("reopen: {:.3} s", start.elapsed().as_secs_f64());
        replay(&reopened).await;
    });
}
