//! Wire types of the ML tier: a stored model version with its metrics and state, training
//! jobs, deployment and rollback requests, and the live state for `/summary`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a model version is in its lifecycle.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MlState {
    /// Trained, not serving.
    Candidate,
    /// Scores every request beside the served answer; never served.
    Shadow,
    /// Serves a stable share of jobs (by job id hash); the rest go to the Bayesian tier.
    Canary,
    /// Serves every job.
    Active,
    /// Served once; replaced or rolled back.
    Retired,
}

impl MlState {
    pub fn as_str(self) -> &'static str {
        match self {
            MlState::Candidate => "candidate",
            MlState::Shadow => "shadow",
            MlState::Canary => "canary",
            MlState::Active => "active",
            MlState::Retired => "retired",
        }
    }
}

/// How well a model's forecasts did on rows with known outcomes. Lower is better for
/// log-loss, Brier and ECE; higher for AUC (absent when the rows hold one outcome only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlMetrics {
    pub rows: u64,
    pub log_loss: f64,
    pub brier: f64,
    /// Expected calibration error over 10 equal-width bins.
    pub ece: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc: Option<f64>,
    /// Share of rows the forecast got right at 0.5.
    pub accuracy: f64,
    /// F1 of "success" at 0.5.
    pub f1_score: f64,
}

/// One stored model version (without its parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlVersion {
    /// `ml-` and a sequence number, e.g. `ml-3`.
    pub version: String,
    /// `logistic` or `gradient_boost`.
    pub model_type: String,
    pub features: Vec<String>,
    pub state: MlState,
    /// The share of jobs a canary serves (percent); 100 when active, 0 otherwise.
    pub canary_percent: f64,
    pub trained_at: DateTime<Utc>,
    /// Record times of the oldest and newest retry the model learned from or was tested on.
    pub data_from: DateTime<Utc>,
    pub data_to: DateTime<Utc>,
    pub training_rows: u64,
    pub holdout_rows: u64,
    /// Wall-clock training time, cross-validation included.
    pub training_ms: u64,
    /// Forward-chaining cross-validation on the training part, one entry per fold.
    pub cross_validation: Vec<MlMetrics>,
    /// The model on the held-out most recent slice.
    pub holdout: MlMetrics,
    /// The Bayesian tier (learned from the same training part) on the same held-out rows.
    pub bayesian_holdout: MlMetrics,
    /// The expected cost of the model's decisions against the Bayesian tier's on the
    /// held-out episodes (absent for versions trained before the gate judged decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_cost: Option<MlDecisionCost>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
    /// When it last changed state.
    pub updated_at: DateTime<Utc>,
}

impl MlVersion {
    /// The deploy gate on this version's held-out evidence ([`deploy_gate`]).
    pub fn gate(&self) -> Result<(), String> {
        deploy_gate(
            &self.holdout,
            &self.bayesian_holdout,
            self.decision_cost.as_ref(),
        )
    }
}

/// The expected one-step cost of two policies' decisions at the held-out retries, under
/// `[engine.cost]`, measured by the recorded retries that made the same choice (see
/// `engine::ml::decision_cost` for the estimator and its limits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlDecisionCost {
    /// Held-out retries at which both policies were judged (at most the 5,000 most recent;
    /// 0 for a version costed by the earlier per-episode estimator).
    #[serde(default)]
    pub decisions: u64,
    /// Held-out retries left out: no attempt left, or no Bayesian model to value a failure.
    pub left_out: u64,
    /// Judged retries dropped because a policy chose a delay that fewer than 10 held-out
    /// retries of the same situation took: the data cannot say what it would have cost.
    #[serde(default)]
    pub unsupported: u64,
    /// Mean cost per decision of the model's recommended delays (the tier as it serves).
    pub model: f64,
    /// Mean cost per decision of the Bayesian tier's recommended delays.
    pub bayesian: f64,
    /// Standard error of `model - bayesian`.
    #[serde(default)]
    pub standard_error: f64,
}

/// Largest share of the judged retries whose choices the data may fail to support before
/// the decision cost says nothing.
pub const MAX_UNSUPPORTED_SHARE: f64 = 0.2;
/// Standard errors by which the model's decisions must cost less than the Bayesian tier's
/// when they differ (one-sided, about 98 %).
pub const GATE_STANDARD_ERRORS: f64 = 2.0;

