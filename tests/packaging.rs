//! What a packager installs works with the real tools: `retryctl man --dir` writes a page for
//! `retryctl` and one per subcommand, and every page renders under `groff -man` without a
//! warning (what `man -l` runs). A missing tool fails with the command that installs it.

use clap::CommandFactory;
use std::path::Path;
use std::process::Command;

const GROFF_INSTALL: &str = "groff is missing: apt-get install -y groff-base";

/// `groff -man`'s warnings (all of them, `-ww`) about `page`; empty when it is clean.
fn groff_warnings(page: &Path) -> String {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .unwrap_or_else(|e| panic!("{GROFF_INSTALL} ({e})"));
    assert!(
        out.status.success(),
        "groff failed on {}: {out:?}",
        page.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `retryctl-NAME.1` for every subcommand a user can call (`retryctl-ml-train.1` for a nested
/// one), from the CLI definition itself.
fn expected_pages() -> Vec<String> {
    let cli = retryctl::cli::Cli::command();
    let mut pages = vec!["retryctl.1".to_string()];
    for s in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("retryctl-{}", s.get_name());
        pages.push(format!("{name}.1"));
        pages.extend(
            s.get_subcommands()
                .filter(|n| !n.is_hide_set() && n.get_name() != "help")
                .map(|n| format!("{name}-{}.1", n.get_name())),
        );
    }
    pages
}

#[test]
fn man_writes_a_clean_page_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("man1");
    let out = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["man", "--dir"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "retryctl man: {out:?}");
    let listed = String::from_utf8(out.stdout).unwrap();
    let expected = expected_pages();
    assert!(expected.len() > 20, "{expected:?}");
    assert_eq!(listed.lines().count(), expected.len(), "{listed}");
    for name in &expected {
        let page = target.join(name);
        assert!(
            listed.contains(&page.display().to_string()),
            "{name} not listed: {listed}"
        );
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{name}: {e}"));
        let title = name.trim_end_matches(".1");
        assert!(
            text.contains(&format!("\n.TH {title} 1 ")),
            "{name}: {text}"
        );
        let warnings = groff_warnings(&page);
        assert!(warnings.is_empty(), "groff warns about {name}:\n{warnings}");
    }
    let serve = std::fs::read_to_string(target.join("retryctl-serve.1")).unwrap();
    for flag in ["listen", "data", "config", "store", "insecure"] {
        assert!(
            serve.contains(&format!("\\-\\-{flag}")),
            "serve page lacks --{flag}"
        );
    }
}

/// The check above would see a broken page: groff names the bad macro and escape.
#[test]
fn groff_warns_about_a_broken_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.1");
    std::fs::write(&page, ".TH broken 1\n.SH NAME\n.XX oops\n\\q\n").unwrap();
    let warnings = groff_warnings(&page);
    assert!(warnings.contains("'XX' not defined"), "{warnings}");
}

#[test]
fn man_names_a_directory_it_cannot_create() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["man", "--dir"])
        .arg(file.join("man1"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot create the man page directory"),
        "{stderr}"
    );
    assert!(stderr.contains("a-file"), "{stderr}");
}

const UNIT: &str = "assets/retryctl.service";
const SYSTEMD_INSTALL: &str = "systemd-analyze is missing: apt-get install -y systemd";
/// Where the unit expects `cargo install --path . --root /usr/local` to put the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/retryctl";

fn unit_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(UNIT)).unwrap()
}

/// `(section, key, value)` of every setting in a systemd unit, in order (keys repeat).
fn unit_settings(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut settings = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{UNIT}: not `key=value`: {line}"));
        settings.push((section.clone(), key.trim().into(), value.trim().into()));
    }
    settings
}

/// The values of `key` in `[Service]`.
fn service_values(settings: &[(String, String, String)], key: &str) -> Vec<String> {
    settings
        .iter()
        .filter(|(s, k, _)| s == "Service" && k == key)
        .map(|(_, _, v)| v.clone())
        .collect()
}

fn one(settings: &[(String, String, String)], key: &str) -> String {
    match service_values(settings, key).as_slice() {
        [value] => value.clone(),
        other => panic!("{UNIT}: [Service] {key} should be set once: {other:?}"),
    }
}

/// The `--flags` that `retryctl serve --help` lists.
fn serve_flags() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "serve --help: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| word.split('=').next().unwrap().to_string())
        .collect()
}

