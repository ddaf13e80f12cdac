//! The ML tier end to end in the engine: trained on recorded attempts where the queue decides
//! when a failure ends (which the Bayesian models, keyed by job type and error class, cannot
//! see), it beats the Bayesian tier on the held-out slice and, deployed, serves delays that
//! follow the queue; canary, shadow, fall-back and drift.

use super::*;
use crate::engine::ml::deployment::{Arm, CanaryStep, Deployed, Deployment, LiveArm};
use crate::model::MLTrainingConfig;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const DELAYS_S: [f64; 8] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0];

/// Jobs of one type and class on two queues: `fast` recovers within 0.5–2 s of the first
/// failure, `slow` within 20–40 s. Retries wait a random delay from [`DELAYS_S`].
pub(crate) fn two_queues(jobs: usize, seed: u64) -> Vec<AttemptRecord> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for i in 0..jobs {
        let slow = i % 2 == 1;
        let (queue, outage_ms) = if slow {
            ("slow", rng.random_range(20_000..40_000))
        } else {
            ("fast", rng.random_range(500..2_000))
        };
        let start = t0() + Duration::milliseconds(i as i64 * 3_000);
        let job = format!("{queue}-{i}");
        let mut elapsed = 0u64;
        let mut first = attempt(&job, "sync", "unavailable", 1, 0, start, false);
        first.queue = queue.into();
        out.push(first);
        for n in 2..=6 {
            let delay = (DELAYS_S[rng.random_range(0..DELAYS_S.len())] * 1000.0) as u64;
            elapsed += delay;
            let at = start + Duration::milliseconds(elapsed as i64);
            let success = elapsed >= outage_ms;
            let mut a = attempt(&job, "sync", "unavailable", n, delay, at, success);
            a.queue = queue.into();
            out.push(a);
            if success {
                break;
            }
        }
    }
    out
}

fn config(model_type: &str) -> MLTrainingConfig {
    MLTrainingConfig::defaults(model_type)
}

fn trained(model_type: &str, attempts: Vec<AttemptRecord>) -> Trained {
    let req = TrainRequest::from_config(&config(model_type)).expect("valid");
    train_ml(
        attempts,
        &req,
        &default_strategy(),
        &EngineSettings::default(),
        &|_| {},
    )
    .expect("trains")
}

fn deployed(t: Trained) -> Arc<Deployed> {
    Arc::new(Deployed {
        version: "ml-1".into(),
        model: t.fitted,
        reference: t.reference,
    })
}

/// An engine that learned `attempts`, with ML enabled.
fn learned(attempts: &[AttemptRecord]) -> Engine {
    let mut strategy = default_strategy();
    strategy.ml_enabled = true;
    let mut e = Engine::new(strategy, EngineSettings::default(), 1);
    for a in attempts {
        e.observe(a);
    }
    e
}

fn failing(job: &str, queue: &str) -> RetryFeatures {
    RetryFeatures {
        job_id: Some(job.into()),
        queue: queue.into(),
        ..features("sync", "unavailable", 1)
    }
}

#[test]
fn boosted_trees_beat_the_bayesian_tier_where_the_queue_decides_and_are_calibrated() {
    let t = trained("gradient_boost", two_queues(3_000, 1));
    assert_eq!(t.cross_validation.len(), 3);
    assert!(
        t.holdout.log_loss < t.bayesian_holdout.log_loss - 0.05,
        "ml {:?} against bayesian {:?}",
        t.holdout,
        t.bayesian_holdout
    );
    assert!(t.holdout.ece < 0.05, "{:?}", t.holdout);
    assert!(t.holdout.auc.unwrap() > 0.9, "{:?}", t.holdout);
    assert!(t.data_from < t.data_to);
    let d = &t.decision_cost;
    assert!(d.decisions > 100, "{d:?}");
    assert!(d.model > 0.0 && d.model.is_finite(), "{d:?}");
    assert!(d.bayesian > 0.0 && d.bayesian.is_finite(), "{d:?}");
    // The retries waited random delays, so the recorded outcomes measure every delay; the
    // model, knowing the queue, retries the fast one soon and waits out the slow one, which
    // the Bayesian tier (one model for both) cannot, and its decisions measure cheaper (the
    // earlier estimator, inferring outcomes from an outage model, judged them dearer). On
    // 1,272 held-out retries a third of its choices lack support, so the gate still refuses.
    assert!(d.model < d.bayesian, "{d:?}");
    let gate = crate::model::deploy_gate(&t.holdout, &t.bayesian_holdout, Some(d));
    assert!(gate.unwrap_err().contains("support too thin"), "{d:?}");
}

