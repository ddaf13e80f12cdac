//! Training a model version from recorded attempts: examples drawn point-in-time
//! ([`ml::dataset`]), the most recent `validation_set` share of them held out, forward-chaining
//! cross-validation on the rest (fold `i` trains on the first `i` of `k + 1` time-ordered
//! blocks, at most their [`MAX_FOLD_ROWS`] most recent rows, and tests on the next), the model
//! fitted on the whole training part, and both it and
//! the Bayesian tier — learned from the same training part by replaying its attempts — scored
//! on the held-out rows: their forecasts (log-loss and the rest), and the expected cost of
//! their decisions on the held-out retries ([`ml::decision_cost`]), the two halves of the
//! deploy gate (`model::deploy_gate`).
//!
//! Pure like the rest of the engine: the caller loads the attempts, runs this off the request
//! path, and times it.

use super::Engine;
use super::ml::dataset::{Dataset, Example};
use super::ml::decision_cost::{self, Costs};
use super::ml::drift::{MAX_NOISE_RUNS, MIN_NOISE_RUNS, Reference, WINDOW};
use super::ml::encode::{Encoder, Value};
use super::ml::features::FeatureSet;
use super::ml::features::Situation;
use super::ml::fitted::Fitted;
use super::ml::serve::{self, Setting};
use super::ml::{MlError, ModelKind, gbt, logistic, metrics};
use super::registry::{Selected, Thresholds};
use super::settings::{EngineSettings, solve_params};
use super::survival::GRID_MS;
use crate::model::{
    AttemptRecord, FieldError, MLTrainingConfig, MlDecisionCost, MlMetrics, RetryStrategy,
    before_ms,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::num::NonZeroUsize;

/// Most held-out retries (the most recent) at which both policies are asked for a decision:
/// enough to tell them apart, and a bounded share of the training time (a tree model's choice
/// over the grid costs tens of microseconds).
const MAX_JUDGED_DECISIONS: usize = 5_000;
/// Most rows a cross-validation fold fits on: the most recent before its test block. Uncapped,
/// the folds fit on 1.5 times the training rows (at 10⁶ attempts 8.8 s of CPU, more than the
/// final fit's 5.3 s); capped, a fold past this size is a sliding window, its out-of-time
/// score that of a model fitted on fewer rows than the final one (which uses them all).
const MAX_FOLD_ROWS: usize = 150_000;
/// Fewest training examples a model is fitted on.
pub const MIN_EXAMPLES: usize = 100;
/// Categorical values seen fewer times than this in training are "missing".
const MIN_COUNT: usize = 5;

/// A checked `MLTrainingConfig`.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub kind: ModelKind,
    pub features: FeatureSet,
    /// Share of the most recent examples held out (0 < v ≤ 0.5).
    pub holdout: f64,
    /// Forward-chaining folds (1–10).
    pub folds: usize,
    pub boosting: gbt::Settings,
    pub logistic: logistic::Settings,
    /// Only attempts within this long before the newest one, when given.
    pub period_ms: Option<u64>,
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
}

impl TrainRequest {
    /// Checks the upstream config; the error names the field. `validation_set` 0 means 0.2,
    /// `cross_validation` 0 means 3.
    pub fn from_config(c: &MLTrainingConfig) -> Result<Self, FieldError> {
        let kind = match c.model_type.as_str() {
            "logistic" => ModelKind::Logistic,
            "gradient_boost" => ModelKind::GradientBoost,
            other => {
                return Err(FieldError::new(
                    "model_type",
                    format!("must be \"logistic\" or \"gradient_boost\" (got {other:?})"),
                ));
            }
        };
        let features = FeatureSet::select(&c.features)
            .map_err(|e| FieldError::new("features", e.to_string()))?;
        let holdout = if c.validation_set == 0.0 {
            0.2
        } else {
            c.validation_set
        };
        if !(holdout > 0.0 && holdout <= 0.5) {
            return Err(FieldError::new(
                "validation_set",
                format!("must be in (0, 0.5] (got {})", c.validation_set),
            ));
        }
        let folds = if c.cross_validation == 0 {
            3
        } else {
            c.cross_validation as usize
        };
        if !(2..=10).contains(&folds) {
            return Err(FieldError::new(
                "cross_validation",
                format!("must be 2 to 10 folds (got {folds})"),
            ));
        }
        let hyperparameters = c.hyperparameters.clone().unwrap_or_default();
        let (boosting, logistic) = hyper(&hyperparameters)?;
        Ok(Self {
            kind,
            features,
            holdout,
            folds,
            boosting,
            logistic,
            period_ms: c
                .training_period
                .map(|d| d.as_millis())
                .filter(|&ms| ms > 0),
            hyperparameters,
        })
    }
}

