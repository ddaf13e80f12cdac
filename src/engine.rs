//! The retry engine: pure and synchronous, with time passed in.
//!
//! `Engine` is the facade the server and the simulator use, and the only `impl Engine`. It
//! never reads a clock, a socket or a file; randomness (jitter, exploration) comes from a
//! seeded generator it owns, so a run with the same seed and inputs gives the same answers.
//!
//! A recommendation goes through the tiers in order — ML (`ml_tier`, serving the versions the
//! service hands in; `ml` holds the models, features, drift and live outcomes, `ml_train` the
//! training pipeline) → Bayesian (`bayes`, deciding from the `survival` models kept in
//! the `registry`) → rules (`rules`) → static (`static_backoff`) — each drafting an answer on
//! the shared `tier::Ctx`, then the `guardrails` bound it and `explain` turns it into the wire
//! answer. `learn` and `episodes` say what an attempt teaches (`job_key` is how the per-job
//! tables know a job); `snapshot` is the persisted layout of everything learned; `preview`
//! plans a whole schedule.

mod bayes;
mod compare;
mod episodes;
mod explain;
mod guardrails;
mod job_key;
mod learn;
pub mod ml;
mod ml_tier;
mod ml_train;
mod preview;
mod registry;
mod rules;
mod settings;
mod snapshot;
mod static_backoff;
mod stats;
mod survival;
mod tier;

pub use crate::model::EngineSnapshot;
pub use crate::model::guardrail::{
    CIRCUIT_BREAKER, EMERGENCY_STOP, MAX_ATTEMPTS, MAX_DELAY, MIN_DELAY, RETRY_BUDGET, TENANT_QUOTA,
};
pub use episodes::CAPACITY as EPISODE_CAPACITY;
pub use ml_train::{MIN_EXAMPLES, TrainRequest, Trained, metrics_of, train as train_ml};
pub use rules::{default_policies, default_strategy, fmt_ms};
pub use settings::{CostWeights, EngineSettings};
pub use static_backoff::StaticBackoff;

use crate::model::pacing::{PaceAnswer, PaceCounters, PaceRequest, PaceSync};
use crate::model::validate;
use crate::model::{
    AttemptRecord, BayesianModel, BudgetUse, CircuitView, Explanation, FieldError, ForcedCircuit,
    JobExpectation, Method, ModelStatus, RetryFeatures, RetryPreview, RetryRecommendation,
    RetryStrategy, ScheduledJob, TenantUse,
};
use bayes::ExploreShare;
use chrono::{DateTime, Utc};
use episodes::{Episode, Episodes};
use guardrails::{GuardrailState, Verdict};
use ml::canary::CostComparison;
use ml::deployment::{
    Arm, AutoPromotion, AutoRollback, CanaryStep, Deployed, Deployment, Health, LiveArm,
};
use ml::drift::DriftScores;
use ml::live::ArmStats;
use ml::live_check::Comparison;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use registry::{Models, Thresholds};
use rules::RuleSet;
use settings::solve_params;
use snapshot::SnapshotRef;
pub use snapshot::{SnapshotCopy, StoredSnapshot};
use std::sync::Arc;
use tier::{Ctx, Draft, fall_back, guard_input};

/// Keys of recent failure counts above which idle ones are swept.
const RECENT_KEYS_SWEEP: usize = 10_000;

/// The ML tier's live state (see [`Engine::ml_live`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MlLive {
    /// The serving version and how it serves.
    pub serving: Option<(String, Arm)>,
    pub shadow: Option<String>,
    pub health: Health,
    pub arms: Vec<(LiveArm, ArmStats)>,
    /// Scores of the last complete drift window of the serving version.
    pub drift: Option<DriftScores>,
    /// The serving version's live forecasts against the Bayesian tier's on the same retries.
    pub check: Option<Comparison>,
    /// The last automatic rollback by that check or the canary, until a version serves again.
    pub auto_rollback: Option<AutoRollback>,
    /// A canary's realized costs per arm, while a canary serves.
    pub canary: Option<CostComparison>,
    /// The last automatic promotion of a canary, until another version serves.
    pub auto_promotion: Option<AutoPromotion>,
}

