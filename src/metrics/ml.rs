//! The ML tier as metrics: trainings by outcome, whether the last one failed, the serving
//! version's drift score, live outcomes and calibration per arm, the live check of its
//! forecasts against the Bayesian tier's and the rollbacks it made, and model errors.

use crate::model::MlSummary;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ArmLabel {
    arm: String,
}

/// `retryctl_ml_*`.
#[derive(Debug, Default)]
pub struct MlMetrics {
    trainings: Family<OutcomeLabel, Counter>,
    training_failed: Gauge,
    drift_score: Gauge<f64, AtomicU64>,
    drift_threshold: Gauge<f64, AtomicU64>,
    serving: Gauge,
    shadowing: Gauge,
    arm_outcomes: Family<ArmLabel, Gauge>,
    arm_success_rate: Family<ArmLabel, Gauge<f64, AtomicU64>>,
    arm_forecast: Family<ArmLabel, Gauge<f64, AtomicU64>>,
    arm_ece: Family<ArmLabel, Gauge<f64, AtomicU64>>,
    model_errors: Gauge,
    check_outcomes: Gauge,
    check_log_loss: Family<TierLabel, Gauge<f64, AtomicU64>>,
    check_standard_error: Gauge<f64, AtomicU64>,
    auto_rollbacks: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabel {
    tier: &'static str,
}

impl MlMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "ml_trainings",
            "ML trainings finished, by outcome (succeeded, failed)",
            self.trainings.clone(),
        );
        r.register(
            "ml_training_failed",
            "1 while the last ML training failed (ModelTrainingFailed), else 0",
            self.training_failed.clone(),
        );
        r.register("ml_drift_score", "Drift score of the watched ML version: the largest excess of a feature's or the prediction's PSI over the last window of its decisions above the largest a window of its training data showed (0 until a window completes)", self.drift_score.clone());
        r.register(
            "ml_drift_threshold",
            "The drift score above which ModelDriftDetected fires ([alerts] drift_threshold)",
            self.drift_threshold.clone(),
        );
        r.register(
            "ml_serving",
            "1 while an ML version serves (active or canary), else 0",
            self.serving.clone(),
        );
        r.register(
            "ml_shadowing",
            "1 while an ML version shadows (scored, never served; a version rolled back goes back to shadow), else 0",
            self.shadowing.clone(),
        );
        r.register("ml_arm_outcomes", "Retries whose outcome met a forecast since the serving version was deployed, by arm (ml, bayesian = a canary's control group, shadow)", self.arm_outcomes.clone());
        r.register(
            "ml_arm_success_rate",
            "Share of those retries that succeeded, by arm",
            self.arm_success_rate.clone(),
        );
        r.register(
            "ml_arm_forecast",
            "Mean forecast success of those retries, by arm",
            self.arm_forecast.clone(),
        );
        r.register(
            "ml_arm_ece",
            "Live expected calibration error of the forecasts, by arm",
            self.arm_ece.clone(),
        );
        r.register(
            "ml_model_errors",
            "ML model errors since start (non-finite output, unreadable rows)",
            self.model_errors.clone(),
        );
        r.register(
            "ml_live_check_outcomes",
            "Retries served by the ML version in the live check's window (0 when none serves)",
            self.check_outcomes.clone(),
        );
        r.register("ml_live_check_log_loss", "Live log-loss in that window of the ML version's forecasts and of the Bayesian tier's for the same retries, by tier (ml, bayesian)", self.check_log_loss.clone());
        r.register("ml_live_check_standard_error", "Standard error of the mean log-loss difference (ml - bayesian) in that window; the version is rolled back when the difference exceeds 3 of them after 200 outcomes", self.check_standard_error.clone());
        r.register(
            "ml_auto_rollbacks",
            "ML versions rolled back to the Bayesian tier by the live check (ModelRolledBack)",
            self.auto_rollbacks.clone(),
        );
        for outcome in ["succeeded", "failed"] {
            let _ = self.trainings.get_or_create(&OutcomeLabel { outcome });
        }
    }

    /// Counts a finished training.
    pub fn trained(&self, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.trainings
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        self.training_failed.set(i64::from(!succeeded));
    }

    /// Counts a rollback by the live check.
    pub fn rolled_back(&self) {
        self.auto_rollbacks.inc();
    }

    /// Sets the gauges from the tier's summary.
    pub fn update(&self, s: &MlSummary) {
        let check = s.live_check.as_ref();
        self.check_outcomes
            .set(check.map_or(0, |c| i64::try_from(c.outcomes).unwrap_or(i64::MAX)));
        for (tier, loss) in [
            ("ml", check.map_or(0.0, |c| c.model_log_loss)),
            ("bayesian", check.map_or(0.0, |c| c.bayesian_log_loss)),
        ] {
            self.check_log_loss
                .get_or_create(&TierLabel { tier })
                .set(loss);
        }
        self.check_standard_error
            .set(check.map_or(0.0, |c| c.standard_error));
        self.drift_score.set(s.drift_score.unwrap_or(0.0));
        self.drift_threshold.set(s.drift_threshold);
        self.serving.set(i64::from(s.serving.is_some()));
        self.shadowing.set(i64::from(s.shadow.is_some()));
        self.model_errors
            .set(i64::try_from(s.errors).unwrap_or(i64::MAX));
        for a in &s.arms {
            let label = ArmLabel { arm: a.arm.clone() };
            self.arm_outcomes
                .get_or_create(&label)
                .set(i64::try_from(a.outcomes).unwrap_or(i64::MAX));
            self.arm_success_rate
                .get_or_create(&label)
                .set(a.success_rate);
            self.arm_forecast.get_or_create(&label).set(a.mean_forecast);
            self.arm_ece.get_or_create(&label).set(a.ece);
        }
    }
}
