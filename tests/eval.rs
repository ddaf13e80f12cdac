//! `eval` in virtual time: reproducible, scored consistently, the oracle is a true bound.

use retryctl::sim::eval::{EvalConfig, ScenarioReport, StrategyResult, WorkloadResult, evaluate};
use retryctl::sim::ml::MlReport;
use retryctl::sim::report::{Format, render};
use retryctl::sim::scenario::{Scenario, SimDuration};
use retryctl::sim::world;
use std::path::Path;

fn shipped(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn strategy<'a>(report: &'a ScenarioReport, name: &str) -> &'a StrategyResult {
    report
        .strategies
        .iter()
        .find(|s| s.strategy == name)
        .unwrap_or_else(|| panic!("no strategy {name} in {}", report.scenario))
}

const SHIPPED: [&str; 8] = [
    "payment-503",
    "db-maintenance",
    "rate-limit-hint",
    "rate-limit-no-hint",
    "mixed-day",
    "noisy-neighbour",
    "drift",
    "validation",
];

#[test]
fn the_same_seed_gives_the_same_report() {
    let scenario = shortened("noisy-neighbour", 5);
    let config = EvalConfig::default();
    let first = render(&[evaluate(&scenario, &config)], Format::Json).expect("json");
    let second = render(&[evaluate(&scenario, &config)], Format::Json).expect("json");
    assert_eq!(first, second);
    let other = EvalConfig {
        seed: config.seed + 1,
        ..config
    };
    let third = render(&[evaluate(&scenario, &other)], Format::Json).expect("json");
    assert_ne!(first, third, "a different seed must give different jobs");
}

/// A shipped scenario with its measured period cut to at most `minutes` (the warm-up is kept),
/// so a debug-build test stays quick; what is checked holds for any window.
fn shortened(name: &str, minutes: u64) -> Scenario {
    let mut scenario = shipped(name);
    scenario.duration = SimDuration(scenario.duration.0.min(minutes * 60_000));
    scenario
}

#[test]
fn the_oracle_costs_no_more_than_any_strategy() {
    for name in SHIPPED {
        let report = evaluate(&shortened(name, 180), &EvalConfig::default());
        let oracle = strategy(&report, "oracle");
        for s in &report.strategies {
            assert!(
                oracle.cost_per_job <= s.cost_per_job + 1e-9,
                "{name}: oracle {:.3} > {} {:.3}",
                oracle.cost_per_job,
                s.strategy,
                s.cost_per_job
            );
        }
        assert!(report.measured_jobs > 100, "{name}: too few jobs to judge");
    }
}

#[test]
fn on_validation_static_strategies_retry_and_the_oracle_does_not() {
    let report = evaluate(&shipped("validation"), &EvalConfig::default());
    for name in ["traditional", "full_jitter"] {
        let s = strategy(&report, name);
        assert!(
            s.retries_per_job >= 1.0,
            "{name} retried {}",
            s.retries_per_job
        );
        assert_eq!(s.success_rate, 0.0);
    }
    let oracle = strategy(&report, "oracle");
    assert_eq!(oracle.retries_per_job, 0.0);
    assert_eq!(oracle.success_rate, 0.0);
}

#[test]
fn the_oracle_recovers_every_recovering_job_with_one_retry() {
    let report = evaluate(&shipped("payment-503"), &EvalConfig::default());
    let oracle = strategy(&report, "oracle");
    assert_eq!(oracle.success_rate, 1.0);
    assert_eq!(oracle.retries_per_job, 1.0);
    assert_eq!(oracle.first_retry_success, Some(1.0));
}

#[test]
fn the_traditional_schedule_gives_up_after_five_attempts() {
    let report = evaluate(&shipped("validation"), &EvalConfig::default());
    let s = strategy(&report, "traditional");
    assert_eq!(s.retries_per_job, 4.0);
    let cost = 4.0 + (2.0 + 4.0 + 8.0 + 16.0) * 0.05 + 100.0;
    assert!((s.cost_per_job - cost).abs() < 1e-6, "{}", s.cost_per_job);
}

