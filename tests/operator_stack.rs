//! What ships for the operator's own stack works with the real tools: the Prometheus alerting
//! rules pass `promtool check rules` and their unit tests (`promtool test rules`), every
//! runbook link names a README heading, and every metric that a rule or a Grafana panel
//! queries is one a running `retryctl serve` exports. A missing tool fails with the command
//! that installs it.

use crate::common::service;

use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::{Value, json};
use service::Service;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROMTOOL_INSTALL: &str = "promtool is missing: apt-get install -y prometheus";
const RULES: &str = "assets/prometheus/retryctl-rules.yml";
const RULE_TESTS: &str = "assets/prometheus/retryctl-rules.test.yml";
const DASHBOARD: &str = "assets/grafana/retryctl.json";
/// Series Prometheus itself makes for every target, so the service does not export them.
const PROMETHEUS_OWN: [&str; 1] = ["up"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo("assets/prometheus"))
        .output()
        .unwrap_or_else(|e| panic!("{PROMTOOL_INSTALL} ({e})"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let checked = promtool(&["check", "rules", &repo(RULES).to_string_lossy()]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", &repo(RULE_TESTS).to_string_lossy()]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

fn rules() -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(repo(RULES)).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let groups = doc["groups"].as_sequence().expect("groups").clone();
    groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").clone())
        .collect()
}

fn rule_exprs() -> Vec<String> {
    rules()
        .iter()
        .map(|r| r["expr"].as_str().expect("expr").to_string())
        .collect()
}

/// A heading's anchor as GitHub makes it: lower case, spaces to `-`, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_has_a_summary_a_description_and_a_runbook_heading_in_the_readme() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect();
    for rule in rules() {
        let name = rule["alert"].as_str().expect("alert name");
        let notes = &rule["annotations"];
        for key in ["summary", "description"] {
            assert!(
                notes[key].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: no {key}"
            );
        }
        let url = notes["runbook_url"].as_str().expect("runbook_url");
        let target = url.strip_prefix("README.md#").expect("a README anchor");
        assert!(
            anchors.contains(target),
            "{name}: README has no heading #{target}"
        );
    }
}

fn dashboard_exprs() -> Vec<String> {
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(repo(DASHBOARD)).unwrap())
        .expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets").clone())
        .map(|t| t["expr"].as_str().expect("expr").to_string())
        .collect()
}

/// Grafana's variables replaced by what they expand to, so the query parses as PromQL.
fn expand_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$instance", ".+")
}

struct MetricNames(BTreeSet<String>);

impl ExprVisitor for MetricNames {
    type Error = ();

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        let selector = match expr {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        if let Some(name) = selector.and_then(|vs| vs.name.clone()) {
            self.0.insert(name);
        }
        Ok(true)
    }
}

/// The metric names an expression selects (not its functions, labels or matchers).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let ast = parser::parse(expr).unwrap_or_else(|e| panic!("{expr:?} is not PromQL: {e}"));
    let mut names = MetricNames(BTreeSet::new());
    walk_expr(&mut names, &ast).unwrap();
    names.0
}

#[test]
fn metric_names_come_from_selectors_only() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job="x"}[5m]))) / on() b"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_seconds_bucket".into(), "b".into()])
    );
}

/// Sample names in an exposition: `x_total` for a counter `x`, `x_bucket`/`x_sum`/`x_count`
/// only for a histogram `x`, a gauge's own name.
fn exported_samples(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

async fn traffic(svc: &Service) {
    svc.fail("job-1", "email", "timeout", "smtp timed out")
        .await;
    let client = reqwest::Client::new();
    let retry = json!({
        "job_id": "job-1", "job_type": "email", "attempt_number": 2, "queue": "mail",
        "error_class": "timeout", "success": true, "timestamp": "2026-01-01T00:00:00Z",
    });
    let resp = client
        .post(svc.url("/attempt"))
        .json(&retry)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "POST /attempt: {}",
        resp.status()
    );
    let features = json!({"job_type": "email", "error_class": "timeout", "attempt_number": 1});
    let resp = client
        .post(svc.url("/recommendation"))
        .json(&features)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "POST /recommendation: {}",
        resp.status()
    );
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_query_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(dir.path());
    traffic(&svc).await;
    let metrics_url = format!("{}/metrics", svc.api());
    let exposition = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = exported_samples(&exposition);
    let mut queried = BTreeSet::new();
    for expr in rule_exprs().iter().chain(&dashboard_exprs()) {
        queried.extend(metric_names(&expand_grafana_variables(expr)));
    }
    assert!(queried.len() >= 10, "too few metrics queried: {queried:?}");
    let missing: Vec<_> = queried
        .iter()
        .filter(|n| !exported.contains(*n) && !PROMETHEUS_OWN.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\n{exposition}"
    );
}
