//! The runbook verbs (`jobs`, `job`, `kill`, `retry-now`, `bulk`, `pause`, `pauses`, `resume`,
//! `estop`, `ack`, `changes`) run as the real binary against a real `retryctl serve` with
//! access tokens: each verb's happy path and a bad input, `--json` parsed back into the wire
//! types, the bulk confirmation refused without a terminal, a pause and its resume.

use crate::common::service::Service;
use retryctl::model::{
    Alert, AuditEntry, BulkResult, EmergencyStopState, JobPage, JobState, Pause, ScheduledJob,
};
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};

const OPERATOR: &str = "op-secret-11";
const VIEWER: &str = "viewer-secret-11";
const WORKER: &str = "worker-secret-11";

/// A service with the three roles' tokens; more than 2 jobs at once need `confirm`.
fn start(dir: &tempfile::TempDir) -> Service {
    let config = dir.path().join("retryctl.toml");
    std::fs::write(&config, "[limits]\nbulk_confirm_over = 2\n").unwrap();
    let config = config.to_str().unwrap().to_string();
    Service::start_with(
        &dir.path().join("data"),
        &[
            ("RETRYCTL_OPERATOR_TOKEN", OPERATOR),
            ("RETRYCTL_VIEWER_TOKEN", VIEWER),
            ("RETRYCTL_WORKER_TOKEN", WORKER),
            ("RETRYCTL_CONFIG", &config),
        ],
    )
}

/// Runs `retryctl ARGS` as the operator, stdin not a terminal.
fn run(svc: &Service, args: &[&str]) -> Output {
    run_as(svc, OPERATOR, args)
}