#[test]
fn the_ratio_is_against_the_best_static_strategy() {
    let report = evaluate(&shipped("rate-limit-no-hint"), &EvalConfig::default());
    let best = ["traditional", "full_jitter"]
        .map(|n| strategy(&report, n).cost_per_job)
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    for s in &report.strategies {
        let ratio = s.cost_vs_best_static.expect("ratio");
        assert!((ratio - s.cost_per_job / best).abs() < 1e-9);
    }
}

#[test]
fn a_drift_scenario_reports_cost_before_and_after_the_change() {
    let config = EvalConfig::default();
    let report = evaluate(&shipped("drift"), &config);
    let oracle = strategy(&report, "oracle");
    let curve = oracle.drift.as_ref().expect("drift curve");
    assert!(curve.after_blocks.len() >= 5);
    // The oracle pays one retry plus the wait: longer outages after the change cost more.
    assert!(curve.after_blocks.iter().all(|c| *c > curve.before));
}

#[test]
fn every_lost_job_is_given_up_or_out_of_attempts() {
    let report = evaluate(&shipped("validation"), &EvalConfig::default());
    let ended = |name: &str| {
        let w = &strategy(&report, name).workloads[0];
        (w.jobs, w.given_up, w.out_of_attempts)
    };
    // The static schedules spend all their attempts; the oracle stops at once, attempts left.
    let (jobs, given_up, out) = ended("traditional");
    assert_eq!((given_up, out), (0, jobs));
    let (jobs, given_up, out) = ended("oracle");
    assert_eq!((given_up, out), (jobs, 0));
}

#[test]
fn a_scenario_of_several_workloads_is_also_reported_per_workload() {
    let report = evaluate(&shortened("noisy-neighbour", 5), &EvalConfig::default());
    for s in &report.strategies {
        let names: Vec<&str> = s.workloads.iter().map(|w| w.workload.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let sum = |f: fn(&WorkloadResult) -> u64| s.workloads.iter().map(f).sum::<u64>();
        assert_eq!(sum(|w| w.jobs), s.jobs, "{}", s.strategy);
        assert_eq!(sum(|w| w.succeeded), s.succeeded, "{}", s.strategy);
        for w in &s.workloads {
            assert_eq!(w.jobs - w.succeeded, w.given_up + w.out_of_attempts);
        }
    }
    let text = render(std::slice::from_ref(&report), Format::Table).expect("table");
    let block = text
        .split("lost jobs per workload")
        .nth(1)
        .unwrap_or_else(|| panic!("no per-workload block in\n{text}"));
    for w in &report.strategies[0].workloads {
        assert!(block.lines().any(|l| l.starts_with(&w.workload)), "{text}");
    }
    let single = render(
        &[evaluate(&shipped("validation"), &EvalConfig::default())],
        Format::Table,
    )
    .expect("table");
    assert!(!single.contains("lost jobs per workload"), "{single}");
}

#[test]
fn csv_has_one_row_per_strategy() {
    let report = evaluate(&shipped("validation"), &EvalConfig::default());
    let csv = render(std::slice::from_ref(&report), Format::Csv).expect("csv");
    assert_eq!(csv.lines().count(), 1 + report.strategies.len());
    assert!(csv.starts_with("scenario,seed,strategy,"));
}

/// Runs the real binary: `retryctl eval <args>` from the repository root.
fn retryctl_eval(args: &[&str]) -> std::process::Output {
    retryctl_eval_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Runs the real binary: `retryctl eval <args>` from `dir`.
fn retryctl_eval_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .arg("eval")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .expect("run retryctl eval")
}

/// The scenario column of `eval --csv` output, each name once, in order.
fn csv_scenarios(out: &std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8");
    let mut names: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect();
    names.dedup();
    names
}

#[test]
fn eval_outside_a_checkout_runs_the_shipped_scenarios() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let names = csv_scenarios(&retryctl_eval_in(elsewhere.path(), &["--csv"]));
    let mut expected: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
            .expect("scenarios/")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| shipped(&p.file_stem().unwrap().to_string_lossy()).name)
            .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn eval_runs_every_scenario_of_the_scenario_dir() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let dir = elsewhere.path().join("mine");
    std::fs::create_dir(&dir).expect("mkdir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation.toml");
    std::fs::copy(source, dir.join("only.toml")).expect("copy");
    let flag = ["--csv", "--scenario-dir", dir.to_str().expect("utf-8 path")];
    let names = csv_scenarios(&retryctl_eval_in(elsewhere.path(), &flag));
    assert_eq!(names, vec![shipped("validation").name]);
    let empty = retryctl_eval_in(elsewhere.path(), &["--scenario-dir", "."]);
    assert!(!empty.status.success());
    let err = String::from_utf8_lossy(&empty.stderr);
    assert!(err.contains("holds no *.toml file"), "{err}");
}

