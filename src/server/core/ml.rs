//! The ML tier's lifecycle in the service: training jobs (one at a time, off the request path
//! on a thread of their own at a lower priority), stored versions and their states, deployment (gated on the held-out
//! comparison with the Bayesian tier — forecasts and decision costs — unless forced), shadow, canary, rollback, and loading
//! what served at start-up. The engine only serves what it is handed here.
//!
//! States: a trained version is a `candidate`. Deploying it as a shadow makes it `shadow` (the
//! shadow before it goes back to `candidate`); deploying it to serve makes it `canary` or
//! `active`, and the version that served before is `retired`. A version the deploy gate passes
//! is not served to every job at once: asked for every job, it serves a canary of
//! [`canary::DEFAULT_PERCENT`] % first, and the engine promotes a canary to `active` when its
//! arm's realized cost per ended episode is shown not dearer than the Bayesian arm's, or
//! rolls it back when it is shown dearer (`engine::ml::canary`); `force` serves it as asked.
//! Rollback (by `POST /ml/rollback`, the live check or the canary's costs) takes the serving
//! version off: it goes back to `shadow` (scored beside every answer, never served, its drift
//! still watched so `ModelDriftDetected` can say the candidate is stale) unless another version
//! shadows, when it is `retired`. `POST /ml/rollback` also makes the most recently retired
//! other version active again, or none. Nothing is deployed by itself.
//!
//! Replicas sharing a store follow one another's deployments: every [`FOLLOW_DEPLOYMENTS_EVERY`]
//! each compares what the stored states say serves and shadows with what its engine serves,
//! and loads the difference (switching its ML tier on or off with it), without a restart.

use super::state::AppState;
use crate::engine::ml::canary::{self, CostComparison};
use crate::engine::ml::clustered::Z as LIVE_CHECK_Z;
use crate::engine::ml::deployment::{Arm, AutoPromotion, AutoRollback, Deployed, LiveArm};
use crate::engine::ml::live::ArmStats;
use crate::engine::ml::live_check::{
    Comparison, MIN_OUTCOMES as LIVE_CHECK_MIN, TOLERANCE as LIVE_CHECK_TOLERANCE,
};
use crate::engine::{TrainRequest, Trained, train_ml};
use crate::model::{
    MLModel, MlArmView, MlDeployRequest, MlDeployed, MlJob, MlJobState, MlState, MlVersion,
};
use crate::server::edge::{ApiError, ApiResult};
use crate::store::ml_version_seq;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// How often a replica on a shared store looks for a deployment or rollback made elsewhere.
pub const FOLLOW_DEPLOYMENTS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Attempts read per store round trip when loading training data.
const LOAD_PAGE: u32 = 10_000;
/// Finished training jobs remembered for `GET /ml/jobs/{id}`.
const KEPT_JOBS: usize = 100;

static LOWER_TRAINING_PRIORITY: OnceLock<fn()> = OnceLock::new();

/// Sets what a training thread calls first to lower its own scheduling priority (the first
/// call wins). `retryctl serve` on Linux sets a higher nice value: a training is CPU-bound for
/// seconds to tens of seconds, and on a small machine it would otherwise take a core the
/// request handlers need (the library forbids `unsafe`, so the system call is the binary's).
pub fn set_training_priority(lower: fn()) {
    let _ = LOWER_TRAINING_PRIORITY.set(lower);
}

