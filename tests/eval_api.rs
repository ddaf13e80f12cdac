//! `eval --api` against the real `retryctl serve` (its own port, the memory store, a temporary data
//! dir) reports what in-process `eval` reports on the same seed, figure for figure: the service
//! learns from record timestamps in virtual time, is seeded with the run's seed, runs stay
//! isolated inside one service, and the strategy switch between `rules` and `bayesian` works.

use crate::common::service;

use retryctl::model::CostWeights;
use retryctl::sim::api::ApiLearners;
use retryctl::sim::eval::{EvalConfig, ScenarioReport, evaluate, evaluate_with};
use retryctl::sim::scenario::{Scenario, SimDuration};
use service::Service;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// A shipped scenario cut to `warmup` + `measured` minutes, so a debug build stays quick.
fn cut(name: &str, warmup: u64, measured: u64) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    let mut scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    scenario.warmup = SimDuration(scenario.warmup.0.min(warmup * 60_000));
    scenario.duration = SimDuration(scenario.duration.0.min(measured * 60_000));
    scenario
}

/// Strategy names from cheapest to dearest (ties, e.g. three strategies that never retry a
/// validation error, by name).
fn ranking(report: &ScenarioReport) -> Vec<String> {
    let mut by_cost: Vec<(f64, &str)> = report
        .strategies
        .iter()
        .map(|s| (s.cost_per_job, s.strategy.as_str()))
        .collect();
    by_cost.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    by_cost
        .into_iter()
        .map(|(_, name)| name.to_string())
        .collect()
}

fn costs(report: &ScenarioReport) -> String {
    report
        .strategies
        .iter()
        .map(|s| format!("{} {:.2}", s.strategy, s.cost_per_job))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Share of a strategy's decisions made by `method`.
fn decided_by(report: &ScenarioReport, strategy: &str, method: &str) -> f64 {
    let s = report
        .strategies
        .iter()
        .find(|s| s.strategy == strategy)
        .expect("strategy in report");
    let all: u64 = s.methods.values().sum();
    s.methods.get(method).copied().unwrap_or(0) as f64 / all.max(1) as f64
}

/// Runs `scenario` in process and over the API; the two reports must be equal in every figure
/// (the service's engine is seeded with the run's seed, and each run has its own namespace),
/// so the rankings are too. Returns the report.
fn same_as_in_process(
    scenario: &Scenario,
    config: &EvalConfig,
    learners: &mut ApiLearners,
) -> ScenarioReport {
    let started = Instant::now();
    let local = evaluate(scenario, config);
    let remote = evaluate_with(scenario, config, learners)
        .unwrap_or_else(|e| panic!("{}: {e}", scenario.name));
    assert_eq!(
        ranking(&remote),
        ranking(&local),
        "{}: ranking over the API differs\n  api:        {}\n  in-process: {}",
        scenario.name,
        costs(&remote),
        costs(&local)
    );
    let json = |r: &ScenarioReport| serde_json::to_value(r).unwrap();
    assert_eq!(
        json(&remote),
        json(&local),
        "{}: figures differ",
        scenario.name
    );
    eprintln!(
        "{}: {} jobs, the same report in {:.1?}: {}",
        scenario.name,
        local.warmup_jobs + local.measured_jobs,
        started.elapsed(),
        costs(&local)
    );
    remote
}

#[test]
fn eval_over_the_api_reports_what_in_process_eval_reports() {
    let data = tempfile::tempdir().unwrap();
    let service = Service::start_in_memory(data.path(), &[]);
    // The `ml` strategy runs in process only; over the API the report leaves it out.
    let config = EvalConfig {
        ml_model: None,
        ..EvalConfig::default()
    };
    let scenarios = [
        cut("payment-503", 3, 3),
        cut("rate-limit-no-hint", 3, 3),
        cut("validation", 3, 3),
        cut("noisy-neighbour", 2, 2),
    ];
    let mut learners = ApiLearners::connect(&service.api(), None).unwrap_or_else(|e| panic!("{e}"));
    let mut bayesian_decisions = 0.0;
    for scenario in &scenarios {
        let report = same_as_in_process(scenario, &config, &mut learners);
        assert_eq!(
            decided_by(&report, "rules", "rules"),
            1.0,
            "{}",
            scenario.name
        );
        bayesian_decisions += decided_by(&report, "bayesian", "bayesian");
    }
    assert!(
        bayesian_decisions > 0.0,
        "the Bayesian tier never decided: nothing compared"
    );
    learners.restore().unwrap_or_else(|e| panic!("{e}"));

    // A second `eval --api` on the same, now experienced, service: still the same report.
    let mut again = ApiLearners::connect(&service.api(), None).unwrap_or_else(|e| panic!("{e}"));
    same_as_in_process(&scenarios[0], &config, &mut again);

    // The operator's own cost (`--cost per_attempt=2,per_second=1,give_up=600`) becomes the
    // service's for the run, and the service's weights are put back at the end.
    let dear_waiting = EvalConfig {
        cost: CostWeights {
            per_attempt: 2.0,
            per_second: 1.0,
            give_up_penalty: 600.0,
        },
        ..config.clone()
    };
    same_as_in_process(&scenarios[1], &dear_waiting, &mut again);
    again.restore().unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cost = runtime.block_on(async {
        let timeout = std::time::Duration::from_secs(10);
        let client = retryctl::client::Client::new(&service.api(), None, timeout).unwrap();
        client.cost().await.unwrap()
    });
    assert_eq!(
        cost,
        CostWeights::default(),
        "the service's weights are put back"
    );
}

/// `retryctl eval --api URL` with `args`: exit success and stderr.
fn eval_cli(url: &str, args: &[&str]) -> (bool, String) {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_retryctl"))
        .args(["eval", "--api", url])
        .args(args)
        .arg(scenario)
        .env_remove("RETRYCTL_TOKEN")
        .output()
        .expect("run retryctl eval");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unreachable_service_or_a_refusal_is_a_clear_error() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let (ok, stderr) = eval_cli(&closed, &[]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&closed) && stderr.contains("cannot reach"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let data = tempfile::tempdir().unwrap();
    let service = Service::start_in_memory(
        data.path(),
        &[
            ("RETRYCTL_OPERATOR_TOKEN", "op-secret"),
            ("RETRYCTL_VIEWER_TOKEN", "viewer-secret"),
        ],
    );
    let (ok, stderr) = eval_cli(&service.api(), &["--token", "viewer-secret"]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&service.api())
            && stderr.contains("PUT /strategy")
            && stderr.contains("403"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
