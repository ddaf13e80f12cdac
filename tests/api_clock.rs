//! One clock: the same workload with record timestamps shifted by −24 h, −5 min and +5 min
//! gets the same guardrail outcomes (retry or not, which guardrails changed the answer) as with
//! current timestamps, through `POST /failures` and through the upstream pair `POST /attempt`
//! + `POST /recommendation`, each on a real HTTP socket.

use crate::common;

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use common::{Api, Served};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/retry";
const JOBS: usize = 30;
const ROUNDS: u32 = 3;
const SHIFTS_MIN: [i64; 3] = [-24 * 60, -5, 5];

/// Guardrails tight enough that the token bucket, the tenant quota and the circuit breaker all
/// change answers within one small workload; the bucket barely refills, so the few seconds a
/// run takes do not change what it sees.
fn guardrails() -> String {
    json!({
        "per_tenant_limits": true,
        "tenant_quota_per_minute": 20,
        "retry_budget": {"enabled": true, "capacity": 50.0, "refill_per_second": 0.01},
        "circuit_breaker": {"enabled": true, "failure_rate_threshold": 0.5, "min_samples": 5,
                            "window_ms": 60_000, "open_ms": 10_000},
    })
    .to_string()
}

/// What a decision said, as far as the guardrails go.
type Outcome = (bool, Vec<String>);

fn outcome(rec: &Value) -> Outcome {
    let mut names: Vec<String> = rec["policy_guardrails"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| g.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    (rec["should_retry"].as_bool().unwrap(), names)
}

fn record(job: usize, attempt: u32, at: DateTime<Utc>) -> Value {
    json!({
        "job_id": format!("job-{job}"), "job_type": "email", "attempt_number": attempt,
        "error_class": "timeout", "queue": "q", "tenant": format!("t{}", job % 2),
        "delay_ms": if attempt > 1 { 2000 } else { 0 },
        "success": false, "timestamp": at.to_rfc3339(),
    })
}

struct Run {
    server: Served,
    client: reqwest::Client,
}

impl Run {
    async fn start() -> Self {
        let server = Served::start(Api::memory().await.state).await;
        let client = reqwest::Client::new();
        let run = Self { server, client };
        let response = run
            .client
            .put(run.url("/guardrails"))
            .body(guardrails())
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        run
    }

    fn url(&self, path: &str) -> String {
        format!("{}{BASE}{path}", self.server.base)
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {value}");
        value
    }

    /// Every job fails `ROUNDS` times through `POST /failures`, the records stamped on a
    /// synthetic timeline starting at `start` (10 ms apart): the decision time is theirs.
    async fn failures(self, start: DateTime<Utc>) -> Vec<Outcome> {
        let mut out = Vec::new();
        let mut at = start;
        for attempt in 1..=ROUNDS {
            for job in 0..JOBS {
                at += Duration::milliseconds(10);
                let answer = self.post("/failures", &record(job, attempt, at)).await;
                out.push(outcome(&answer));
            }
        }
        self.server.stop().await;
        out
    }

    /// Every job fails `ROUNDS` times: the attempt is recorded with `POST /attempt`, stamped
    /// on the worker's clock (`shift` from the real one), then `POST /recommendation` decides
    /// on the service's clock.
    async fn upstream_pair(self, shift: Duration) -> Vec<Outcome> {
        let mut out = Vec::new();
        for attempt in 1..=ROUNDS {
            for job in 0..JOBS {
                let rec = record(job, attempt, Utc::now() + shift);
                self.post("/attempt", &rec).await;
                let features = json!({
                    "job_id": rec["job_id"], "job_type": "email", "error_class": "timeout",
                    "attempt_number": attempt, "queue": "q", "tenant": rec["tenant"],
                });
                out.push(outcome(&self.post("/recommendation", &features).await));
            }
        }
        self.server.stop().await;
        out
    }
}

/// The workload exercises every guardrail it is about, so equal outcomes mean something.
fn assert_guardrails_fired(outcomes: &[Outcome]) {
    for name in ["retry_budget", "tenant_quota", "circuit_breaker"] {
        assert!(
            outcomes
                .iter()
                .any(|(_, names)| names.iter().any(|n| n == name)),
            "{name} never changed an answer: {outcomes:?}"
        );
    }
}

fn assert_same(current: &[Outcome], shifted: &[Outcome], shift: i64) {
    for (i, (a, b)) in current.iter().zip(shifted).enumerate() {
        assert_eq!(
            a,
            b,
            "decision {i} (job {}, attempt {}) with timestamps shifted by {shift} min",
            i % JOBS,
            i / JOBS + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_with_shifted_timestamps_get_the_same_guardrail_outcomes() {
    let now = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
    let current = Run::start().await.failures(now).await;
    assert_guardrails_fired(&current);
    for shift in SHIFTS_MIN {
        let shifted = Run::start()
            .await
            .failures(now + Duration::minutes(shift))
            .await;
        assert_same(&current, &shifted, shift);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_on_a_skewed_clock_get_the_same_recommendation_guardrails() {
    // The tenant quota counts by the minute a retry runs in, on the service's clock: the four
    // runs (at once) are comparable only when none crosses into the next minute. They start
    // just after a minute begins; on a machine so loaded that they still cross, they run again.
    for _ in 0..3 {
        let second = Utc::now().second();
        tokio::time::sleep(std::time::Duration::from_millis(
            u64::from(60 - second) * 1000 + 200,
        ))
        .await;
        let minute = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
        let (current, a, b, c) = tokio::join!(
            async { Run::start().await.upstream_pair(Duration::zero()).await },
            async {
                let shift = Duration::minutes(SHIFTS_MIN[0]);
                Run::start().await.upstream_pair(shift).await
            },
            async {
                let shift = Duration::minutes(SHIFTS_MIN[1]);
                Run::start().await.upstream_pair(shift).await
            },
            async {
                let shift = Duration::minutes(SHIFTS_MIN[2]);
                Run::start().await.upstream_pair(shift).await
            },
        );
        // A decision's retry runs seconds after it: leave room for that too.
        if Utc::now() + Duration::seconds(15) >= minute + Duration::minutes(1) {
            continue;
        }
        assert_guardrails_fired(&current);
        for (shifted, shift) in [a, b, c].iter().zip(SHIFTS_MIN) {
            assert_same(&current, shifted, shift);
        }
        return;
    }
    panic!(
        "three tries of four runs each crossed into the next minute: the machine is too loaded to compare them"
    );
}
