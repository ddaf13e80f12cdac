//! `kill -9` at random moments under load, many times: a real `retryctl serve` on its own data
//! takes concurrent attempt batches, failures, worker claims and operator overrides, is killed
//! with SIGKILL at a seeded random moment and restarted on the same port and data, `ROUNDS`
//! times. Clients keep going through the outages (a request that got no 2xx answer was not
//! acknowledged and may or may not have happened). At the end, read back through the API:
//!
//! - every acknowledged attempt is there, and no (job, attempt number) is stored twice;
//! - every job an acknowledged failure put on the schedule is there, at that attempt or later,
//!   and `GET /jobs` lists each job once and nothing nobody reported;
//! - every acknowledged claim handed its job out once: no (job, attempt) claimed twice, and a
//!   job whose claim was the worker's last acknowledged word is still claimed by it;
//! - every acknowledged override is on its job and in the audit log, whose ids run 1, 2, 3, …
//!   with no gap.
//!
//! `RETRYCTL_KILL_LOOP_ROUNDS` (default 10) and `RETRYCTL_KILL_LOOP_SEED` (default: from the
//! clock, printed) make longer or repeated runs; `scripts/kill-loop.sh` wraps them.

use crate::common::service::Service;

use chrono::{DateTime, Duration as Span, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// Kill / restart rounds unless `RETRYCTL_KILL_LOOP_ROUNDS` says otherwise.
const ROUNDS: u32 = 10;
/// Tasks posting a failure and then a batch of later attempts for each new job.
const INGESTERS: usize = 3;
/// Tasks reporting new failures on queue `work`, claiming them and reporting the next failure.
const WORKERS: usize = 2;
/// Later attempts (2..=1+BATCH) posted in one `/attempts` batch per ingested job.
const BATCH: u32 = 5;
/// How long the service runs between a (re)start and the next SIGKILL, in ms.
const UP_MS: std::ops::Range<u64> = 150..1_200;
/// How often `serve` snapshots its learning (default 30 s, longer than a whole run).
const SNAPSHOT: &str = "250ms";
/// Pause of a client after a request that was not answered (the service is down).
const BACKOFF: Duration = Duration::from_millis(15);

/// What the service acknowledged (answered 2xx), shared by the client tasks.
#[derive(Default)]
struct Acked {
    /// job → attempt numbers of acknowledged attempts (via `/failures` or `/attempts`).
    attempts: BTreeMap<String, BTreeSet<u32>>,
    /// job → the highest attempt number of an acknowledged failure report.
    failures: BTreeMap<String, u32>,
    /// (job, attempt number) of each job handed out by an acknowledged claim, in order.
    claims: Vec<(String, u32, String)>,
    /// job → (attempt, worker) when the last acknowledged word about it was a claim.
    claimed_last: BTreeMap<String, (u32, String)>,
    /// job → reason of its acknowledged override.
    overrides: BTreeMap<String, String>,
    /// Answers other than 2xx, by status.
    refused: BTreeMap<u16, u64>,
    /// The first such answer of each status: request path and body.
    refused_example: BTreeMap<u16, String>,
    /// Requests that got no answer (the service was down or killed while answering).
    unanswered: u64,
    /// Requests sent in all (acknowledged or not), to bound what the service may hold.
    sent_failures: BTreeSet<String>,
    sent_overrides: u64,
}

type Shared = Arc<Mutex<Acked>>;

struct Client {
    http: reqwest::Client,
    base: String,
    acked: Shared,
}

impl Client {
    /// POSTs `body`; `Some(answer)` when acknowledged (2xx), `None` when not answered or
    /// refused (refusals are tallied).
    async fn post(&self, path: &str, body: &Value) -> Option<Value> {
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(_) => {
                self.acked.lock().await.unanswered += 1;
                tokio::time::sleep(BACKOFF).await;
                return None;
            }
        };
        let status = answer.status();
        if !status.is_success() {
            let text = answer.text().await.unwrap_or_default();
            let mut acked = self.acked.lock().await;
            *acked.refused.entry(status.as_u16()).or_default() += 1;
            let example = format!("{path}: {text}");
            acked
                .refused_example
                .entry(status.as_u16())
                .or_insert(example);
            drop(acked);
            tokio::time::sleep(BACKOFF).await;
            return None;
        }
        // A body cut off by the kill is no acknowledgement either.
        let body = answer.json().await.ok();
        if body.is_none() {
            self.acked.lock().await.unanswered += 1;
        }
        body
    }

    /// Reports attempt `attempt` of `job` as failed; true when acknowledged.
    async fn fail(&self, job: &str, queue: &str, attempt: u32, at: DateTime<Utc>) -> bool {
        self.acked
            .lock()
            .await
            .sent_failures
            .insert(job.to_string());
        let body = json!({
            "job_id": job, "job_type": format!("kl-{queue}"), "attempt_number": attempt,
            "error_class": "timeout", "error_code": "504", "error_message": "kill loop",
            "queue": queue, "timestamp": at.to_rfc3339(),
        });
        let ok = self.post("/failures", &body).await.is_some();
        if ok {
            let mut acked = self.acked.lock().await;
            acked
                .attempts
                .entry(job.to_string())
                .or_default()
                .insert(attempt);
            let top = acked.failures.entry(job.to_string()).or_default();
            *top = (*top).max(attempt);
            acked.claimed_last.remove(job);
        }
        ok
    }
}

