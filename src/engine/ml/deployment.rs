//! What the engine holds of the ML tier while it serves: the deployed versions (one serving,
//! as `active` for every job or as a `canary` for a stable share of jobs, and one scoring in
//! `shadow`), the point-in-time failure counts the features need, the health of the tier
//! (repeated model errors switch it off for a while), the live outcome of each arm, and the
//! [`live_check`](super::live_check) of the serving model's forecasts against the Bayesian
//! tier's on the retries it served, which takes the model off at once when it is significantly
//! worse ([`AutoRollback`]; the service stores and audits that), and the [`canary`]'s realized
//! cost per arm, which promotes a canary to every job when its arm is shown not dearer
//! ([`AutoPromotion`]) and rolls it back when it is shown dearer.
//!
//! A version taken off goes back to shadow (scored beside every answer, never served) unless
//! another version already shadows: drift is about the inputs against the training data, so
//! its drift windows and forecasts are still watched, and `ModelDriftDetected` can still say
//! that the candidate is stale. Nothing here serves it again by itself.
//!
//! The versions are handed in by the service (loaded from the store); the engine never reads
//! them itself.

use super::canary::{CanaryCost, CostComparison, Verdict};
use super::drift::{DriftMonitor, Reference};
use super::features::{RecentFailures, Situation};
use super::fitted::Fitted;
use super::live::{ArmStats, LiveStats};
use super::live_check::{self, Comparison, Decisions, LiveCheck, Paired, Pairing};
use crate::engine::job_key::JobKey;
use crate::model::CostWeights;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// Consecutive model errors that switch the tier off.
pub const ERRORS_TO_SWITCH_OFF: u32 = 5;
/// How long the tier stays off after that (decision time).
pub const OFF_FOR_S: i64 = 300;
/// Most served decisions waiting for their outcome; beyond it the older half is dropped.
const PENDING_CAPACITY: usize = 100_000;

/// A model version the engine can serve or shadow.
#[derive(Debug)]
pub struct Deployed {
    pub version: String,
    pub model: Fitted,
    /// The training distribution drift is measured against.
    pub reference: Reference,
}

/// The stored form of a version's parameters: the model document and its drift reference.
#[derive(serde::Serialize, serde::Deserialize)]
struct Packed {
    model: serde_json::Value,
    reference: Reference,
}

impl Deployed {
    /// The bytes a model version stores.
    pub fn pack(model: &Fitted, reference: &Reference) -> Result<Vec<u8>, super::MlError> {
        let stored = |e: serde_json::Error| super::MlError::Stored(e.to_string());
        let packed = Packed {
            model: serde_json::from_slice(&model.to_bytes()?).map_err(stored)?,
            reference: reference.clone(),
        };
        serde_json::to_vec(&packed).map_err(stored)
    }

    /// A version stored by [`Self::pack`].
    pub fn unpack(version: &str, bytes: &[u8]) -> Result<Self, super::MlError> {
        let stored = |e: serde_json::Error| super::MlError::Stored(e.to_string());
        let packed: Packed = serde_json::from_slice(bytes).map_err(stored)?;
        let model = Fitted::from_bytes(&serde_json::to_vec(&packed.model).map_err(stored)?)?;
        Ok(Self {
            version: version.to_string(),
            model,
            reference: packed.reference,
        })
    }
}

/// How the serving version takes part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arm {
    /// Serves every job.
    Active,
    /// Serves the jobs whose id hashes into this share (percent, 0–100); the rest go to the
    /// Bayesian tier.
    Canary(f64),
}

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Arm::Active => "active",
            Arm::Canary(_) => "canary",
        }
    }
}

/// Which arm decided a job's retry, for the live comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LiveArm {
    /// The ML model served it.
    Ml,
    /// The Bayesian tier served it while a canary ran (the canary's control group).
    Control,
    /// The shadow model's forecast for the served retry.
    Shadow,
    /// The Bayesian tier's forecast for a retry the ML model served (the live check's other
    /// side).
    BayesianOnMl,
}

impl LiveArm {
    const ALL: [LiveArm; 4] = [
        LiveArm::Ml,
        LiveArm::Control,
        LiveArm::Shadow,
        LiveArm::BayesianOnMl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LiveArm::Ml => "ml",
            LiveArm::Control => "bayesian",
            LiveArm::Shadow => "shadow",
            LiveArm::BayesianOnMl => "bayesian_on_ml",
        }
    }
}