/// What [`Engine::recommend_shared`] gives: a final answer, or a retry for the shared ledger
/// to place.
#[derive(Debug)]
// Made and taken apart once per request, never stored: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Shared {
    Done(RetryRecommendation),
    Pace(PendingRecommendation),
}

/// A recommendation whose retry waits for the shared pacing counters.
#[derive(Debug)]
pub struct PendingRecommendation {
    features: RetryFeatures,
    now: DateTime<Utc>,
    draft: Draft,
    verdict: Verdict,
    request: PaceRequest,
}

impl PendingRecommendation {
    /// What the shared ledger must place and spend.
    pub fn request(&self) -> &PaceRequest {
        &self.request
    }
}

/// The engine. One instance per service (behind a mutex) or per evaluation run.
#[derive(Debug)]
pub struct Engine {
    strategy: RetryStrategy,
    settings: EngineSettings,
    rules: RuleSet,
    rng: Xoshiro256PlusPlus,
    guard: GuardrailState,
    episodes: Episodes,
    models: Models,
    explore: ExploreShare,
    ml: Deployment,
}

impl Engine {
    /// `seed` drives jitter and exploration, so equal seeds and inputs give equal answers.
    /// An invalid strategy is used as far as it compiles; validate configuration first with
    /// [`validate::strategy`].
    pub fn new(strategy: RetryStrategy, settings: EngineSettings, seed: u64) -> Self {
        Self {
            rules: RuleSet::compile(&strategy.policies),
            models: Models::new(solve_params(&strategy, &settings)),
            strategy,
            settings,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            guard: GuardrailState::default(),
            episodes: Episodes::default(),
            explore: ExploreShare::default(),
            ml: Deployment::default(),
        }
    }

    pub fn strategy(&self) -> &RetryStrategy {
        &self.strategy
    }

    /// Restarts the random stream (jitter, exploration) from `seed` and the count behind the
    /// exploration share. From here on the engine answers as a fresh `Engine::new(.., seed)`
    /// that had learned the same would: a run that keeps its keys (queues, classes, tenants)
    /// apart from earlier ones is reproducible, e.g. `eval --api` against a long-lived service.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        self.explore = ExploreShare::default();
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Jobs followed from their first failure now (at most `[engine] max_open_episodes`).
    pub fn open_episodes(&self) -> usize {
        self.episodes.count()
    }

    /// Replaces the strategy (policies, guardrails, threshold) after validating it.
    pub fn set_strategy(&mut self, strategy: RetryStrategy) -> Result<(), FieldError> {
        validate::strategy(&strategy)?;
        self.rules = RuleSet::compile(&strategy.policies);
        self.models
            .set_params(solve_params(&strategy, &self.settings));
        self.strategy = strategy;
        Ok(())
    }

    /// Replaces the cost weights the Bayesian tier minimises after validating them; every
    /// model re-solves its plan under them.
    pub fn set_cost(&mut self, cost: CostWeights) -> Result<(), FieldError> {
        validate::cost_weights(&cost)?;
        self.settings.cost = cost;
        self.models
            .set_params(solve_params(&self.strategy, &self.settings));
        Ok(())
    }

    /// Recommends what to do after the failed attempt described by `features`. Consumes retry
    /// budget and tenant quota when it says retry.
    pub fn recommend(
        &mut self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let ctx = self.context(features, now);
        let mut rng = self.rng.clone();
        let (draft, step) = self.draft(&ctx, &mut rng);
        self.rng = rng;
        self.explore.record(&draft);
        let verdict = self.verdict(&ctx, &draft);
        self.guard
            .commit(&self.strategy.guardrails, guard_input(&ctx), &verdict);
        let mut answer = explain::finish(draft, verdict, &ctx);
        self.ml_bookkeeping(&ctx, &step, &mut answer);
        answer
    }