/// Runs `work` on a thread of its own, at the priority [`set_training_priority`] sets, and
/// answers its result; an error if the thread could not start or ended without an answer.
async fn in_background<T, F>(work: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (answer, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("retryctl-ml-train".into())
        .spawn(move || {
            if let Some(&lower) = LOWER_TRAINING_PRIORITY.get() {
                lower();
            }
            let _ = answer.send(work());
        })
        .map_err(|e| format!("could not start the training thread: {e}"))?;
    result
        .await
        .map_err(|_| "the training thread ended without an answer (it panicked)".to_string())
}

/// Training jobs and the last training failure.
#[derive(Debug, Default)]
pub struct MlOps {
    inner: Mutex<Jobs>,
}

#[derive(Debug, Default)]
struct Jobs {
    jobs: BTreeMap<u64, MlJob>,
    running: Option<u64>,
    next: u64,
    /// The last training failure, until a training succeeds.
    failed: Option<(String, DateTime<Utc>)>,
    last_trained: Option<DateTime<Utc>>,
}

impl MlOps {
    pub fn job(&self, id: &str) -> Option<MlJob> {
        let n: u64 = id.strip_prefix("train-")?.parse().ok()?;
        self.inner.lock().jobs.get(&n).cloned()
    }

    /// The training job running now, if any.
    pub fn running(&self) -> Option<MlJob> {
        let inner = self.inner.lock();
        inner.running.and_then(|n| inner.jobs.get(&n).cloned())
    }

    /// The most recent training job that has ended (succeeded or failed), if any.
    pub fn last_finished(&self) -> Option<MlJob> {
        let inner = self.inner.lock();
        inner
            .jobs
            .values()
            .rev()
            .find(|j| j.state != MlJobState::Running)
            .cloned()
    }

    /// The last training failure (message, time) while no training has succeeded since.
    pub fn training_failure(&self) -> Option<(String, DateTime<Utc>)> {
        self.inner.lock().failed.clone()
    }

    pub fn last_trained(&self) -> Option<DateTime<Utc>> {
        self.inner.lock().last_trained
    }

    /// Starts a job, or refuses while another runs.
    fn begin(&self, now: DateTime<Utc>) -> ApiResult<MlJob> {
        let mut inner = self.inner.lock();
        if let Some(running) = inner.running {
            return Err(ApiError::conflict(format!(
                "training job train-{running} is still running; one training runs at a time (GET /ml/jobs/train-{running})"
            )));
        }
        inner.next += 1;
        let n = inner.next;
        let job = MlJob {
            job_id: format!("train-{n}"),
            state: MlJobState::Running,
            progress: "loading attempts".into(),
            started_at: now,
            finished_at: None,
            model: None,
            error: None,
        };
        inner.jobs.insert(n, job.clone());
        inner.running = Some(n);
        while inner.jobs.len() > KEPT_JOBS {
            inner.jobs.pop_first();
        }
        Ok(job)
    }

    fn progress(&self, job_id: &str, text: String) {
        let n = job_number(job_id);
        if let Some(job) = self.inner.lock().jobs.get_mut(&n) {
            job.progress = text;
        }
    }

    fn finish(
        &self,
        job_id: &str,
        outcome: Result<MlVersion, String>,
        now: DateTime<Utc>,
    ) -> MlJob {
        let n = job_number(job_id);
        let mut inner = self.inner.lock();
        inner.running = None;
        match &outcome {
            Ok(v) => {
                inner.failed = None;
                inner.last_trained = Some(v.trained_at);
            }
            Err(e) => inner.failed = Some((e.clone(), now)),
        }
        let job = inner.jobs.entry(n).or_insert_with(|| MlJob {
            job_id: job_id.to_string(),
            state: MlJobState::Running,
            progress: String::new(),
            started_at: now,
            finished_at: None,
            model: None,
            error: None,
        });
        job.finished_at = Some(now);
        match outcome {
            Ok(v) => {
                job.state = MlJobState::Succeeded;
                job.progress = format!("trained {}", v.version);
                job.model = Some(v);
            }
            Err(e) => {
                job.state = MlJobState::Failed;
                job.progress = "failed".into();
                job.error = Some(e);
            }
        }
        job.clone()
    }
}

fn job_number(job_id: &str) -> u64 {
    job_id
        .strip_prefix("train-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Starts a training job on the recorded attempts; the handle yields the finished job.
pub async fn start_training(
    state: &AppState,
    req: TrainRequest,
    actor: &str,
) -> ApiResult<(MlJob, tokio::task::JoinHandle<MlJob>)> {
    let job = state.ml.begin(state.now())?;
    let detail = json!({"job_id": job.job_id, "model_type": format!("{:?}", req.kind), "features": req.features.names()});
    if let Err(e) = state
        .audit(actor, "ml_train", &job.job_id, "", detail)
        .await
    {
        state
            .ml
            .finish(&job.job_id, Err(e.to_string()), state.now());
        return Err(e);
    }
    let (task_state, id) = (state.clone(), job.job_id.clone());
    let handle = tokio::spawn(async move {
        let outcome = train_and_store(&task_state, &id, req).await;
        if let Err(e) = &outcome {
            tracing::warn!(job = %id, error = %e, "ML training failed");
        }
        task_state.metrics.ml.trained(outcome.is_ok());
        task_state.ml.finish(&id, outcome, task_state.now())
    });
    Ok((job, handle))
}

async fn train_and_store(
    state: &AppState,
    job_id: &str,
    req: TrainRequest,
) -> Result<MlVersion, String> {
    let attempts = load_attempts(state).await?;
    let (strategy, settings) = {
        let engine = state.engine.lock();
        (engine.strategy().clone(), engine.settings().clone())
    };
    let (ops, id) = (state.ml.clone(), job_id.to_string());
    let request = req.clone();
    let started = std::time::Instant::now();
    let trained = in_background(move || {
        let progress = |text: String| ops.progress(&id, text);
        train_ml(attempts, &request, &strategy, &settings, &progress)
    })
    .await?
    .map_err(|e| e.to_string())?;
    let training_ms = started.elapsed().as_millis() as u64;
    state.ml.progress(job_id, "storing the model".into());
    let bytes = Deployed::pack(&trained.fitted, &trained.reference).map_err(|e| e.to_string())?;
    let versions = state
        .store_read(state.store.list_ml_versions().await)
        .map_err(|e| e.to_string())?;
    let seq = versions
        .iter()
        .map(|v| ml_version_seq(&v.version))
        .max()
        .unwrap_or(0)
        + 1;
    let version = describe(
        format!("ml-{seq}"),
        &req,
        &trained,
        training_ms,
        state.now(),
    );
    state
        .store_write(
            state
                .store
                .put_ml_versions(vec![(version.clone(), Some(bytes))])
                .await,
        )
        .map_err(|e| e.to_string())?;
    Ok(version)
}

fn describe(
    version: String,
    req: &TrainRequest,
    t: &Trained,
    training_ms: u64,
    now: DateTime<Utc>,
) -> MlVersion {
    MlVersion {
        version,
        model_type: crate::engine::ml::model_type_name(req.kind).into(),
        features: t.fitted.features().names(),
        state: MlState::Candidate,
        canary_percent: 0.0,
        trained_at: now,
        data_from: t.data_from,
        data_to: t.data_to,
        training_rows: t.training_rows,
        holdout_rows: t.holdout_rows,
        training_ms,
        cross_validation: t.cross_validation.clone(),
        holdout: t.holdout.clone(),
        bayesian_holdout: t.bayesian_holdout.clone(),
        decision_cost: Some(t.decision_cost.clone()),
        hyperparameters: req.hyperparameters.clone(),
        updated_at: now,
    }
}

/// Every recorded attempt, in pages.
async fn load_attempts(state: &AppState) -> Result<Vec<crate::model::AttemptRecord>, String> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = state
            .store_read(state.store.attempts_after(after, LOAD_PAGE).await)
            .map_err(|e| e.to_string())?;
        let Some(&(last, _)) = page.last() else {
            return Ok(all);
        };
        after = last;
        all.extend(page.into_iter().map(|(_, a)| a));
    }
}

/// The version named, with its stored parameters loaded for serving.
async fn load(state: &AppState, version: &str) -> ApiResult<(MlVersion, Arc<Deployed>)> {
    let versions = state.store_read(state.store.list_ml_versions().await)?;
    let found = versions
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| unknown(version))?;
    let bytes = state
        .store_read(state.store.ml_model(version).await)?
        .ok_or_else(|| ApiError::internal(&format!("model {version} has no stored parameters")))?;
    let deployed = Deployed::unpack(version, &bytes)
        .map_err(|e| ApiError::internal(&format!("model {version}: {e}")))?;
    Ok((found, Arc::new(deployed)))
}