/// The deploy gate: a version may serve without `force` when, on the held-out slice, its
/// log-loss is below the Bayesian tier's on the same retries AND its decisions cost less than
/// the Bayesian tier's on the same retries by more than [`GATE_STANDARD_ERRORS`] standard
/// errors, on a support the data covers ([`MAX_UNSUPPORTED_SHARE`]). A version whose decisions
/// are the Bayesian tier's is refused too: it has nothing to gain, and once deployed it stops
/// learning where the Bayesian tier keeps on (in `eval`'s `drift` scenario such models cost
/// 5.8–6.8 × the Bayesian tier after the change). `Err` says why not, with the numbers.
pub fn deploy_gate(
    holdout: &MlMetrics,
    bayesian: &MlMetrics,
    decisions: Option<&MlDecisionCost>,
) -> Result<(), String> {
    let forecasts = format!(
        "held-out log-loss {:.4} vs the Bayesian tier's {:.4} (Brier {:.4} vs {:.4}, ECE {:.4} vs {:.4}) on {} retries",
        holdout.log_loss,
        bayesian.log_loss,
        holdout.brier,
        bayesian.brier,
        holdout.ece,
        bayesian.ece,
        holdout.rows
    );
    let Some(d) = decisions else {
        return Err(format!(
            "{forecasts}; its decisions were never costed (trained before the gate judged decisions: train again)"
        ));
    };
    let costs = format!(
        "expected decision cost {:.3} vs the Bayesian tier's {:.3} (difference {:+.3}, standard error {:.3}) per decision at {} held-out retries ({} unsupported, {} left out)",
        d.model,
        d.bayesian,
        d.model - d.bayesian,
        d.standard_error,
        d.decisions,
        d.unsupported,
        d.left_out
    );
    let mut why = Vec::new();
    if holdout.log_loss >= bayesian.log_loss {
        why.push("its forecasts are not better");
    }
    if let Some(problem) = decision_problem(d) {
        why.push(problem);
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {forecasts}; {costs}", why.join(" and ")))
    }
}

/// What the decision cost says against deploying, if anything.
fn decision_problem(d: &MlDecisionCost) -> Option<&'static str> {
    let asked = d.decisions + d.unsupported;
    let difference = d.model - d.bayesian;
    if d.decisions == 0 {
        Some(
            "no held-out retry could judge its decisions (a version costed before they were judged per retry: train again)",
        )
    } else if d.unsupported as f64 > MAX_UNSUPPORTED_SHARE * asked as f64 {
        Some("its decisions go where the held-out retries did not (support too thin to judge)")
    } else if difference > 0.0 {
        Some("its decisions cost more")
    } else if difference == 0.0 && d.standard_error == 0.0 {
        Some(
            "its decisions are the Bayesian tier's (nothing to gain, and a deployed model stops learning where the Bayesian tier keeps on)",
        )
    } else if difference + GATE_STANDARD_ERRORS * d.standard_error > 0.0 {
        Some("its decisions are not shown to cost less (within two standard errors)")
    } else {
        None
    }
}

/// `GET /ml/models`: every stored version, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlModels {
    pub models: Vec<MlVersion>,
}

/// `POST /ml/deploy`, our form: which version, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MlDeployRequest {
    #[schema(pattern = "^ml-[0-9]{1,18}$")]
    pub version: String,
    /// Serve this share of jobs as a canary (percent, 0 < p < 100). Absent or 100: every job
    /// when forced; otherwise a canary of 10 % first, promoted to every job once its jobs'
    /// realized cost is shown not dearer than the Bayesian tier's (rolled back when dearer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub canary_percent: Option<f64>,
    /// Score in shadow beside the served answer instead of serving.
    #[serde(default)]
    pub shadow: bool,
    /// Deploy even when worse than the Bayesian tier on the held-out slice (audited).
    #[serde(default)]
    pub force: bool,
    /// Why (kept in the audit log).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(max_length = 500)]
    pub reason: String,
}

/// `POST /ml/deploy`, `POST /ml/rollback` answer: the upstream status and what serves now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlDeployed {
    /// `deployed`, `shadowing` or `rolled_back` (upstream words where there are some).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<MlVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<MlVersion>,
}