#[test]
fn the_eval_command_prints_a_table_per_scenario() {
    let out = retryctl_eval(&["scenarios/validation.toml", "scenarios/payment-503.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("scenario validation"), "{text}");
    assert!(text.contains("scenario payment-503"), "{text}");
    for name in [
        "traditional",
        "full_jitter",
        "rules",
        "bayesian",
        "ml ",
        "oracle",
    ] {
        let rows = text
            .lines()
            .filter(|l| l.starts_with(name) && !l.contains(" model: "))
            .count();
        assert_eq!(rows, 2, "{name} in\n{text}");
    }
    let models = text.lines().filter(|l| l.contains(" model: ")).count();
    assert_eq!(
        models, 2,
        "one line on the ml strategy's model per scenario:\n{text}"
    );
}

#[test]
fn the_eval_command_refuses_a_malformed_scenario_with_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "duration = \"1m\"\n[[workload]]\nname = \"w\"\njob_type = \"j\"\nerror_class = \"e\"\n\
         rate = 1.0\n[workload.failure.flaky]\nsuccess = 1.5\n",
    )
    .expect("write");
    let out = retryctl_eval(&[path.to_str().expect("utf-8 path"), "--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:8:11"), "{err}");
    assert!(err.contains("workload[0].failure.flaky.success"), "{err}");
}

fn ml_report(report: &ScenarioReport) -> &MlReport {
    strategy(report, "ml")
        .ml
        .as_ref()
        .unwrap_or_else(|| panic!("{}: the ml strategy reports no model", report.scenario))
}

/// The `ml` strategy serves its model only when the deploy gate passes it, as the service
/// does; a refused model leaves the Bayesian tier deciding, decision for decision.
#[test]
fn the_ml_strategy_serves_only_a_model_the_deploy_gate_passes() {
    let config = EvalConfig::default();
    let report = evaluate(&shortened("noisy-neighbour", 5), &config);
    let (ml, bayes) = (strategy(&report, "ml"), strategy(&report, "bayesian"));
    let model = ml_report(&report);
    let costs = model.decision_cost.as_ref().expect("trained and costed");
    assert!(costs.decisions > 0, "{costs:?}");
    let served = ml.methods.get("ml").copied().unwrap_or(0);
    if model.passes_gate {
        assert!(served > 0, "a passed model serves: {:?}", ml.methods);
        assert!(model.gate_refusal.is_none());
    } else {
        let why = model.gate_refusal.as_deref().expect("the refusal says why");
        assert!(why.contains("per decision"), "{why}");
        assert_eq!(
            served, 0,
            "a refused model does not serve: {:?}",
            ml.methods
        );
        assert_eq!(ml.methods, bayes.methods);
        assert_eq!(ml.cost_per_job, bayes.cost_per_job);
    }
}