    /// After a recommendation: counts model errors, scores the shadow, and remembers the
    /// forecasts of the retry for the live comparison per arm.
    fn ml_bookkeeping(
        &mut self,
        ctx: &Ctx<'_>,
        step: &ml_tier::Step,
        answer: &mut RetryRecommendation,
    ) {
        use ml::deployment::{Forecasts, LiveArm};
        let mut forecasts = Forecasts::default();
        match step {
            ml_tier::Step::Failed(message) => self.ml.record_error(message, ctx.now),
            ml_tier::Step::Served {
                reference_prediction,
            } => {
                self.ml.record_success();
                match ml_tier::paired(&self.ml_inputs(), ctx, answer)
                    .filter(|_| answer.should_retry)
                {
                    Some(pairing) => forecasts.pair(pairing),
                    None => forecasts.set(LiveArm::Ml, answer.estimated_success),
                }
                if let Some((deployed, _)) = self.ml.serving.clone() {
                    let situation = ml_tier::situation(ctx, &self.ml);
                    self.ml
                        .observe_drift(&deployed, &situation, *reference_prediction);
                }
            }
            ml_tier::Step::Control => forecasts.set(LiveArm::Control, answer.estimated_success),
            ml_tier::Step::NotAsked | ml_tier::Step::Declined(_) => {}
        }
        if answer.should_retry {
            match ml_tier::shadow(&self.ml_inputs(), ctx, answer.delay_ms) {
                Some(Ok((p, reference_p, explained))) if (0.0..=1.0).contains(&p) => {
                    forecasts.set(LiveArm::Shadow, p);
                    if let (None, Some(shadow)) = (&self.ml.serving, self.ml.shadow.clone()) {
                        let situation = ml_tier::situation(ctx, &self.ml);
                        self.ml.observe_drift(&shadow, &situation, reference_p);
                    }
                    if let Some(e) = answer.explanation.as_mut().filter(|e| e.ml.is_none()) {
                        e.ml = Some(explained);
                    }
                }
                Some(Ok((p, _, _))) => self.ml.record_error(&format!("shadow gave {p}"), ctx.now),
                Some(Err(message)) => self.ml.record_error(&message, ctx.now),
                None => {}
            }
        }
        if let (Some(job), true) = (ctx.features.job_id.as_deref(), answer.should_retry) {
            self.ml.expect(job, ctx.attempt + 1, forecasts);
        }
        self.canary_episode(ctx, answer);
    }

    /// A canary's episodes: one begins at a job's first failure; one ends when the answer
    /// is to stop (given up, out of attempts). Success ends one in [`Self::ml_observe`].
    fn canary_episode(&mut self, ctx: &Ctx<'_>, answer: &RetryRecommendation) {
        let Some(job) = ctx.features.job_id.as_deref() else {
            return;
        };
        if ctx.attempt == 1 {
            let f = ctx.features;
            let scope = ml::live_check::scope(&f.queue, &f.error_class);
            self.ml.canary_start(job, scope, ctx.now);
        }
        if !answer.should_retry {
            let ended = (ctx.now, false);
            let step = self
                .ml
                .canary_end(job, ctx.attempt, ended, &self.settings.cost);
            self.after_canary(step);
        }
    }

    /// The canary rolled back: the shadow, if any, is what the drift windows watch now.
    fn after_canary(&mut self, step: CanaryStep) {
        if step == CanaryStep::RolledBack {
            self.watch_drift();
        }
    }

