//! An evaluation as a text table (default), JSON or CSV.

use super::eval::{ScenarioReport, StrategyResult};
use super::ml::MlReport;
use crate::engine::fmt_ms;
use serde::Serialize;
use std::fmt::Write as _;

/// Output formats of `retryctl eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

/// Renders reports in `format`.
pub fn render(reports: &[ScenarioReport], format: Format) -> Result<String, ReportError> {
    match format {
        Format::Table => Ok(reports.iter().map(table).collect::<Vec<_>>().join("\n")),
        Format::Json => Ok(serde_json::to_string_pretty(reports)? + "\n"),
        Format::Csv => csv(reports),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write CSV: {0}")]
    CsvBuffer(String),
}

const HEADER: [&str; 10] = [
    "strategy",
    "success",
    "retries/job",
    "1st retry ok",
    "mean TTS",
    "p90 TTS",
    "cost/job",
    "vs best static",
    "vs oracle",
    "decided by",
];

/// One scenario as an aligned text table with its title, notes and drift curve.
pub fn table(report: &ScenarioReport) -> String {
    let mut out = format!("scenario {}", report.scenario);
    if !report.description.is_empty() {
        let _ = write!(out, " — {}", report.description);
    }
    let _ = writeln!(
        out,
        "\nseed {}, {} measured jobs (after {} warm-up jobs)\n",
        report.seed, report.measured_jobs, report.warmup_jobs
    );
    let mut rows = vec![HEADER.map(String::from).to_vec()];
    rows.extend(report.strategies.iter().map(|r| row(r).to_vec()));
    out.push_str(&aligned(&rows, &[0, HEADER.len() - 1]));
    for r in &report.strategies {
        if let Some(d) = &r.drift {
            let blocks: Vec<String> = d.after_blocks.iter().map(|c| format!("{c:.2}")).collect();
            let _ = writeln!(
                out,
                "drift {:<12} cost/job before {:.2}; after, per block: {}",
                r.strategy,
                d.before,
                blocks.join(" ")
            );
        }
    }
    for r in &report.strategies {
        if let Some(ml) = &r.ml {
            let _ = writeln!(out, "{:<12} model: {}", r.strategy, ml_summary(ml));
        }
    }
    out.push_str(&lost_by_workload(report));
    out
}

/// For a scenario of several workloads: per workload, the measured jobs and each strategy's
/// lost jobs, "lost (of them out of attempts)"; empty for a single workload.
fn lost_by_workload(report: &ScenarioReport) -> String {
    let Some(first) = report.strategies.first() else {
        return String::new();
    };
    if first.workloads.len() < 2 {
        return String::new();
    }
    let mut header = vec!["workload".to_string(), "jobs".to_string()];
    header.extend(report.strategies.iter().map(|r| r.strategy.clone()));
    let mut rows = vec![header];
    for (i, w) in first.workloads.iter().enumerate() {
        let mut cells = vec![w.workload.clone(), w.jobs.to_string()];
        cells.extend(report.strategies.iter().map(|r| {
            let w = &r.workloads[i];
            format!("{} ({})", w.given_up + w.out_of_attempts, w.out_of_attempts)
        }));
        rows.push(cells);
    }
    format!(
        "\nlost jobs per workload (of them out of attempts):\n{}",
        aligned(&rows, &[0])
    )
}

/// `rows` (the first is the header) as lines of columns two spaces apart, each as wide as its
/// widest cell; the columns in `left` are aligned left, the others right.
fn aligned(rows: &[Vec<String>], left: &[usize]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for cells in rows {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if left.contains(&c) {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// The `ml` strategy's model in one line: training, held-out metrics, gate, drift.
fn ml_summary(ml: &MlReport) -> String {
    let (Some(m), Some(b)) = (&ml.holdout, &ml.bayesian_holdout) else {
        let why = ml.training_error.as_deref().unwrap_or("no training");
        return format!("{} not trained: {why}", ml.model_type);
    };
    let gate = if ml.passes_gate {
        format!("passed, {}", canary_course(ml))
    } else {
        "refused (the Bayesian tier served)".into()
    };
    let decisions = ml.decision_cost.as_ref().map_or("-".into(), |d| {
        format!(
            "{:.2} (bayesian {:.2}, standard error {:.2}) per decision at {} held-out retries ({} unsupported)",
            d.model, d.bayesian, d.standard_error, d.decisions, d.unsupported
        )
    });
    let max = ml
        .drift_windows
        .iter()
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .map_or("-".into(), |w| format!("{:.2} ({})", w.score, w.worst));
    let alert = ml.first_alert().map_or("never".into(), |i| {
        let at = fmt_ms(ml.drift_windows[i].closed_at_ms);
        format!("from window {} at {at}", i + 1)
    });
    format!(
        "{} on {} warm-up retries ({} held out): log-loss {:.3} (bayesian {:.3}), ECE {:.3} ({:.3}); decision cost {decisions}; deploy gate {gate}; {} drift windows, max PSI {max}; ModelDriftDetected {alert}",
        ml.model_type,
        ml.training_rows,
        ml.holdout_rows,
        m.log_loss,
        b.log_loss,
        m.ece,
        b.ece,
        ml.drift_windows.len(),
    )
}

/// What became of a model the gate passed: served as a canary, then promoted, rolled back,
/// or still a canary at the end.
fn canary_course(ml: &MlReport) -> String {
    if let Some(p) = &ml.promotion {
        return format!("canary promoted to every job at {}", fmt_ms(p.at_ms));
    }
    match &ml.rollback {
        Some(r) if r.canary.is_some() => {
            format!(
                "canary rolled back on its jobs' cost at {}",
                fmt_ms(r.at_ms)
            )
        }
        Some(r) => format!(
            "canary rolled back by the live check at {}",
            fmt_ms(r.at_ms)
        ),
        None => "still a canary at the end".into(),
    }
}

fn row(r: &StrategyResult) -> [String; 10] {
    let ratio = |x: Option<f64>| x.map_or("-".into(), |x| format!("{x:.2}"));
    let secs = |v: Option<f64>| v.map_or("-".into(), |s| format!("{s:.1}s"));
    [
        r.strategy.clone(),
        format!("{:.1}%", r.success_rate * 100.0),
        format!("{:.2}", r.retries_per_job),
        r.first_retry_success
            .map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
        secs(r.mean_time_to_success_s),
        secs(r.p90_time_to_success_s),
        format!("{:.2}", r.cost_per_job),
        ratio(r.cost_vs_best_static),
        ratio(r.cost_vs_oracle),
        decided_by(r),
    ]
}

/// The engine tiers behind an engine strategy's decisions, as shares.
fn decided_by(r: &StrategyResult) -> String {
    let total: u64 = r.methods.values().sum();
    if total == 0 {
        return String::new();
    }
    let mut parts: Vec<(u64, &String)> = r.methods.iter().map(|(m, n)| (*n, m)).collect();
    parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    parts
        .iter()
        .map(|(n, m)| format!("{m} {:.0}%", *n as f64 * 100.0 / total as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Serialize)]
struct CsvRow<'a> {
    scenario: &'a str,
    seed: u64,
    strategy: &'a str,
    jobs: u64,
    succeeded: u64,
    success_rate: f64,
    retries_per_job: f64,
    first_retry_success: Option<f64>,
    mean_time_to_success_s: Option<f64>,
    p90_time_to_success_s: Option<f64>,
    cost_per_job: f64,
    cost_vs_best_static: Option<f64>,
    cost_vs_oracle: Option<f64>,
}

fn csv(reports: &[ScenarioReport]) -> Result<String, ReportError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for report in reports {
        for r in &report.strategies {
            writer.serialize(CsvRow {
                scenario: &report.scenario,
                seed: report.seed,
                strategy: &r.strategy,
                jobs: r.jobs,
                succeeded: r.succeeded,
                success_rate: r.success_rate,
                retries_per_job: r.retries_per_job,
                first_retry_success: r.first_retry_success,
                mean_time_to_success_s: r.mean_time_to_success_s,
                p90_time_to_success_s: r.p90_time_to_success_s,
                cost_per_job: r.cost_per_job,
                cost_vs_best_static: r.cost_vs_best_static,
                cost_vs_oracle: r.cost_vs_oracle,
            })?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ReportError::CsvBuffer(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::CsvBuffer(e.to_string()))
}
