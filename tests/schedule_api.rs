//! The retry schedule, alerts, events, audit, summary and OpenAPI document, through a real
//! `retryctl serve` stack (`server::run` with its background tasks) on a loopback socket.

use chrono::{DateTime, Duration, Utc};
use retryctl::config::{Config, Role, Token};
use retryctl::model::{
    Alert, AuditEntry, ClaimResponse, EventPage, FailureResponse, JobDetail, JobPage, JobState,
    ScheduledJob, Summary,
};
use retryctl::server;
use retryctl::store::{self, StoreConfig};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running service on 127.0.0.1 with a throw-away data directory.
struct Service {
    base: String,
    http: reqwest::Client,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: tempfile::TempDir,
}

impl Service {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), tune).await
    }

    /// Stops the service (gracefully) and starts a new one on the same data directory.
    async fn restart(self) -> Self {
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
        Self::start_in(self.dir, |_| {}).await
    }

    async fn start_in(dir: tempfile::TempDir, tune: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::defaults(dir.path().to_path_buf());
        tune(&mut config);
        let store = store::open(&StoreConfig::Sqlite {
            dir: dir.path().join("data"),
        })
        .await
        .unwrap();
        let state = server::start_state(config, store).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1/retry", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(server::run(state, listener, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            stop,
            served,
            dir,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .put(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn get_ok<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_value(body).unwrap()
    }

    async fn post_ok<T: serde::de::DeserializeOwned>(&self, path: &str, body: Value) -> T {
        let (status, body) = self.post(path, body).await;
        assert_eq!(status, 200, "POST {path}: {body}");
        serde_json::from_value(body).unwrap()
    }

    /// Reports a failure of `job` at `at` and returns the answer.
    async fn fail(&self, job: &str, attempt: u32, at: DateTime<Utc>) -> FailureResponse {
        let body = json!({
            "job_id": job, "job_type": "email", "attempt_number": attempt,
            "error_class": "timeout", "error_code": "504", "queue": "mail",
            "error_message": "upstream timed out", "timestamp": at,
        });
        self.post_ok("/failures", body).await
    }
}

fn t0() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

/// Asserts an error in the upstream shape whose details name `field`.
fn assert_error(status: u16, body: &Value, expected: u16, field: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected);
    assert!(
        body["error"].is_string() && body["timestamp"].is_string(),
        "{body}"
    );
    let details = body["details"].as_str().unwrap_or_default();
    assert!(
        details.contains(field),
        "details {details:?} should name {field:?}"
    );
}

#[tokio::test]
async fn a_failure_is_scheduled_at_its_timestamp_plus_the_delay() {
    let svc = Service::start().await;
    let answer = svc.fail("job-1", 1, t0()).await;
    assert_eq!(answer.job_id, "job-1");
    assert!(answer.recommendation.should_retry, "{answer:?}");
    assert_eq!(answer.state, JobState::Scheduled);
    let expected = t0() + Duration::milliseconds(answer.recommendation.delay_ms as i64);
    assert_eq!(answer.next_attempt_at, Some(expected));

    let page: JobPage = svc.get_ok("/jobs?queue=mail&state=scheduled").await;
    assert_eq!(page.jobs.len(), 1);
    assert_eq!(page.jobs[0].next_attempt_at, Some(expected));
    assert_eq!(page.jobs[0].last_error, "upstream timed out");
    let detail: JobDetail = svc.get_ok("/jobs/job-1").await;
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(detail.attempts[0].timestamp, t0());

    let stop: FailureResponse = svc
        .post_ok("/failures", json!({"job_id": "bad-input", "job_type": "email", "error_class": "validation", "error_code": "400"}))
        .await;
    assert!(!stop.recommendation.should_retry, "{stop:?}");
    assert_eq!(
        (stop.state, stop.next_attempt_at),
        (JobState::Exhausted, None)
    );

    let (status, body) = svc.get("/jobs?state=sleeping").await;
    assert_error(status, &body, 400, "state");
    let (status, body) = svc.get("/jobs?limit=0").await;
    assert_error(status, &body, 400, "limit");
    let (status, body) = svc
        .post(
            "/failures",
            json!({"job_id": "x", "error_class": "timeout"}),
        )
        .await;
    assert_error(status, &body, 400, "job_type");
}