/// State of a training job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MlJobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// `GET /ml/jobs/{id}` and the answer of an asynchronous `POST /ml/train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlJob {
    pub job_id: String,
    pub state: MlJobState,
    /// What the job is doing (`loading attempts`, `cross-validation fold 2 of 3`, ...).
    pub progress: String,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The trained version, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<MlVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Live outcomes of one arm (`ml`, `bayesian` control of a canary, `shadow` forecasts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlArmView {
    pub arm: String,
    pub outcomes: u64,
    pub success_rate: f64,
    pub mean_forecast: f64,
    pub log_loss: f64,
    pub ece: f64,
    /// While a canary serves (`ml` and `bayesian` arms): the episodes of the canary's closed
    /// cohort that ended, and their mean realized cost under `[engine.cost]` (retries,
    /// seconds from the first failure to the last attempt, give-ups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_episode: Option<f64>,
}

/// A canary's realized costs per arm, judged (`engine::ml::canary`): promoted to every job
/// when the model's arm is shown not dearer, rolled back when it is shown dearer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlCanary {
    pub ml_episodes: u64,
    pub bayesian_episodes: u64,
    /// Mean realized cost per ended episode of each arm.
    pub ml_cost: f64,
    pub bayesian_cost: f64,
    /// `ml_cost - bayesian_cost`, and its standard error, robust to episodes of one scope
    /// whose first failure fell in one 1-minute block moving together.
    pub difference: f64,
    pub standard_error: f64,
    pub clusters: u64,
    /// Episodes each arm needs before a verdict.
    pub min_episodes: u64,
    /// Promoted when `difference + promote_margin x standard_error <= 0`; rolled back when
    /// `difference - rollback_margin x standard_error > 0`; none below 5 clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_margin: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_margin: Option<f64>,
    /// `undecided`, `promote` or `roll_back`.
    pub verdict: String,
}

/// A canary the engine promoted to every job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlAutoPromotion {
    pub version: String,
    /// The time of the ended episode that decided it.
    pub at: DateTime<Utc>,
    /// Why, with the numbers.
    pub reason: String,
}

/// The ML tier for `/summary`: what serves, drift, live outcomes per arm, training.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<String>,
    /// `active` or `canary`, with the canary's share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    pub canary_percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
    /// The drift score of the watched version's last complete drift window (the serving
    /// version's, or the shadow's when nothing serves): the largest excess of a feature's or
    /// the prediction's PSI over the largest a window of the training data showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_score: Option<f64>,
    /// PSI per feature and of the prediction, last complete window.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drift: BTreeMap<String, f64>,
    pub drift_threshold: f64,
    pub arms: Vec<MlArmView>,
    /// The serving version's live forecasts against the Bayesian tier's on the same retries
    /// (the last up to 500 it served), once one has an outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_check: Option<MlLiveCheck>,
    /// The last automatic rollback (the live check's or the canary's), until a version serves
    /// again; its reason says whether the version was kept in shadow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<MlAutoRollback>,
    /// A canary's realized costs per arm, while a canary serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<MlCanary>,
    /// The last promotion of a canary to every job, until another version serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion: Option<MlAutoPromotion>,
    /// Model errors counted since start.
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_until: Option<DateTime<Utc>>,
    /// The training job running now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<MlJob>,
    /// The most recent training job that has ended: its version and metrics, or its error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_training: Option<MlJob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trained: Option<DateTime<Utc>>,
}

/// The live check of the serving ML version (`engine::ml::live_check`): its forecasts and
/// the Bayesian tier's for the same retries, scored by their outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlLiveCheck {
    /// Outcomes in the window.
    pub outcomes: u64,
    pub model_log_loss: f64,
    pub bayesian_log_loss: f64,
    /// `model_log_loss - bayesian_log_loss`, and the standard error of that mean, robust to
    /// outcomes that move together within a cluster (one scope in one 1-minute block).
    pub difference: f64,
    pub standard_error: f64,
    /// Clusters the outcomes fall in.
    #[serde(default)]
    pub clusters: u64,
    /// The normal tail the margin keeps: this many standard errors of a normal...
    pub rollback_above_z: f64,
    /// ... which with this many clusters is this many standard errors (Student's t with
    /// clusters - 1 degrees of freedom); none below 5 clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// ... once the window holds this many outcomes.
    pub min_outcomes: u64,
    /// The forecasts are worse by more than the margin.
    #[serde(default)]
    pub forecasts_worse: bool,
    /// The served decisions against the Bayesian tier's at the same retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<MlLiveDecisions>,
}