/// Ingestion: a failure puts a new job on the schedule (queue `ingest`, never claimed), then
/// one `/attempts` batch records its attempts 2..=1+BATCH.
async fn ingester(client: Client, id: usize, stop: Arc<AtomicBool>) {
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let job = format!("ing-{id}-{n}");
        let start = Utc::now() - Span::hours(1);
        if !client.fail(&job, "ingest", 1, start).await {
            continue;
        }
        let batch: Vec<Value> = (2..=1 + BATCH)
            .map(|a| {
                json!({
                    "job_id": job, "job_type": "kl-ingest", "attempt_number": a,
                    "error_class": "timeout", "queue": "ingest", "delay_ms": 1000,
                    "success": false,
                    "timestamp": (start + Span::seconds(i64::from(a))).to_rfc3339(),
                })
            })
            .collect();
        if client.post("/attempts", &json!(batch)).await.is_some() {
            let mut acked = client.acked.lock().await;
            acked.attempts.entry(job).or_default().extend(2..=1 + BATCH);
        }
    }
}

/// A worker: reports a new failure on queue `work`, claims what is due there (its clock a day
/// ahead, the lease an hour long, so a claimed job is not handed out again during the test), and reports
/// the next attempt of each claimed job as failed too.
async fn worker(client: Client, id: usize, stop: Arc<AtomicBool>) {
    let name = format!("worker-{id}");
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        client
            .fail(&format!("w-{id}-{n}"), "work", 1, Utc::now())
            .await;
        let ahead = Utc::now() + Span::days(1);
        let claim = json!({
            "worker": name, "queue": "work", "limit": 3, "lease_ms": 3_600_000,
            "now": ahead.to_rfc3339(),
        });
        let Some(answer) = client.post("/claim", &claim).await else {
            continue;
        };
        let claimed: Vec<(String, u32)> = answer["jobs"]
            .as_array()
            .expect("claim answer has jobs")
            .iter()
            .map(|j| {
                let id = j["job_id"].as_str().unwrap().to_string();
                (id, j["attempt_number"].as_u64().unwrap() as u32)
            })
            .collect();
        {
            let mut acked = client.acked.lock().await;
            for (job, attempt) in &claimed {
                acked.claims.push((job.clone(), *attempt, name.clone()));
                acked
                    .claimed_last
                    .insert(job.clone(), (*attempt, name.clone()));
            }
        }
        for (job, attempt) in claimed {
            client.fail(&job, "work", attempt + 1, Utc::now()).await;
        }
    }
}