/// Hyperparameters: `iterations` (1–1000), `learning_rate` (0–1], `max_depth` (1–10) for
/// boosting; `ridge` [0, 1000] for logistic regression. Each is checked whatever the kind;
/// keys of the other kind are kept but unused.
fn hyper(
    h: &BTreeMap<String, serde_json::Value>,
) -> Result<(gbt::Settings, logistic::Settings), FieldError> {
    let mut boosting = gbt::Settings::default();
    let mut logistic = logistic::Settings::default();
    for (key, value) in h {
        let field = format!("hyperparameters.{key}");
        let number = value
            .as_f64()
            .ok_or_else(|| FieldError::new(&field, "must be a number"))?;
        let bad = |range: &str| FieldError::new(&field, format!("must be {range} (got {number})"));
        let whole = number.fract() == 0.0;
        match key.as_str() {
            "iterations" if whole && (1.0..=1000.0).contains(&number) => {
                boosting.iterations = number as usize;
            }
            "iterations" => return Err(bad("a whole number from 1 to 1000")),
            "learning_rate" if number > 0.0 && number <= 1.0 => {
                boosting.learning_rate = number as f32;
            }
            "learning_rate" => return Err(bad("in (0, 1]")),
            "max_depth" if whole && (1.0..=10.0).contains(&number) => {
                boosting.max_depth = number as usize;
            }
            "max_depth" => return Err(bad("a whole number from 1 to 10")),
            "ridge" if (0.0..=1000.0).contains(&number) => logistic.ridge = number,
            "ridge" => return Err(bad("in [0, 1000]")),
            _ => {
                let known = "iterations, learning_rate, max_depth, ridge";
                return Err(FieldError::new(&field, format!("unknown; known: {known}")));
            }
        }
    }
    Ok((boosting, logistic))
}

/// A trained model and the evidence about it.
#[derive(Debug)]
pub struct Trained {
    pub fitted: Fitted,
    pub reference: Reference,
    pub cross_validation: Vec<MlMetrics>,
    pub holdout: MlMetrics,
    pub bayesian_holdout: MlMetrics,
    /// The model's decisions against the Bayesian tier's on the held-out retries.
    pub decision_cost: MlDecisionCost,
    pub data_from: DateTime<Utc>,
    pub data_to: DateTime<Utc>,
    pub training_rows: u64,
    pub holdout_rows: u64,
}