fn unknown(version: &str) -> ApiError {
    ApiError::not_found("no such model").with_details(format!(
        "no ML model version {version:?} is stored (GET /ml/models)"
    ))
}

/// The 409 of a candidate the deploy gate refuses.
fn refused(version: &str, why: &str) -> ApiError {
    ApiError::conflict(format!(
        "{version} does not beat the Bayesian tier on the held-out slice: {why}; deploy with \"force\": true to override (audited)"
    ))
}

/// Deploys a version as the request says, after the deploy gate (`MlVersion::gate`).
pub async fn deploy(state: &AppState, req: MlDeployRequest, actor: &str) -> ApiResult<MlDeployed> {
    let _serial = state.ml_lock.lock().await;
    let (target, deployed) = load(state, &req.version).await?;
    let gate = target.gate();
    if let (Err(why), false) = (&gate, req.force) {
        return Err(refused(&target.version, why));
    }
    let now = state.now();
    let versions = state.store_read(state.store.list_ml_versions().await)?;
    let arm = arm_of(&req, gate.is_ok());
    let changes = transitions(&versions, &target.version, arm, req.shadow, now);
    state.store_write(
        state
            .store
            .put_ml_versions(changes.clone().into_iter().map(|v| (v, None)).collect())
            .await,
    )?;
    if req.shadow {
        state.engine.lock().ml_shadow(Some(deployed));
    } else {
        {
            let mut engine = state.engine.lock();
            engine.ml_serve(Some((deployed, arm)));
            if engine.ml_live().shadow.as_deref() == Some(target.version.as_str()) {
                engine.ml_shadow(None);
            }
        }
        set_ml_enabled(state, actor, true).await?;
    }
    let detail = json!({
        "version": target.version, "shadow": req.shadow, "canary_percent": req.canary_percent,
        "forced": gate.is_err(), "gate": gate.as_ref().err(),
        "holdout_log_loss": target.holdout.log_loss, "bayesian_log_loss": target.bayesian_holdout.log_loss,
        "decision_cost": target.decision_cost,
    });
    let action = if gate.is_err() {
        "ml_deploy_forced"
    } else {
        "ml_deploy"
    };
    state
        .audit(actor, action, &target.version, &req.reason, detail)
        .await?;
    let status = if req.shadow { "shadowing" } else { "deployed" };
    current(state, status).await
}