#[test]
fn logistic_regression_trains_on_the_same_rows() {
    let t = trained("logistic", two_queues(1_500, 2));
    assert!(t.holdout.log_loss.is_finite());
    assert!(t.holdout.auc.unwrap() > 0.7, "{:?}", t.holdout);
}

#[test]
fn too_few_retries_are_refused_with_the_count() {
    let req = TrainRequest::from_config(&config("logistic")).unwrap();
    let err = train_ml(
        two_queues(20, 3),
        &req,
        &default_strategy(),
        &EngineSettings::default(),
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("at least 100"), "{err}");
}

#[test]
fn bad_training_configs_name_the_field() {
    let mut c = config("svm");
    assert_eq!(
        TrainRequest::from_config(&c).unwrap_err().field,
        "model_type"
    );
    c = config("logistic");
    c.validation_set = 0.9;
    assert_eq!(
        TrainRequest::from_config(&c).unwrap_err().field,
        "validation_set"
    );
    c = config("gradient_boost");
    c.hyperparameters = Some([("max_depth".to_string(), serde_json::json!(99))].into());
    assert_eq!(
        TrainRequest::from_config(&c).unwrap_err().field,
        "hyperparameters.max_depth"
    );
    c.features = vec!["colour".into()];
    assert_eq!(TrainRequest::from_config(&c).unwrap_err().field, "features");
}

#[test]
fn deployed_it_serves_delays_that_follow_the_queue_and_explains_them() {
    let history = two_queues(3_000, 4);
    let model = deployed(trained("gradient_boost", history.clone()));
    let mut e = learned(&history);
    e.ml_serve(Some((model, Arm::Active)));
    let fast = e.recommend(&failing("new-fast", "fast"), t0() + Duration::days(1));
    let slow = e.recommend(&failing("new-slow", "slow"), t0() + Duration::days(1));
    assert_eq!(fast.method, Method::Ml, "{}", fast.rationale);
    assert_eq!(slow.method, Method::Ml, "{}", slow.rationale);
    assert!(fast.delay_ms <= 2_000, "fast queue: {}", fast.rationale);
    assert!(slow.delay_ms >= 15_000, "slow queue: {}", slow.rationale);
    let ml = slow
        .explanation
        .as_ref()
        .unwrap()
        .ml
        .as_ref()
        .expect("ml explanation");
    assert_eq!((ml.version.as_str(), ml.arm.as_str()), ("ml-1", "active"));
    assert!(!ml.contributions.is_empty());
    let alternatives = &slow.explanation.as_ref().unwrap().alternatives;
    assert!(alternatives.len() > 5);
    assert_eq!(alternatives.iter().filter(|a| a.chosen).count(), 1);
}

#[test]
fn a_canary_serves_its_share_and_the_bayesian_tier_the_rest() {
    let history = two_queues(1_500, 5);
    let model = deployed(trained("gradient_boost", history.clone()));
    let mut e = learned(&history);
    e.ml_serve(Some((model, Arm::Canary(30.0))));
    let mut ml = 0;
    for i in 0..200 {
        let r = e.recommend(
            &failing(&format!("c-{i}"), "fast"),
            t0() + Duration::days(1),
        );
        if r.method == Method::Ml {
            ml += 1;
        } else {
            assert_eq!(r.method, Method::Bayesian, "{}", r.rationale);
        }
    }
    assert!((35..85).contains(&ml), "{ml} of 200 in a 30% canary");
}

#[test]
fn without_a_model_or_with_ml_switched_off_it_falls_back_with_the_reason() {
    let history = two_queues(300, 6);
    let mut e = learned(&history);
    let r = e.recommend(&failing("x", "fast"), t0() + Duration::days(1));
    let fallbacks = &r.explanation.unwrap().fallbacks;
    assert_eq!(fallbacks[0].from, Method::Ml);
    assert!(
        fallbacks[0].reason.contains("no ML model is deployed"),
        "{fallbacks:?}"
    );
}

#[test]
fn a_shadow_scores_beside_the_served_answer_and_its_forecast_meets_the_outcome() {
    let history = two_queues(1_500, 7);
    let model = deployed(trained("gradient_boost", history.clone()));
    let mut e = learned(&history);
    e.ml_shadow(Some(model));
    let now = t0() + Duration::days(1);
    let first = attempt("s-1", "sync", "unavailable", 1, 0, now, false);
    e.observe(&first);
    let r = e.recommend(&failing("s-1", "default"), now);
    assert_ne!(r.method, Method::Ml, "a shadow never serves");
    let ml = r
        .explanation
        .unwrap()
        .ml
        .expect("the shadow's answer is recorded");
    assert_eq!(ml.arm, "shadow");
    let retry_at = now + Duration::milliseconds(r.delay_ms as i64);
    e.observe(&attempt(
        "s-1",
        "sync",
        "unavailable",
        2,
        r.delay_ms,
        retry_at,
        true,
    ));
    let live = e.ml_live();
    let shadow = live
        .arms
        .iter()
        .find(|(a, _)| *a == LiveArm::Shadow)
        .unwrap();
    assert_eq!(shadow.1.outcomes, 1);
}