/// Trains as the module docs say; `progress` hears each stage.
pub fn train(
    attempts: Vec<AttemptRecord>,
    req: &TrainRequest,
    strategy: &RetryStrategy,
    settings: &EngineSettings,
    progress: &dyn Fn(String),
) -> Result<Trained, MlError> {
    progress(format!(
        "building examples from {} attempts",
        attempts.len()
    ));
    let attempts = within_period(attempts, req.period_ms);
    let data = Dataset::from_attempts(attempts);
    let n = data.examples.len();
    let held = ((n as f64) * req.holdout).round() as usize;
    let (train_part, test_part) = data.examples.split_at(n - held);
    if train_part.len() < MIN_EXAMPLES || test_part.is_empty() {
        return Err(MlError::Row {
            row: n,
            problem: format!(
                "{n} retries recorded: at least {MIN_EXAMPLES} for training plus a held-out share are needed"
            ),
        });
    }
    let training = Rows::of(&data, train_part, &req.features);
    let cross_validation = cross_validate(&training, req, progress)?;
    progress(format!("fitting on {} examples", train_part.len()));
    let fitted = fit(&training.rows, &training.labels, req)?;
    drop(training);
    progress(format!("scoring {} held-out examples", test_part.len()));
    let held_out = Rows::of(&data, test_part, &req.features);
    let holdout = score(&fitted, &held_out.rows, &held_out.labels)?;
    progress("replaying the Bayesian tier on the training part".into());
    let engine = bayes_replay(&data, test_part[0].at, strategy, settings);
    let bayes = bayes_forecasts(&engine, &data, test_part);
    let bayesian_holdout = metrics_of(&bayes, &held_out.labels)?;
    progress("judging the decisions on the held-out retries".into());
    let decision_cost = decision_costs(&engine, &fitted, &data, test_part);
    progress("fitting the drift reference".into());
    let (run, situations) = reference_runs(&data, train_part);
    let (_, held_situations) = reference_runs(&data, test_part);
    let span_ms = (train_part[train_part.len() - 1].at - train_part[0].at).num_milliseconds();
    let span_ms = u64::try_from(span_ms).unwrap_or(0);
    let delay_ms = median_delay(train_part);
    let reference = Reference::fit(
        &fitted,
        &situations,
        &held_situations,
        run,
        delay_ms,
        span_ms,
    )?;
    Ok(Trained {
        fitted,
        reference,
        cross_validation,
        holdout,
        bayesian_holdout,
        decision_cost,
        data_from: train_part[0].at,
        data_to: test_part[test_part.len() - 1].at,
        training_rows: train_part.len() as u64,
        holdout_rows: test_part.len() as u64,
    })
}

fn within_period(attempts: Vec<AttemptRecord>, period_ms: Option<u64>) -> Vec<AttemptRecord> {
    let (Some(ms), Some(newest)) = (period_ms, attempts.iter().map(|a| a.timestamp).max()) else {
        return attempts;
    };
    let from = before_ms(newest, ms);
    attempts
        .into_iter()
        .filter(|a| a.timestamp >= from)
        .collect()
}

/// The situations of `part` (the training part or the held-out slice) the drift reference
/// uses, with their run length: runs of consecutive retries as long as a live drift window
/// (shorter when `part` holds fewer than [`MIN_NOISE_RUNS`] of them), at most
/// [`MAX_NOISE_RUNS`] of them, evenly spaced through `part`, concatenated in time order.
fn reference_runs<'a>(data: &'a Dataset, part: &[Example]) -> (usize, Vec<Situation<'a>>) {
    let run = (WINDOW as usize).min(part.len() / MIN_NOISE_RUNS).max(1);
    let runs = part.len() / run;
    let taken = runs.min(MAX_NOISE_RUNS);
    let situations = (0..taken)
        .flat_map(|k| {
            let start = k * runs / taken * run;
            part[start..start + run].iter().map(|e| data.situation(e))
        })
        .collect();
    (run, situations)
}

fn median_delay(examples: &[Example]) -> u64 {
    let mut delays: Vec<u64> = examples.iter().map(|e| e.delay_ms).collect();
    delays.sort_unstable();
    delays[delays.len() / 2]
}

/// Examples as raw feature rows in a model's order, and their outcomes, drawn once for every
/// fit and score on them.
struct Rows<'a> {
    rows: Vec<Vec<Value<'a>>>,
    labels: Vec<bool>,
}

impl<'a> Rows<'a> {
    fn of(data: &'a Dataset, examples: &[Example], set: &FeatureSet) -> Self {
        Self {
            rows: examples
                .iter()
                .map(|e| set.row(&data.situation(e), e.delay_ms))
                .collect(),
            labels: examples.iter().map(|e| e.success).collect(),
        }
    }
}