#[tokio::test]
async fn override_errors_name_the_field() {
    let svc = Service::start().await;
    svc.fail("job-o", 1, Utc::now()).await;
    let cases = [
        (json!({"delay_ms": 1000}), "reason"),
        (json!({"reason": "incident 42"}), "delay_ms"),
        (
            json!({"delay": "in a bit", "reason": "incident 42"}),
            "delay",
        ),
        (json!({"delay_ms": -5, "reason": "incident 42"}), "delay_ms"),
        (json!({"at": "tomorrow", "reason": "incident 42"}), "at"),
        (
            json!({"delay_ms": 5, "at": "2026-01-01T00:00:00Z", "reason": "x"}),
            "delay_ms",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = svc.post("/jobs/job-o/override", body.clone()).await;
        assert_error(status, &answer, 400, field);
    }
    let (status, body) = svc
        .post("/jobs/nope/override", json!({"delay_ms": 1, "reason": "r"}))
        .await;
    assert_error(status, &body, 404, "nope");
    svc.post_ok::<ScheduledJob>("/jobs/job-o/kill", json!({"reason": "poison message"}))
        .await;
    let (status, body) = svc
        .post(
            "/jobs/job-o/override",
            json!({"delay_ms": 1, "reason": "r"}),
        )
        .await;
    assert_error(status, &body, 409, "killed");
}

#[tokio::test]
async fn a_killed_job_stays_killed_when_its_first_attempt_fails_again_also_after_a_restart() {
    let svc = Service::start().await;
    svc.fail("job-k", 1, t0()).await;
    svc.post_ok::<ScheduledJob>("/jobs/job-k/kill", json!({"reason": "poison message"}))
        .await;
    let again = svc.fail("job-k", 1, t0() + Duration::seconds(5)).await;
    assert_eq!(again.state, JobState::Killed);
    assert_eq!(again.next_attempt_at, None);
    let svc = svc.restart().await;
    let after_restart = svc.fail("job-k", 1, t0() + Duration::seconds(10)).await;
    assert_eq!(
        after_restart.state,
        JobState::Killed,
        "the restart forgot the kill"
    );
    let fresh = svc.fail("job-new", 1, t0() + Duration::seconds(10)).await;
    assert_eq!(fresh.state, JobState::Scheduled);
}

#[tokio::test]
async fn operator_actions_change_the_job_and_are_audited() {
    let svc = Service::start().await;
    svc.fail("job-a", 1, Utc::now()).await;
    let before = Utc::now();
    let job: ScheduledJob = svc
        .post_ok(
            "/jobs/job-a/override",
            json!({"delay": "2m", "reason": "dependency down"}),
        )
        .await;
    let next = job.next_attempt_at.unwrap();
    assert!(next >= before + Duration::seconds(119) && next <= Utc::now() + Duration::seconds(121));
    assert_eq!(job.r#override.as_ref().unwrap().actor, "operator:local");

    let job: ScheduledJob = svc
        .post_ok(
            "/jobs/job-a/apply",
            json!({"use_static": true, "reason": "back to static"}),
        )
        .await;
    assert!(job.r#override.is_none());
    assert_eq!(job.recommendation.method.as_str(), "static");

    let job: ScheduledJob = svc.post_ok("/jobs/job-a/retry-now", json!({})).await;
    assert!(job.next_attempt_at.unwrap() <= Utc::now());
    let job: ScheduledJob = svc
        .post_ok("/jobs/job-a/kill", json!({"reason": "poison"}))
        .await;
    assert_eq!((job.state, job.next_attempt_at), (JobState::Killed, None));

    let audit: Vec<AuditEntry> = svc.get_ok("/audit?after=0&limit=100").await;
    let actions: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("override", "job-a", "dependency down"),
            ("apply", "job-a", "back to static"),
            ("retry_now", "job-a", ""),
            ("kill", "job-a", "poison"),
        ]
    );
    assert!(audit.iter().all(|e| e.actor == "operator:local"));
    let page: Vec<AuditEntry> = svc.get_ok(&format!("/audit?after={}", audit[1].id)).await;
    assert_eq!(page.len(), 2);
}

#[tokio::test]
async fn claims_are_exclusive_under_concurrency_and_expired_leases_come_back() {
    let svc = Service::start().await;
    let past = Utc::now() - Duration::hours(1);
    for i in 0..20 {
        svc.fail(&format!("c-{i:02}"), 1, past).await;
    }
    let claims = (0..8).map(|w| {
        let body = json!({"worker": format!("w{w}"), "limit": 5, "lease_ms": 60_000});
        svc.post_ok::<ClaimResponse>("/claim", body)
    });
    let answers = futures::future::join_all(claims).await;
    let ids: Vec<String> = answers
        .iter()
        .flat_map(|a| a.jobs.iter().map(|j| j.job_id.clone()))
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 20, "every due job claimed once: {ids:?}");
    assert_eq!(unique.len(), 20);

    let again: ClaimResponse = svc
        .post_ok("/claim", json!({"worker": "late", "limit": 50}))
        .await;
    assert!(again.jobs.is_empty(), "leases still hold");
    let after_lease = Utc::now() + Duration::minutes(2);
    let body = json!({"worker": "rescuer", "limit": 50, "now": after_lease});
    let rescued: ClaimResponse = svc.post_ok("/claim", body).await;
    assert_eq!(rescued.jobs.len(), 20, "expired leases are claimable again");
    assert!(
        rescued
            .jobs
            .iter()
            .all(|j| j.claimed_by.as_deref() == Some("rescuer"))
    );

    let (status, body) = svc
        .post("/claim", json!({"worker": "w", "lease_ms": 0}))
        .await;
    assert_error(status, &body, 400, "lease_ms");
}

