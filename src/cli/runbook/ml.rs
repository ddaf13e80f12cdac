//! `retryctl ml train|models|deploy|rollback`: the ML tier's lifecycle for runbooks, over the
//! API (`/ml/*`). `train` starts a training job and follows it to its end.

use super::{ConnArgs, Refused, cell, print, print_json, stamp};
use crate::model::{
    MLTrainingConfig, MlDeployRequest, MlDeployed, MlJob, MlJobState, MlSummary, MlVersion,
};
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::time::Duration;

/// How often `ml train` asks how the job is doing.
const POLL: Duration = Duration::from_millis(500);

/// Options of `retryctl ml`.
#[derive(Debug, Clone, Args)]
pub struct MlArgs {
    #[command(subcommand)]
    pub verb: MlVerb,
}

/// The ML verbs.
#[derive(Debug, Clone, Subcommand)]
pub enum MlVerb {
    /// Train a model version on the recorded attempts and wait for it (operator)
    ///
    /// Example: retryctl ml train --model-type gradient-boost
    Train(TrainArgs),
    /// List the stored model versions with their state and held-out metrics (viewer)
    Models(ListArgs),
    /// Deploy a version: active, a canary share of jobs, or shadow (operator; audited)
    ///
    /// Refused when the version is worse than the Bayesian tier on the held-out slice, unless
    /// --force.
    ///
    /// Example: retryctl ml deploy ml-3 --canary 10 --reason "beats bayes by 0.04 log-loss"
    Deploy(DeployArgs),
    /// Retire the serving version; the one before serves again, or none (operator; audited)
    Rollback(ListArgs),
}

/// The model kinds `ml train` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelType {
    Logistic,
    GradientBoost,
}

/// Options of `retryctl ml train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(long, value_enum, default_value = "gradient-boost")]
    pub model_type: ModelType,
    /// Features to use (comma-separated); default all
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Share of the most recent retries held out (above 0, at most 0.5)
    #[arg(long, default_value_t = 0.2)]
    pub validation_set: f64,
    /// Forward-chaining cross-validation folds (1 to 10)
    #[arg(long, default_value_t = 3)]
    pub folds: u32,
    /// Print the API's answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl ml models` and `retryctl ml rollback`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print the API's answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Options of `retryctl ml deploy`.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The version, e.g. ml-3
    pub version: String,
    /// Serve this percentage of jobs (by job id hash) instead of all
    #[arg(long, value_name = "PERCENT", conflicts_with = "shadow")]
    pub canary: Option<f64>,
    /// Score every request beside the served answer, never serve
    #[arg(long)]
    pub shadow: bool,
    /// Deploy even if worse than the Bayesian tier on the held-out slice
    #[arg(long)]
    pub force: bool,
    /// Why (recorded in the audit log)
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Print the API's answer as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn ml(args: MlArgs) -> anyhow::Result<()> {
    match args.verb {
        MlVerb::Train(a) => train(a).await,
        MlVerb::Models(a) => models(a).await,
        MlVerb::Deploy(a) => deploy(a).await,
        MlVerb::Rollback(a) => rollback(a).await,
    }
}

async fn train(args: TrainArgs) -> anyhow::Result<()> {
    let config = MLTrainingConfig {
        model_type: match args.model_type {
            ModelType::Logistic => "logistic",
            ModelType::GradientBoost => "gradient_boost",
        }
        .into(),
        features: args.features.clone(),
        training_period: None,
        validation_set: args.validation_set,
        cross_validation: args.folds,
        hyperparameters: None,
        run_async: true,
    };
    let client = args.conn.client()?;
    let mut job = client.ml_train(&config).await.context("ml train")?;
    while job.state == MlJobState::Running || job.state == MlJobState::Queued {
        tokio::time::sleep(POLL).await;
        job = client.ml_job(&job.job_id).await.context("ml train")?;
    }
    if args.json {
        print_json(&job)?;
    } else {
        print(&job_text(&job))?;
    }
    match job.state {
        MlJobState::Succeeded => Ok(()),
        _ => Err(Refused(format!(
            "training failed: {}",
            job.error.as_deref().unwrap_or("unknown")
        ))
        .into()),
    }
}

fn job_text(job: &MlJob) -> String {
    match &job.model {
        Some(v) => format!(
            "{} trained {}\n{}",
            job.job_id,
            v.version,
            versions_table(std::slice::from_ref(v))
        ),
        None => format!(
            "{} {}\n",
            job.job_id,
            cell(job.error.as_deref().unwrap_or(""), 400)
        ),
    }
}