/// How a deployment serves: the canary asked for; every job when forced; a version the gate
/// passed asked to serve every job starts as a canary of [`canary::DEFAULT_PERCENT`] %, which
/// the engine promotes on the canary's realized costs.
fn arm_of(req: &MlDeployRequest, gated: bool) -> Arm {
    match req.canary_percent {
        Some(p) if p > 0.0 && p < 100.0 => Arm::Canary(p),
        _ if gated && !req.force => Arm::Canary(canary::DEFAULT_PERCENT),
        _ => Arm::Active,
    }
}

/// The versions whose state a deployment of `target` changes, changed.
fn transitions(
    versions: &[MlVersion],
    target: &str,
    arm: Arm,
    shadow: bool,
    now: DateTime<Utc>,
) -> Vec<MlVersion> {
    let mut out = Vec::new();
    for v in versions {
        let next = if v.version == target {
            match (shadow, arm) {
                (true, _) => (MlState::Shadow, 0.0),
                (false, Arm::Canary(p)) => (MlState::Canary, p),
                (false, Arm::Active) => (MlState::Active, 100.0),
            }
        } else if shadow && v.state == MlState::Shadow {
            (MlState::Candidate, 0.0)
        } else if !shadow && matches!(v.state, MlState::Active | MlState::Canary) {
            (MlState::Retired, 0.0)
        } else {
            continue;
        };
        out.push(MlVersion {
            state: next.0,
            canary_percent: next.1,
            updated_at: now,
            ..v.clone()
        });
    }
    out
}

/// `v` taken off at `now`: it serves no share of jobs, and shadows or is retired.
fn taken_off(v: &MlVersion, shadowed: bool, now: DateTime<Utc>) -> MlVersion {
    MlVersion {
        state: if shadowed {
            MlState::Shadow
        } else {
            MlState::Retired
        },
        canary_percent: 0.0,
        updated_at: now,
        ..v.clone()
    }
}

/// Takes the serving version off (to shadow unless another version shadows, else retired)
/// and makes the most recently retired other one active, or none.
pub async fn rollback(state: &AppState, actor: &str) -> ApiResult<MlDeployed> {
    let _serial = state.ml_lock.lock().await;
    let versions = state.store_read(state.store.list_ml_versions().await)?;
    let Some(serving) = versions
        .iter()
        .find(|v| matches!(v.state, MlState::Active | MlState::Canary))
    else {
        return Err(ApiError::conflict(
            "no ML model is serving: nothing to roll back",
        ));
    };
    let previous = versions
        .iter()
        .filter(|v| v.state == MlState::Retired && v.version != serving.version)
        .max_by_key(|v| v.updated_at);
    let now = state.now();
    // The engine's rule (`Deployment::shadow_taken_off`), read before the store is written.
    let shadowed = state.engine.lock().ml_live().shadow.is_none();
    let mut changes = vec![taken_off(serving, shadowed, now)];
    let restored = match previous {
        Some(p) => {
            let (_, deployed) = load(state, &p.version).await?;
            changes.push(MlVersion {
                state: MlState::Active,
                canary_percent: 100.0,
                updated_at: now,
                ..p.clone()
            });
            Some(deployed)
        }
        None => None,
    };
    state.store_write(
        state
            .store
            .put_ml_versions(changes.into_iter().map(|v| (v, None)).collect())
            .await,
    )?;
    let to = restored.as_ref().map(|d| d.version.clone());
    let enable = restored.is_some();
    let shadowed = state.engine.lock().ml_roll_back(restored);
    set_ml_enabled(state, actor, enable).await?;
    let detail = json!({"from": serving.version, "to": to, "shadow": shadowed});
    state
        .audit(actor, "ml_rollback", &serving.version, "", detail)
        .await?;
    current(state, "rolled_back").await
}

/// The actor an automatic rollback is audited as.
pub const LIVE_CHECK_ACTOR: &str = "retryctl:live-check";

