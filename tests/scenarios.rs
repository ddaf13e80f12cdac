//! The scenario format: shipped files load; malformed files are refused with key and line.

use retryctl::sim::scenario::{Arrival, FailureModel, Scenario, ScenarioError};
use std::path::Path;

const HEAD: &str = "name = \"t\"\nduration = \"1m\"\n\n";
const WORKLOAD: &str = "[[workload]]\nname = \"w\"\njob_type = \"j\"\nerror_class = \"e\"\n";

/// Parses `text` and returns (key, line, message) of the error it must produce.
fn refused(text: &str) -> (String, usize, String) {
    match Scenario::parse(text, "test.toml") {
        Ok(s) => panic!("accepted a malformed scenario: {s:?}"),
        Err(ScenarioError::Invalid {
            key, line, message, ..
        }) => (key, line, message),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

fn with_workload(body: &str) -> String {
    format!("{HEAD}{WORKLOAD}{body}")
}

#[test]
fn every_shipped_scenario_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!scenario.workloads.is_empty(), "{}", path.display());
            loaded += 1;
        }
    }
    assert!(
        loaded >= 7,
        "expected the seven shipped scenarios, found {loaded}"
    );
}

#[test]
fn a_valid_scenario_is_read_field_by_field() {
    let text = with_workload(
        "tenant = \"acme\"\ncount = 30\n\n[workload.failure.outage]\n\
         recovery.uniform = { min = \"6s\", max = \"12s\" }\n",
    );
    let s = Scenario::parse(&text, "test.toml").expect("valid");
    let w = &s.workloads[0];
    assert_eq!(s.duration.0, 60_000);
    assert_eq!(w.tenant.as_deref(), Some("acme"));
    assert_eq!(w.queue, "default");
    assert_eq!(w.arrival, Arrival::Count(30));
    assert!(matches!(w.failure, FailureModel::Outage { .. }));
}

#[test]
fn unknown_top_level_key_names_key_and_line() {
    let (key, line, message) = refused("name = \"t\"\nduraton = \"1m\"\n");
    assert_eq!(line, 2, "{message}");
    assert!(message.contains("duraton"), "{message}");
    assert_eq!(key, "duraton");
}

#[test]
fn unknown_key_inside_a_failure_model_names_its_line() {
    let (_, line, message) = refused(&with_workload(
        "rate = 1.0\n[workload.failure.outage]\nrecovery.uniform = { min = \"1s\", max = \"2s\" }\nrecovry = 3\n",
    ));
    assert_eq!(line, 11, "{message}");
    assert!(message.contains("recovry"), "{message}");
}

#[test]
fn wrong_type_names_the_key_path() {
    let (key, line, message) =
        refused(&with_workload("rate = \"fast\"\nfailure = \"permanent\"\n"));
    assert_eq!(key, "workload[0].rate");
    assert_eq!(line, 8, "{message}");
}

#[test]
fn a_duration_must_be_a_duration_string() {
    let (key, line, _) = refused(&with_workload(
        "rate = 1.0\n[workload.failure.rate_limit]\nwindow = \"ten seconds\"\n",
    ));
    assert_eq!(key, "workload[0].failure.rate_limit.window");
    assert_eq!(line, 10);
    let (key, _, message) = refused(&with_workload(
        "rate = 1.0\n[workload.failure.rate_limit]\nwindow = 10\n",
    ));
    assert_eq!(key, "workload[0].failure.rate_limit.window");
    assert!(message.contains("duration string"), "{message}");
}

#[test]
fn a_probability_outside_0_1_is_refused_at_its_key() {
    let (key, line, message) = refused(&with_workload(
        "rate = 1.0\n\n[workload.failure.flaky]\nsuccess = 1.5\n",
    ));
    assert_eq!(key, "workload[0].failure.flaky.success");
    assert_eq!(line, 11);
    assert!(message.contains("probability"), "{message}");
}

#[test]
fn an_impossible_distribution_is_refused_at_its_key() {
    let (key, line, message) = refused(&with_workload(
        "rate = 1.0\n[workload.failure.outage]\nrecovery.uniform = { min = \"9s\", max = \"2s\" }\n",
    ));
    assert_eq!(key, "workload[0].failure.outage.recovery");
    assert_eq!(line, 10);
    assert!(message.contains("min"), "{message}");
}

#[test]
fn an_unknown_failure_kind_is_refused() {
    let (key, line, message) = refused(&with_workload("rate = 1.0\nfailure = \"permanet\"\n"));
    assert_eq!(key, "workload[0].failure");
    assert_eq!(line, 9);
    assert!(message.contains("permanent"), "{message}");
}

#[test]
fn rate_and_count_are_exclusive() {
    let (key, line, message) = refused(&with_workload(
        "rate = 1.0\ncount = 5\nfailure = \"permanent\"\n",
    ));
    assert_eq!(key, "workload[0]");
    assert_eq!(line, 4, "{message}");
    assert!(message.contains("exactly one of `rate`"), "{message}");
}

#[test]
fn a_drift_needs_one_trigger_and_no_nested_drift() {
    let (key, _, message) = refused(&with_workload(
        "rate = 1.0\n[workload.failure.drift]\nbefore = \"permanent\"\nafter = \"permanent\"\n",
    ));
    assert_eq!(key, "workload[0]");
    assert!(message.contains("`at` or `at_failures`"), "{message}");
}

#[test]
fn a_scenario_without_workloads_is_refused() {
    let (_, _, message) = refused("duration = \"1m\"\nworkload = []\n");
    assert!(message.contains("at least one"), "{message}");
}

#[test]
fn text_that_is_not_toml_is_refused_with_its_line() {
    let (_, line, _) = refused("duration = \"1m\"\n\n[[workload]\n");
    assert_eq!(line, 3);
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = Scenario::load(Path::new("scenarios/no-such-file.toml")).unwrap_err();
    assert!(matches!(err, ScenarioError::Io { .. }));
    assert!(err.to_string().contains("no-such-file.toml"), "{err}");
}