/// The live check's decisions (`engine::ml::live_check`): at each retry the model served with
/// its own delay, what that delay and the Bayesian tier's choice cost by the expected-cost
/// rule, under the Bayesian forecast recalibrated on the window's outcomes. The model is rolled
/// back when its forecasts are worse and so are its decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlLiveDecisions {
    pub decisions: u64,
    pub clusters: u64,
    /// The log-odds offset that recalibrates the Bayesian forecast on the outcomes.
    pub offset: f64,
    /// Mean expected cost of the model's decisions and of the Bayesian tier's.
    pub model_cost: f64,
    pub bayesian_cost: f64,
    /// `model_cost - bayesian_cost`, and its cluster-robust standard error.
    pub difference: f64,
    pub standard_error: f64,
    /// The share of `bayesian_cost` the difference may reach before it counts.
    pub tolerance: f64,
    /// Standard errors the difference less the tolerance must exceed; none below 5 clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// The decisions are worse by more than the tolerance and the margin.
    pub worse: bool,
}

/// A rollback the live check made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MlAutoRollback {
    pub version: String,
    /// The time of the outcome that decided it.
    pub at: DateTime<Utc>,
    /// Why, with the numbers.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(log_loss: f64) -> MlMetrics {
        MlMetrics {
            rows: 400,
            log_loss,
            brier: 0.1,
            ece: 0.01,
            auc: Some(0.9),
            accuracy: 0.9,
            f1_score: 0.9,
        }
    }

    fn costs(decisions: u64, model: f64, bayesian: f64) -> MlDecisionCost {
        MlDecisionCost {
            decisions,
            left_out: 3,
            unsupported: 2,
            model,
            bayesian,
            standard_error: 0.1,
        }
    }

    #[test]
    fn the_gate_needs_better_forecasts_and_decisions_shown_to_cost_less() {
        let (better, worse) = (metrics(0.2), metrics(0.4));
        assert_eq!(
            deploy_gate(&better, &worse, Some(&costs(50, 2.0, 2.5))),
            Ok(())
        );
        let same = MlDecisionCost {
            standard_error: 0.0,
            ..costs(50, 2.5, 2.5)
        };
        let same = deploy_gate(&better, &worse, Some(&same)).unwrap_err();
        assert!(
            same.starts_with("its decisions are the Bayesian tier's"),
            "{same}"
        );
        let noise = deploy_gate(&better, &worse, Some(&costs(50, 2.4, 2.5))).unwrap_err();
        assert!(
            noise.starts_with("its decisions are not shown to cost less"),
            "{noise}"
        );
        let why = deploy_gate(&better, &worse, Some(&costs(50, 2.6, 2.5))).unwrap_err();
        assert!(why.starts_with("its decisions cost more:"), "{why}");
        assert!(
            why.contains("2.600 vs the Bayesian tier's 2.500 (difference +0.100, standard error 0.100) per decision at 50 held-out retries (2 unsupported, 3 left out)"),
            "{why}"
        );
        assert!(
            why.contains("log-loss 0.2000 vs the Bayesian tier's 0.4000"),
            "{why}"
        );
        let both = deploy_gate(&worse, &better, Some(&costs(50, 2.6, 2.5))).unwrap_err();
        assert!(
            both.starts_with("its forecasts are not better and its decisions cost more"),
            "{both}"
        );
    }

    #[test]
    fn the_gate_refuses_decisions_the_held_out_retries_do_not_support() {
        let (better, worse) = (metrics(0.2), metrics(0.4));
        let thin = MlDecisionCost {
            unsupported: 13,
            ..costs(50, 1.0, 2.5)
        };
        let why = deploy_gate(&better, &worse, Some(&thin)).unwrap_err();
        assert!(why.starts_with("its decisions go where"), "{why}");
        let enough = MlDecisionCost {
            unsupported: 12,
            ..thin
        };
        assert_eq!(deploy_gate(&better, &worse, Some(&enough)), Ok(()));
    }

    #[test]
    fn the_gate_refuses_a_model_whose_decisions_were_not_costed() {
        let (better, worse) = (metrics(0.2), metrics(0.4));
        let none = deploy_gate(&better, &worse, Some(&costs(0, 0.0, 0.0))).unwrap_err();
        assert!(none.contains("no held-out retry"), "{none}");
        let old = deploy_gate(&better, &worse, None).unwrap_err();
        assert!(old.contains("never costed"), "{old}");
        let earlier: MlDecisionCost = serde_json::from_str(
            r#"{"episodes": 40, "left_out": 2, "model": 1.0, "bayesian": 2.0}"#,
        )
        .expect("an earlier version's estimate still reads");
        let why = deploy_gate(&better, &worse, Some(&earlier)).unwrap_err();
        assert!(why.contains("train again"), "{why}");
    }
}