/// Stores what the engine changed on its own: a rollback (the live check found the serving
/// version significantly worse than the Bayesian tier, `engine::ml::live_check`, or a
/// canary's jobs cost more, `engine::ml::canary`): the version in shadow (or retired when
/// another version shadows), the ML tier switched off, audited as `ml_rollback_auto` with the numbers in the reason; and a canary's
/// promotion: the version `active`, audited as `ml_promote_auto`. Run by the alert loop and
/// before a replica follows the stored states, so the stored states do not undo it. Whether
/// there was a rollback.
pub async fn store_auto_changes(state: &AppState) -> ApiResult<bool> {
    let _serial = state.ml_lock.lock().await;
    store_auto_changes_locked(state).await
}

async fn store_auto_changes_locked(state: &AppState) -> ApiResult<bool> {
    store_auto_promotion_locked(state).await?;
    store_auto_rollback_locked(state).await
}

async fn store_auto_promotion_locked(state: &AppState) -> ApiResult<()> {
    let Some(promoted) = state.engine.lock().ml_take_unstored_promotion() else {
        return Ok(());
    };
    let stored = activate_promoted(state, &promoted).await;
    if stored.is_err() {
        state.engine.lock().ml_promotion_not_stored();
    }
    stored
}

async fn activate_promoted(state: &AppState, promoted: &AutoPromotion) -> ApiResult<()> {
    let versions = state.store_read(state.store.list_ml_versions().await)?;
    let now = state.now();
    let active: Vec<_> = versions
        .iter()
        .filter(|v| v.version == promoted.version && v.state == MlState::Canary)
        .map(|v| {
            let v = MlVersion {
                state: MlState::Active,
                canary_percent: 100.0,
                updated_at: now,
                ..v.clone()
            };
            (v, None)
        })
        .collect();
    if !active.is_empty() {
        state.store_write(state.store.put_ml_versions(active).await)?;
    }
    let reason = promoted.reason();
    tracing::info!(%reason, "ML canary promoted by its realized costs");
    let c = &promoted.comparison;
    let detail = json!({
        "version": promoted.version, "from_percent": promoted.percent, "at": promoted.at,
        "ml_episodes": c.ml_episodes, "bayesian_episodes": c.control_episodes,
        "ml_cost": c.ml_cost, "bayesian_cost": c.control_cost,
        "difference": c.difference, "standard_error": c.standard_error, "clusters": c.clusters,
    });
    state
        .audit(
            CANARY_ACTOR,
            "ml_promote_auto",
            &promoted.version,
            &reason,
            detail,
        )
        .await
        .map(|_| ())
}

/// The actor an automatic promotion is audited as.
pub const CANARY_ACTOR: &str = "retryctl:canary";

async fn store_auto_rollback_locked(state: &AppState) -> ApiResult<bool> {
    let Some(rolled) = state.engine.lock().ml_take_unstored_rollback() else {
        return Ok(false);
    };
    let stored = take_off_rolled_back(state, &rolled).await;
    if stored.is_err() {
        state.engine.lock().ml_rollback_not_stored();
    }
    stored.map(|()| true)
}

async fn take_off_rolled_back(state: &AppState, rolled: &AutoRollback) -> ApiResult<()> {
    let versions = state.store_read(state.store.list_ml_versions().await)?;
    let now = state.now();
    let off: Vec<_> = versions
        .iter()
        .filter(|v| {
            v.version == rolled.version && matches!(v.state, MlState::Active | MlState::Canary)
        })
        .map(|v| (taken_off(v, rolled.shadowed, now), None))
        .collect();
    if !off.is_empty() {
        state.store_write(state.store.put_ml_versions(off).await)?;
    }
    if state.engine.lock().ml_live().serving.is_none() {
        set_ml_enabled(state, LIVE_CHECK_ACTOR, false).await?;
    }
    let reason = rolled.reason();
    tracing::warn!(%reason, "ML model rolled back by the live check");
    state.metrics.ml.rolled_back();
    let now = state.now();
    state
        .ops
        .lock()
        .events
        .push(now, super::events::kind::ALERT, None, reason.clone());
    let c = &rolled.comparison;
    let mut detail = json!({
        "from": rolled.version, "to": null, "shadow": rolled.shadowed, "arm": rolled.arm.name(), "at": rolled.at,
        "outcomes": c.outcomes, "model_log_loss": c.model_log_loss,
        "bayesian_log_loss": c.bayesian_log_loss, "difference": c.difference,
        "standard_error": c.standard_error,
    });
    let actor = match &rolled.canary {
        Some(k) => {
            detail["canary"] = json!({
                "ml_episodes": k.ml_episodes, "bayesian_episodes": k.control_episodes,
                "ml_cost": k.ml_cost, "bayesian_cost": k.control_cost,
                "difference": k.difference, "standard_error": k.standard_error,
                "clusters": k.clusters,
            });
            CANARY_ACTOR
        }
        None => LIVE_CHECK_ACTOR,
    };
    state
        .audit(actor, "ml_rollback_auto", &rolled.version, &reason, detail)
        .await
        .map(|_| ())
}

