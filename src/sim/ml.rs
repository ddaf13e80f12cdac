//! The `ml` strategy of `eval`: the engine the service runs, whose ML tier is trained when the
//! warm-up ends and then, if the deploy gate passes it, serves a canary of the jobs and every
//! job once the canary's realized costs show it not dearer, on the same virtual clock.
//!
//! Until the warm-up ends it is the `bayesian` strategy decision for decision (same seed, ML
//! off). At the first attempt after the warm-up, the attempts recorded so far are handed to
//! the service's own training code ([`train_ml`], the upstream `MLTrainingConfig` defaults with
//! the chosen model type: the most recent 20 % of retries held out, three forward-chaining
//! folds). As `POST /ml/deploy` without `force` does, the model is deployed and the ML tier
//! switched on only when it passes the deploy gate ([`deploy_gate`]: lower held-out log-loss
//! than the Bayesian tier, and decisions shown to cost less at the held-out retries), and
//! then as a canary of [`canary::DEFAULT_PERCENT`] % of the jobs (by job id hash), the rest
//! decided by the Bayesian tier; the engine promotes it to every job when its arm's realized
//! cost per ended episode is shown not dearer than the Bayesian arm's, and rolls it back when
//! it is shown dearer (`engine::ml::canary`), and the report says when (`promotion`,
//! `rollback`). A refused model is kept in shadow — it scores every decision and is
//! never served — and the Bayesian tier goes on deciding, as in the service. A served model
//! decides by the expected-cost rule of serving, and falls back to the Bayesian tier where
//! serving does (a Retry-After hint, the last allowed attempt, no Bayesian model to value what
//! follows); "decided by" counts both. A training that fails (too few retries in the warm-up,
//! one outcome only) leaves the Bayesian tier serving, and the report says why. The model is
//! not retrained during the measured period. A served model is watched as in the service:
//! the live check (`engine::ml::live_check`) compares its forecasts with the Bayesian tier's on
//! the retries it served and takes it off when they, and its decisions, are significantly
//! worse; as the service
//! does then, the ML tier is switched off and the Bayesian tier decides for the rest of the
//! run, the model goes back to shadow (scored, never served, its drift still watched), and
//! the report says when and why (`rollback`). Each completed drift window of the model
//! (serving, or in shadow) is recorded with the scenario time it closed at, whether the model
//! was in shadow then, and whether its score raises `ModelDriftDetected` at the default
//! threshold.

use super::policy::{Decision, Policy, PolicyError};
use crate::engine::ml::canary::{self, CostComparison};
use crate::engine::ml::deployment::{Arm, Deployed};
use crate::engine::ml::drift::{DEFAULT_THRESHOLD, drifted};
use crate::engine::ml::live_check::Comparison;
use crate::engine::ml::{ModelKind, model_type_name};
use crate::engine::{Engine, EngineSettings, TrainRequest, Trained, default_strategy, train_ml};
use crate::model::{
    AttemptRecord, MLTrainingConfig, MlDecisionCost, MlMetrics, RetryFeatures, deploy_gate,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The version name the deployed model carries in explanations.
const VERSION: &str = "eval-warmup";

/// What the `ml` strategy's model was and did in one run.
#[derive(Debug, Clone, Serialize)]
pub struct MlReport {
    /// `gradient_boost` or `logistic`.
    pub model_type: String,
    /// Why no model served, when the training failed or never ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_error: Option<String>,
    /// Retries the model was fitted on, and the most recent ones held out.
    pub training_rows: u64,
    pub holdout_rows: u64,
    /// The model's and the Bayesian tier's metrics on the held-out retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<MlMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bayesian_holdout: Option<MlMetrics>,
    /// The expected cost of its decisions and of the Bayesian tier's at the held-out retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_cost: Option<MlDecisionCost>,
    /// Whether `POST /ml/deploy` lets it serve without `force` (it served only then).
    pub passes_gate: bool,
    /// Why the gate refused it, with the numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_refusal: Option<String>,
    /// The drift score above which `ModelDriftDetected` fires.
    pub drift_threshold: f64,
    /// Every completed drift window, in order.
    pub drift_windows: Vec<DriftWindow>,
    /// When and why the live check rolled the served model back, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// The live check of a model still serving at the end of the run, as it stood then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_check_at_end: Option<LiveCheckState>,
    /// When the canary's realized costs promoted the model to every job, if they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    /// The canary's realized costs at the end of the run, while it was still a canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_at_end: Option<CanaryState>,
}

/// A canary's realized costs per arm (`engine::ml::canary`).
#[derive(Debug, Clone, Serialize)]
pub struct CanaryState {
    pub ml_episodes: u64,
    pub control_episodes: u64,
    /// Mean realized cost per ended episode of the model's arm and of the Bayesian arm.
    pub ml_cost: f64,
    pub control_cost: f64,
    pub standard_error: f64,
    pub clusters: u64,
    /// `undecided`, `promote` or `roll_back`.
    pub verdict: String,
}

impl CanaryState {
    fn of(c: &CostComparison) -> Self {
        Self {
            ml_episodes: c.ml_episodes as u64,
            control_episodes: c.control_episodes as u64,
            ml_cost: c.ml_cost,
            control_cost: c.control_cost,
            standard_error: c.standard_error,
            clusters: c.clusters as u64,
            verdict: c.verdict.name().into(),
        }
    }
}

/// The canary's promotion to every job.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// Scenario time (ms) of the ended episode that decided it.
    pub at_ms: u64,
    pub canary: CanaryState,
}