#[test]
fn drift_is_scored_per_window_and_rises_when_the_traffic_moves() {
    let history = two_queues(1_500, 8);
    let model = deployed(trained("gradient_boost", history.clone()));
    let mut e = learned(&history);
    e.ml_serve(Some((model, Arm::Active)));
    let window = crate::engine::ml::drift::WINDOW as usize;
    let now = t0() + Duration::days(1);
    for i in 0..window {
        let queue = if i % 2 == 0 { "fast" } else { "slow" };
        e.recommend(&failing(&format!("d-{i}"), queue), now);
    }
    let stable = e.ml_live().drift.expect("one window").score();
    let moved_window = |e: &mut Engine, n: usize| {
        for i in 0..window {
            let mut f = failing(&format!("m{n}-{i}"), "slow");
            f.attempt_number = 4;
            e.recommend(&f, now);
        }
        e.ml_live().drift.expect("a complete window")
    };
    let once = moved_window(&mut e, 1);
    assert!(
        once.score() < 0.3,
        "one moved window after a stable one does not raise the alert: {once:?}"
    );
    let moved = moved_window(&mut e, 2).score();
    assert!(
        moved > 0.3 && moved > stable,
        "stable {stable}, moved {moved}"
    );
}

#[test]
fn a_shadow_is_watched_for_drift_on_every_column_a_serving_model_on_those_its_policy_leaves() {
    let history = two_queues(1_500, 9);
    let window = crate::engine::ml::drift::WINDOW as usize;
    let now = t0() + Duration::days(1);
    // Two windows: drift is a move that lasts.
    let late_retries = |e: &mut Engine| {
        for i in 0..2 * window {
            let queue = if i % 2 == 0 { "fast" } else { "slow" };
            let mut f = failing(&format!("late-{i}"), queue);
            f.attempt_number = 3;
            e.recommend(&f, now);
        }
        e.ml_live().drift.expect("a complete window")
    };
    let mut shadowed = learned(&history);
    shadowed.ml_shadow(Some(deployed(trained("gradient_boost", history.clone()))));
    let watched = late_retries(&mut shadowed);
    assert!(watched.same_policy, "the Bayesian tier retried them");
    assert!(
        watched.score() > 0.3,
        "every job at its third attempt is far from the training rows: {watched:?}"
    );
    let mut serving = learned(&history);
    let model = deployed(trained("gradient_boost", history.clone()));
    serving.ml_serve(Some((model, Arm::Active)));
    let served = late_retries(&mut serving);
    assert!(!served.same_policy);
    assert!(
        served.score() < 0.3,
        "the queues are as in training; the attempt number is the model's doing: {served:?}"
    );
}

/// Runs `jobs` episodes on queue `queue`, one after another 5 s apart from `start`, each
/// failing first and recovering `outage_ms` (drawn per job) after its first failure, every
/// retry decided by `e`. Stops early once nothing is a canary any more.
fn canary_episodes(
    e: &mut Engine,
    (queue, outage_ms): (&str, std::ops::Range<u64>),
    jobs: usize,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let day = t0() + Duration::days(1);
    for i in 0..jobs {
        if !matches!(e.ml_live().serving, Some((_, Arm::Canary(_)))) {
            return;
        }
        let job = format!("canary-{i}");
        let start = day + Duration::seconds(i as i64 * 5);
        let outage = rng.random_range(outage_ms.clone());
        let record = |n: u32, delay: u64, elapsed: u64, success: bool| {
            let at = start + Duration::milliseconds(elapsed as i64);
            let mut a = attempt(&job, "sync", "unavailable", n, delay, at, success);
            a.queue = queue.into();
            a
        };
        e.observe(&record(1, 0, 0, false));
        let (mut n, mut elapsed) = (1, 0u64);
        loop {
            let mut f = failing(&job, queue);
            f.attempt_number = n;
            let r = e.recommend(&f, start + Duration::milliseconds(elapsed as i64));
            if !r.should_retry {
                break;
            }
            elapsed += r.delay_ms;
            n += 1;
            let success = elapsed >= outage;
            e.observe(&record(n, r.delay_ms, elapsed, success));
            if success {
                break;
            }
        }
    }
}