async fn set_ml_enabled(state: &AppState, actor: &str, on: bool) -> ApiResult<()> {
    if state.engine.lock().strategy().ml_enabled == on {
        return Ok(());
    }
    state
        .update_strategy(actor, "ML deployment", |s| {
            s.ml_enabled = on;
            Ok(super::state::Change {
                action: "strategy",
                target: "ml_enabled".into(),
                detail: json!({"ml_enabled": on}),
            })
        })
        .await
        .map(|_| ())
}

/// What serves and shadows now, from the store.
async fn current(state: &AppState, status: &str) -> ApiResult<MlDeployed> {
    let versions = state.store_read(state.store.list_ml_versions().await)?;
    Ok(MlDeployed {
        status: status.to_string(),
        serving: versions
            .iter()
            .find(|v| matches!(v.state, MlState::Active | MlState::Canary))
            .cloned(),
        shadow: versions
            .iter()
            .find(|v| v.state == MlState::Shadow)
            .cloned(),
    })
}

/// Loads the serving and shadow versions at start-up; a version that cannot be loaded is
/// skipped with a warning (the Bayesian tier serves). How many were loaded.
pub async fn restore(state: &AppState) -> crate::store::StoreResult<usize> {
    let versions = state.store.list_ml_versions().await?;
    let mut loaded = 0;
    for v in versions {
        let arm = match v.state {
            MlState::Active => Arm::Active,
            MlState::Canary => Arm::Canary(v.canary_percent),
            MlState::Shadow => Arm::Active,
            _ => continue,
        };
        match load(state, &v.version).await {
            Ok((_, deployed)) if v.state == MlState::Shadow => {
                state.engine.lock().ml_shadow(Some(deployed));
                loaded += 1;
            }
            Ok((_, deployed)) => {
                state.engine.lock().ml_serve(Some((deployed, arm)));
                loaded += 1;
            }
            Err(e) => tracing::warn!(version = %v.version, error = ?e, "ML model not loaded"),
        }
    }
    Ok(loaded)
}

/// What the stored states say serves (and how) and shadows.
fn stored_deployment(versions: &[MlVersion]) -> (Option<(String, Arm)>, Option<String>) {
    let serving = versions.iter().find_map(|v| match v.state {
        MlState::Active => Some((v.version.clone(), Arm::Active)),
        MlState::Canary => Some((v.version.clone(), Arm::Canary(v.canary_percent))),
        _ => None,
    });
    let shadow = versions
        .iter()
        .find(|v| v.state == MlState::Shadow)
        .map(|v| v.version.clone());
    (serving, shadow)
}

/// Background task of a replica on a shared store: serves and shadows what the stored states
/// say, when another replica deployed or rolled back (see the module docs).
pub async fn follow_deployments(state: AppState) {
    if let Err(e) = follow_once(&state).await {
        tracing::warn!(error = ?e, "could not follow the ML deployments of other replicas");
    }
}

async fn follow_once(state: &AppState) -> ApiResult<()> {
    let _serial = state.ml_lock.lock().await;
    // A rollback or promotion this replica's engine made is stored first, or the stored
    // states would undo it.
    store_auto_changes_locked(state).await?;
    let versions = state.store_read(state.store.list_ml_versions().await)?;
    let (serving, shadow) = stored_deployment(&versions);
    let live = state.engine.lock().ml_live();
    if live.serving != serving {
        let deployed = match &serving {
            Some((version, arm)) => Some((load(state, version).await?.1, *arm)),
            None => None,
        };
        tracing::info!(serving = ?serving, "following an ML deployment made on another replica");
        let mut engine = state.engine.lock();
        let mut strategy = engine.strategy().clone();
        strategy.ml_enabled = deployed.is_some();
        engine.ml_serve(deployed);
        engine.set_strategy(strategy)?;
    }
    if live.shadow != shadow {
        let deployed = match &shadow {
            Some(version) => Some(load(state, version).await?.1),
            None => None,
        };
        state.engine.lock().ml_shadow(deployed);
    }
    Ok(())
}