/// An operator: puts a job on queue `ops` and overrides its next attempt once, with a reason
/// naming the job (the job is touched by nobody else, so its override is the last word).
async fn operator(client: Client, stop: Arc<AtomicBool>) {
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let job = format!("op-{n}");
        if !client.fail(&job, "ops", 1, Utc::now()).await {
            continue;
        }
        let reason = format!("kill loop: hold {job}");
        let body = json!({"delay_ms": 3_600_000 + n, "reason": reason});
        client.acked.lock().await.sent_overrides += 1;
        if client
            .post(&format!("/jobs/{job}/override"), &body)
            .await
            .is_some()
        {
            client.acked.lock().await.overrides.insert(job, reason);
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_acknowledged_is_lost_across_repeated_kill_9() {
    let rounds = env_number("RETRYCTL_KILL_LOOP_ROUNDS").map_or(ROUNDS, |n| n as u32);
    let seed = env_number("RETRYCTL_KILL_LOOP_SEED")
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
    eprintln!("kill loop: {rounds} rounds, RETRYCTL_KILL_LOOP_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let data = tempfile::tempdir().unwrap();
    // Snapshots of what the engine learned every 250 ms, so kills land in and around them too.
    let mut service = Service::start_with(data.path(), &[("RETRYCTL_SNAPSHOT_INTERVAL", SNAPSHOT)]);
    let acked: Shared = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let client = || Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        base: service.url(""),
        acked: acked.clone(),
    };
    let mut tasks = Vec::new();
    for id in 0..INGESTERS {
        tasks.push(tokio::spawn(ingester(client(), id, stop.clone())));
    }
    for id in 0..WORKERS {
        tasks.push(tokio::spawn(worker(client(), id, stop.clone())));
    }
    tasks.push(tokio::spawn(operator(client(), stop.clone())));

    for round in 1..=rounds {
        let up = rng.random_range(UP_MS);
        tokio::time::sleep(Duration::from_millis(up)).await;
        service.kill_9();
        eprintln!("kill loop: round {round}: SIGKILL after {up} ms up");
        service.restart();
    }
    // A last stretch of load on the last restart, then everything settles.
    tokio::time::sleep(Duration::from_millis(rng.random_range(UP_MS))).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner();
    eprintln!(
        "kill loop: acknowledged {} attempts of {} jobs, {} failures, {} claims, {} overrides; \
         {} requests unanswered, refused by status: {:?}",
        acked.attempts.values().map(BTreeSet::len).sum::<usize>(),
        acked.attempts.len(),
        acked.failures.len(),
        acked.claims.len(),
        acked.overrides.len(),
        acked.unanswered,
        acked.refused
    );
    assert!(
        acked.refused.keys().all(|s| *s >= 500),
        "a request of this test was refused as bad: {:?}",
        acked.refused_example
    );
    assert!(acked.claims.len() >= 5, "too few claims to prove anything");
    assert!(acked.overrides.len() >= 5, "too few overrides");

    let read = Reader {
        http: reqwest::Client::new(),
        base: service.url(""),
    };
    let jobs = read.all_jobs().await;
    check_jobs(&acked, &jobs);
    check_attempts(&acked, &read).await;
    check_claims(&acked, &jobs);
    check_audit(&acked, &read.all_audit().await, &jobs);
}

/// Reads the service back through the API.
struct Reader {
    http: reqwest::Client,
    base: String,
}

impl Reader {
    async fn get(&self, path: &str) -> Value {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "GET {path}: {}",
            answer.status()
        );
        answer.json().await.unwrap()
    }

    /// Every job of `GET /jobs`, page by page, keyed by id (a job listed twice fails).
    async fn all_jobs(&self) -> BTreeMap<String, Value> {
        let mut jobs = BTreeMap::new();
        let mut cursor = String::new();
        loop {
            let page = self.get(&format!("/jobs?limit=1000&cursor={cursor}")).await;
            for job in page["jobs"].as_array().unwrap() {
                let id = job["job_id"].as_str().unwrap().to_string();
                assert!(
                    jobs.insert(id.clone(), job.clone()).is_none(),
                    "{id} listed twice"
                );
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => {
                    assert_eq!(page["total"], jobs.len(), "total vs jobs listed");
                    return jobs;
                }
            }
        }
    }

    /// The whole audit log, oldest first.
    async fn all_audit(&self) -> Vec<Value> {
        let mut entries: Vec<Value> = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e| e["id"].as_u64().unwrap());
            let page = self.get(&format!("/audit?after={after}&limit=1000")).await;
            let page = page.as_array().unwrap().clone();
            if page.is_empty() {
                return entries;
            }
            entries.extend(page);
        }
    }
}