/// The live check's numbers at one moment (`engine::ml::live_check`).
#[derive(Debug, Clone, Serialize)]
pub struct LiveCheckState {
    pub outcomes: u64,
    pub clusters: u64,
    pub model_log_loss: f64,
    pub bayesian_log_loss: f64,
    pub standard_error: f64,
    pub forecasts_worse: bool,
    /// The decisions' mean cost under the recalibrated Bayesian forecast, the model's and
    /// the Bayesian tier's, the standard error of the difference, and whether they are worse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<(f64, f64, f64, bool)>,
}

impl LiveCheckState {
    fn of(c: &Comparison) -> Self {
        Self {
            outcomes: c.outcomes as u64,
            clusters: c.clusters as u64,
            model_log_loss: c.model_log_loss,
            bayesian_log_loss: c.bayesian_log_loss,
            standard_error: c.standard_error,
            forecasts_worse: c.forecasts_worse,
            decisions: c
                .decisions
                .map(|d| (d.model_cost, d.bayesian_cost, d.standard_error, d.worse)),
        }
    }
}

/// The live check's rollback of the served model.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    /// Scenario time (ms) of the outcome that decided it.
    pub at_ms: u64,
    /// Outcomes in the window, the mean log-loss of both tiers' forecasts, the difference's
    /// standard error.
    pub outcomes: u64,
    pub model_log_loss: f64,
    pub bayesian_log_loss: f64,
    pub standard_error: f64,
    /// The live check as it stood (it decided unless `canary` is there).
    pub check: LiveCheckState,
    /// The canary's realized costs, when they decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryState>,
    pub reason: String,
}

/// One completed drift window of the served decisions.
#[derive(Debug, Clone, Serialize)]
pub struct DriftWindow {
    /// Scenario time (ms) of the decision that completed the window.
    pub closed_at_ms: u64,
    /// Whether the model was in shadow (nothing served): the Bayesian tier retried the
    /// situations, as it did the training rows, so the policy-shaped columns count.
    pub shadow: bool,
    /// The drift score (the largest excess of a column's PSI over its noise that the window
    /// before also showed, among the columns that count; `engine::ml::drift`), and the
    /// feature (or `prediction`) it is of.
    pub score: f64,
    pub worst: String,
    /// Whether the score raises `ModelDriftDetected`.
    pub alert: bool,
    /// Every column's PSI in the window and its noise, whether it counts or not.
    pub columns: BTreeMap<String, ColumnPsi>,
}

/// A column's PSI in a drift window beside its noise (the PSI a live window shows without
/// drift, measured at training: `engine::ml::drift`).
#[derive(Debug, Clone, Serialize)]
pub struct ColumnPsi {
    pub psi: f64,
    pub noise: f64,
}