/// Forward-chaining cross-validation: fold `i` fits on the first `i` of `folds + 1`
/// time-ordered blocks (at most their [`MAX_FOLD_ROWS`] most recent rows) and is scored on the
/// next.
fn cross_validate(
    training: &Rows<'_>,
    req: &TrainRequest,
    progress: &dyn Fn(String),
) -> Result<Vec<MlMetrics>, MlError> {
    let block = training.rows.len() / (req.folds + 1);
    (1..=req.folds)
        .map(|fold| {
            progress(format!("cross-validation fold {fold} of {}", req.folds));
            let (fit_end, test_end) = (block * fold, block * (fold + 1));
            let fit_start = fit_end.saturating_sub(MAX_FOLD_ROWS);
            let (rows, labels) = (
                &training.rows[fit_start..fit_end],
                &training.labels[fit_start..fit_end],
            );
            let model = fit(rows, labels, req)?;
            let (rows, labels) = (
                &training.rows[fit_end..test_end],
                &training.labels[fit_end..test_end],
            );
            score(&model, rows, labels)
        })
        .collect()
}

/// Fits the requested kind on `raw` rows with their outcomes.
fn fit(raw: &[Vec<Value<'_>>], labels: &[bool], req: &TrainRequest) -> Result<Fitted, MlError> {
    let encoder = Encoder::fit(&req.features.columns(), raw, MIN_COUNT)?;
    match req.kind {
        ModelKind::Logistic => {
            let dense = raw
                .iter()
                .map(|r| encoder.dense(r))
                .collect::<Result<Vec<_>, _>>()?;
            let model = logistic::Logistic::fit(&dense, labels, &req.logistic)?;
            Ok(Fitted::logistic(req.features.clone(), encoder, model))
        }
        ModelKind::GradientBoost => {
            let columns = encoder.indexed_columns(raw)?;
            let width = encoder.columns();
            let model = gbt::Boosted::fit(&columns, width, labels, &req.boosting)?;
            Ok(Fitted::boosted(req.features.clone(), encoder, model))
        }
    }
}

fn score(model: &Fitted, raw: &[Vec<Value<'_>>], labels: &[bool]) -> Result<MlMetrics, MlError> {
    metrics_of(&model.predict_rows(raw)?, labels)
}

/// Every metric of forecasts `p` against outcomes `y`.
pub fn metrics_of(p: &[f64], y: &[bool]) -> Result<MlMetrics, MlError> {
    let bins = NonZeroUsize::new(10).expect("ten");
    let (mut hits, mut tp, mut fp, mut fneg) = (0u64, 0u64, 0u64, 0u64);
    for (&p, &y) in p.iter().zip(y) {
        let said = p >= 0.5;
        hits += u64::from(said == y);
        tp += u64::from(said && y);
        fp += u64::from(said && !y);
        fneg += u64::from(!said && y);
    }
    let f1 = if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fneg) as f64
    };
    Ok(MlMetrics {
        rows: p.len() as u64,
        log_loss: metrics::log_loss(p, y)?,
        brier: metrics::brier(p, y)?,
        ece: metrics::ece(p, y, bins)?,
        auc: metrics::auc(p, y).ok(),
        accuracy: hits as f64 / p.len().max(1) as f64,
        f1_score: f1,
    })
}

/// The Bayesian tier learned from the attempts recorded before `cutoff` — as it would have
/// been at the time, from the same data the model trained on.
fn bayes_replay(
    data: &Dataset,
    cutoff: DateTime<Utc>,
    strategy: &RetryStrategy,
    settings: &EngineSettings,
) -> Engine {
    let mut engine = Engine::new(strategy.clone(), settings.clone(), 0);
    for a in data.attempts.iter().take_while(|a| a.timestamp < cutoff) {
        engine.observe(a);
    }
    engine
}

/// The replayed Bayesian tier's forecasts for `examples`.
fn bayes_forecasts(engine: &Engine, data: &Dataset, examples: &[Example]) -> Vec<f64> {
    let t = engine.thresholds();
    examples
        .iter()
        .map(|e| bayes_forecast(engine, data, e, t))
        .collect()
}

