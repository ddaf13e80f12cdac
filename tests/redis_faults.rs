//! Two real `retryctl serve` replicas on one real `redis-server`, under a steady load of
//! reporting workers, through the faults an SRE meets: Redis stopped (SIGSTOP) for a whole
//! minute, and a replica killed with SIGKILL. The workers behave as real ones do: a report that
//! got no 200 (a 503, a refused connection, a timeout) is sent again, the same report, until it
//! is acknowledged, to the other replica when theirs is gone. Afterwards every acknowledged
//! report is on record exactly once, and the log holds nothing else.
//!
//! Needs redis-server (`apt-get install -y redis-server`; the tests fail without it).

use crate::redis_replicas::{Cluster, cluster, failure, post};
use chrono::{Duration, Utc};
use retryctl::store::redis::DEFAULT_PREFIX;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};
use tokio::task::JoinHandle;

/// Workers reporting at once, each a report at a time.
const WORKERS: usize = 4;
/// A worker's pause between two reports (and before sending a refused one again).
const REPORT_PAUSE: StdDuration = StdDuration::from_millis(10);
/// Longer than any answer the service may take: a request still unanswered then is a fault.
const CLIENT_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// One request of the load: when it was sent, how long its answer took, its status (0 when no
/// HTTP answer came: connection refused or reset, timed out).
#[derive(Clone, Copy, Debug)]
struct Sent {
    at: Instant,
    took: StdDuration,
    status: u16,
}

/// What one worker saw: the jobs whose failure was acknowledged (with when), every request.
#[derive(Default)]
struct WorkerLog {
    acknowledged: Vec<(String, Instant)>,
    sent: Vec<Sent>,
}