#[tokio::test]
async fn a_recorded_success_finishes_the_scheduled_job() {
    let svc = Service::start().await;
    svc.fail("job-s", 1, t0()).await;
    let pending: JobDetail = svc.get_ok("/jobs/job-s").await;
    assert!(!pending.timeline.is_empty(), "a pending job has a plan");
    let success = json!({
        "job_id": "job-s", "job_type": "email", "attempt_number": 2, "queue": "mail",
        "error_class": "timeout", "delay_ms": 1000, "success": true,
        "timestamp": t0() + Duration::seconds(2),
    });
    let (status, body) = svc.post("/attempt", success).await;
    assert_eq!(status, 200, "{body}");
    let detail: JobDetail = svc.get_ok("/jobs/job-s").await;
    assert_eq!(
        (detail.job.state, detail.job.next_attempt_at),
        (JobState::Succeeded, None)
    );
    assert_eq!(detail.attempts.len(), 2);
    assert_eq!(detail.timeline, vec![], "a finished job plans nothing");
    let summary: Summary = svc.get_ok("/summary").await;
    assert_eq!(
        (
            summary.status.processed,
            summary.status.errors,
            summary.status.total
        ),
        (1, 0, 1)
    );
}

/// A batch of successes finishes every pending job it names (one store write for all of
/// them), at each job's first success; jobs it does not name stay scheduled.
#[tokio::test]
async fn a_batch_of_successes_finishes_each_pending_job_once() {
    let svc = Service::start().await;
    for job in ["b-1", "b-2", "b-3"] {
        svc.fail(job, 1, t0()).await;
    }
    let success = |job: &str, secs: i64| {
        json!({
            "job_id": job, "job_type": "email", "attempt_number": 2, "queue": "mail",
            "error_class": "timeout", "delay_ms": 1000, "success": true,
            "timestamp": t0() + Duration::seconds(secs),
        })
    };
    let batch = json!([
        success("b-1", 5),
        success("b-2", 3),
        success("b-1", 4),
        success("x", 1)
    ]);
    let (status, body) = svc.post("/attempts", batch).await;
    assert_eq!(status, 200, "{body}");
    for (job, secs) in [("b-1", 4), ("b-2", 3)] {
        let detail: JobDetail = svc.get_ok(&format!("/jobs/{job}")).await;
        assert_eq!(detail.job.state, JobState::Succeeded, "{job}");
        assert_eq!(
            detail.job.updated_at,
            t0() + Duration::seconds(secs),
            "{job}"
        );
    }
    let untouched: JobDetail = svc.get_ok("/jobs/b-3").await;
    assert_eq!(untouched.job.state, JobState::Scheduled);
    let summary: Summary = svc.get_ok("/summary").await;
    assert_eq!((summary.status.processed, summary.status.total), (2, 3));
}