/// Every acknowledged failure's job is on the schedule at that attempt or later; nothing is
/// listed that no client reported.
fn check_jobs(acked: &Acked, jobs: &BTreeMap<String, Value>) {
    for (job, attempt) in &acked.failures {
        let Some(listed) = jobs.get(job) else {
            panic!("job {job} (failure {attempt} acknowledged) is not on the schedule");
        };
        let stored = listed["attempt_number"].as_u64().unwrap();
        assert!(
            stored >= u64::from(*attempt),
            "{job}: acknowledged failure of attempt {attempt}, schedule has {stored}"
        );
    }
    let unknown: Vec<_> = jobs
        .keys()
        .filter(|id| !acked.sent_failures.contains(*id))
        .collect();
    assert!(unknown.is_empty(), "jobs nobody reported: {unknown:?}");
}

/// Every acknowledged attempt is stored, none twice.
async fn check_attempts(acked: &Acked, read: &Reader) {
    let mut lost = Vec::new();
    for (job, numbers) in &acked.attempts {
        let detail = read.get(&format!("/jobs/{job}")).await;
        let mut seen = BTreeSet::new();
        for attempt in detail["attempts"].as_array().unwrap() {
            let n = attempt["attempt_number"].as_u64().unwrap() as u32;
            assert!(seen.insert(n), "{job}: attempt {n} stored twice");
        }
        lost.extend(numbers.difference(&seen).map(|n| (job.clone(), *n)));
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged attempts lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

/// No (job, attempt) was handed out twice; a job whose last acknowledged word was a claim is
/// still claimed by that worker at that attempt, unless the worker's next report of it
/// happened without its answer arriving (then it is one attempt further).
fn check_claims(acked: &Acked, jobs: &BTreeMap<String, Value>) {
    let mut seen = BTreeSet::new();
    for (job, attempt, worker) in &acked.claims {
        assert!(
            seen.insert((job, attempt)),
            "{job} attempt {attempt} handed out twice (last to {worker})"
        );
    }
    for (job, (attempt, worker)) in &acked.claimed_last {
        let listed = &jobs[job];
        let stored = listed["attempt_number"].as_u64().unwrap() as u32;
        let still_claimed = listed["state"] == "claimed" && listed["claimed_by"] == *worker;
        assert!(
            (stored == *attempt && still_claimed) || stored == attempt + 1,
            "{job}: claimed by {worker} at attempt {attempt} (acknowledged), now {listed}"
        );
    }
}

/// Audit ids run 1, 2, 3, … with no gap; every acknowledged override is in it and on its job;
/// nothing is in it that was not asked for.
fn check_audit(acked: &Acked, audit: &[Value], jobs: &BTreeMap<String, Value>) {
    for (i, entry) in audit.iter().enumerate() {
        assert_eq!(
            entry["id"],
            i as u64 + 1,
            "audit ids have a gap or disorder"
        );
    }
    let audited: BTreeSet<(String, String)> = audit
        .iter()
        .filter(|e| e["action"] == "override")
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap().to_string();
            (text("target"), text("reason"))
        })
        .collect();
    // One override per job, each with its own reason: fewer distinct pairs than entries is an
    // entry stored twice, or one nobody asked for.
    assert_eq!(
        audited.len(),
        audit.len(),
        "audit entries other than one override per job: {audit:?}"
    );
    assert!(audit.len() as u64 <= acked.sent_overrides);
    for (job, reason) in &acked.overrides {
        assert!(
            audited.contains(&(job.clone(), reason.clone())),
            "acknowledged override of {job} is not in the audit log"
        );
        let on_job = &jobs[job]["override"];
        assert_eq!(on_job["reason"], *reason, "{job}: override lost: {on_job}");
    }
}
