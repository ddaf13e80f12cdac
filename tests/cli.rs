//! Golden files of the help a newcomer reads: `retryctl --help`, `serve`, `demo`,
//! `simulate` and `bulk --help`.
//! A change to them shows up in review as a snapshot diff (`tests/snapshots/`).

use std::process::Command;

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run retryctl");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8 help")
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!("help", help(&["--help"]));
}

#[test]
fn serve_help() {
    insta::assert_snapshot!("serve_help", help(&["serve", "--help"]));
}

#[test]
fn demo_help() {
    insta::assert_snapshot!("demo_help", help(&["demo", "--help"]));
}

#[test]
fn simulate_help() {
    insta::assert_snapshot!("simulate_help", help(&["simulate", "--help"]));
}

#[test]
fn bulk_help() {
    insta::assert_snapshot!("bulk_help", help(&["bulk", "--help"]));
}

#[test]
fn a_bad_config_file_is_refused_with_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\n[strategy]\nbayesian_treshold = 0.5\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["serve", "--store", "memory", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(stderr.contains("bayesian_treshold"), "{stderr}");
}

#[test]
fn an_exposed_bind_without_tokens_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["serve", "--store", "memory", "--listen", "0.0.0.0:0"])
        .env_remove("RETRYCTL_OPERATOR_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--insecure"), "{stderr}");
}
