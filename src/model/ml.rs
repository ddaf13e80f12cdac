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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
    /// When it last changed state.
    pub updated_at: DateTime<Utc>,
}

impl MlVersion {
    /// Whether the model beats the Bayesian tier on the held-out slice (the deploy gate).
    pub fn beats_bayesian(&self) -> bool {
        self.holdout.beats(&self.bayesian_holdout)
    }
}

impl MlMetrics {
    /// The deploy gate: these held-out metrics beat the Bayesian tier's on the same rows
    /// (lower log-loss).
    pub fn beats(&self, bayesian: &MlMetrics) -> bool {
        self.log_loss < bayesian.log_loss
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
    /// Serve this share of jobs as a canary (percent, 0 < p < 100); absent or 100: active.
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
    /// Largest PSI of the last complete drift window (features and prediction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_score: Option<f64>,
    /// PSI per feature and of the prediction, last complete window.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drift: BTreeMap<String, f64>,
    pub drift_threshold: f64,
    pub arms: Vec<MlArmView>,
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