impl MlReport {
    fn failed(kind: ModelKind, error: String) -> Self {
        Self {
            model_type: model_type_name(kind).into(),
            training_error: Some(error),
            training_rows: 0,
            holdout_rows: 0,
            holdout: None,
            bayesian_holdout: None,
            decision_cost: None,
            passes_gate: false,
            gate_refusal: None,
            drift_threshold: DEFAULT_THRESHOLD,
            drift_windows: Vec::new(),
            rollback: None,
            live_check_at_end: None,
            promotion: None,
            canary_at_end: None,
        }
    }

    fn trained(kind: ModelKind, t: &Trained) -> Self {
        let gate = deploy_gate(&t.holdout, &t.bayesian_holdout, Some(&t.decision_cost));
        Self {
            training_error: None,
            training_rows: t.training_rows,
            holdout_rows: t.holdout_rows,
            holdout: Some(t.holdout.clone()),
            bayesian_holdout: Some(t.bayesian_holdout.clone()),
            decision_cost: Some(t.decision_cost.clone()),
            passes_gate: gate.is_ok(),
            gate_refusal: gate.err(),
            ..Self::failed(kind, String::new())
        }
    }

    /// The index of the first window that raised `ModelDriftDetected`, if any.
    pub fn first_alert(&self) -> Option<usize> {
        self.drift_windows.iter().position(|w| w.alert)
    }
}

/// The engine with an ML tier trained on the warm-up (see the module docs).
#[derive(Debug)]
pub struct MlPolicy {
    engine: Engine,
    kind: ModelKind,
    start: DateTime<Utc>,
    warmup_end: DateTime<Utc>,
    /// The attempts recorded during the warm-up, until the training takes them.
    warmup: Vec<AttemptRecord>,
    /// Set when the warm-up has ended.
    report: Option<MlReport>,
    /// The drift monitor's (watch, windows) of the last window recorded.
    drift_noted: (u64, u64),
}

impl MlPolicy {
    /// A run over a scenario starting at `start` whose warm-up ends at `warmup_end`.
    pub fn new(
        mut settings: EngineSettings,
        seed: u64,
        kind: ModelKind,
        (start, warmup_end): (DateTime<Utc>, DateTime<Utc>),
    ) -> Self {
        settings.bayesian_enabled = true;
        let mut strategy = default_strategy();
        strategy.ml_enabled = false;
        Self {
            engine: Engine::new(strategy, settings, seed),
            kind,
            start,
            warmup_end,
            warmup: Vec::new(),
            report: None,
            drift_noted: (0, 0),
        }
    }

    /// Trains on the warm-up's attempts and serves the model if the deploy gate lets it (in
    /// shadow if not), or records why no model was trained.
    fn train_and_deploy(&mut self) {
        let attempts = std::mem::take(&mut self.warmup);
        let report = match self.train(attempts) {
            Ok(trained) => {
                let report = MlReport::trained(self.kind, &trained);
                match self.deploy(trained, report.passes_gate) {
                    Ok(()) => report,
                    Err(e) => MlReport::failed(self.kind, e),
                }
            }
            Err(e) => MlReport::failed(self.kind, e),
        };
        self.report = Some(report);
    }

    fn train(&self, attempts: Vec<AttemptRecord>) -> Result<Trained, String> {
        let config = MLTrainingConfig::defaults(model_type_name(self.kind));
        let request = TrainRequest::from_config(&config).map_err(|e| e.to_string())?;
        let (strategy, settings) = (self.engine.strategy(), self.engine.settings());
        train_ml(attempts, &request, strategy, settings, &|_: String| {}).map_err(|e| e.to_string())
    }

    /// What `POST /ml/deploy` without `force` or a share does to the engine: serve the
    /// version to a canary of [`canary::DEFAULT_PERCENT`] % of the jobs, ML on; or, when the
    /// gate refused it, score it in shadow.
    fn deploy(&mut self, trained: Trained, serve: bool) -> Result<(), String> {
        let deployed = Arc::new(Deployed {
            version: VERSION.into(),
            model: trained.fitted,
            reference: trained.reference,
        });
        if !serve {
            self.engine.ml_shadow(Some(deployed));
            return Ok(());
        }
        let arm = Arm::Canary(canary::DEFAULT_PERCENT);
        self.engine.ml_serve(Some((deployed, arm)));
        let mut strategy = self.engine.strategy().clone();
        strategy.ml_enabled = true;
        self.engine
            .set_strategy(strategy)
            .map_err(|e| format!("switching the ML tier on: {e}"))
    }