/// One line per version: state, kind, rows, held-out log-loss/ECE/AUC beside the Bayesian
/// tier's log-loss, the held-out decision cost beside the Bayesian tier's, the deploy gate's
/// verdict, training time.
pub fn versions_table(versions: &[MlVersion]) -> String {
    let mut out = format!(
        "{:<8} {:<9} {:<14} {:>8} {:>9} {:>9} {:>7} {:>6} {:>13} {:>6} {:>8}  {}\n",
        "VERSION",
        "STATE",
        "TYPE",
        "ROWS",
        "LOG-LOSS",
        "BAYESIAN",
        "ECE",
        "AUC",
        "COST/BAYES",
        "GATE",
        "TRAIN",
        "TRAINED"
    );
    for v in versions {
        let state = if v.state == crate::model::MlState::Canary {
            format!("canary{:.0}%", v.canary_percent)
        } else {
            v.state.as_str().to_string()
        };
        out.push_str(&format!(
            "{:<8} {:<9} {:<14} {:>8} {:>9.4} {:>9.4} {:>7.4} {:>6} {:>13} {:>6} {:>6}ms  {}\n",
            cell(&v.version, 8),
            state,
            v.model_type,
            v.training_rows + v.holdout_rows,
            v.holdout.log_loss,
            v.bayesian_holdout.log_loss,
            v.holdout.ece,
            v.holdout.auc.map_or("-".into(), |a| format!("{a:.3}")),
            v.decision_cost
                .as_ref()
                .map_or("-".into(), |d| format!("{:.2}/{:.2}", d.model, d.bayesian)),
            if v.gate().is_ok() { "pass" } else { "refuse" },
            v.training_ms,
            stamp(v.trained_at)
        ));
    }
    out
}

async fn models(args: ListArgs) -> anyhow::Result<()> {
    let listed = args.conn.client()?.ml_models().await.context("ml models")?;
    if args.json {
        return print_json(&listed);
    }
    if listed.models.is_empty() {
        return print("no model versions yet: retryctl ml train\n");
    }
    let summary = args.conn.client()?.summary().await.context("ml models")?;
    print(&format!(
        "{}{}",
        versions_table(&listed.models),
        live_text(&summary.ml)
    ))
}

/// The serving version's live check and the live check's last rollback, from `/summary`:
/// nothing when neither is there.
pub fn live_text(ml: &MlSummary) -> String {
    let mut out = String::new();
    if let (Some(c), Some(serving)) = (&ml.live_check, &ml.serving) {
        out.push_str(&format!(
            "\nlive check of {}: {} outcomes in {} clusters (judged from {}), log-loss {:.4} \
             against the Bayesian tier's {:.4}, difference {:+.4}, standard error {:.4} ({})\n",
            cell(serving, 40),
            c.outcomes,
            c.clusters,
            c.min_outcomes,
            c.model_log_loss,
            c.bayesian_log_loss,
            c.difference,
            c.standard_error,
            margin_text(c.margin),
        ));
        if let Some(d) = &c.decisions {
            out.push_str(&format!(
                "decisions: {} served with the model's own delay in {} clusters cost {:.3} \
                 against the Bayesian tier's {:.3} a retry (forecast offset {:+.2} log-odds), \
                 difference {:+.3}, standard error {:.3} (over {:.0} % of the Bayesian cost: {})\n",
                d.decisions,
                d.clusters,
                d.model_cost,
                d.bayesian_cost,
                d.offset,
                d.difference,
                d.standard_error,
                d.tolerance * 100.0,
                margin_text(d.margin),
            ));
        }
    }
    if let Some(c) = &ml.canary {
        let margins = match (c.promote_margin, c.rollback_margin) {
            (Some(p), Some(r)) => {
                format!("promoted below -{p:.2}, rolled back above {r:.2} standard errors")
            }
            _ => "no verdict below 5 clusters".into(),
        };
        out.push_str(&format!(
            "\ncanary: realized cost {:.3} a job over {} ended episodes against the Bayesian \
             arm's {:.3} over {} (judged from {} each), difference {:+.3}, standard error {:.3} \
             in {} clusters ({margins}): {}\n",
            c.ml_cost,
            c.ml_episodes,
            c.bayesian_cost,
            c.bayesian_episodes,
            c.min_episodes,
            c.difference,
            c.standard_error,
            c.clusters,
            c.verdict,
        ));
    }
    if let Some(p) = &ml.auto_promotion {
        out.push_str(&format!(
            "\npromoted automatically at {}: {}\n",
            stamp(p.at),
            cell(&p.reason, 1_000)
        ));
    }
    if let Some(r) = &ml.auto_rollback {
        out.push_str(&format!(
            "\nrolled back automatically at {}: {}\n",
            stamp(r.at),
            cell(&r.reason, 1_000)
        ));
    }
    out
}

async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let req = MlDeployRequest {
        version: args.version.clone(),
        canary_percent: args.canary,
        shadow: args.shadow,
        force: args.force,
        reason: args.reason.clone(),
    };
    let answer = args
        .conn
        .client()?
        .ml_deploy(&req)
        .await
        .context("ml deploy")?;
    if args.json {
        return print_json(&answer);
    }
    print(&deployed_text(&answer))
}

async fn rollback(args: ListArgs) -> anyhow::Result<()> {
    let answer = args
        .conn
        .client()?
        .ml_rollback()
        .await
        .context("ml rollback")?;
    if args.json {
        return print_json(&answer);
    }
    print(&deployed_text(&answer))
}

fn deployed_text(d: &MlDeployed) -> String {
    let serving = d
        .serving
        .as_ref()
        .map_or("none (the Bayesian tier decides)".to_string(), |v| {
            format!(
                "{} ({}, {:.0}% of jobs)",
                v.version,
                v.state.as_str(),
                v.canary_percent
            )
        });
    let shadow = d
        .shadow
        .as_ref()
        .map_or("none".to_string(), |v| v.version.clone());
    format!("{}: serving {serving}; shadow {shadow}\n", d.status)
}

fn margin_text(margin: Option<f64>) -> String {
    margin.map_or("no rollback below 5 clusters".into(), |m| {
        format!("rollback above {m:.2} standard errors")
    })
}