fn run_as(svc: &Service, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(args)
        .env("RETRYCTL_API", svc.api())
        .env("RETRYCTL_TOKEN", token)
        .env("RETRYCTL_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run retryctl")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The verb's stderr, after checking it was refused with exit status 2.
fn refused(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

fn parse<T: serde::de::DeserializeOwned>(out: &Output) -> T {
    let text = ok(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Reports a first failure of `id` on `queue` (which puts it on the schedule).
async fn fail(svc: &Service, id: &str, queue: &str, class: &str) {
    let body = json!({
        "job_id": id, "job_type": "webhook", "error_class": class, "error_code": "503",
        "error_message": format!("{class} from vendor"), "queue": queue, "attempt_number": 1,
    });
    let resp = reqwest::Client::new()
        .post(svc.url("/failures"))
        .bearer_auth(WORKER)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{resp:?}");
}

async fn get(svc: &Service, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(svc.url(path))
        .bearer_auth(VIEWER)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "GET {path}: {resp:?}");
    resp.json().await.unwrap()
}

async fn state_of(svc: &Service, id: &str) -> String {
    get(svc, &format!("/jobs/{id}")).await["job"]["state"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_job_kill_and_retry_now() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&dir);
    for id in ["wh-1", "wh-2", "wh-3"] {
        fail(&svc, id, "webhooks", "connection_refused").await;
    }
    fail(&svc, "pay-1", "payments", "timeout").await;

    let text = ok(&run(&svc, &["jobs", "--queue", "webhooks"]));
    assert!(text.starts_with("JOB "), "{text}");
    assert!(text.contains("wh-2") && !text.contains("pay-1"), "{text}");
    assert!(
        text.ends_with("3 of 3 jobs matching queue:webhooks\n"),
        "{text}"
    );
    let page: JobPage = parse(&run(&svc, &["jobs", "--error-class", "timeout", "--json"]));
    assert_eq!(page.total, 1);
    assert_eq!(page.jobs[0].job_id, "pay-1");
    let page: JobPage = parse(&run_as(&svc, VIEWER, &["jobs", "--limit", "2", "--json"]));
    assert_eq!((page.jobs.len(), page.total), (2, 4));
    let err = refused(&run(&svc, &["jobs", "--limit", "0"]));
    assert!(err.contains("--limit"), "{err}");

    let killed: Vec<ScheduledJob> = parse(&run(
        &svc,
        &["kill", "wh-1", "--reason", "poison payload", "--json"],
    ));
    assert_eq!(killed[0].state, JobState::Killed);
    let text = ok(&run(
        &svc,
        &["retry-now", "wh-2", "--reason", "vendor back"],
    ));
    assert_eq!(text, "wh-2 is due now\n");

    let text = ok(&run(&svc, &["job", "wh-1"]));
    assert!(text.starts_with("job wh-1  killed  attempt 1/"), "{text}");
    for part in [
        "\nattempts\n",
        "\nplan\n",
        "\naudit\n",
        "kill",
        "poison payload",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let detail: Value = parse(&run(&svc, &["job", "wh-2", "--json"]));
    assert_eq!(detail["job"]["job_id"], "wh-2");
    let audit: Vec<AuditEntry> = serde_json::from_value(detail["audit"].clone()).unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].reason.as_str()),
        ("retry_now", "vendor back")
    );
    assert!(detail["attempts"].as_array().is_some_and(|a| a.len() == 1));

    // A finished job, an unknown one, a viewer and an empty reason are refused, by name.
    let out = run(
        &svc,
        &["kill", "wh-1", "wh-3", "nope", "--reason", "cleanup"],
    );
    let err = refused(&out);
    assert!(err.contains("kill wh-1") && err.contains("409"), "{err}");
    assert!(err.contains("kill nope") && err.contains("404"), "{err}");
    assert!(err.contains("2 of 3 jobs not changed"), "{err}");
    assert_eq!(ok_stdout(&out), "killed wh-3 (after attempt 1/3)\n");
    let err = refused(&run_as(&svc, VIEWER, &["kill", "pay-1", "--reason", "x"]));
    assert!(err.contains("kill pay-1") && err.contains("403"), "{err}");
    let err = refused(&run(&svc, &["retry-now", "pay-1", "--reason", " "]));
    assert!(err.contains("retry-now: --reason"), "{err}");
    assert_eq!(state_of(&svc, "pay-1").await, "scheduled");
    let err = refused(&run(&svc, &["job", "nope"]));
    assert!(err.contains("job nope") && err.contains("404"), "{err}");
}

fn ok_stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_asks_for_confirmation_and_passes_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&dir);
    for id in ["wh-1", "wh-2", "wh-3"] {
        fail(&svc, id, "webhooks", "connection_refused").await;
    }
    fail(&svc, "pay-1", "payments", "timeout").await;
    let kill = [
        "bulk",
        "kill",
        "--queue",
        "webhooks",
        "--error-class",
        "connection_refused",
        "--reason",
        "vendor gone, INC-42",
    ];

    let text = ok(&run(&svc, &[&kill[..], &["--dry-run"]].concat()));
    assert_eq!(
        text,
        "dry run: bulk kill would change 3 of 3 jobs matching queue:webhooks \
         error_class:connection_refused; the service asks to confirm this count\n"
    );
    let err = refused(&run(&svc, &kill));
    assert!(
        err.contains("3 pending jobs match") && err.contains("stdin is not one"),
        "{err}"
    );
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(state_of(&svc, "wh-1").await, "scheduled", "nothing changed");

    // Over bulk_confirm_over (2), the service needs `confirm`: the CLI sends the count.
    let done: BulkResult = parse(&run(&svc, &[&kill[..], &["--yes", "--json"]].concat()));
    assert_eq!((done.matched, done.changed, done.dry_run), (3, 3, false));
    assert!(done.needs_confirm && done.audit_id.is_some(), "{done:?}");
    assert_eq!(state_of(&svc, "wh-2").await, "killed");
    assert_eq!(state_of(&svc, "pay-1").await, "scheduled");
    let text = ok(&run(&svc, &[&kill[..], &["--yes"]].concat()));
    assert!(
        text.contains("none of the 3 jobs") && text.contains("nothing changed"),
        "{text}"
    );

    let text = ok(&run(
        &svc,
        &[
            "bulk", "override", "--queue", "payments", "--delay", "10m", "--reason", "hold",
            "--yes",
        ],
    ));
    assert!(
        text.starts_with("bulk override: changed 1 of 1 jobs"),
        "{text}"
    );

    let err = refused(&run(&svc, &["bulk", "retry-now", "--reason", "x", "--yes"]));
    assert!(err.contains("name the jobs with a filter"), "{err}");
    let err = refused(&run(
        &svc,
        &[
            "bulk", "override", "--queue", "payments", "--reason", "x", "--yes",
        ],
    ));
    assert!(err.contains("--delay is required"), "{err}");
    let err = refused(&run(
        &svc,
        &[
            "bulk",
            "override",
            "--queue",
            "payments",
            "--delay",
            "10 parsecs",
            "--reason",
            "x",
            "--yes",
        ],
    ));
    assert!(
        err.contains("bulk override") && err.contains("delay"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pause_then_its_resume() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&dir);
    fail(&svc, "hook-1", "webhooks", "connection_refused").await;
    let text = ok(&run(
        &svc,
        &[
            "pause",
            "--queue",
            "webhooks",
            "--error-class",
            "connection_refused",
            "--for",
            "10m",
            "--reason",
            "vendor outage INC-42",
        ],
    ));
    assert!(
        text.starts_with("paused webhooks/connection_refused until ")
            && (text.contains("(in 9m5") || text.contains("(in 10m00s)")),
        "{text}"
    );
    let pause: Pause = parse(&run(
        &svc,
        &[
            "pause",
            "--queue",
            "payments",
            "--reason",
            "db failover",
            "--json",
        ],
    ));
    assert!(pause.until.is_none(), "no end given: until resumed");
    let text = ok(&run(&svc, &["jobs", "--queue", "webhooks"]));
    assert!(
        text.contains("paused (9m5") || text.contains("paused (10m00s"),
        "{text}"
    );
    let text = ok(&run(&svc, &["job", "hook-1"]));
    assert!(
        text.contains("left) by pause p-") && text.contains("vendor outage INC-42"),
        "{text}"
    );
    let listed: Vec<Pause> = parse(&run_as(&svc, VIEWER, &["pauses", "--json"]));
    assert_eq!(listed.len(), 2);
    let text = ok(&run(&svc, &["pauses"]));
    assert!(
        text.starts_with("ID ") && text.contains("vendor outage INC-42"),
        "{text}"
    );

    let text = ok(&run(
        &svc,
        &["resume", "--queue", "webhooks", "--reason", "vendor back"],
    ));
    assert!(
        text.starts_with("resumed webhooks/connection_refused (pause "),
        "{text}"
    );
    let ended: Pause = parse(&run(
        &svc,
        &["resume", &pause.id, "--reason", "failover done", "--json"],
    ));
    assert_eq!(ended.id, pause.id);
    assert_eq!(ok(&run(&svc, &["pauses"])), "no pauses in force\n");
    let audit = get(&svc, "/changes?kind=pause").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["resume", "resume", "pause", "pause"]);

    let err = refused(&run(
        &svc,
        &["resume", "--queue", "webhooks", "--reason", "x"],
    ));
    assert!(err.contains("no pause in force on queue webhooks"), "{err}");
    let err = refused(&run(&svc, &["resume", "p-nope", "--reason", "x"]));
    assert!(
        err.contains("resume p-nope") && err.contains("404"),
        "{err}"
    );
    let err = refused(&run(
        &svc,
        &["pause", "--queue", "q", "--for", "10", "--reason", "x"],
    ));
    assert!(err.contains("no unit"), "{err}");
    let err = refused(&run(&svc, &["pause", "--queue", "", "--reason", "x"]));
    assert!(err.contains("pause") && err.contains("queue"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn estop_ack_and_changes() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&dir);
    let text = ok(&run(
        &svc,
        &["estop", "on", "--reason", "retries hurt the db"],
    ));
    assert!(text.starts_with("emergency stop engaged"), "{text}");
    let again: EmergencyStopState =
        parse(&run(&svc, &["estop", "on", "--reason", "still", "--json"]));
    assert!(again.engaged && !again.changed);
    ok(&run(&svc, &["estop", "off", "--reason", "db recovered"]));
    let err = refused(&run(&svc, &["estop", "maybe", "--reason", "x"]));
    assert!(err.contains("maybe"), "{err}");

    let changes: Vec<AuditEntry> = parse(&run_as(
        &svc,
        VIEWER,
        &[
            "changes",
            "--since",
            "1h",
            "--kind",
            "emergency_stop",
            "--json",
        ],
    ));
    let reasons: Vec<&str> = changes.iter().map(|c| c.reason.as_str()).collect();
    assert_eq!(reasons, ["db recovered", "retries hurt the db"]);
    let text = ok(&run(&svc, &["changes", "--limit", "1"]));
    assert!(
        text.starts_with("AT ") && text.contains("db recovered"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
    let err = refused(&run(&svc, &["changes", "--since", "yesterday"]));
    assert!(
        err.contains("--since") && err.contains("yesterday"),
        "{err}"
    );
    let err = refused(&run(&svc, &["changes", "--kind", "nonsense"]));
    assert!(err.contains("changes") && err.contains("nonsense"), "{err}");

    // A pause raises an info alert while it holds: acknowledge it.
    ok(&run(
        &svc,
        &["pause", "--queue", "webhooks", "--reason", "vendor"],
    ));
    let id = active_alert(&svc).await;
    let acked: Alert = parse(&run(&svc, &["ack", &id, "--reason", "known", "--json"]));
    assert!(acked.acked_by.is_some_and(|by| by.starts_with("operator")));
    let err = refused(&run(&svc, &["ack", "no-such-alert", "--reason", "x"]));
    assert!(
        err.contains("ack no-such-alert") && err.contains("404"),
        "{err}"
    );
}

/// The id of the first active alert, once the service's alert loop has raised one.
async fn active_alert(svc: &Service) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let alerts: Vec<Alert> = serde_json::from_value(get(svc, "/alerts").await).unwrap();
        if let Some(a) = alerts.iter().find(|a| a.active) {
            return a.id.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no active alert: {alerts:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[test]
fn an_unreachable_service_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let out = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["pauses", "--api", &url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("pauses") && err.contains(&url), "{err}");
}

#[test]
fn tokens_can_come_from_files_for_the_service_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("operator.token");
    std::fs::write(&token_file, format!("{OPERATOR}\n")).unwrap();
    let path = token_file.to_str().unwrap();
    let svc = Service::start_with(
        &dir.path().join("data"),
        &[("RETRYCTL_OPERATOR_TOKEN_FILE", path)],
    );
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_retryctl"))
            .args(args)
            .env("RETRYCTL_API", svc.api())
            .env_remove("RETRYCTL_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("run retryctl")
    };
    let pauses: Vec<Pause> = parse(&cli(&["pauses", "--json", "--token-file", path]));
    assert!(pauses.is_empty());
    let stderr = refused(&cli(&["pauses", "--token", "wrong-token-1"]));
    assert!(stderr.contains("401"), "{stderr}");
    let missing = cli(&["pauses", "--token-file", "/nonexistent/op.token"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        stderr.contains("cannot read the token file /nonexistent/op.token"),
        "{stderr}"
    );
}

/// Forcing a circuit open holds its jobs: `jobs` and `job` say so (not "due 5s ago"), the
/// plan's first step names the circuit, and after the release they read as scheduled again.
#[tokio::test(flavor = "multi_thread")]
async fn circuit_forces_lists_and_releases() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&dir);
    fail(&svc, "hook-1", "webhooks", "timeout").await;
    fail(&svc, "hook-2", "webhooks", "connection_refused").await;
    let text = ok(&run(
        &svc,
        &[
            "circuit",
            "webhooks",
            "timeout",
            "open",
            "--reason",
            "vendor down",
        ],
    ));
    assert!(text.contains("webhooks/timeout forced open"), "{text}");
    let listed: Vec<retryctl::model::CircuitView> =
        parse(&run_as(&svc, VIEWER, &["circuits", "--json"]));
    let forced = listed[0].forced.as_ref().expect("forced");
    assert_eq!(
        (forced.reason.as_str(), listed[0].state.as_str()),
        ("vendor down", "open")
    );
    let text = ok(&run_as(&svc, VIEWER, &["circuits"]));
    assert!(
        text.contains("webhooks/timeout  open") && text.contains("vendor down"),
        "{text}"
    );
    let text = ok(&run_as(&svc, VIEWER, &["jobs", "--queue", "webhooks"]));
    let row = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or("")
            .to_string()
    };
    assert!(row("hook-1 ").contains("held: circuit open"), "{text}");
    assert!(!row("hook-2 ").contains("held"), "another class: {text}");
    let text = ok(&run_as(&svc, VIEWER, &["job", "hook-1"]));
    assert!(
        text.contains("held until released: circuit webhooks/timeout forced open")
            && text.contains("vendor down"),
        "{text}"
    );
    let detail = get(&svc, "/jobs/hook-1").await;
    let why = detail["timeline"][0]["rationale"].as_str().unwrap();
    assert!(
        why.starts_with("held by circuit webhooks/timeout forced open until released"),
        "{detail}"
    );
    let err = refused(&run_as(
        &svc,
        VIEWER,
        &["circuit", "webhooks", "timeout", "auto", "--reason", "x"],
    ));
    assert!(err.contains("403"), "{err}");
    let err = refused(&run(
        &svc,
        &["circuit", "webhooks", "timeout", "half", "--reason", "x"],
    ));
    assert!(err.contains("half"), "{err}");
    ok(&run(
        &svc,
        &[
            "circuit",
            "webhooks",
            "timeout",
            "auto",
            "--reason",
            "vendor back",
        ],
    ));
    let text = ok(&run(&svc, &["circuits"]));
    assert!(
        text.contains("no open, half-open or forced circuits"),
        "{text}"
    );
    let text = ok(&run_as(&svc, VIEWER, &["jobs", "--queue", "webhooks"]));
    assert!(!text.contains("held"), "released: {text}");
    let detail = get(&svc, "/jobs/hook-1").await;
    assert!(!detail.to_string().contains("held by circuit"), "{detail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ml_train_models_deploy_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let svc = start(&dir);
    let err = refused(&run(&svc, &["ml", "train"]));
    assert!(
        err.contains("training failed") && err.contains("at least 100"),
        "{err}"
    );
    let resp = reqwest::Client::new()
        .post(svc.url("/attempts"))
        .bearer_auth(WORKER)
        .json(&crate::ml_api::history(800, 9))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{resp:?}");

    let job: retryctl::model::MlJob = parse(&run(&svc, &["ml", "train", "--json"]));
    let version = job.model.expect("trained").version;
    assert_eq!(version, "ml-1", "a failed training stores no version");
    let text = ok(&run_as(&svc, VIEWER, &["ml", "models"]));
    assert!(text.starts_with("VERSION "), "{text}");
    assert!(text.contains("ml-1     candidate gradient_boost"), "{text}");

    let text = ok(&run(
        &svc,
        &[
            "ml", "deploy", &version, "--canary", "25", "--force", "--reason", "trial",
        ],
    ));
    assert_eq!(
        text,
        format!("deployed: serving {version} (canary, 25% of jobs); shadow none\n")
    );
    let err = refused(&run(&svc, &["ml", "deploy", "ml-9"]));
    assert!(err.contains("ml-9"), "{err}");
    let text = ok(&run(&svc, &["ml", "rollback"]));
    assert_eq!(
        text,
        format!("rolled_back: serving none (the Bayesian tier decides); shadow {version}\n")
    );
    let err = refused(&run(&svc, &["ml", "rollback"]));
    assert!(err.contains("nothing to roll back"), "{err}");
}