#[test]
fn a_canary_whose_jobs_cost_less_than_the_bayesian_arms_is_promoted_to_every_job() {
    // The world the model learned: `fast` recovers within 0.5-2 s, which the Bayesian tier
    // (one model for both queues) cannot see.
    let history = two_queues(1_500, 5);
    let model = deployed(trained("gradient_boost", history.clone()));
    let mut e = learned(&history);
    e.ml_serve(Some((model, Arm::Canary(50.0))));
    canary_episodes(&mut e, ("fast", 500..2_000), 2_000, 11);
    let live = e.ml_live();
    let promoted = live.auto_promotion.expect("promoted");
    assert_eq!(live.serving, Some(("ml-1".into(), Arm::Active)));
    let c = promoted.comparison;
    assert!(c.ml_cost < c.control_cost, "{}", promoted.reason());
    assert!(
        c.ml_episodes >= crate::engine::ml::canary::MIN_EPISODES,
        "{c:?}"
    );
    assert_eq!(
        e.ml_take_unstored_promotion().map(|p| p.version),
        Some("ml-1".into()),
        "handed to the service to store, once"
    );
    assert!(e.ml_take_unstored_promotion().is_none());
    let r = e.recommend(
        &failing("after-promotion", "fast"),
        t0() + Duration::days(2),
    );
    assert_eq!(r.method, Method::Ml, "every job now: {}", r.rationale);
}

#[test]
fn a_canary_whose_jobs_cost_more_is_taken_off_with_its_numbers_for_the_service_to_store() {
    // The arms' episodes as the engine reports them (a dearer model through the engine is
    // also a worse forecaster, and the live check takes it off first): the model's jobs
    // need four retries, the Bayesian arm's two.
    let model = deployed(trained("logistic", two_queues(600, 6)));
    let mut d = Deployment::default();
    d.serving = Some((model, Arm::Canary(50.0)));
    let weights = EngineSettings::default().cost;
    let mut step = CanaryStep::Going;
    for i in 0..2_000 {
        let job = format!("job-{i}");
        let start = t0() + Duration::seconds(i * 5);
        d.canary_start(&job, 7, start);
        let retries = if Deployment::in_canary(Some(&job), 50.0) {
            4
        } else {
            2
        };
        let end = start + Duration::seconds(retries * 3);
        step = d.canary_end(&job, retries as u32 + 1, (end, true), &weights);
        if step != CanaryStep::Going {
            break;
        }
    }
    assert_eq!(step, CanaryStep::RolledBack);
    assert!(d.serving.is_none(), "the Bayesian tier serves every job");
    let rolled = d.take_unstored_rollback().expect("handed to the service");
    let c = rolled
        .canary
        .expect("decided by the canary's realized costs");
    assert!(c.ml_cost > c.control_cost, "{}", rolled.reason());
    assert!(c.ml_episodes >= crate::engine::ml::canary::MIN_EPISODES_TO_ROLL_BACK);
    assert!(
        rolled.reason().contains("canary realized cost"),
        "{}",
        rolled.reason()
    );
    assert_eq!(rolled.arm, Arm::Canary(50.0));
    let shadow = d.shadow.as_ref().expect("taken off, it shadows");
    assert_eq!(shadow.version, rolled.version);
    assert!(rolled.shadowed, "{}", rolled.reason());
    assert!(
        rolled.reason().contains("kept in shadow"),
        "{}",
        rolled.reason()
    );
}

#[test]
fn a_version_taken_off_shadows_unless_another_version_already_does_and_its_drift_is_watched() {
    let history = two_queues(1_500, 9);
    let model = |version: &str| {
        let t = trained("gradient_boost", history.clone());
        Arc::new(Deployed {
            version: version.into(),
            model: t.fitted,
            reference: t.reference,
        })
    };
    let mut e = learned(&history);
    e.ml_serve(Some((model("ml-1"), Arm::Active)));
    assert!(
        e.ml_roll_back(None),
        "nothing shadowed: the version taken off does"
    );
    let live = e.ml_live();
    assert_eq!((live.serving, live.shadow.as_deref()), (None, Some("ml-1")));
    // Its drift is watched as a shadow's: every column counts (the Bayesian tier retries).
    let now = t0() + Duration::days(1);
    for i in 0..2 * crate::engine::ml::drift::WINDOW {
        let queue = if i % 2 == 0 { "fast" } else { "slow" };
        let mut f = failing(&format!("late-{i}"), queue);
        f.attempt_number = 3;
        e.recommend(&f, now);
    }
    let drift = e.ml_live().drift.expect("a complete window");
    assert!(drift.same_policy && drift.version == "ml-1", "{drift:?}");
    assert!(drift.score() > 0.3, "{drift:?}");
    e.ml_serve(Some((model("ml-2"), Arm::Active)));
    assert!(!e.ml_roll_back(None), "ml-1 shadows already");
    assert_eq!(e.ml_live().shadow.as_deref(), Some("ml-1"));
}