    fn ml_inputs(&self) -> ml_tier::Inputs<'_> {
        ml_tier::Inputs {
            deployment: &self.ml,
            models: &self.models,
            thresholds: self.thresholds(),
            max_attempts: self.strategy.guardrails.max_attempts.max(1),
        }
    }

    /// Serves `version` (active for all jobs or as a canary), or nothing; the live comparison
    /// and the drift windows start over.
    pub fn ml_serve(&mut self, serving: Option<(Arc<Deployed>, Arm)>) {
        self.ml.serving = serving;
        self.ml.reset_live();
        self.watch_drift();
    }

    /// What `POST /ml/rollback` does to the engine: the serving version is taken off and goes
    /// back to shadow unless another version shadows (as after an automatic rollback), and
    /// `restored` serves every job, or nothing does. Whether the version taken off shadows.
    pub fn ml_roll_back(&mut self, restored: Option<Arc<Deployed>>) -> bool {
        let shadowed = match self.ml.serving.take() {
            Some((taken_off, _)) => self.ml.shadow_taken_off(taken_off),
            None => false,
        };
        self.ml_serve(restored.map(|d| (d, Arm::Active)));
        shadowed
    }

    /// Scores every request with `shadow` beside the served answer, or stops shadowing. When
    /// nothing serves, the drift windows watch the shadow and start over.
    pub fn ml_shadow(&mut self, shadow: Option<Arc<Deployed>>) {
        self.ml.shadow = shadow;
        if self.ml.serving.is_none() {
            self.watch_drift();
        }
    }

    /// The drift windows count the situations of the serving version's decisions or, when
    /// nothing serves, those the shadow scores (which the Bayesian tier's retries shaped, as
    /// they shaped the training rows); they start over here, and stop when nothing is left.
    fn watch_drift(&mut self) {
        let watched = match &self.ml.serving {
            Some((deployed, _)) => Some((deployed, false)),
            None => self.ml.shadow.as_ref().map(|d| (d, true)),
        };
        match watched.map(|(d, same)| (d.clone(), same)) {
            Some((d, same_policy)) => {
                self.ml
                    .drift
                    .restart(d.version.clone(), &d.reference, same_policy)
            }
            None => self.ml.drift.stop(),
        }
    }

    /// The ML tier's live state: what serves, health, per-arm outcomes, drift.
    pub fn ml_live(&self) -> MlLive {
        MlLive {
            serving: self
                .ml
                .serving
                .as_ref()
                .map(|(d, arm)| (d.version.clone(), *arm)),
            shadow: self.ml.shadow.as_ref().map(|d| d.version.clone()),
            health: self.ml.health(),
            arms: self.ml.live(),
            drift: self.ml.drift.scores().cloned(),
            check: self.ml.live_check(),
            auto_rollback: self.ml.auto_rollback().cloned(),
            canary: self.ml.canary_comparison(),
            auto_promotion: self.ml.auto_promotion().cloned(),
        }
    }

    /// An automatic promotion of a canary the service has yet to store (each is handed out
    /// once; see [`Self::ml_promotion_not_stored`]).
    pub fn ml_take_unstored_promotion(&mut self) -> Option<AutoPromotion> {
        self.ml.take_unstored_promotion()
    }

    /// Storing the automatic promotion failed: it is handed out again.
    pub fn ml_promotion_not_stored(&mut self) {
        self.ml.promotion_not_stored();
    }

    /// An automatic rollback the service has yet to store (each is handed out once; see
    /// [`Self::ml_rollback_not_stored`]).
    pub fn ml_take_unstored_rollback(&mut self) -> Option<AutoRollback> {
        self.ml.take_unstored_rollback()
    }

    /// Storing the automatic rollback failed: [`Self::ml_take_unstored_rollback`] hands it out
    /// again.
    pub fn ml_rollback_not_stored(&mut self) {
        self.ml.rollback_not_stored();
    }

    /// The scores of the watched version's last complete drift window (the serving one, or
    /// the shadow when nothing serves), if one has completed.
    pub fn ml_drift(&self) -> Option<&DriftScores> {
        self.ml.drift.scores()
    }

    /// [`Self::recommend`] for a service whose pacing counters (budget, share, tenant quota,
    /// circuit probe) live in a shared ledger: the answer, paced in process on counters kept
    /// in step with the ledger ([`Self::pace_sync`]); or, when the retry may be an open
    /// circuit's probe, the retry for the ledger to place with
    /// [`PendingRecommendation::request`], finished with [`Self::finish_shared`] (or
    /// [`Self::finish_local`] when the ledger cannot be reached).
    pub fn recommend_shared(&mut self, features: &RetryFeatures, now: DateTime<Utc>) -> Shared {
        let cfg = &self.strategy.guardrails;
        if !self
            .guard
            .may_take_probe(cfg, &features.queue, &features.error_class)
        {
            // Paced in process, on counters kept in step with the ledger (`pace_sync`).
            return Shared::Done(self.recommend(features, now));
        }
        let ctx = self.context(features, now);
        let mut rng = self.rng.clone();
        let (draft, step) = self.draft(&ctx, &mut rng);
        self.rng = rng;
        self.explore.record(&draft);
        let (verdict, request) = self.guard.evaluate_unpaced(
            &self.strategy.guardrails,
            guard_input(&ctx),
            draft.should_retry,
            draft.delay_ms,
            draft.max_attempts,
        );
        let Some(request) = request else {
            self.guard
                .commit(&self.strategy.guardrails, guard_input(&ctx), &verdict);
            let mut answer = explain::finish(draft, verdict, &ctx);
            self.ml_bookkeeping(&ctx, &step, &mut answer);
            return Shared::Done(answer);
        };
        Shared::Pace(PendingRecommendation {
            features: features.clone(),
            now,
            draft,
            verdict,
            request,
        })
    }

    /// Notes every retry's spends for a shared ledger from now on (a replica of a store that
    /// shares the pacing counters); see [`Self::pace_sync`].
    pub fn keep_pacing_for_ledger(&mut self) {
        self.guard.keep_for_ledger();
    }

    /// Hands the spends not yet in the shared ledger to a sync; answer with
    /// [`Self::absorb_pacing`], or [`Self::pace_sync_failed`] when the ledger was not reached.
    pub fn pace_sync(&mut self) -> PaceSync {
        self.guard.pace_sync(&self.strategy.guardrails)
    }

    /// Takes the shared counters a sync brought back as this replica's own.
    pub fn absorb_pacing(&mut self, shared: &PaceCounters) {
        self.guard.absorb(shared);
    }

    /// The sync did not reach the ledger: its spends go with the next one.
    pub fn pace_sync_failed(&mut self) {
        self.guard.pace_sync_failed();
    }

    /// The most spends in one queue or tenant that no sync has taken yet.
    pub fn unsent_pacing(&self) -> u64 {
        self.guard.unsent_spends()
    }

    /// Finishes a recommendation with the shared ledger's answer to its request.
    pub fn finish_shared(
        &mut self,
        pending: PendingRecommendation,
        answer: &PaceAnswer,
    ) -> RetryRecommendation {
        let ctx = self.context(&pending.features, pending.now);
        let mut verdict = pending.verdict;
        self.guard.apply_paced(
            &self.strategy.guardrails,
            guard_input(&ctx),
            &mut verdict,
            &pending.request,
            answer,
        );
        explain::finish(pending.draft, verdict, &ctx)
    }

    /// Finishes a recommendation with this replica's own counters (the shared ledger could
    /// not be reached: the answer is still paced, by what this replica knows).
    pub fn finish_local(&mut self, pending: PendingRecommendation) -> RetryRecommendation {
        let ctx = self.context(&pending.features, pending.now);
        let verdict = self.verdict(&ctx, &pending.draft);
        self.guard
            .commit(&self.strategy.guardrails, guard_input(&ctx), &verdict);
        explain::finish(pending.draft, verdict, &ctx)
    }

    /// The full planned schedule from `features` on, without consuming any budget.
    pub fn preview(
        &self,
        features: &RetryFeatures,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> RetryPreview {
        preview::plan(self, features, max_attempts, now)
    }

    /// The plan of a pending job from its scheduled next attempt on, without consuming any
    /// budget: that attempt as it was decided (recommendation, static backoff or override),
    /// then what the engine would recommend after each further failure.
    pub fn job_plan(&self, job: &ScheduledJob) -> RetryPreview {
        preview::job_plan(self, job)
    }

    /// Learns from one attempt (its `timestamp`, not the arrival time, places it in time).
    pub fn observe(&mut self, attempt: &AttemptRecord) {
        self.ml_observe(attempt);
        let episode = self.episodes.get(&attempt.job_id).cloned();
        self.guard
            .observe_attempt(&attempt.queue, attempt.timestamp);
        self.feed_circuit(episode.as_ref(), attempt);
        let evidence = learn::outcome(episode.as_ref(), attempt)
            .map_or(0.0, |outcome| self.models.observe(outcome));
        if attempt.success {
            self.episodes.remove(&attempt.job_id);
            self.episodes.tick(attempt.timestamp);
            return;
        }
        let episodes = &mut self.episodes;
        let next = learn::next_episode(episode, attempt, evidence, |l| episodes.labels(l));
        episodes.put(&attempt.job_id, next, self.settings.max_open_episodes);
    }

    /// What the ML tier learns from an attempt: the failure counts its features read, and the
    /// outcome of a retry it forecast.
    fn ml_observe(&mut self, a: &AttemptRecord) {
        let at = a.timestamp;
        let rolled_back = self
            .ml
            .outcome(&a.job_id, a.attempt_number, a.success, at)
            .is_some();
        if rolled_back {
            // The shadow, if any, is what the drift windows watch now.
            self.watch_drift();
        }
        if a.success {
            let ended = (at, true);
            let step = self
                .ml
                .canary_end(&a.job_id, a.attempt_number, ended, &self.settings.cost);
            self.after_canary(step);
        }
        if !a.success {
            let second = a.timestamp.timestamp();
            self.ml.recent.record(&a.queue, &a.error_class, second);
            if self.ml.recent.len() > RECENT_KEYS_SWEEP {
                self.ml.recent.sweep(second);
            }
        }
    }

    /// What the static tier says, used as the last fall-back and as the shadow comparison.
    pub fn static_recommendation(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let ctx = self.context(features, now);
        let backoff = &self.settings.static_backoff;
        let mut draft = static_backoff::draft(backoff, &ctx, Explanation::default());
        explain::annotate(&self.models, &mut draft, &ctx);
        let verdict = self.verdict(&ctx, &draft);
        explain::finish(draft, verdict, &ctx)
    }

    /// What the static tier would have said, in brief, for the smart-vs-static comparison
    /// that runs beside every recommendation: the answer after the guardrails and its
    /// estimated success, without rationale, explanation or similar cases (so it costs a
    /// fraction of [`Self::static_recommendation`] while the engine is locked).
    pub fn static_shadow(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> RetryRecommendation {
        let ctx = self.context(features, now);
        let backoff = &self.settings.static_backoff;
        let (should_retry, delay_ms) = backoff.decide(ctx.attempt);
        let verdict = self.guard.evaluate(
            &self.strategy.guardrails,
            guard_input(&ctx),
            should_retry,
            delay_ms,
            backoff.max_attempts,
        );
        let estimate = if verdict.should_retry {
            explain::success_estimate(&self.models, &ctx, verdict.delay_ms)
        } else {
            0.0
        };
        explain::brief(&verdict, estimate, now)
    }

    /// What a job failing as in `features` can expect from here on under the smart plan (the
    /// preview's schedule) and under the static backoff, both judged by the same models.
    pub fn shadow_expectations(
        &self,
        features: &RetryFeatures,
        now: DateTime<Utc>,
    ) -> (JobExpectation, JobExpectation) {
        let ctx = self.context(features, now);
        let plan = preview::plan(self, features, 0, now);
        let smart: Vec<u64> = plan.timeline.iter().map(|t| t.delay_ms).collect();
        let backoff = &self.settings.static_backoff;
        let last = backoff
            .max_attempts
            .min(self.strategy.guardrails.max_attempts.max(1));
        let fixed: Vec<u64> = (ctx.attempt..last).map(|a| backoff.delay_ms(a)).collect();
        (
            compare::expectation(&self.models, &ctx, &smart),
            compare::expectation(&self.models, &ctx, &fixed),
        )
    }

    /// Re-solves the models of (job type, error class) from what they learned, at `now` (they
    /// also refresh on their own as samples arrive). False when there is no such model.
    pub fn refresh_model(&mut self, job_type: &str, error_class: &str, now: DateTime<Utc>) -> bool {
        self.models.refresh(job_type, error_class, now)
    }

    /// Every model in the upstream shape (buckets by elapsed time since the first failure),
    /// with its recovery curve.
    pub fn bayesian_models(&self) -> Vec<BayesianModel> {
        self.models.export(self.settings.credibility)
    }

    pub fn model_status(&self) -> ModelStatus {
        let (models, warm) = self.models.status(self.thresholds());
        ModelStatus {
            bayesian_models: models,
            warm_models: warm,
            ml: None,
            last_trained: self.models.last_trained(),
        }
    }

    /// Budget, quota and circuit state for the console at `now`.
    pub fn guardrail_status(
        &self,
        now: DateTime<Utc>,
    ) -> (Vec<BudgetUse>, Vec<TenantUse>, Vec<CircuitView>) {
        self.guard.status(&self.strategy.guardrails, now)
    }

    /// Circuits open or half-open right now (for the `open circuits` gauge and alerts).
    pub fn open_circuits(&self) -> usize {
        self.guard.open_circuits()
    }

    /// Forces a circuit open (retries into it deferred) or closed (its breaker does not open)
    /// until released; replaces an earlier force of the same circuit.
    pub fn force_circuit(&mut self, forced: ForcedCircuit) {
        self.guard.force(forced);
    }

    /// Releases a forced circuit to its breaker; what was forced, if anything.
    pub fn release_circuit(&mut self, queue: &str, error_class: &str) -> Option<ForcedCircuit> {
        self.guard.release(queue, error_class)
    }

    /// The circuits an operator forced, by queue then error class.
    pub fn forced_circuits(&self) -> Vec<ForcedCircuit> {
        self.guard.forced()
    }

    /// Everything learned (model counts, similar cases, open episodes, budgets, quotas,
    /// circuits), versioned, so a restarted service answers as before without replaying.
    pub fn snapshot(&self) -> EngineSnapshot {
        snapshot::encode(&SnapshotRef {
            models: &self.models.snapshot(),
            episodes: &self.episodes.view(),
            guardrails: &self.guard,
            explore: self.explore,
        })
    }

    /// [`Self::snapshot`] in two steps: this copy of what was learned is cheap (no encoding),
    /// so a service takes it under the engine lock and, after releasing the lock, has the store
    /// write it as it encodes it (a [`crate::model::SnapshotSource`]).
    pub fn snapshot_copy(&self) -> SnapshotCopy {
        SnapshotCopy {
            models: self.models.snapshot(),
            episodes: self.episodes.view(),
            guardrails: self.guard.clone(),
            explore: self.explore,
        }
    }

    /// Loads a snapshot taken by `snapshot`. An empty snapshot (version 0) means "nothing
    /// learned yet"; an unknown version or malformed data is refused and nothing changes.
    pub fn restore(&mut self, snapshot: EngineSnapshot) -> Result<(), String> {
        if let Some(data) = snapshot::decode(&snapshot)? {
            self.restore_stored(StoredSnapshot(Some(data)));
        }
        Ok(())
    }

    /// Loads a snapshot decoded as the store read it (see [`StoredSnapshot`]); the empty
    /// snapshot changes nothing.
    pub fn restore_stored(&mut self, stored: StoredSnapshot) {
        let StoredSnapshot(Some(data)) = stored else {
            return;
        };
        self.models.restore(data.models);
        self.episodes = data.episodes;
        self.guard = data.guardrails.restored(&self.guard);
        self.explore = data.explore;
    }

    /// The request context, from the job's open episode and the guardrails' delay bounds.
    fn context<'a>(&self, features: &'a RetryFeatures, now: DateTime<Utc>) -> Ctx<'a> {
        let episode = features
            .job_id
            .as_deref()
            .and_then(|id| self.episodes.get(id));
        tier::context(features, now, episode, &self.strategy.guardrails)
    }

    /// The tiers in order (ML → Bayesian → rules → static), each falling back to the next
    /// with the reason recorded.
    fn draft<R: rand::Rng>(&self, ctx: &Ctx<'_>, rng: &mut R) -> (Draft, ml_tier::Step) {
        let mut explanation = Explanation {
            elapsed_ms: ctx.elapsed_ms,
            ..Explanation::default()
        };
        if !self.strategy.enabled {
            let mut d = static_backoff::draft(&self.settings.static_backoff, ctx, explanation);
            let reason = format!("strategy '{}' is disabled", self.strategy.name);
            d.fallback(Method::Rules, Method::Static, reason);
            return (d, ml_tier::Step::NotAsked);
        }
        let mut step = ml_tier::Step::NotAsked;
        if self.strategy.ml_enabled {
            let (served, s) = ml_tier::draft(&self.ml_inputs(), ctx, &explanation);
            if let Some(d) = served {
                return (d, s);
            }
            if let ml_tier::Step::Declined(reason) | ml_tier::Step::Failed(reason) = &s {
                fall_back(
                    &mut explanation,
                    Method::Ml,
                    Method::Bayesian,
                    reason.clone(),
                );
            }
            step = s;
        }
        (self.draft_below_ml(ctx, explanation, rng), step)
    }

    /// The tiers under ML: Bayesian → rules → static.
    fn draft_below_ml<R: rand::Rng>(
        &self,
        ctx: &Ctx<'_>,
        mut explanation: Explanation,
        rng: &mut R,
    ) -> Draft {
        let f = ctx.features;
        let policy = self
            .rules
            .matching(&f.job_type, &f.error_class, &f.error_code);
        if let Some(p) = policy.filter(|p| p.stops_at_once()) {
            let reason = format!("policy '{}' stops this error at once", p.policy.name);
            fall_back(&mut explanation, Method::Bayesian, Method::Rules, reason);
        } else if self.settings.bayesian_enabled && self.strategy.bayesian_enabled {
            match bayes::tier(&self.models, self.bayes_setup(ctx), ctx, &explanation, rng) {
                Ok(d) => return d,
                Err(reason) => fall_back(&mut explanation, Method::Bayesian, Method::Rules, reason),
            }
        }
        let mut d = self.rules_or_static(policy, ctx, explanation, rng);
        explain::annotate(&self.models, &mut d, ctx);
        d
    }

    fn rules_or_static<R: rand::Rng>(
        &self,
        policy: Option<&rules::CompiledPolicy>,
        ctx: &Ctx<'_>,
        explanation: Explanation,
        rng: &mut R,
    ) -> Draft {
        let Some(policy) = policy else {
            let f = ctx.features;
            let mut d = static_backoff::draft(&self.settings.static_backoff, ctx, explanation);
            let reason = format!(
                "no policy matches error_class '{}' / error_code '{}'",
                f.error_class, f.error_code
            );
            d.fallback(Method::Rules, Method::Static, reason);
            return d;
        };
        rules::draft(policy, ctx, explanation, rng)
    }

    fn bayes_setup(&self, ctx: &Ctx<'_>) -> bayes::Setup {
        let f = ctx.features;
        bayes::Setup {
            spread: self.models.never_recovered(&f.job_type, &f.error_class),
            thresholds: self.thresholds(),
            credibility: self.settings.credibility,
            threshold: self.strategy.bayesian_threshold,
            max_attempts: self.strategy.guardrails.max_attempts.max(1),
            max_retry_age_ms: self.strategy.guardrails.max_retry_age.as_millis(),
            explore_rate: self.explore.rate_now(self.settings.exploration_rate),
        }
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_samples: self.settings.min_samples,
            tenant_min_samples: self.settings.tenant_min_samples,
        }
    }

    /// The guardrails' verdict on a draft, without spending anything.
    fn verdict(&self, ctx: &Ctx<'_>, draft: &Draft) -> Verdict {
        self.guard.evaluate(
            &self.strategy.guardrails,
            guard_input(ctx),
            draft.should_retry,
            draft.delay_ms,
            draft.max_attempts,
        )
    }

    /// Retry outcomes feed the circuit of (queue, error class).
    fn feed_circuit(&mut self, episode: Option<&Episode>, a: &AttemptRecord) {
        if let Some((queue, class)) = learn::circuit(episode, a) {
            self.guard.observe_retry(
                &self.strategy.guardrails,
                queue,
                class,
                a.success,
                a.timestamp,
            );
        }
    }
}

#[cfg(test)]
mod tests;
