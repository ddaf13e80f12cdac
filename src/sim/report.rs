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
    let rows: Vec<[String; 10]> = report.strategies.iter().map(row).collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .fold(HEADER[c].len(), usize::max)
        })
        .collect();
    let header = HEADER.map(String::from);
    for cells in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| match c {
                0 | 9 => format!("{cell:<w$}"),
                _ => format!("{cell:>w$}"),
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
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
    out
}

/// The `ml` strategy's model in one line: training, held-out metrics, gate, drift.
fn ml_summary(ml: &MlReport) -> String {
    let (Some(m), Some(b)) = (&ml.holdout, &ml.bayesian_holdout) else {
        let why = ml.training_error.as_deref().unwrap_or("no training");
        return format!("{} not trained: {why}", ml.model_type);
    };
    let gate = if ml.passes_gate { "passed" } else { "refused" };
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
        "{} on {} warm-up retries ({} held out): log-loss {:.3} (bayesian {:.3}), ECE {:.3} ({:.3}); deploy gate {gate}; {} drift windows, max PSI {max}; ModelDriftDetected {alert}",
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