/// The forecasts made for one retry, at most one per arm, and for a retry the model served,
/// its scope and decisions for the live check — kept inline: a served retry waiting for its
/// outcome holds no heap block of its own. Kept as `f32` (a probability needs no more).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Forecasts {
    arms: [Option<f32>; 4],
    /// [`live_check::scope`] of the retry, when the model served it.
    scope: u32,
    decisions: Option<Decisions>,
}

impl Forecasts {
    /// Sets `arm`'s forecast (a second one for the same arm replaces the first).
    pub fn set(&mut self, arm: LiveArm, p: f64) {
        self.arms[arm as usize] = Some(p as f32);
    }

    /// The model's and the Bayesian tier's forecast for a retry the model served, with what
    /// the live check keeps beside them.
    pub fn pair(&mut self, p: Pairing) {
        self.set(LiveArm::Ml, p.model);
        self.set(LiveArm::BayesianOnMl, p.bayesian);
        self.scope = p.scope;
        self.decisions = p.decisions;
    }

    /// `arm`'s forecast, if one was made.
    pub fn get(&self, arm: LiveArm) -> Option<f64> {
        self.arms[arm as usize].map(f64::from)
    }

    pub fn is_empty(&self) -> bool {
        self.arms.iter().all(Option::is_none)
    }

    /// The forecasts made, in the order of [`LiveArm`].
    pub fn iter(&self) -> impl Iterator<Item = (LiveArm, f64)> + '_ {
        LiveArm::ALL
            .into_iter()
            .zip(self.arms)
            .filter_map(|(arm, p)| Some((arm, f64::from(p?))))
    }
}

/// The serving version taken off by the live check: which, how it served, when (the time of
/// the outcome that decided), and the comparison that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoRollback {
    pub version: String,
    pub arm: Arm,
    pub at: DateTime<Utc>,
    /// The live check as it stood.
    pub comparison: Comparison,
    /// The canary's realized costs, when they decided.
    pub canary: Option<CostComparison>,
    /// Whether the version went back to shadow (it does unless another version shadows).
    pub shadowed: bool,
}

impl AutoRollback {
    /// Why, with the numbers (the audit reason and the alert's message).
    pub fn reason(&self) -> String {
        let why = match &self.canary {
            Some(c) => c.describe(),
            None => self.comparison.describe(),
        };
        let kept = if self.shadowed {
            " (kept in shadow: scored, never served)"
        } else {
            ""
        };
        format!(
            "ML model {} ({}) rolled back to the Bayesian tier{kept}: {why}",
            self.version,
            self.arm.name(),
        )
    }
}

/// A canary promoted to every job because its arm was shown not dearer: which version, its
/// share before, when, and the realized costs that decided.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoPromotion {
    pub version: String,
    pub percent: f64,
    pub at: DateTime<Utc>,
    pub comparison: CostComparison,
}

impl AutoPromotion {
    /// Why, with the numbers (the audit reason).
    pub fn reason(&self) -> String {
        format!(
            "ML model {} promoted from a {}% canary to every job: {}",
            self.version,
            self.percent,
            self.comparison.describe()
        )
    }
}

/// What an ended canary episode led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryStep {
    /// Nothing changed.
    Going,
    /// The version serves every job now.
    Promoted,
    /// The version was taken off.
    RolledBack,
}

/// A served retry waiting for its outcome: the attempt it will be, when it was served among
/// the others (to drop the older ones first), and the forecasts made.
#[derive(Debug, Clone)]
struct Served {
    attempt: u32,
    order: u64,
    forecasts: Forecasts,
}

/// The ML tier's serving state.
#[derive(Debug, Default)]
pub struct Deployment {
    pub serving: Option<(Arc<Deployed>, Arm)>,
    pub shadow: Option<Arc<Deployed>>,
    pub recent: RecentFailures,
    consecutive_errors: u32,
    off_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    errors: u64,
    live: LiveStats,
    /// By the key of the job id (the episodes' key: 16 bytes, no copy of the id).
    pending: HashMap<JobKey, Served>,
    /// The order of the next served retry among those waiting.
    next_order: u64,
    pub drift: DriftMonitor,
    /// The serving version's forecasts against the Bayesian tier's, on the retries it served.
    check: LiveCheck,
    /// The last automatic rollback, until a version serves again; and whether the service has
    /// yet to store it.
    rolled_back: Option<AutoRollback>,
    rollback_unstored: bool,
    /// The realized cost per arm of a canary's episodes.
    canary: CanaryCost,
    /// The last automatic promotion, until another version serves; and whether the service
    /// has yet to store it.
    promoted: Option<AutoPromotion>,
    promotion_unstored: bool,
}

