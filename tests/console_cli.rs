//! The CLI subcommands for scripts, against a real `retryctl serve`: status, preview,
//! override (validated, audited), export/import round trip, completions.

use crate::common::service;

use retryctl::model::{ConfigExport, Summary};
use service::Service;
use std::process::{Command, Output};

fn retryctl(api: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(args)
        .args(["--api", api])
        .env("RETRYCTL_LOG", "warn")
        .output()
        .expect("run retryctl")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_can_read_and_steer_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    svc.fail(
        "cli-1",
        "payment",
        "service_unavailable",
        "503 from upstream",
    )
    .await;
    let api = svc.api();

    let text = ok(&retryctl(&api, &["status"]));
    assert!(
        text.contains("status (") && text.contains("role operator"),
        "{text}"
    );
    let summary: Summary =
        serde_json::from_str(&ok(&retryctl(&api, &["status", "--json"]))).unwrap();
    assert!(summary.status.total >= 1);

    let text = ok(&retryctl(&api, &["preview", "cli-1"]));
    assert!(text.starts_with("cli-1 after attempt 1"), "{text}");

    let out = retryctl(
        &api,
        &[
            "override",
            "cli-1",
            "--delay",
            "2m",
            "--reason",
            "runbook step 3",
        ],
    );
    assert!(ok(&out).contains("next attempt in 2m00s"));
    let job = svc.get("/jobs/cli-1").await;
    let next: chrono::DateTime<chrono::Utc> = job["job"]["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = ok(&retryctl(&api, &["preview", "cli-1"]));
    let first = text.lines().nth(1).unwrap_or_default();
    let at = next.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert!(
        first.starts_with("#2") && first.contains(&at) && first.contains("override"),
        "the plan starts at the override ({at}): {text}"
    );
    let audit = svc.get("/audit").await;
    let audit = audit.as_array().unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "override" && e["reason"] == "runbook step 3"),
        "{audit:?}"
    );

    let bad = retryctl(
        &api,
        &["override", "cli-1", "--delay", "30", "--reason", "x"],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no unit"),
        "{bad:?}"
    );
    let killed = reqwest::Client::new()
        .post(svc.url("/jobs/cli-1/kill"))
        .json(&serde_json::json!({"reason": "poison"}))
        .send()
        .await
        .unwrap();
    assert!(killed.status().is_success(), "{killed:?}");
    let text = ok(&retryctl(&api, &["preview", "cli-1"]));
    assert!(
        text.starts_with("cli-1 was killed at") && text.contains("nothing is planned"),
        "{text}"
    );
    let bad = retryctl(&api, &["preview", "no-such-job"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("404"),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_import_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    let api = svc.api();
    for format in ["toml", "json", "yaml"] {
        let file = dir.path().join(format!("config.{format}"));
        let path = file.to_str().unwrap();
        ok(&retryctl(&api, &["export", "--format", format, "-o", path]));
        let before = retryctl::present::export::read(&file).unwrap();
        let text = ok(&retryctl(&api, &["import", path]));
        assert!(text.starts_with("imported strategy"), "{text}");
        let again: ConfigExport =
            serde_json::from_str(&ok(&retryctl(&api, &["export", "--format", "json"]))).unwrap();
        assert_eq!(again.strategy, before.strategy, "{format}");
    }
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "export_version = 1\n").unwrap();
    let out = retryctl(&api, &["import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.toml"),
        "{out:?}"
    );
}

/// `import --dry-run` asks the service: it refuses what the service would refuse, names a
/// misspelt key, and lists what a valid file would change, applying nothing.
#[tokio::test(flavor = "multi_thread")]
async fn import_dry_run_validates_on_the_service_and_prints_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&dir.path().join("data"));
    let api = svc.api();
    let exported = ok(&retryctl(&api, &["export", "--format", "json"]));
    let doc: serde_json::Value = serde_json::from_str(&exported).unwrap();
    let write = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = doc.clone();
        edit(&mut doc);
        let path = dir.path().join(name);
        std::fs::write(&path, doc.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let dry = |path: &str| retryctl(&api, &["import", "--dry-run", path]);

    let bad = write("bad.json", &|d| {
        d["strategy"]["bayesian_threshold"] = 7.into()
    });
    let out = dry(&bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        err.contains("bayesian_threshold") && err.contains("400"),
        "{err}"
    );

    let typo = write("typo.json", &|d| {
        let s = d["strategy"].as_object_mut().unwrap();
        let v = s.remove("bayesian_threshold").unwrap();
        s.insert("bayesian_treshold".into(), v);
    });
    let out = dry(&typo);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        err.contains("unknown key `strategy.bayesian_treshold`"),
        "{err}"
    );

    let change = write("change.json", &|d| {
        d["strategy"]["bayesian_threshold"] = 0.6.into()
    });
    let text = ok(&dry(&change));
    assert!(text.contains("valid (dry run"), "{text}");
    let was = &doc["strategy"]["bayesian_threshold"];
    assert!(
        text.contains(&format!("bayesian_threshold: {was} -> 0.6")),
        "{text}"
    );
    let strategy = svc.get("/strategy").await;
    assert_eq!(
        &strategy["bayesian_threshold"], was,
        "a dry run applies nothing"
    );
    let text = ok(&dry(&write("same.json", &|_| {})));
    assert!(text.contains("no field changes"), "{text}");
}

#[test]
fn completions_are_generated() {
    let out = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(
        text.contains("retryctl") && text.contains("override"),
        "{}",
        &text[..200.min(text.len())]
    );
}