/// The ML tier for `/summary` (and the metrics): what serves, drift, arms, training.
pub fn summary(state: &AppState) -> crate::model::MlSummary {
    let live = state.engine.lock().ml_live();
    let (serving, arm, canary_percent) = match &live.serving {
        Some((v, Arm::Active)) => (Some(v.clone()), Some("active".to_string()), 100.0),
        Some((v, Arm::Canary(p))) => (Some(v.clone()), Some("canary".to_string()), *p),
        None => (None, None, 0.0),
    };
    let mut drift: BTreeMap<String, f64> = BTreeMap::new();
    if let Some(d) = &live.drift {
        let columns = d.features.iter().chain([&d.prediction]);
        drift.extend(columns.map(|c| (c.name.clone(), c.psi)));
    }
    crate::model::MlSummary {
        serving,
        arm,
        canary_percent,
        shadow: live.shadow.clone(),
        drift_score: live.drift.as_ref().map(|d| d.score()),
        drift,
        drift_threshold: state.ops.alert_config.drift_threshold,
        arms: live
            .arms
            .iter()
            .map(|(arm, s)| arm_view(*arm, s, live.canary.as_ref()))
            .collect(),
        canary: live.canary.as_ref().map(canary_view),
        auto_promotion: live
            .auto_promotion
            .as_ref()
            .map(|p| crate::model::MlAutoPromotion {
                version: p.version.clone(),
                at: p.at,
                reason: p.reason(),
            }),
        live_check: live.check.as_ref().map(live_check_view),
        auto_rollback: live.auto_rollback.map(|r| crate::model::MlAutoRollback {
            version: r.version.clone(),
            at: r.at,
            reason: r.reason(),
        }),
        errors: live.health.errors,
        off_until: live.health.off_until,
        training: state.ml.running(),
        last_training: state.ml.last_finished(),
        last_trained: state.ml.last_trained(),
    }
}

/// One arm's live outcomes and, while a canary serves, its realized cost per episode.
fn arm_view(arm: LiveArm, s: &ArmStats, canary: Option<&CostComparison>) -> MlArmView {
    let realized = canary.and_then(|c| match arm {
        LiveArm::Ml => Some((c.ml_episodes, c.ml_cost)),
        LiveArm::Control => Some((c.control_episodes, c.control_cost)),
        LiveArm::Shadow | LiveArm::BayesianOnMl => None,
    });
    MlArmView {
        arm: arm.name().into(),
        outcomes: s.outcomes,
        success_rate: s.success_rate(),
        mean_forecast: if s.outcomes == 0 {
            0.0
        } else {
            s.forecast_sum / s.outcomes as f64
        },
        log_loss: s.log_loss(),
        ece: s.ece(),
        episodes: realized.map(|(n, _)| n as u64),
        cost_per_episode: realized.map(|(_, cost)| cost),
    }
}

fn canary_view(c: &CostComparison) -> crate::model::MlCanary {
    crate::model::MlCanary {
        ml_episodes: c.ml_episodes as u64,
        bayesian_episodes: c.control_episodes as u64,
        ml_cost: c.ml_cost,
        bayesian_cost: c.control_cost,
        difference: c.difference,
        standard_error: c.standard_error,
        clusters: c.clusters as u64,
        min_episodes: crate::engine::ml::canary::MIN_EPISODES as u64,
        promote_margin: c.promote_margin,
        rollback_margin: c.rollback_margin,
        verdict: c.verdict.name().into(),
    }
}

/// The upstream `MLModel` of a version: holdout accuracy and F1, the parameters base64, and our
/// description (state, every metric) in `metadata`.
pub fn upstream_model(v: &MlVersion, bytes: Option<&[u8]>) -> MLModel {
    use base64::Engine as _;
    let metadata = match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(map)) => Some(map.into_iter().collect()),
        _ => None,
    };
    MLModel {
        version: v.version.clone(),
        model_type: v.model_type.clone(),
        features: v.features.clone(),
        model_data: bytes.map_or_else(String::new, |b| {
            base64::engine::general_purpose::STANDARD.encode(b)
        }),
        trained_at: v.trained_at,
        accuracy: v.holdout.accuracy,
        f1_score: v.holdout.f1_score,
        validation_set: format!(
            "the {} most recent retries, to {}",
            v.holdout_rows,
            v.data_to.to_rfc3339()
        ),
        enabled: matches!(v.state, MlState::Active | MlState::Canary),
        canary_percent: v.canary_percent,
        metadata,
    }
}