/// Health of the tier, for status and alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub errors: u64,
    pub off_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl Deployment {
    /// Whether job `job_id` is in a canary of `percent` (stable: FNV-1a of the id).
    pub fn in_canary(job_id: Option<&str>, percent: f64) -> bool {
        let Some(id) = job_id else {
            return false;
        };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        ((h % 10_000) as f64) < percent * 100.0
    }

    /// Why the tier is switched off at `now`, if it is.
    pub fn off_reason(&self, now: DateTime<Utc>) -> Option<String> {
        let until = self.off_until.filter(|&u| now < u)?;
        Some(format!(
            "switched off until {} after {ERRORS_TO_SWITCH_OFF} model errors in a row (last: {})",
            until.to_rfc3339(),
            self.last_error.as_deref().unwrap_or("unknown")
        ))
    }

    /// Counts a model error at `now`; the fifth in a row switches the tier off for a while.
    pub fn record_error(&mut self, message: &str, now: DateTime<Utc>) {
        self.errors += 1;
        self.consecutive_errors += 1;
        self.last_error = Some(message.to_string());
        if self.consecutive_errors >= ERRORS_TO_SWITCH_OFF {
            self.off_until = Some(now + Duration::seconds(OFF_FOR_S));
            self.consecutive_errors = 0;
        }
    }

    pub fn record_success(&mut self) {
        self.consecutive_errors = 0;
    }

    pub fn health(&self) -> Health {
        Health {
            errors: self.errors,
            off_until: self.off_until,
            last_error: self.last_error.clone(),
        }
    }

    /// Remembers the forecasts made for job `job_id`'s next attempt (`attempt`).
    pub fn expect(&mut self, job_id: &str, attempt: u32, forecasts: Forecasts) {
        if forecasts.is_empty() {
            return;
        }
        if self.pending.len() >= PENDING_CAPACITY {
            self.drop_older_half();
        }
        let order = self.next_order;
        self.next_order += 1;
        let served = Served {
            attempt,
            order,
            forecasts,
        };
        self.pending.insert(JobKey::of(job_id), served);
    }

    /// Forgets the older half of the retries waiting for their outcome.
    fn drop_older_half(&mut self) {
        super::keep_newer_half(&mut self.pending, |s| s.order);
    }

    /// Scores the forecasts made for this attempt of `job_id`, if any, at `at` (the attempt's
    /// time). When the live check finds the serving model significantly worse than the
    /// Bayesian tier, the model stops serving here and the rollback is returned.
    pub fn outcome(
        &mut self,
        job_id: &str,
        attempt: u32,
        success: bool,
        at: DateTime<Utc>,
    ) -> Option<&AutoRollback> {
        // Every attempt recorded comes here; without the ML tier nothing is pending, and the
        // id need not be hashed.
        if self.pending.is_empty() {
            return None;
        }
        let key = JobKey::of(job_id);
        let served = self.pending.get(&key)?;
        if served.attempt != attempt {
            if attempt > served.attempt {
                self.pending.remove(&key);
            }
            return None;
        }
        let served = self.pending.remove(&key).expect("present");
        for (arm, p) in served.forecasts.iter() {
            self.live.record(arm, p, success);
        }
        let f = served.forecasts;
        let (model, bayesian) = (f.get(LiveArm::Ml)?, f.get(LiveArm::BayesianOnMl)?);
        let comparison = self.check.record(Paired {
            model,
            bayesian,
            success,
            cluster: live_check::cluster(f.scope, at.timestamp()),
            decisions: f.decisions,
        });
        if !comparison.worse {
            return None;
        }
        let (deployed, arm) = self.serving.take()?;
        self.check = LiveCheck::default();
        self.rollback_unstored = true;
        self.rolled_back = Some(AutoRollback {
            version: deployed.version.clone(),
            arm,
            at,
            comparison,
            canary: None,
            shadowed: self.shadow_taken_off(deployed),
        });
        self.rolled_back.as_ref()
    }

    /// Job `job_id` failed for the first time at `at`: while a canary serves, its episode is
    /// followed in its arm.
    pub fn canary_start(&mut self, job_id: &str, scope: u32, at: DateTime<Utc>) {
        if let Some((_, Arm::Canary(percent))) = self.serving {
            let ml = Self::in_canary(Some(job_id), percent);
            self.canary.start(job_id, ml, scope, at);
        }
    }

    /// Job `job_id`'s episode ended at `at` (success, or the engine said stop) after
    /// `attempts` attempts. While a canary serves, its realized cost is kept and, every
    /// [`super::canary::JUDGE_EVERY`] episodes, the arms are compared: the canary is promoted to
    /// every job or rolled back as the comparison says ([`canary`] module docs).
    pub fn canary_end(
        &mut self,
        job_id: &str,
        attempts: u32,
        (at, success): (DateTime<Utc>, bool),
        weights: &CostWeights,
    ) -> CanaryStep {
        let Some((deployed, Arm::Canary(percent))) = self.serving.clone() else {
            return CanaryStep::Going;
        };
        if !self.canary.end(job_id, attempts, at, success, weights) {
            return CanaryStep::Going;
        }
        let comparison = self.canary.comparison();
        let version = deployed.version.clone();
        match comparison.verdict {
            Verdict::Undecided => CanaryStep::Going,
            Verdict::Promote => {
                self.serving = Some((deployed, Arm::Active));
                self.canary = CanaryCost::default();
                self.promoted = Some(AutoPromotion {
                    version,
                    percent,
                    at,
                    comparison,
                });
                self.promotion_unstored = true;
                CanaryStep::Promoted
            }
            Verdict::RollBack => {
                self.serving = None;
                let check = std::mem::take(&mut self.check).comparison();
                self.canary = CanaryCost::default();
                self.rollback_unstored = true;
                self.rolled_back = Some(AutoRollback {
                    version,
                    arm: Arm::Canary(percent),
                    at,
                    comparison: check,
                    canary: Some(comparison),
                    shadowed: self.shadow_taken_off(deployed),
                });
                CanaryStep::RolledBack
            }
        }
    }

    /// A version taken off serving shadows from now on, unless another version already
    /// does (module docs); whether it does.
    pub fn shadow_taken_off(&mut self, deployed: Arc<Deployed>) -> bool {
        if self.shadow.is_some() {
            return false;
        }
        self.shadow = Some(deployed);
        true
    }

    /// The canary's realized costs as they stand, while a canary serves.
    pub fn canary_comparison(&self) -> Option<CostComparison> {
        matches!(self.serving, Some((_, Arm::Canary(_)))).then(|| self.canary.comparison())
    }

    /// The last automatic promotion, until another version serves.
    pub fn auto_promotion(&self) -> Option<&AutoPromotion> {
        self.promoted.as_ref()
    }

    /// The automatic promotion the service has not yet stored, once (see
    /// [`Self::take_unstored_rollback`]).
    pub fn take_unstored_promotion(&mut self) -> Option<AutoPromotion> {
        if !std::mem::take(&mut self.promotion_unstored) {
            return None;
        }
        self.promoted.clone()
    }

    /// The store refused the promotion: it is handed out again.
    pub fn promotion_not_stored(&mut self) {
        self.promotion_unstored = self.promoted.is_some();
    }

    /// The live check's comparison for the serving version, once it has an outcome.
    pub fn live_check(&self) -> Option<Comparison> {
        (self.serving.is_some() && !self.check.is_empty()).then(|| self.check.comparison())
    }

    /// The last automatic rollback, until a version serves again.
    pub fn auto_rollback(&self) -> Option<&AutoRollback> {
        self.rolled_back.as_ref()
    }

    /// The automatic rollback the service has not yet stored, once: the service stores it
    /// and hands it back with [`Self::rollback_not_stored`] if the store refused.
    pub fn take_unstored_rollback(&mut self) -> Option<AutoRollback> {
        if !std::mem::take(&mut self.rollback_unstored) {
            return None;
        }
        self.rolled_back.clone()
    }

    /// The store refused the rollback: it is handed out again.
    pub fn rollback_not_stored(&mut self) {
        self.rollback_unstored = self.rolled_back.is_some();
    }

    /// Live outcomes per arm.
    pub fn live(&self) -> Vec<(LiveArm, ArmStats)> {
        self.live.arms()
    }

    /// Restarts the live comparison and the live check (what serves changed). A version
    /// serving again ends the last automatic rollback's record.
    pub fn reset_live(&mut self) {
        self.live = LiveStats::default();
        self.pending.clear();
        self.check = LiveCheck::default();
        self.canary = CanaryCost::default();
        self.promoted = None;
        self.promotion_unstored = false;
        if self.serving.is_some() {
            self.rolled_back = None;
            self.rollback_unstored = false;
        }
    }

    /// Counts a situation the watched version decided or scored, for drift (features, and
    /// `p`, its prediction at the reference delay).
    pub fn observe_drift(&mut self, deployed: &Deployed, s: &Situation<'_>, p: f64) {
        self.drift
            .observe(&deployed.reference, &deployed.model, s, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_share_is_stable_per_job_and_about_its_percent() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("job-{i}")).collect();
        let inside = ids
            .iter()
            .filter(|id| Deployment::in_canary(Some(id), 10.0))
            .count();
        assert!(
            (850..1_150).contains(&inside),
            "{inside} of 10000 in a 10% canary"
        );
        for id in &ids[..100] {
            let once = Deployment::in_canary(Some(id), 25.0);
            assert_eq!(once, Deployment::in_canary(Some(id), 25.0));
            if Deployment::in_canary(Some(id), 10.0) {
                assert!(once, "a job in the 10% canary stays in at 25%");
            }
        }
        assert!(
            !Deployment::in_canary(None, 100.0),
            "no job id: the Bayesian tier"
        );
        assert!(Deployment::in_canary(Some("x"), 100.0));
        assert!(!Deployment::in_canary(Some("x"), 0.0));
    }

    #[test]
    fn five_errors_in_a_row_switch_the_tier_off_for_a_while() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut d = Deployment::default();
        for _ in 0..4 {
            d.record_error("NaN", now);
        }
        d.record_success();
        d.record_error("NaN", now);
        assert!(
            d.off_reason(now).is_none(),
            "the run was broken by a success"
        );
        for _ in 0..4 {
            d.record_error("NaN", now);
        }
        let reason = d.off_reason(now).expect("off");
        assert!(reason.contains("NaN"), "{reason}");
        assert!(d.off_reason(now + Duration::seconds(OFF_FOR_S)).is_none());
        assert_eq!(d.health().errors, 9);
    }

    #[test]
    fn forecasts_are_scored_by_the_outcome_of_the_attempt_they_were_for() {
        let mut d = Deployment::default();
        d.expect(
            "a",
            3,
            forecasts(&[(LiveArm::Ml, 0.8), (LiveArm::Shadow, 0.4)]),
        );
        d.outcome("a", 2, true, at());
        assert!(
            d.live().is_empty(),
            "an earlier attempt is not the forecast one"
        );
        d.outcome("a", 3, true, at());
        let live = d.live();
        assert_eq!(live.len(), 2);
        assert_eq!(live[0].1.outcomes, 1);
        d.outcome("a", 3, false, at());
        assert_eq!(d.live()[0].1.outcomes, 1, "scored once");
    }

    fn at() -> DateTime<Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn forecasts(made: &[(LiveArm, f64)]) -> Forecasts {
        let mut f = Forecasts::default();
        for &(arm, p) in made {
            f.set(arm, p);
        }
        f
    }

    #[test]
    fn forecasts_keep_one_per_arm_in_the_order_of_the_arms() {
        let f = forecasts(&[
            (LiveArm::Shadow, 0.4),
            (LiveArm::Ml, 0.7),
            (LiveArm::Ml, 0.8),
        ]);
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [
                (LiveArm::Ml, f64::from(0.8f32)),
                (LiveArm::Shadow, f64::from(0.4f32))
            ]
        );
        assert!(Forecasts::default().is_empty() && !f.is_empty());
    }

    #[test]
    fn a_full_pending_table_forgets_its_older_half() {
        let mut d = Deployment::default();
        let made = forecasts(&[(LiveArm::Control, 0.5)]);
        for i in 0..PENDING_CAPACITY {
            d.expect(&format!("job-{i}"), 2, made);
        }
        d.expect("newest", 2, made);
        assert_eq!(d.pending.len(), PENDING_CAPACITY / 2 + 1);
        let oldest_kept = PENDING_CAPACITY / 2;
        for (id, scored) in [
            ("job-0", false),
            (&*format!("job-{}", oldest_kept - 1), false),
            (&*format!("job-{oldest_kept}"), true),
            ("newest", true),
        ] {
            let before = d.live().first().map_or(0, |(_, s)| s.outcomes);
            d.outcome(id, 2, true, at());
            let after = d.live().first().map_or(0, |(_, s)| s.outcomes);
            assert_eq!(after - before == 1, scored, "{id}");
        }
    }

    #[test]
    fn a_served_retry_takes_96_bytes_in_the_table_and_nothing_beside() {
        // The job's key (16 bytes) and the retry's record with its four forecasts, and its
        // scope and decisions for the live check (32 bytes more), all inline.
        assert_eq!(std::mem::size_of::<(JobKey, Served)>(), 96);
    }
}