/// POSTs `body` to `base` + `/api/v1/retry` + `path`; never panics.
async fn send(client: &reqwest::Client, base: &str, path: &str, body: &Value) -> Sent {
    let at = Instant::now();
    let status = match client
        .post(format!("{base}/api/v1/retry{path}"))
        .json(body)
        .send()
        .await
    {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    };
    Sent {
        at,
        took: at.elapsed(),
        status,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

/// A worker: reports new failed jobs (`tag-worker-n`), alternating between the replicas, until
/// `stop`; a report without a 200 is sent again (to the next replica) until acknowledged.
fn worker(bases: Vec<String>, tag: String, stop: Arc<AtomicBool>) -> JoinHandle<WorkerLog> {
    tokio::spawn(async move {
        let client = client();
        let mut log = WorkerLog::default();
        let mut turn = 0;
        for n in 0.. {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let job = format!("{tag}-{n}");
            let report = failure(&job, 1, Utc::now());
            loop {
                turn += 1;
                let sent = send(&client, &bases[turn % bases.len()], "/failures", &report).await;
                log.sent.push(sent);
                if sent.status == 200 {
                    log.acknowledged.push((job, Instant::now()));
                    break;
                }
                tokio::time::sleep(REPORT_PAUSE).await;
            }
            tokio::time::sleep(REPORT_PAUSE).await;
        }
        log
    })
}

/// Asks both replicas in turn for recommendations until `stop`; every answer.
fn recommender(bases: Vec<String>, stop: Arc<AtomicBool>) -> JoinHandle<Vec<Sent>> {
    tokio::spawn(async move {
        let client = client();
        let ask = json!({"job_type": "email", "error_class": "timeout", "attempt_number": 1});
        let mut answers = Vec::new();
        let mut turn = 0;
        while !stop.load(Ordering::SeqCst) {
            turn += 1;
            answers.push(send(&client, &bases[turn % bases.len()], "/recommendation", &ask).await);
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        answers
    })
}

/// The workers and the recommender, started together.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<WorkerLog>>,
    recommender: JoinHandle<Vec<Sent>>,
}

impl Load {
    fn start(c: &Cluster, tag: &str) -> Self {
        let bases = vec![c.a.api(), c.b.api()];
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|w| worker(bases.clone(), format!("{tag}-{w}"), stop.clone()))
            .collect();
        let recommender = recommender(bases, stop.clone());
        Self {
            stop,
            workers,
            recommender,
        }
    }

    /// Stops every task (each worker's report under way is acknowledged first).
    async fn finish(self) -> (Vec<WorkerLog>, Vec<Sent>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut logs = Vec::new();
        for w in self.workers {
            logs.push(w.await.unwrap());
        }
        (logs, self.recommender.await.unwrap())
    }
}

/// Every acknowledged job has exactly one attempt on record (read through `c.b`), and the
/// log holds exactly the acknowledged attempts: nothing lost, nothing doubled by a report sent
/// again. Returns how many were acknowledged.
async fn every_acknowledged_failure_is_on_record_once(c: &Cluster, logs: &[WorkerLog]) -> usize {
    let acknowledged: Vec<&String> = logs
        .iter()
        .flat_map(|l| l.acknowledged.iter().map(|(job, _)| job))
        .collect();
    for job in &acknowledged {
        let detail = c.b.get(&format!("/jobs/{job}")).await;
        let attempts = detail["attempts"].as_array().map_or(0, Vec::len);
        assert_eq!(attempts, 1, "{job}: {detail}");
    }
    assert_eq!(
        c.redis.log_head(DEFAULT_PREFIX).await,
        acknowledged.len() as u64,
        "the log holds exactly the acknowledged attempts"
    );
    acknowledged.len()
}

/// The first acknowledgement at or after `from`, as time since `from`.
fn first_acknowledgement_after(logs: &[WorkerLog], from: Instant) -> Option<StdDuration> {
    logs.iter()
        .flat_map(|l| l.acknowledged.iter().map(|(_, at)| *at))
        .filter(|at| *at >= from)
        .min()
        .map(|at| at - from)
}

/// Claims through `c.b` (every job due, on a clock two hours ahead) until one is handed out;
/// how long that took.
async fn claims_work_again(c: &Cluster) -> StdDuration {
    let started = Instant::now();
    let later = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let claim = json!({"worker": "w", "limit": 10, "lease_ms": 60_000, "now": later});
    loop {
        let (status, claimed) = post(&c.b, "/claim", &claim).await;
        if status == 200 && claimed["jobs"].as_array().is_some_and(|j| !j.is_empty()) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < StdDuration::from_secs(30),
            "no claim answered with a job 30 s after: {status} {claimed}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

async fn metrics_text(base: &str) -> String {
    client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Redis stopped (SIGSTOP) for 60 s under load, then resumed (SIGCONT): every report sent
/// during the stall answers 503 within 2 s, recommendations answer 200 throughout, `/health`
/// says degraded and `retryctl_store_up` is 0 (what `RetryctlStoreDegraded` alerts on); after
/// the resume writes are acknowledged again and claims hand out jobs within 5 s, and every
/// acknowledged report is on record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_stalled_for_a_minute_under_load_loses_nothing_and_doubles_nothing() {
    let c = cluster();
    let load = Load::start(&c, "stall");
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    c.redis.freeze();
    let frozen = Instant::now();
    tokio::time::sleep(StdDuration::from_secs(30)).await;
    let health = c.a.get("/health").await;
    assert_eq!(health["status"], "degraded", "{health}");
    let metrics = metrics_text(&c.b.api()).await;
    assert!(
        metrics.lines().any(|l| l == "retryctl_store_up 0"),
        "{metrics}"
    );
    tokio::time::sleep(StdDuration::from_secs(30)).await;
    c.redis.thaw();
    let thawed = Instant::now();
    let claims_after = claims_work_again(&c).await;
    tokio::time::sleep(StdDuration::from_secs(5)).await;
    let (logs, answers) = load.finish().await;

    // Reports sent while Redis was stopped (those 2 s before the resume could be answered
    // after it): every one refused with a 503, within 2 s.
    let during: Vec<Sent> = logs
        .iter()
        .flat_map(|l| l.sent.iter().copied())
        .filter(|s| s.at >= frozen && s.at + StdDuration::from_secs(2) <= thawed)
        .collect();
    assert!(during.len() >= 100, "{} reports in the stall", during.len());
    for s in &during {
        assert_eq!(s.status, 503, "{s:?}");
        assert!(s.took <= StdDuration::from_secs(2), "{s:?}");
    }
    let refused = answers.iter().filter(|s| s.status != 200).count();
    assert_eq!(refused, 0, "recommendations not answered 200: {refused}");
    assert!(
        answers
            .iter()
            .filter(|s| s.at >= frozen && s.at <= thawed)
            .count()
            >= 500,
        "recommendations asked during the stall"
    );
    let resumed = first_acknowledgement_after(&logs, thawed).expect("writes resumed");
    assert!(
        resumed <= StdDuration::from_secs(5),
        "first write acknowledged {resumed:?} after the resume"
    );
    assert!(
        claims_after <= StdDuration::from_secs(5),
        "claims resumed after {claims_after:?}"
    );
    let acknowledged = every_acknowledged_failure_is_on_record_once(&c, &logs).await;
    let slowest = during.iter().map(|s| s.took).max().unwrap_or_default();
    println!(
        "stall: {} reports refused in the stall (slowest {slowest:?}), {} recommendations all 200, \
         first write {resumed:?} and first claim {claims_after:?} after the resume, \
         {acknowledged} acknowledged, each on record once",
        during.len(),
        answers.len()
    );
}

/// One of two replicas killed with SIGKILL under load: its workers' reports that got no answer
/// go to the other replica, and every acknowledged report (through either) is on record there
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_under_load_loses_no_acknowledged_failure() {
    let mut c = cluster();
    let load = Load::start(&c, "kill");
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    c.a.kill_9();
    let killed = Instant::now();
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    let (logs, answers) = load.finish().await;
    let unanswered = logs
        .iter()
        .flat_map(|l| l.sent.iter())
        .filter(|s| s.at >= killed && s.status == 0)
        .count();
    assert!(unanswered > 0, "the load reached the killed replica");
    let after_kill = answers.iter().filter(|s| s.at >= killed && s.status == 200);
    assert!(after_kill.count() > 0, "the other replica recommends");
    let acknowledged = every_acknowledged_failure_is_on_record_once(&c, &logs).await;
    assert!(acknowledged >= 100, "{acknowledged} acknowledged");
    println!(
        "kill: {unanswered} reports unanswered by the killed replica, sent again; \
         {acknowledged} acknowledged, each on record once"
    );
}