#[test]
fn the_unit_runs_serve_as_a_hardened_dedicated_user() {
    let settings = unit_settings(&unit_text());
    let user = one(&settings, "User");
    assert!(
        one(&settings, "DynamicUser") == "yes" || user != "root",
        "dedicated user"
    );
    assert_eq!(user, "retryctl");
    assert_eq!(one(&settings, "StateDirectory"), "retryctl");
    assert_eq!(one(&settings, "Restart"), "on-failure");
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(&settings, key), value, "[Service] {key}");
    }
    let exec = one(&settings, "ExecStart");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words[..2], [INSTALLED_BINARY, "serve"], "{exec}");
    let known = serve_flags();
    assert!(known.contains(&"--data".to_string()), "{known:?}");
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(
            known.iter().any(|k| k == flag),
            "{flag} is not a serve flag: {known:?}"
        );
    }
    let data = words.iter().position(|w| *w == "--data").expect("--data");
    assert_eq!(words[data + 1], "/var/lib/retryctl", "the StateDirectory");
}

/// The unit's environment with `%d` (the credentials directory) replaced by `credentials`.
fn unit_environment(
    settings: &[(String, String, String)],
    credentials: &Path,
) -> Vec<(String, String)> {
    service_values(settings, "Environment")
        .iter()
        .map(|assignment| {
            let (key, value) = assignment.split_once('=').expect("Environment=KEY=VALUE");
            let value = value.replace("%d", &credentials.display().to_string());
            (key.to_string(), value)
        })
        .collect()
}

/// What the unit hands the service — its `Environment=` and the credential files its
/// `LoadCredential=` lines name — is what `serve` reads: tokens from files, and then it refuses
/// a caller without one.
#[tokio::test]
async fn the_units_credentials_become_the_services_tokens() {
    let settings = unit_settings(&unit_text());
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    for load in service_values(&settings, "LoadCredential") {
        let (name, _source) = load.split_once(':').expect("LoadCredential=NAME:PATH");
        std::fs::write(
            credentials.join(name),
            format!("{name}-secret-0123456789\n"),
        )
        .unwrap();
    }
    let env = unit_environment(&settings, &credentials);
    for role in ["OPERATOR", "VIEWER", "WORKER"] {
        let key = format!("RETRYCTL_{role}_TOKEN_FILE");
        assert!(env.iter().any(|(k, _)| *k == key), "{key} not set: {env:?}");
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let service = crate::common::service::Service::start_with(&dir.path().join("data"), &env);
    let client = reqwest::Client::new();
    let url = service.url("/summary");
    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let viewer = client
        .get(&url)
        .bearer_auth("viewer-token-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), 200);
}

/// `systemd-analyze verify` on the unit as shipped, but for the binary's path (this build's)
/// and with this build's man pages on MANPATH (it checks `Documentation=man:…` too). A warning
/// (an unknown key, a bad value) fails the test.
#[test]
fn systemd_analyze_verifies_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("retryctl.service");
    let text = unit_text();
    assert!(text.contains(INSTALLED_BINARY));
    std::fs::write(
        &unit,
        text.replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_retryctl")),
    )
    .unwrap();
    let man = dir.path().join("man");
    let pages = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["man", "--dir"])
        .arg(man.join("man1"))
        .output()
        .unwrap();
    assert!(pages.status.success(), "{pages:?}");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .env("MANPATH", &man)
        .output()
        .unwrap_or_else(|e| panic!("{SYSTEMD_INSTALL} ({e})"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
    let exposure = exposure_level(&unit);
    assert!(
        exposure < MAX_EXPOSURE,
        "exposure {exposure} (at most {MAX_EXPOSURE})"
    );
}

/// `systemd-analyze security`'s exposure scale runs from 0 (locked down) to 10; below 2 it
/// says "OK" (the shipped unit scores 1.2 with systemd 252).
const MAX_EXPOSURE: f64 = 2.0;

/// The overall exposure level `systemd-analyze security --offline` gives `unit`.
fn exposure_level(unit: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit)
        .output()
        .unwrap_or_else(|e| panic!("{SYSTEMD_INSTALL} ({e})"));
    let text = String::from_utf8_lossy(&out.stdout);
    let level = text
        .split("Overall exposure level for retryctl.service: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok());
    level.unwrap_or_else(|| {
        panic!(
            "no exposure level in:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
