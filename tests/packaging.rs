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

/// `retryctl-NAME.1` for every subcommand a user can call, from the CLI definition itself.
fn expected_pages() -> Vec<String> {
    let cli = retryctl::cli::Cli::command();
    let mut pages = vec!["retryctl.1".to_string()];
    pages.extend(
        cli.get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("retryctl-{}.1", s.get_name())),
    );
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