/// The live check as `/summary` shows it.
fn live_check_view(c: &Comparison) -> crate::model::MlLiveCheck {
    crate::model::MlLiveCheck {
        outcomes: c.outcomes as u64,
        model_log_loss: c.model_log_loss,
        bayesian_log_loss: c.bayesian_log_loss,
        difference: c.difference,
        standard_error: c.standard_error,
        clusters: c.clusters as u64,
        rollback_above_z: LIVE_CHECK_Z,
        margin: c.margin,
        min_outcomes: LIVE_CHECK_MIN as u64,
        forecasts_worse: c.forecasts_worse,
        decisions: c.decisions.map(|d| crate::model::MlLiveDecisions {
            decisions: d.decisions as u64,
            clusters: d.clusters as u64,
            offset: d.offset,
            model_cost: d.model_cost,
            bayesian_cost: d.bayesian_cost,
            difference: d.difference,
            standard_error: d.standard_error,
            tolerance: LIVE_CHECK_TOLERANCE,
            margin: d.margin,
            worse: d.worse,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u32, state: MlState) -> MlVersion {
        let m = crate::model::MlMetrics {
            rows: 1,
            log_loss: 0.5,
            brier: 0.2,
            ece: 0.0,
            auc: None,
            accuracy: 1.0,
            f1_score: 1.0,
        };
        MlVersion {
            version: format!("ml-{n}"),
            model_type: "logistic".into(),
            features: vec![],
            state,
            canary_percent: 0.0,
            trained_at: DateTime::UNIX_EPOCH,
            data_from: DateTime::UNIX_EPOCH,
            data_to: DateTime::UNIX_EPOCH,
            training_rows: 1,
            holdout_rows: 1,
            training_ms: 1,
            cross_validation: vec![],
            holdout: m.clone(),
            bayesian_holdout: m,
            decision_cost: None,
            hyperparameters: BTreeMap::new(),
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    fn states(changes: &[MlVersion]) -> Vec<(String, MlState, f64)> {
        changes
            .iter()
            .map(|v| (v.version.clone(), v.state, v.canary_percent))
            .collect()
    }

    #[test]
    fn serving_a_version_retires_the_one_before_and_leaves_the_shadow() {
        let all = [
            version(1, MlState::Active),
            version(2, MlState::Shadow),
            version(3, MlState::Candidate),
        ];
        let now = DateTime::UNIX_EPOCH;
        assert_eq!(
            states(&transitions(&all, "ml-3", Arm::Canary(10.0), false, now)),
            [
                ("ml-1".into(), MlState::Retired, 0.0),
                ("ml-3".into(), MlState::Canary, 10.0)
            ]
        );
        assert_eq!(
            states(&transitions(&all, "ml-3", Arm::Active, true, now)),
            [
                ("ml-2".into(), MlState::Candidate, 0.0),
                ("ml-3".into(), MlState::Shadow, 0.0)
            ]
        );
    }

    #[test]
    fn a_version_the_gate_passed_serves_a_canary_first_unless_forced_or_asked_for_a_share() {
        let req = |canary_percent: Option<f64>, force: bool| MlDeployRequest {
            version: "ml-1".into(),
            canary_percent,
            shadow: false,
            force,
            reason: String::new(),
        };
        let first = Arm::Canary(canary::DEFAULT_PERCENT);
        assert_eq!(arm_of(&req(None, false), true), first);
        assert_eq!(arm_of(&req(Some(100.0), false), true), first);
        assert_eq!(arm_of(&req(Some(25.0), false), true), Arm::Canary(25.0));
        assert_eq!(
            arm_of(&req(None, true), true),
            Arm::Active,
            "forced: as asked"
        );
        assert_eq!(arm_of(&req(None, true), false), Arm::Active);
        assert_eq!(arm_of(&req(Some(25.0), true), false), Arm::Canary(25.0));
    }

    #[test]
    fn the_arms_show_their_realized_cost_while_a_canary_serves() {
        let c = CostComparison {
            ml_episodes: 120,
            control_episodes: 1_080,
            ml_cost: 4.5,
            control_cost: 4.0,
            difference: 0.5,
            standard_error: 0.2,
            clusters: 30,
            promote_margin: Some(3.4),
            rollback_margin: Some(2.1),
            verdict: canary::Verdict::RollBack,
        };
        let stats = ArmStats::default();
        let ml = arm_view(LiveArm::Ml, &stats, Some(&c));
        assert_eq!((ml.episodes, ml.cost_per_episode), (Some(120), Some(4.5)));
        let control = arm_view(LiveArm::Control, &stats, Some(&c));
        assert_eq!(control.cost_per_episode, Some(4.0));
        assert_eq!(arm_view(LiveArm::Shadow, &stats, Some(&c)).episodes, None);
        assert_eq!(arm_view(LiveArm::Ml, &stats, None).episodes, None);
        assert_eq!(canary_view(&c).verdict, "roll_back");
    }
}