    /// What the service does when the live check rolls the model back: ML off, the Bayesian
    /// tier decides from here; noted in the report.
    /// (Nothing serves from here either way; switching ML off only stops the Bayesian tier's
    /// answers being counted as fall-backs from ML.)
    fn note_rollback(&mut self) {
        let Some(rolled) = self.engine.ml_take_unstored_rollback() else {
            return;
        };
        let mut strategy = self.engine.strategy().clone();
        strategy.ml_enabled = false;
        let mut reason = rolled.reason();
        if let Err(e) = self.engine.set_strategy(strategy) {
            reason.push_str(&format!(" (ML left on: {e})"));
        }
        let c = rolled.comparison;
        if let Some(report) = self.report.as_mut() {
            report.rollback = Some(Rollback {
                at_ms: u64::try_from((rolled.at - self.start).num_milliseconds()).unwrap_or(0),
                outcomes: c.outcomes as u64,
                model_log_loss: c.model_log_loss,
                bayesian_log_loss: c.bayesian_log_loss,
                standard_error: c.standard_error,
                check: LiveCheckState::of(&c),
                canary: rolled.canary.as_ref().map(CanaryState::of),
                reason,
            });
        }
    }

    /// What the service does when the canary is promoted: it serves every job; noted.
    fn note_promotion(&mut self) {
        let Some(promoted) = self.engine.ml_take_unstored_promotion() else {
            return;
        };
        if let Some(report) = self.report.as_mut() {
            report.promotion = Some(Promotion {
                at_ms: u64::try_from((promoted.at - self.start).num_milliseconds()).unwrap_or(0),
                canary: CanaryState::of(&promoted.comparison),
            });
        }
    }

    /// Records the drift window the last decision completed, if it completed one.
    fn note_drift(&mut self, now: DateTime<Utc>) {
        let (Some(report), Some(scores)) = (self.report.as_mut(), self.engine.ml_drift()) else {
            return;
        };
        let window = (scores.watch, scores.windows);
        if window <= self.drift_noted {
            return;
        }
        self.drift_noted = window;
        let score = scores.score();
        report.drift_windows.push(DriftWindow {
            closed_at_ms: u64::try_from((now - self.start).num_milliseconds()).unwrap_or(0),
            shadow: scores.same_policy,
            score,
            worst: scores.worst().to_string(),
            alert: drifted(score, report.drift_threshold),
            columns: scores
                .features
                .iter()
                .chain([&scores.prediction])
                .map(|c| {
                    let (psi, noise) = (c.psi, c.noise);
                    (c.name.clone(), ColumnPsi { psi, noise })
                })
                .collect(),
        });
    }
}

impl Policy for MlPolicy {
    fn name(&self) -> &str {
        "ml"
    }

    fn decide(
        &mut self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> Result<Decision, PolicyError> {
        let rec = self.engine.recommend(features, now);
        self.note_drift(now);
        self.note_rollback();
        self.note_promotion();
        Ok(Decision::from_recommendation(&rec))
    }

    fn observe(&mut self, attempt: &AttemptRecord) -> Result<(), PolicyError> {
        if self.report.is_none() {
            if attempt.timestamp < self.warmup_end {
                self.warmup.push(attempt.clone());
            } else {
                self.train_and_deploy();
            }
        }
        self.engine.observe(attempt);
        self.note_rollback();
        self.note_promotion();
        Ok(())
    }

    fn ml_report(&self) -> Option<MlReport> {
        let mut report = self.report.clone().unwrap_or_else(|| {
            let why = "no attempt after the warm-up: the model was never trained".to_string();
            MlReport::failed(self.kind, why)
        });
        let live = self.engine.ml_live();
        report.live_check_at_end = live.check.as_ref().map(LiveCheckState::of);
        report.canary_at_end = live.canary.as_ref().map(CanaryState::of);
        Some(report)
    }
}