/// The model's decisions — as the tier serves them, falling back to the Bayesian tier where
/// the model cannot answer — against the replayed Bayesian tier's (its cost-optimal delay; no
/// exploration, no per-job view), judged on the same held-out retries
/// ([`decision_cost::judge`]): the [`MAX_JUDGED_DECISIONS`] most recent are asked, every
/// held-out retry measures the outcomes of the buckets they choose. A retry's failure is valued by
/// the Bayesian tier's plan from there (the continuation the ML tier decides with); retries
/// without a Bayesian model to value it are left out: the ML tier does not serve them either.
fn decision_costs(
    engine: &Engine,
    model: &Fitted,
    data: &Dataset,
    held_out: &[Example],
) -> MlDecisionCost {
    let t = engine.thresholds();
    let survival = |s: &Situation<'_>| {
        let m = &engine.models;
        m.select(s.job_type, s.error_class, s.tenant, Some(s.hour), t)
            .ok()
    };
    let params = solve_params(engine.strategy(), engine.settings());
    let costs = Costs {
        per_attempt: params.per_attempt,
        per_second: params.per_second,
        give_up: params.give_up,
        max_attempts: engine.strategy().guardrails.max_attempts.max(1),
    };
    let continuation = |s: &Situation<'_>, boundary: usize, left: usize| {
        survival(s).map(|c| c.model.continuation(c.view, boundary, left))
    };
    let (decisions, left_out) = decision_cost::decisions(data, held_out, &costs, continuation);
    let bayesian = |s: &Situation<'_>, left: usize| bayes_delay(&survival(s)?, s.elapsed_ms, left);
    let ml = |s: &Situation<'_>, left: usize| {
        let chosen = survival(s)?;
        let setting = Setting {
            situation: *s,
            survival: chosen.model,
            view: chosen.view,
            attempts: left,
        };
        match serve::choose(model, setting) {
            Ok(choice) => choice.delay_ms,
            Err(_) => bayes_delay(&chosen, s.elapsed_ms, left),
        }
    };
    let j = decision_cost::judge(&decisions, MAX_JUDGED_DECISIONS, &costs, ml, bayesian);
    MlDecisionCost {
        decisions: j.decisions as u64,
        left_out: left_out as u64,
        unsupported: j.unsupported as u64,
        model: j.first,
        bayesian: j.second,
        standard_error: j.standard_error,
    }
}

/// The Bayesian tier's cost-optimal delay from `elapsed_ms` with `attempts` left, or `None`
/// when stopping costs less.
fn bayes_delay(chosen: &Selected<'_>, elapsed_ms: u64, attempts: usize) -> Option<u64> {
    let model = chosen.model;
    let best = model.best_as(chosen.view, elapsed_ms, attempts, 0)?.best;
    (best.cost < model.give_up_cost()).then_some(best.delay_ms)
}

fn bayes_forecast(engine: &Engine, data: &Dataset, e: &Example, t: Thresholds) -> f64 {
    let s = data.situation(e);
    let began = before_ms(data.attempts[e.failed].timestamp, e.elapsed_ms);
    let hour = chrono::Timelike::hour(&began) as u8;
    let any = Thresholds {
        min_samples: 1,
        tenant_min_samples: u64::MAX,
    };
    let models = &engine.models;
    let (model, view) = models
        .select(s.job_type, s.error_class, s.tenant, Some(hour), t)
        .or_else(|_| models.select(s.job_type, s.error_class, None, None, any))
        .map_or((models.prior(), models.prior().view()), |c| {
            (c.model, c.view)
        });
    let j = GRID_MS
        .partition_point(|&b| b < e.elapsed_ms + e.delay_ms)
        .min(GRID_MS.len() - 1);
    let success = model.candidate_in(view, e.elapsed_ms, j, 1).success;
    success.clamp(0.0, 1.0)
}