/// Scenarios whose traffic and failures look the same after the warm-up as during it.
const STATIONARY: [&str; 4] = [
    "payment-503",
    "flaky",
    "noisy-neighbour",
    "rate-limit-no-hint",
];

/// The target of issue 13, not met (README "ML measurements", round 8). Since round 8 a
/// column's noise is measured on live-size windows drawn from the training rows, plus the
/// held-out slice's shift, and at this seed (42) the shadow on `drift` fires in the window
/// after the one holding the change (`recent_failures`, score 0.34: its PSI 1.58 and 1.54
/// against a noise of 1.20; before, the noise of 64-row training windows kept it at 0.06). It
/// still fails: `rate-limit-no-hint` fires too, in its third window (`since_first_failure`,
/// PSI 1.02, then 2.99 and 2.90 against a noise of 1.83): the traffic does not change, so the
/// move is in how the Bayesian tier retries, which a shadow's policy-shaped columns follow.
/// Run with `--ignored` to check a fix.
#[test]
#[ignore = "target not met yet: README \"ML measurements\" round 8, rate-limit-no-hint fires at seed 42"]
fn model_drift_is_detected_within_two_windows_of_the_change_and_never_without_one() {
    let config = EvalConfig::default();
    let scenario = shipped("drift");
    let change_ms = world::generate(&scenario, config.seed)
        .iter()
        .filter(|j| j.drifted)
        .map(|j| j.arrival_ms)
        .min()
        .expect("the drift scenario drifts");
    let ml = ml_report(&evaluate(&scenario, &config)).clone();
    let windows = &ml.drift_windows;
    let after = windows
        .iter()
        .position(|w| w.closed_at_ms > change_ms)
        .unwrap_or_else(|| panic!("no drift window closed after the change: {windows:?}"));
    assert!(
        after > 0,
        "no window before the change to compare: {windows:?}"
    );
    let first = ml
        .first_alert()
        .unwrap_or_else(|| panic!("ModelDriftDetected never fired: {windows:?}"));
    assert!(
        first == after || first == after + 1,
        "fired in window {first}; the change ({change_ms} ms) is in window {after}: {windows:?}"
    );
    for name in STATIONARY {
        let ml = ml_report(&evaluate(&shipped(name), &config)).clone();
        assert!(
            ml.drift_windows.len() >= 2,
            "{name}: too few windows to show anything: {ml:?}"
        );
        assert_eq!(ml.first_alert(), None, "{name}: {:?}", ml.drift_windows);
    }
}

/// A model the canary (or the live check) takes off goes back to shadow, as in the service:
/// nothing serves it again, and its drift windows go on, now as a shadow's (README "ML
/// tier"). Checked on the first seed at which the gate passes the model on `drift` and it is
/// rolled back (which seed that is depends on what the Bayesian tier decided in the warm-up).
#[test]
fn a_model_rolled_back_in_eval_is_watched_in_shadow_and_never_served_again() {
    let reports: Vec<_> = (1..=6)
        .map(|seed| {
            let config = EvalConfig {
                seed,
                ..EvalConfig::default()
            };
            ml_report(&evaluate(&shipped("drift"), &config)).clone()
        })
        .collect();
    let ml = reports
        .iter()
        .find(|ml| ml.rollback.is_some())
        .unwrap_or_else(|| {
            panic!("no seed of 1-6 served the model and rolled it back: {reports:?}")
        });
    let rollback = ml.rollback.as_ref().expect("found by its rollback");
    assert!(
        rollback.reason.contains("kept in shadow"),
        "{}",
        rollback.reason
    );
    let after: Vec<_> = ml
        .drift_windows
        .iter()
        .filter(|w| w.closed_at_ms > rollback.at_ms)
        .collect();
    assert!(
        !after.is_empty(),
        "no drift window after the rollback: {ml:?}"
    );
    assert!(after.iter().all(|w| w.shadow), "{after:?}");
    assert!(
        ml.promotion.is_none() && ml.canary_at_end.is_none(),
        "{ml:?}"
    );
}