#[tokio::test]
async fn after_a_restart_the_schedule_alerts_and_audit_are_still_there() {
    let svc = Service::start().await;
    svc.fail("job-r", 1, t0()).await;
    svc.post_ok::<ScheduledJob>("/jobs/job-r/retry-now", json!({"reason": "test"}))
        .await;
    svc.put("/guardrails", json!({"emergency_stop": true}))
        .await;
    wait_for_alert(&svc, "emergency_stop", true).await;

    let svc = svc.restart().await;
    let alerts: Vec<Alert> = svc.get_ok("/alerts").await;
    assert!(
        alerts.iter().any(|a| a.id == "emergency_stop"),
        "{alerts:?}"
    );
    let audit: Vec<AuditEntry> = svc.get_ok("/audit").await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "retry_now" && e.target == "job-r")
    );
    let success = json!({
        "job_id": "job-r", "job_type": "email", "attempt_number": 2, "queue": "mail",
        "delay_ms": 1000, "success": true, "timestamp": t0() + Duration::seconds(2),
    });
    let (status, body) = svc.post("/attempts", json!([success])).await;
    assert_eq!(status, 200, "{body}");
    let detail: JobDetail = svc.get_ok("/jobs/job-r").await;
    assert_eq!(
        detail.job.state,
        JobState::Succeeded,
        "the restarted service knows the job is pending"
    );
}

