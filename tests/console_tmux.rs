//! The console in a real terminal: `retryctl serve` and `retryctl tui` inside tmux, driven
//! with send-keys like an operator would (tabs, Ctrl+A, `?`, an override with a reason and the
//! plan that follows it, an export, a filter typo, a resize from 160 to 80 and 60 columns with
//! the emergency stop on, quit), checked through capture-pane, the service's
//! audit log and the exported file; and with the service stopped and restarted under it.
//!
//! Needs tmux: `apt-get install -y tmux` (the test fails, not skips, without it).

use crate::common::service;

use service::Service;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(cmd: &str, cwd: &Path, width: u16, height: u16) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "tmux is missing: install it with `apt-get install -y tmux`"
        );
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmux = Tmux {
            socket: format!("retryctl-console-test-{}-{n}", std::process::id()),
        };
        let out = tmux
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                "console",
                "-x",
                &width.to_string(),
            ])
            .args(["-y", &height.to_string(), "-c"])
            .arg(cwd)
            .arg(cmd)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "tmux new-session failed: {stderr}");
        // Esc followed quickly by a key would otherwise reach the console as Alt+key.
        let _ = tmux.cmd().args(["set", "-s", "escape-time", "0"]).status();
        tmux
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Named keys (`Enter`, `C-a`, `Tab`, `q`).
    fn keys(&self, keys: &[&str]) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "console"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Literal text.
    fn type_text(&self, text: &str) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "console", "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "console"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (up to 15 s) until the screen satisfies `ok`; fails showing the last screen.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; the screen was:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A tmux format of the pane (`#{alternate_on}`, `#{cursor_flag}`, `#{pane_pid}`).
    fn display(&self, format: &str) -> String {
        let out = self
            .cmd()
            .args(["display", "-p", "-t", "console", format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Whether the pane is showing the shell's screen with a visible cursor: the console gave
    /// the terminal back.
    fn given_back(&self) -> bool {
        self.display("#{alternate_on}") == "0" && self.display("#{cursor_flag}") == "1"
    }

    fn resize(&self, width: u16, height: u16) {
        let status = self
            .cmd()
            .args(["resize-window", "-t", "console", "-x", &width.to_string()])
            .args(["-y", &height.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_session_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Service::start(&dir.path().join("data"));
    svc.fail(
        "pay-1",
        "payment",
        "service_unavailable",
        "503 from upstream",
    )
    .await;
    svc.fail("pay-2", "payment", "service_unavailable", "503 again")
        .await;
    svc.fail(
        "evil-1",
        "email",
        "timeout",
        "boom\x1b[2J\x1b]0;owned\x07\u{202e}gnp.exe",
    )
    .await;
    let home = dir.path();
    let cmd = format!(
        "env LANG=C.UTF-8 TERM=xterm-256color HOME={h} XDG_STATE_HOME={h}/state \
         XDG_CONFIG_HOME={h}/config {bin} tui --api {api} --refresh 300ms; echo EXITED $?; sleep 30",
        h = home.display(),
        bin = env!("CARGO_BIN_EXE_retryctl"),
        api = svc.api()
    );
    let tmux = Tmux::start(&cmd, home, 160, 45);

    let screen = tmux.wait_for("data", |s| s.contains("CONNECTED") && s.contains("pay-2"));
    assert!(
        screen.contains("Strategy") && screen.contains("Analytics & alerts"),
        "{screen}"
    );
    assert!(screen.contains("(0 - 0 / 3)"), "status text: {screen}");
    // Hostile error text is visible, not executed (the title escape did not clear the screen).
    assert!(screen.contains("boom␛[2J␛]0;"), "{screen}");

    // Panes: Tab moves the focus, and the footer shows the focused pane's keys.
    tmux.keys(&["Tab"]);
    tmux.wait_for("analytics keys", |s| s.contains("A ack"));
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("live keys", |s| s.contains("o override"));

    // Ctrl+A opens the alerts dialog (and tmux's own prefix is not Ctrl+A here).
    tmux.keys(&["C-a"]);
    tmux.wait_for("alerts dialog", |s| {
        s.contains("acknowledge") && s.contains("close")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("alerts closed", |s| !s.contains("acknowledge"));
    tmux.keys(&["?"]);
    tmux.wait_for("help", |s| {
        s.contains("override the job's delay") && s.contains("ctrl+o/o")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains("override the job's delay"));

    override_with_reason(&tmux, &svc).await;
    export_yaml(&tmux, &svc, home).await;
    filter_typo(&tmux, &svc).await;

    // Resize to 80 columns: the tabbed layout.
    tmux.resize(80, 24);
    tmux.wait_for("tabs", |s| {
        s.contains("1 Strategy") && s.contains("4 Alerts")
    });
    tmux.keys(&["4"]);
    tmux.wait_for("alerts tab", |s| s.contains("╭ Alerts"));
    tmux.keys(&["1"]);
    tmux.wait_for("strategy tab", |s| s.contains("Policies (priority order)"));
    emergency_stop_on_narrow_screens(&tmux, &svc).await;
    tmux.resize(160, 45);
    tmux.wait_for("three panes again", |s| s.contains("Analytics & alerts"));

    // The service goes away and comes back: the console waits, shows why, and recovers.
    svc.stop();
    let s = tmux.wait_for("reconnecting", |s| {
        s.contains("RECONNECTING IN") && s.contains("STALE")
    });
    assert!(s.contains("pay-2"), "last data stays visible: {s}");
    svc.restart();
    // The restarted service numbers its events from 1 again, and this failure comes before the
    // console is back (it is waiting out its reconnect backoff): its cursor, ahead of the new
    // events, must be placed again for the live error stream to show it.
    svc.fail("z1", "t", "timeout", "zebra after restart").await;
    tmux.wait_for("recovered", |s| s.contains("● CONNECTED"));
    tmux.wait_for("the stream after the restart", |s| {
        s.contains("zebra after restart")
    });

    tmux.keys(&["q"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
    let log = std::fs::read_to_string(home.join("state/retryctl/console.log")).unwrap();
    let first = log.lines().find(|l| l.contains("first frame with data"));
    eprintln!("console log: {}", first.unwrap_or("no first-frame line"));
    assert!(first.is_some(), "{log}");
}

async fn override_with_reason(tmux: &Tmux, svc: &Service) {
    tmux.keys(&["/"]);
    tmux.type_text("pay-1");
    tmux.keys(&["Enter"]);
    tmux.wait_for("filtered", |s| {
        s.contains("1 of") && s.contains("Selected · pay-1")
    });
    tmux.keys(&["o"]);
    tmux.wait_for("override dialog", |s| s.contains("Next attempt of pay-1"));
    tmux.type_text("45");
    tmux.keys(&["Enter"]);
    tmux.wait_for("validation", |s| s.contains("has no unit"));
    tmux.keys(&["BSpace", "BSpace"]);
    tmux.type_text("45s");
    tmux.keys(&["Tab"]);
    tmux.type_text("incident 42: db failover");
    tmux.keys(&["Enter"]);
    tmux.wait_for("override result", |s| s.contains("override pay-1 sent"));
    // The plan starts at the overridden attempt, where the row's countdown is.
    let screen = tmux.wait_for("plan from the override", |s| {
        plan_line(s).is_some_and(|l| l.contains("#2 +") && l.contains("override"))
    });
    let plan = plan_line(&screen).unwrap();
    let first = seconds_after(plan, "#2 +").expect("first planned attempt in seconds");
    let row = screen
        .lines()
        .find(|l| l.contains("pay-1") && l.contains("retrying in"));
    let countdown = row.and_then(|r| seconds_after(r, "retrying in "));
    let countdown = countdown.expect("the row's countdown");
    assert!(
        (first - countdown).abs() <= 1.0 && first <= 45.0,
        "plan {plan:?} vs row countdown {countdown}s"
    );
    let audit = svc.get("/audit").await;
    let found = audit.as_array().unwrap().iter().any(|e| {
        e["action"] == "override"
            && e["target"] == "pay-1"
            && e["reason"] == "incident 42: db failover"
    });
    assert!(found, "audit log: {audit}");
    tmux.keys(&["/"]);
    for _ in 0.."pay-1".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.keys(&["Enter"]);
}

/// The Selected pane's plan line.
fn plan_line(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.contains(" plan ("))
}

/// The `12.3` of `…{marker}12.3s…`.
fn seconds_after(text: &str, marker: &str) -> Option<f64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    rest[..rest.find('s')?].parse().ok()
}

/// A filter the service refuses is shown by the filter; the connection stays up and the
/// list keeps updating under the last filter that worked.
async fn filter_typo(tmux: &Tmux, svc: &Service) {
    tmux.keys(&["/"]);
    tmux.type_text("state:bogus");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("filter refused", |s| s.contains("unknown state \"bogus\""));
    assert!(s.contains("● CONNECTED") && !s.contains("STALE"), "{s}");
    svc.fail("fresh-1", "payment", "timeout", "after the typo")
        .await;
    tmux.wait_for("polling goes on", |s| s.contains("fresh-1"));
    tmux.keys(&["Escape"]);
}

/// The emergency stop shows in the header at 80×24 and 60×16, whatever tab is open.
async fn emergency_stop_on_narrow_screens(tmux: &Tmux, svc: &Service) {
    let put = |on: bool| {
        reqwest::Client::new()
            .put(svc.url("/guardrails"))
            .json(&serde_json::json!({ "emergency_stop": on }))
            .send()
    };
    assert!(put(true).await.unwrap().status().is_success());
    tmux.keys(&["2"]);
    tmux.wait_for("E-STOP at 80x24", |s| {
        s.lines().next().is_some_and(|l| l.contains("E-STOP"))
    });
    tmux.resize(60, 16);
    tmux.keys(&["4"]);
    tmux.wait_for("E-STOP at 60x16", |s| {
        s.lines()
            .next()
            .is_some_and(|l| l.contains("E-STOP") && l.contains("CONNECTED"))
    });
    assert!(put(false).await.unwrap().status().is_success());
    tmux.wait_for("E-STOP released", |s| !s.contains("E-STOP"));
    tmux.resize(80, 24);
}

async fn export_yaml(tmux: &Tmux, svc: &Service, home: &Path) {
    tmux.keys(&["e"]);
    tmux.wait_for("export dialog", |s| s.contains("retryctl-config.toml"));
    for _ in 0..4 {
        tmux.keys(&["BSpace"]);
    }
    tmux.type_text("yaml");
    tmux.keys(&["Enter"]);
    let path = home.join("retryctl-config.yaml");
    tmux.wait_for("export result", |s| s.contains("exported YAML to"));
    let exported = retryctl::present::export::read(&path).unwrap();
    let live: retryctl::model::RetryStrategy =
        serde_json::from_value(svc.get("/strategy").await).unwrap();
    assert_eq!(exported.strategy, live);
}

/// The child processes of `pid` (the console, started by the pane's shell).
fn children(pid: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_terminal_is_given_back_around_ctrl_z_and_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    svc.fail("susp-1", "payment", "timeout", "gateway timeout")
        .await;
    let home = dir.path();
    let shell = format!(
        "env -i PATH=/usr/bin:/bin LANG=C.UTF-8 TERM=xterm-256color HOME={h} \
         XDG_STATE_HOME={h}/state XDG_CONFIG_HOME={h}/config PS1='shell$ ' \
         bash --norc --noprofile -i",
        h = home.display()
    );
    let tmux = Tmux::start(&shell, home, 120, 40);
    tmux.wait_for("the shell", |s| s.contains("shell$"));
    let console = format!(
        "{} tui --api {} --refresh 300ms",
        env!("CARGO_BIN_EXE_retryctl"),
        svc.api()
    );
    tmux.type_text(&console);
    tmux.keys(&["Enter"]);
    tmux.wait_for("data", |s| s.contains("CONNECTED") && s.contains("susp-1"));
    assert_eq!(tmux.display("#{alternate_on}"), "1");

    // Ctrl+Z: the shell's screen is back with its cursor, and the job is stopped.
    tmux.keys(&["C-z"]);
    let s = tmux.wait_for("stopped job", |s| s.contains("Stopped"));
    assert!(
        !s.contains("CONNECTED"),
        "the console's screen is gone: {s}"
    );
    assert!(tmux.given_back(), "{s}");
    // fg: the console takes the terminal again and redraws everything.
    tmux.type_text("fg");
    tmux.keys(&["Enter"]);
    tmux.wait_for("redrawn after fg", |s| {
        s.contains("CONNECTED") && s.contains("susp-1") && s.contains("Analytics & alerts")
    });
    assert_eq!(tmux.display("#{alternate_on}"), "1");
    tmux.keys(&["2"]);
    tmux.wait_for("keys work after fg", |s| s.contains("o override"));

    // SIGTERM: the console quits cleanly and the shell gets its terminal back.
    let shell_pid = tmux.display("#{pane_pid}");
    let pids = children(&shell_pid);
    assert_eq!(pids.len(), 1, "one console under the shell: {pids:?}");
    let status = Command::new("kill")
        .args(["-TERM", &pids[0]])
        .status()
        .unwrap();
    assert!(status.success());
    tmux.wait_for("the prompt after SIGTERM", |s| {
        s.trim_end().ends_with("shell$") && !s.contains("CONNECTED")
    });
    assert!(tmux.given_back(), "{}", tmux.screen());
    tmux.type_text("echo EXIT=$?");
    tmux.keys(&["Enter"]);
    tmux.wait_for("exit status 0", |s| s.contains("EXIT=0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_token_gets_a_read_only_console() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = [
        ("RETRYCTL_WORKER_TOKEN", "worker-secret-9"),
        ("RETRYCTL_VIEWER_TOKEN", "viewer-secret-9"),
        ("RETRYCTL_OPERATOR_TOKEN", "operator-secret-9"),
    ];
    let mut svc = Service::start_with(&dir.path().join("data"), &tokens);
    svc.worker_token = Some("worker-secret-9".into());
    svc.reader_token = Some("operator-secret-9".into());
    svc.fail("view-1", "payment", "timeout", "gateway timeout")
        .await;
    let home = dir.path();
    let cmd = format!(
        "env LANG=C.UTF-8 HOME={h} XDG_STATE_HOME={h}/state XDG_CONFIG_HOME={h}/config \
         RETRYCTL_TOKEN=viewer-secret-9 {bin} tui --api {api}; echo EXITED $?; sleep 30",
        h = home.display(),
        bin = env!("CARGO_BIN_EXE_retryctl"),
        api = svc.api()
    );
    let tmux = Tmux::start(&cmd, home, 120, 40);
    tmux.wait_for("read-only header", |s| {
        s.contains("role viewer") && s.contains("READ-ONLY")
    });
    for key in ["Enter", "x", "f", "o"] {
        tmux.keys(&[key]);
        tmux.wait_for("refusal", |s| s.contains("your token has the viewer role"));
    }
    let audit = svc.get("/audit").await;
    assert_eq!(
        audit.as_array().map(Vec::len),
        Some(0),
        "nothing was sent: {audit}"
    );
    tmux.keys(&["C-c"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
}

/// A failure of `job_id` on `queue` (the shared helper always uses the default queue).
async fn fail_in(svc: &Service, queue: &str, job_id: &str, error_class: &str) {
    let body = serde_json::json!({
        "job_id": job_id, "job_type": "deliver", "error_class": error_class,
        "error_code": "503", "error_message": "connect: connection refused", "queue": queue,
        "attempt_number": 1,
    });
    let resp = reqwest::Client::new()
        .post(svc.url("/failures"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "POST /failures: {}",
        resp.status()
    );
}

fn console_cmd(home: &Path, svc: &Service) -> String {
    format!(
        "env LANG=C.UTF-8 TERM=xterm-256color HOME={h} XDG_STATE_HOME={h}/state \
         XDG_CONFIG_HOME={h}/config {bin} tui --api {api} --refresh 300ms; echo EXITED $?; sleep 30",
        h = home.display(),
        bin = env!("CARGO_BIN_EXE_retryctl"),
        api = svc.api()
    )
}

/// Filter, `B`, kill, a reason, the service's dry-run count, the count typed: the matching
/// jobs are killed in one bulk action (one audit entry), the others are left alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_kill_on_a_filter_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    for i in 1..=4 {
        fail_in(&svc, "webhooks", &format!("wh-{i}"), "connection_refused").await;
    }
    fail_in(&svc, "webhooks", "wh-other", "timeout").await;
    fail_in(&svc, "emails", "em-1", "connection_refused").await;
    let home = dir.path();
    let tmux = Tmux::start(&console_cmd(home, &svc), home, 80, 24);
    tmux.wait_for("data", |s| s.contains("CONNECTED") && s.contains("wh-4"));

    tmux.keys(&["/"]);
    tmux.type_text("queue:webhooks error:connection_refused");
    tmux.keys(&["Enter"]);
    tmux.wait_for("filtered", |s| s.contains("4 of 4 jobs"));
    tmux.keys(&["B"]);
    tmux.wait_for("bulk dialog", |s| {
        s.contains("Bulk action") && s.contains("[retry now]")
    });
    tmux.keys(&["Right", "Tab"]);
    tmux.type_text("provider down, INC-7");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the dry-run count", |s| {
        s.contains("kill 4 jobs matching queue:webhooks error:connection_refused?")
            && s.contains("type 4 to confirm")
    });
    // Nothing is killed before the count is typed.
    let jobs = svc.get("/jobs?queue=webhooks&state=killed").await;
    assert_eq!(jobs["total"], 0, "{jobs}");
    tmux.type_text("4");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the result", |s| s.contains("4 changed, 0 skipped"));

    let killed = svc
        .get("/jobs?queue=webhooks&error_class=connection_refused&state=killed")
        .await;
    assert_eq!(killed["total"], 4, "{killed}");
    for other in ["wh-other", "em-1"] {
        let job = svc.get(&format!("/jobs/{other}")).await;
        assert_eq!(job["job"]["state"], "scheduled", "{other}: {job}");
    }
    let audit = svc.get("/audit").await;
    let bulk: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "bulk_kill")
        .collect();
    assert_eq!(bulk.len(), 1, "one audit entry: {audit}");
    assert_eq!(bulk[0]["reason"], "provider down, INC-7");
    tmux.keys(&["q"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
}

/// `P` on a job pauses its queue and error class (the header counts it at 80 and 60
/// columns); `U` lists the pause and resumes it with a reason.
#[tokio::test(flavor = "multi_thread")]
async fn pause_then_resume_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    svc.fail("pz-1", "payment", "timeout", "gateway timeout")
        .await;
    let home = dir.path();
    let tmux = Tmux::start(&console_cmd(home, &svc), home, 80, 24);
    tmux.wait_for("data", |s| s.contains("CONNECTED") && s.contains("pz-1"));

    // `c` copies the selected job's id through OSC 52, which tmux keeps as a paste buffer.
    let _ = tmux
        .cmd()
        .args(["set", "-s", "set-clipboard", "on"])
        .status();
    tmux.keys(&["c"]);
    tmux.wait_for("copied", |s| s.contains("sent pz-1 to the clipboard"));
    let buffer = tmux.cmd().arg("show-buffer").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&buffer.stdout), "pz-1");

    tmux.keys(&["P"]);
    tmux.wait_for("pause dialog", |s| s.contains("[default/timeout]"));
    tmux.keys(&["Tab", "Tab"]);
    tmux.type_text("db failover");
    tmux.keys(&["Enter"]);
    tmux.wait_for("paused", |s| {
        s.contains("paused default/timeout for 10m")
            && s.lines().next().is_some_and(|l| l.contains("1 PAUSED"))
    });
    let pauses = svc.get("/pauses").await;
    let p = &pauses[0];
    assert_eq!(
        (&p["queue"], &p["error_class"], &p["reason"]),
        (&"default".into(), &"timeout".into(), &"db failover".into()),
        "{pauses}"
    );
    assert!(p["until"].is_string(), "{pauses}");
    tmux.resize(60, 16);
    tmux.wait_for("the banner at 60x16", |s| {
        s.lines().next().is_some_and(|l| l.contains("1 PAUSED"))
    });

    tmux.keys(&["U"]);
    tmux.wait_for("pauses in force", |s| {
        s.contains("Pauses in force") && s.contains("db failover")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("resume reason", |s| s.contains("Resume default/timeout"));
    tmux.type_text("failover done");
    tmux.keys(&["Enter"]);
    tmux.wait_for("resumed", |s| {
        s.contains("resumed default/timeout") && !s.contains("PAUSED")
    });
    assert_eq!(svc.get("/pauses").await, serde_json::json!([]));
    let audit = svc.get("/audit").await;
    let resumed = audit
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "resume" && e["reason"] == "failover done");
    assert!(resumed, "{audit}");
    tmux.keys(&["q"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
}

/// Fails `n` jobs `pg-000`… on the default queue, 32 requests at a time.
async fn fail_many(svc: &Service, n: usize) {
    let ids: Vec<String> = (0..n).map(|i| format!("pg-{i:03}")).collect();
    for chunk in ids.chunks(32) {
        let sends = chunk
            .iter()
            .map(|id| svc.fail(id, "sync", "timeout", "gateway timeout"));
        futures::future::join_all(sends).await;
    }
}

/// Whether a row of the job list shows `job_id`. The live error stream also names the latest
/// failures ("pg-514 attempt 1 failed: …"), and those are often the jobs of the last page.
fn in_job_list(screen: &str, job_id: &str) -> bool {
    screen
        .lines()
        .any(|line| line.contains(&format!(" {job_id} ")) && !line.contains(" failed: "))
}

/// More jobs than one page: `]` shows the service's second page (the jobs after the 500th),
/// `[` the first again.
#[tokio::test(flavor = "multi_thread")]
async fn paging_past_the_first_500_jobs_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    fail_many(&svc, 520).await;
    let first = svc.get("/jobs?limit=500").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let second = svc.get(&format!("/jobs?limit=500&cursor={cursor}")).await;
    let page_two: Vec<&str> = second["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(page_two.len(), 20, "{second}");
    let home = dir.path();
    let tmux = Tmux::start(&console_cmd(home, &svc), home, 160, 45);
    tmux.wait_for("page 1", |s| {
        s.contains("500 of 520 jobs") && s.contains("page 1 ([ ])") && !in_job_list(s, page_two[0])
    });
    tmux.keys(&["]"]);
    let screen = tmux.wait_for("page 2", |s| {
        s.contains("20 of 520 jobs") && s.contains("page 2 ([ ])")
    });
    for id in &page_two[..5] {
        assert!(in_job_list(&screen, id), "{id} not on page 2:\n{screen}");
    }
    tmux.keys(&["]"]);
    tmux.wait_for("refused past the end", |s| {
        s.contains("this is the last page of jobs")
    });
    tmux.keys(&["["]);
    tmux.wait_for("page 1 again", |s| {
        s.contains("500 of 520 jobs") && s.contains("page 1 ([ ])")
    });
    // Narrower, the title keeps the page in short.
    tmux.resize(120, 40);
    tmux.wait_for("the page at 120x40", |s| {
        s.contains("500 of 520, 500 pending · p1")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
}

/// `L` focuses the live error stream: the movement keys scroll it (not the job table), `/`
/// filters it, Enter opens the highlighted error's job, Esc clears the filter then leaves.
#[tokio::test(flavor = "multi_thread")]
async fn the_live_error_stream_takes_the_focus_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    fail_many(&svc, 12).await;
    let home = dir.path();
    let tmux = Tmux::start(&console_cmd(home, &svc), home, 120, 40);
    tmux.wait_for("data", |s| {
        s.contains("CONNECTED") && s.contains("12 of 12 jobs")
    });
    svc.fail("needle-1", "sync", "tls", "TLS handshake refused")
        .await;
    tmux.wait_for("the new error in the stream", |s| {
        s.contains("Live errors · L focus") && s.contains("needle-1 attempt 1 failed: tls")
    });
    tmux.keys(&["L"]);
    tmux.wait_for("stream focused", |s| {
        s.contains("older") && s.contains("back to jobs") && !s.contains("L focus")
    });
    tmux.keys(&["Down", "Down"]);
    tmux.wait_for("scrolled back", |s| s.contains("2 newer above"));
    tmux.keys(&["/"]);
    tmux.type_text("TLS");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("filtered", |s| s.contains("\"TLS\" 1"));
    let shown = screen
        .lines()
        .filter(|l| l.contains("failed: timeout"))
        .count();
    assert_eq!(shown, 0, "other errors still shown:\n{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the job's detail", |s| {
        s.contains("Job detail") && s.contains("needle-1")
    });
    tmux.keys(&["Escape"]);
    // One Escape at a time: two in one read are a single Alt+Escape to the terminal parser.
    tmux.wait_for("the detail closed", |s| !s.contains("Job detail"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("filter cleared", |s| {
        s.contains("error stream: every error")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("focus back on the jobs", |s| {
        s.contains("Live errors · L focus")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
}

/// With `--mouse`, the wheel and clicks reach the console as the terminal reports them (SGR
/// mouse reports, as xterm and tmux send them): a click selects a job row, the wheel over the
/// error stream focuses and scrolls it.
#[tokio::test(flavor = "multi_thread")]
async fn the_mouse_selects_and_scrolls_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    fail_many(&svc, 12).await;
    let home = dir.path();
    let cmd = console_cmd(home, &svc).replace(" tui ", " tui --mouse ");
    let tmux = Tmux::start(&cmd, home, 120, 40);
    let screen = tmux.wait_for("data", |s| {
        s.contains("CONNECTED") && s.contains("12 of 12 jobs")
    });
    // The job on the table's fourth row (rows start under the frame and the header).
    let lines: Vec<&str> = screen.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.contains("next attempt"))
        .unwrap();
    let row = header + 3;
    let fourth = lines[row]
        .split_whitespace()
        .find(|w| w.starts_with("pg-"))
        .unwrap_or_else(|| panic!("no job on row {row}:\n{screen}"))
        .to_string();
    // SGR reports are 1-based: button 0 pressed then released at (column, row).
    let (x, y) = (40, row + 1);
    tmux.type_text(&format!("\x1b[<0;{x};{y}M\x1b[<0;{x};{y}m"));
    tmux.wait_for("the clicked job selected", |s| {
        s.contains(&format!("Selected · {fourth}")) || s.contains(&format!("Selected {fourth}"))
    });
    let stream_row = screen
        .lines()
        .position(|l| l.contains("Live errors"))
        .unwrap()
        + 2;
    tmux.type_text(&format!("\x1b[<65;{x};{}M", stream_row + 1));
    tmux.wait_for("the stream focused and scrolled", |s| {
        s.contains("1 newer above") && s.contains("back to jobs")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
}

/// `POST` `body` to `path` (no tokens: the test service binds 127.0.0.1 without them).
async fn post(svc: &Service, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(svc.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await.unwrap_or_default();
    assert!(status.is_success(), "POST {path}: {status} {answer}");
    answer
}

/// A job on the `fast` queue failing at `at`, its retries following the service's answers and
/// failing until 30 s after the first failure; whether the ML tier decided its first retry.
async fn fast_episode(svc: &Service, job: &str, at: chrono::DateTime<chrono::Utc>) -> bool {
    use serde_json::json;
    let (mut elapsed, mut delay, mut first_by_ml) = (0u64, 0u64, None);
    for n in 1..=10u32 {
        let when = (at + chrono::Duration::milliseconds(elapsed as i64)).to_rfc3339();
        let success = n > 1 && elapsed >= 30_000;
        let record = json!({"job_id": job, "job_type": "sync", "queue": "fast",
            "error_class": if success { "" } else { "unavailable" }, "attempt_number": n,
            "delay_ms": delay, "success": success, "timestamp": when});
        if success {
            post(svc, "/attempts", &json!([record])).await;
            break;
        }
        let answer = post(svc, "/failures", &record).await;
        first_by_ml.get_or_insert(answer["method"] == "ml");
        if answer["should_retry"] != true {
            break;
        }
        delay = answer["delay_ms"].as_u64().unwrap();
        elapsed += delay;
    }
    first_by_ml.unwrap_or(false)
}

/// The live check in the Strategy pane and in `retryctl ml models`: a model forced to serve
/// that believes the `fast` queue recovers within 2 s while its outages last 30 s (as in
/// `ml_api`'s rollback test) shows its outcomes counted, its log-loss and its decisions' cost
/// beside the Bayesian tier's, then the rollback with its time and reason.
#[tokio::test(flavor = "multi_thread")]
async fn the_live_check_and_its_rollback_in_tmux() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    let history = crate::ml_api::history(1_000, 3);
    // The episodes come a day after the history began, at the same time of day, however long
    // the setup below takes: the Bayesian tier keeps a model per hour of day, so episodes that
    // started later on a slow machine met other hours' models (and the test then failed).
    let history_began: chrono::DateTime<chrono::Utc> =
        history[0]["timestamp"].as_str().unwrap().parse().unwrap();
    post(&svc, "/attempts", &json!(history)).await;
    let train = json!({"model_type": "logistic", "features": ["queue"]});
    post(&svc, "/ml/train", &train).await;
    let forced = json!({"version": "ml-1", "force": true, "reason": "test: a bad model"});
    post(&svc, "/ml/deploy", &forced).await;
    let home = dir.path();
    let tmux = Tmux::start(&console_cmd(home, &svc), home, 160, 50);
    tmux.wait_for("data", |s| s.contains("CONNECTED") && s.contains("ml-1"));

    let start = history_began + chrono::Duration::days(1);
    let at = |i: usize| start + chrono::Duration::seconds(i as i64 * 120);
    for i in 0..5 {
        assert!(fast_episode(&svc, &format!("slow-now-{i}"), at(i)).await);
    }
    let check = svc.get("/summary").await["ml"]["live_check"].clone();
    let (outcomes, clusters) = (&check["outcomes"], &check["clusters"]);
    let counted = format!("live check {outcomes} outcomes, {clusters} clusters");
    let screen = tmux.wait_for("the live check", |s| s.contains(&counted));
    assert!(
        screen.contains("vs bayes") && screen.contains("decisions cost"),
        "{screen}"
    );
    let models = cli_ml_models(&svc);
    assert!(
        models.contains(&format!("live check of ml-1: {outcomes} outcomes")),
        "{models}"
    );

    let mut jobs = 5;
    while jobs < 500 && fast_episode(&svc, &format!("slow-now-{jobs}"), at(jobs)).await {
        jobs += 1;
    }
    if jobs >= 500 {
        let ml = svc.get("/summary").await["ml"].clone();
        panic!("never rolled back after {jobs} episodes; the ML tier: {ml}");
    }
    let screen = tmux.wait_for("the rollback", |s| {
        s.contains("rolled back ml-1") && s.contains("standard")
    });
    assert!(!screen.contains("live check"), "nothing serves: {screen}");
    let models = cli_ml_models(&svc);
    assert!(
        models.contains("rolled back automatically at") && models.contains("ML model ml-1"),
        "{models}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("clean exit", |s| s.contains("EXITED 0"));
}

fn cli_ml_models(svc: &Service) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["ml", "models"])
        .env("RETRYCTL_API", svc.api())
        .env("RETRYCTL_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}