/// Sends `body` to `path` with a bearer token; answers the status.
async fn status_as(
    svc: &Service,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> u16 {
    let req = svc
        .http
        .request(method, format!("{}{path}", svc.base))
        .bearer_auth(token);
    req.json(&body).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn roles_limit_the_schedule_and_the_audit_names_the_token() {
    let svc = Service::start_with(|c| {
        for (name, role, token) in [
            ("alice", Role::Operator, "op-secret"),
            ("vic", Role::Viewer, "view-secret"),
            ("wendy", Role::Worker, "work-secret"),
        ] {
            c.tokens.push(Token {
                name: name.into(),
                role,
                token: token.into(),
            });
        }
    })
    .await;
    use reqwest::Method as M;
    let failure =
        json!({"job_id": "r-1", "job_type": "email", "error_class": "timeout", "queue": "mail"});
    assert_eq!(
        status_as(&svc, "work-secret", M::POST, "/failures", failure.clone()).await,
        200
    );
    assert_eq!(
        status_as(&svc, "view-secret", M::POST, "/failures", failure).await,
        403
    );
    let ov = json!({"delay_ms": 1000, "reason": "incident"});
    assert_eq!(
        status_as(
            &svc,
            "view-secret",
            M::POST,
            "/jobs/r-1/override",
            ov.clone()
        )
        .await,
        403
    );
    assert_eq!(
        status_as(
            &svc,
            "work-secret",
            M::POST,
            "/jobs/r-1/override",
            ov.clone()
        )
        .await,
        403
    );
    assert_eq!(
        status_as(&svc, "work-secret", M::GET, "/jobs", Value::Null).await,
        403
    );
    assert_eq!(
        status_as(&svc, "view-secret", M::GET, "/jobs", Value::Null).await,
        200
    );
    assert_eq!(
        status_as(
            &svc,
            "view-secret",
            M::POST,
            "/claim",
            json!({"worker": "v"})
        )
        .await,
        403
    );
    assert_eq!(
        status_as(
            &svc,
            "work-secret",
            M::POST,
            "/claim",
            json!({"worker": "w"})
        )
        .await,
        200
    );
    assert_eq!(
        status_as(&svc, "nobody", M::GET, "/summary", Value::Null).await,
        401
    );
    assert_eq!(
        status_as(&svc, "op-secret", M::POST, "/jobs/r-1/override", ov).await,
        200
    );
    let audit = svc
        .http
        .get(format!("{}/audit", svc.base))
        .bearer_auth("view-secret");
    let audit: Vec<AuditEntry> = audit.send().await.unwrap().json().await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "operator:alice");
    let summary = svc
        .http
        .get(format!("{}/summary", svc.base))
        .bearer_auth("view-secret");
    let summary: Summary = summary.send().await.unwrap().json().await.unwrap();
    assert_eq!(summary.role, "viewer");
}

async fn wait_for_alert(svc: &Service, id: &str, active: bool) -> Alert {
    for _ in 0..100 {
        let alerts: Vec<Alert> = svc.get_ok("/alerts").await;
        if let Some(a) = alerts
            .into_iter()
            .find(|a| a.id == id && a.active == active)
        {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("alert {id} never became active={active}");
}

#[tokio::test]
async fn emergency_stop_raises_an_alert_that_resolves_when_released() {
    let svc = Service::start().await;
    let (status, body) = svc
        .put("/guardrails", json!({"emergency_stop": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let raised = wait_for_alert(&svc, "emergency_stop", true).await;
    assert_eq!(raised.name, "emergency_stop");
    let summary: Summary = svc.get_ok("/summary").await;
    assert!(summary.alerts.iter().any(|a| a.id == "emergency_stop"));

    let acked: Alert = svc
        .post_ok("/alerts/emergency_stop/ack", json!({"reason": "on it"}))
        .await;
    assert_eq!(acked.acked_by.as_deref(), Some("operator:local"));
    let (status, body) = svc.post("/alerts/nope/ack", json!({})).await;
    assert_error(status, &body, 404, "nope");

    svc.put("/guardrails", json!({"emergency_stop": false}))
        .await;
    let resolved = wait_for_alert(&svc, "emergency_stop", false).await;
    assert!(resolved.resolved_at.is_some());
    let events: EventPage = svc.get_ok("/events?since=0&limit=1000").await;
    let alert_events: Vec<&str> = events
        .events
        .iter()
        .filter(|e| e.kind == "alert")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(alert_events.len(), 2, "{alert_events:?}");
    assert!(
        alert_events[0].starts_with("alert raised")
            && alert_events[1].starts_with("alert resolved")
    );
}

/// The fall-back-tier alert follows the configured thresholds: three static answers are
/// enough when the config says so (the default needs 20).
#[tokio::test]
async fn fallback_alert_thresholds_come_from_the_config() {
    let svc = Service::start_with(|c| {
        c.strategy.policies.retain(|p| p.name == "rate_limit");
        c.alerts.fallback_min_recommendations = 3;
        c.alerts.fallback_static_share = 0.5;
    })
    .await;
    let features = json!({"job_type": "email", "error_class": "timeout", "attempt_number": 1});
    for _ in 0..3 {
        let (status, body) = svc.post("/recommendation", features.clone()).await;
        assert_eq!(
            (status, body["method"].as_str()),
            (200, Some("static")),
            "{body}"
        );
    }
    let alert = wait_for_alert(&svc, "fallback_tier:static", true).await;
    assert!(alert.message.contains("3 of 3"), "{}", alert.message);
}

#[tokio::test]
async fn a_retry_storm_on_a_queue_raises_its_alert() {
    let svc = Service::start_with(|c| {
        c.alerts.retry_storm_queues.insert("mail".into(), 2);
    })
    .await;
    for attempt in 2..=4 {
        svc.fail("storm", attempt, Utc::now()).await;
    }
    let alert = wait_for_alert(&svc, "retry_storm:mail", true).await;
    assert_eq!(alert.labels["queue"], "mail");
    assert!(alert.message.contains("3 retries"), "{}", alert.message);
    let alerts: Vec<Alert> = svc.get_ok("/alerts?active=true").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
}

#[tokio::test]
async fn the_events_cursor_pages_without_gaps_or_repeats() {
    let svc = Service::start().await;
    for i in 0..3 {
        svc.fail(&format!("e-{i}"), 1, t0()).await;
    }
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let page: EventPage = svc.get_ok(&format!("/events?since={cursor}&limit=2")).await;
        if page.events.is_empty() {
            assert_eq!(page.cursor, cursor);
            break;
        }
        assert!(page.events.len() <= 2);
        seen.extend(page.events.iter().map(|e| (e.seq, e.kind.clone())));
        cursor = page.cursor;
    }
    let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let failures = seen.iter().filter(|(_, k)| k == "failure").count();
    let scheduled = seen.iter().filter(|(_, k)| k == "scheduled").count();
    assert_eq!((failures, scheduled), (3, 3));
    let page: EventPage = svc.get_ok("/events?since=0&limit=1000").await;
    assert!(page.events[0].message.contains("upstream timed out"));
    let (status, body) = svc.get("/events?since=-1").await;
    assert_error(status, &body, 400, "since");
}

/// `name{labels} value` lines of the OpenMetrics text, keyed by `name{labels}`.
fn metric_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse::<f64>().ok()? as u64)))
        .collect()
}

#[tokio::test]
async fn summary_counters_equal_the_metrics_endpoint() {
    let svc = Service::start().await;
    svc.fail("m-1", 1, t0()).await;
    svc.fail("m-1", 2, t0() + Duration::seconds(3)).await;
    svc.post_ok::<ScheduledJob>("/jobs/m-1/retry-now", json!({}))
        .await;
    let summary: Summary = svc.get_ok("/summary").await;
    let text = svc
        .http
        .get(format!("{}/metrics", svc.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = metric_values(&text);
    let c = &summary.counters;
    for (method, n) in &c.recommendations_by_method {
        assert_eq!(
            metrics[&format!("retryctl_recommendations_total{{method=\"{method}\"}}")],
            *n
        );
    }
    for (outcome, n) in &c.attempts_by_outcome {
        assert_eq!(
            metrics[&format!("retryctl_attempts_total{{outcome=\"{outcome}\"}}")],
            *n
        );
    }
    assert_eq!(metrics["retryctl_retries_total"], c.retries);
    assert_eq!(metrics["retryctl_overrides_total"], c.overrides);
    assert_eq!(metrics["retryctl_fallbacks_total"], c.fallbacks);
    assert_eq!(c.attempts_by_outcome["failure"], 2);
    assert_eq!(c.retries, 1);
    assert_eq!(c.overrides, 1);
    assert_eq!(c.recommendations_by_method.values().sum::<u64>(), 2);
    assert_eq!(summary.comparison.recommendations, 2);
    assert_eq!(summary.status.total, 1);
    assert_eq!(summary.jobs_by_state.get("scheduled"), Some(&1));
    assert_eq!(summary.recent_errors.len(), 2);
    assert_eq!(summary.role, "operator");
}
