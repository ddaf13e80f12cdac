//! The ML tier through the API on a real SQLite file: train (sync and async), list, the deploy
//! gate, serving with an explanation, rollback, the serving version loaded at start-up, a
//! failed training raising `ModelTrainingFailed`, roles, and bad input named.

use crate::common;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::{Api, config_with_tokens};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use retryctl::config::Role;
use retryctl::server::core::alerts;
use retryctl::store::{StoreConfig, open};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/retry";
const DELAYS_MS: [u64; 8] = [500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 45_000];

/// Jobs of one type and class on two queues: `fast` recovers within 0.5–2 s of the first
/// failure, `slow` within 20–40 s; retries wait a random delay from [`DELAYS_MS`]. The
/// Bayesian models (per job type and error class) cannot tell the queues apart; a model with
/// the queue as a feature can.
pub(crate) fn history(jobs: usize, seed: u64) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    let begin = Utc::now() - Duration::days(1);
    let mut out = Vec::new();
    for i in 0..jobs {
        let (queue, outage) = if i % 2 == 1 {
            ("slow", rng.random_range(20_000..40_000))
        } else {
            ("fast", rng.random_range(500..2_000))
        };
        let start = begin + Duration::milliseconds(i as i64 * 3_000);
        let mut elapsed = 0u64;
        for n in 1..=6u32 {
            let delay = if n == 1 {
                0
            } else {
                DELAYS_MS[rng.random_range(0..DELAYS_MS.len())]
            };
            elapsed += delay;
            let success = n > 1 && elapsed >= outage;
            out.push(json!({
                "job_id": format!("{queue}-{i}"), "job_type": "sync", "attempt_number": n,
                "error_class": if success { "" } else { "unavailable" }, "queue": queue,
                "delay_ms": delay, "success": success,
                "timestamp": (start + Duration::milliseconds(elapsed as i64)).to_rfc3339(),
            }));
            if success {
                break;
            }
        }
    }
    out
}

async fn sqlite_api(dir: &std::path::Path) -> Api {
    let store = open(&StoreConfig::Sqlite { dir: dir.into() })
        .await
        .unwrap();
    Api::with_store(config_with_tokens(), store).await
}

async fn ingest(api: &Api, records: &[Value]) {
    let body = Value::Array(records.to_vec()).to_string();
    let (status, answer) = api
        .post_as(Role::Worker, &format!("{BASE}/attempts"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn operator(api: &Api, path: &str, body: Value) -> (StatusCode, Value) {
    api.post_as(Role::Operator, &format!("{BASE}{path}"), &body.to_string())
        .await
}

async fn fail_fast_job(api: &Api, job: &str) -> Value {
    let body =
        json!({"job_id": job, "job_type": "sync", "error_class": "unavailable", "queue": "fast"});
    let (status, answer) = api
        .post_as(Role::Worker, &format!("{BASE}/failures"), &body.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn alert_ids(api: &Api) -> Vec<String> {
    alerts::evaluate(api.state.clone()).await;
    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/alerts")).await;
    listed
        .as_array()
        .expect("alert list")
        .iter()
        .filter(|a| a["active"] == true)
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_deploy_serve_roll_back_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let api = sqlite_api(dir.path()).await;

    let (status, failed) =
        operator(&api, "/ml/train", json!({"model_type": "gradient_boost"})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no data yet: {failed}"
    );
    assert!(
        failed["details"].as_str().unwrap().contains("at least 100"),
        "{failed}"
    );
    assert!(
        alert_ids(&api)
            .await
            .contains(&"model_training_failed".to_string())
    );

    ingest(&api, &history(2_000, 1)).await;
    let (status, model) =
        operator(&api, "/ml/train", json!({"model_type": "gradient_boost"})).await;
    assert_eq!(status, StatusCode::OK, "{model}");
    assert_eq!(model["version"], "ml-1");
    assert!(!model["model_data"].as_str().unwrap().is_empty());
    let meta = &model["metadata"];
    assert_eq!(meta["state"], "candidate");
    assert_eq!(meta["cross_validation"].as_array().unwrap().len(), 3);
    let (ml, bayes) = (
        meta["holdout"]["log_loss"].as_f64().unwrap(),
        meta["bayesian_holdout"]["log_loss"].as_f64().unwrap(),
    );
    assert!(ml < bayes, "the queue matters: ml {ml} vs bayesian {bayes}");
    let costs = &meta["decision_cost"];
    assert!(costs["decisions"].as_u64().unwrap() > 0, "{costs}");
    assert!(
        !alert_ids(&api)
            .await
            .contains(&"model_training_failed".to_string()),
        "resolved by a success"
    );

    let (status, job) = operator(
        &api,
        "/ml/train",
        json!({"model_type": "logistic", "async": true, "features": ["queue"]}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["job_id"].as_str().unwrap().to_string();
    let finished = loop {
        let (status, job) = api
            .get_as(Role::Viewer, &format!("{BASE}/ml/jobs/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["state"] != "running" {
            break job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(finished["state"], "succeeded", "{finished}");
    assert_eq!(
        finished["model"]["features"],
        json!(["queue", "delay", "retry_elapsed"])
    );

    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/ml/models")).await;
    let versions: Vec<&str> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["ml-2", "ml-1"]);

    let (status, deployed) = operator(
        &api,
        "/ml/deploy",
        json!({"version": "ml-1", "reason": "beats bayes"}),
    )
    .await;
    // Its forecasts are better; the gate may still refuse its decisions when the held-out
    // retries do not show them cheaper (README "ML tier"). Passed, it serves a 5 % canary
    // first (promoted by the canary's realized costs); force deploys it to every job.
    if status == StatusCode::CONFLICT {
        let details = deployed["details"].as_str().unwrap();
        assert!(details.contains("its decisions"), "{details}");
    } else {
        assert_eq!(status, StatusCode::OK, "{deployed}");
        assert_eq!(deployed["serving"]["state"], "canary", "{deployed}");
        assert_eq!(deployed["serving"]["canary_percent"], 5.0);
    }
    let forced = json!({"version": "ml-1", "force": true, "reason": "the queue matters"});
    let (status, deployed) = operator(&api, "/ml/deploy", forced).await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    assert_eq!(deployed["serving"]["version"], "ml-1");
    assert_eq!(deployed["serving"]["state"], "active");
    let served = fail_fast_job(&api, "new-fast-1").await;
    assert_eq!(served["method"], "ml", "{served}");
    assert_eq!(served["explanation"]["ml"]["version"], "ml-1");
    assert_eq!(served["explanation"]["ml"]["arm"], "active");
    assert!(
        served["delay_ms"].as_u64().unwrap() <= 2_000,
        "the fast queue recovers soon: {served}"
    );
    let (_, summary) = api.get_as(Role::Viewer, &format!("{BASE}/summary")).await;
    assert_eq!(summary["ml"]["serving"], "ml-1");
    assert_eq!(summary["ml_enabled"], true, "deploying switched ML on");
    let (_, audit) = api.get_as(Role::Viewer, &format!("{BASE}/audit")).await;
    assert!(audit.to_string().contains("ml_deploy"), "{audit}");
    drop(api);

    let api = sqlite_api(dir.path()).await;
    let after_restart = fail_fast_job(&api, "new-fast-2").await;
    assert_eq!(
        after_restart["method"], "ml",
        "the active version is loaded at start-up: {after_restart}"
    );

    let (status, rolled) = operator(&api, "/ml/rollback", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["status"], "rolled_back");
    assert!(
        rolled.get("serving").is_none(),
        "nothing served before ml-1: {rolled}"
    );
    assert_eq!(
        rolled["shadow"]["version"], "ml-1",
        "taken off, it goes back to shadow: {rolled}"
    );
    let after = fail_fast_job(&api, "new-fast-3").await;
    assert_ne!(after["method"], "ml", "{after}");
    let (status, again) = operator(&api, "/ml/rollback", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_refuses_a_worse_model_with_the_numbers_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let api = sqlite_api(dir.path()).await;
    ingest(&api, &history(1_000, 2)).await;
    // Only the delay: the model cannot see the queue, and is no better than the survival model.
    let body = json!({"model_type": "logistic", "features": ["delay"]});
    let (status, model) = operator(&api, "/ml/train", body).await;
    assert_eq!(status, StatusCode::OK, "{model}");
    let meta = &model["metadata"];
    let (ml, bayes) = (
        meta["holdout"]["log_loss"].as_f64().unwrap(),
        meta["bayesian_holdout"]["log_loss"].as_f64().unwrap(),
    );
    assert!(
        ml >= bayes,
        "a logistic curve in the delay alone should not beat the survival model: {ml} vs {bayes}"
    );
    let (status, refused) = operator(&api, "/ml/deploy", json!({"version": "ml-1"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let upstream = json!({"model": model, "canary_percent": 0.0});
    let (status, same) = operator(&api, "/ml/deploy", upstream).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the upstream body meets the same gate: {same}"
    );
    let details = refused["details"].as_str().unwrap();
    assert!(
        details.contains("log-loss") && details.contains(&format!("{ml:.4}")),
        "{details}"
    );
    let costs = &meta["decision_cost"];
    let model_cost = costs["model"].as_f64().unwrap();
    assert!(
        details.contains(&format!("expected decision cost {model_cost:.3}")),
        "the refusal gives the decision costs too: {details}"
    );
    let (status, forced) = operator(
        &api,
        "/ml/deploy",
        json!({"version": "ml-1", "force": true, "canary_percent": 20}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(forced["serving"]["state"], "canary");
    assert_eq!(forced["serving"]["canary_percent"], 20.0);
    let (_, audit) = api.get_as(Role::Viewer, &format!("{BASE}/audit")).await;
    assert!(audit.to_string().contains("ml_deploy_forced"), "{audit}");
}

#[tokio::test]
async fn roles_and_bad_input_are_answered_with_the_field() {
    let api = Api::with_config(config_with_tokens()).await;
    let path = format!("{BASE}/ml/train");
    let (status, _) = api
        .post_as(Role::Viewer, &path, r#"{"model_type":"logistic"}"#)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let cases = [
        (json!({"model_type": "svm"}), "model_type"),
        (
            json!({"model_type": "logistic", "validation_set": 0.9}),
            "validation_set",
        ),
        (
            json!({"model_type": "logistic", "features": ["colour"]}),
            "colour",
        ),
        (
            json!({"model_type": "gradient_boost", "hyperparameters": {"max_depth": 50}}),
            "max_depth",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = operator(&api, "/ml/train", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
    let (status, answer) = operator(&api, "/ml/deploy", json!({"version": "ml-7"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = api
        .get_as(Role::Viewer, &format!("{BASE}/ml/jobs/train-99"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

/// A logistic model of the queue alone, trained on [`history`] and forced to serve.
async fn forced_queue_model(dir: &std::path::Path) -> Api {
    let api = sqlite_api(dir).await;
    ingest(&api, &history(1_000, 3)).await;
    let body = json!({"model_type": "logistic", "features": ["queue"]});
    let (status, model) = operator(&api, "/ml/train", body).await;
    assert_eq!(status, StatusCode::OK, "{model}");
    let forced = json!({"version": "ml-1", "force": true, "reason": "test: a bad model"});
    let (status, deployed) = operator(&api, "/ml/deploy", forced).await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    api
}

async fn summary_ml(api: &Api) -> Value {
    let (_, summary) = api.get_as(Role::Viewer, &format!("{BASE}/summary")).await;
    summary["ml"].clone()
}

fn fast_record(job: &str, n: u32, at: chrono::DateTime<Utc>, delay: u64, success: bool) -> Value {
    json!({"job_id": job, "job_type": "sync", "queue": "fast", "attempt_number": n,
        "error_class": if success { "" } else { "unavailable" }, "delay_ms": delay,
        "success": success, "timestamp": at.to_rfc3339()})
}

/// Job `job` on the `fast` queue fails at `at` and its retries follow the service's answers,
/// each failing until `recovers_ms` after the first failure; whether the ML tier decided its
/// first retry.
async fn fast_episode(api: &Api, job: &str, at: chrono::DateTime<Utc>, recovers_ms: u64) -> bool {
    let (mut elapsed, mut delay, mut first_by_ml) = (0u64, 0u64, None);
    for n in 1..=10u32 {
        let when = at + Duration::milliseconds(elapsed as i64);
        if n > 1 && elapsed >= recovers_ms {
            ingest(api, &[fast_record(job, n, when, delay, true)]).await;
            break;
        }
        let failure = fast_record(job, n, when, delay, false).to_string();
        let path = format!("{BASE}/failures");
        let (status, answer) = api.post_as(Role::Worker, &path, &failure).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        first_by_ml.get_or_insert(answer["method"] == "ml");
        if answer["should_retry"] != true {
            break;
        }
        delay = answer["delay_ms"].as_u64().unwrap();
        elapsed += delay;
    }
    first_by_ml.unwrap_or(false)
}

/// Job `job` on the `fast` queue fails at `at`, and its retry fails too; whether the ML tier
/// decided it.
async fn fast_job_down(api: &Api, job: &str, at: chrono::DateTime<Utc>) -> bool {
    let failure = fast_record(job, 1, at, 0, false).to_string();
    let path = format!("{BASE}/failures");
    let (status, answer) = api.post_as(Role::Worker, &path, &failure).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let delay = answer["delay_ms"].as_u64().unwrap();
    let retry_at = at + Duration::milliseconds(delay as i64);
    ingest(api, &[fast_record(job, 2, retry_at, delay, false)]).await;
    answer["method"] == "ml"
}

/// A forced model that believes the `fast` queue recovers within 2 s, served while that
/// queue's outages last 30 s: it retries the queue's jobs every second or two, and those
/// retries fail until the 30 s are up. Its forecasts for the retries it serves are confident
/// and wrong, and so are its decisions — by the Bayesian tier's forecast recalibrated on the
/// outcomes, waiting (as the Bayesian tier would) costs less than the retries that fail — so the
/// live check rolls it back to the Bayesian tier on its own — stored, audited, alerted, in
/// `/summary` and `/metrics` — but not before it has the minimum number of outcomes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_forced_model_is_rolled_back_by_the_live_check() {
    use retryctl::engine::ml::live_check::MIN_OUTCOMES;
    let dir = tempfile::tempdir().unwrap();
    let api = forced_queue_model(dir.path()).await;
    let start = Utc::now();
    let mut jobs = 0;
    while jobs < 1_000 {
        let at = start + Duration::seconds(jobs as i64 * 120);
        if !fast_episode(&api, &format!("slow-now-{jobs}"), at, 30_000).await {
            break;
        }
        jobs += 1;
        let ml = summary_ml(&api).await;
        let outcomes = ml["live_check"]["outcomes"].as_u64();
        if outcomes.is_some_and(|n| n < MIN_OUTCOMES as u64) {
            assert_eq!(ml["serving"], "ml-1", "too few outcomes to judge yet: {ml}");
        }
    }
    let ml = summary_ml(&api).await;
    assert!(jobs < 1_000, "never rolled back: {ml}");
    assert!(ml.get("serving").is_none(), "{ml}");

    let raised = alert_ids(&api).await;
    assert!(
        raised.contains(&"model_rolled_back:ml-1".to_string()),
        "{raised:?}"
    );
    let (_, summary) = api.get_as(Role::Viewer, &format!("{BASE}/summary")).await;
    let ml = &summary["ml"];
    assert_eq!(summary["ml_enabled"], false);
    let rollback = &ml["auto_rollback"];
    assert_eq!(rollback["version"], "ml-1", "{ml}");
    let reason = rollback["reason"].as_str().unwrap();
    assert!(
        reason.contains("live log-loss")
            && reason.contains("standard error")
            && reason.contains("decisions cost"),
        "{reason}"
    );
    let (_, listed) = api.get_as(Role::Viewer, &format!("{BASE}/ml/models")).await;
    assert_eq!(
        listed["models"][0]["state"], "shadow",
        "taken off, it is scored in shadow and its drift watched: {listed}"
    );
    assert!(reason.contains("kept in shadow"), "{reason}");
    let audit = api.state.store.list_audit(0, 100).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "ml_rollback_auto")
        .unwrap_or_else(|| panic!("no ml_rollback_auto in {audit:?}"));
    assert_eq!(entry.actor, "retryctl:live-check");
    assert_eq!(entry.target, "ml-1");
    assert_eq!(entry.reason, reason);
    let viewer = Some(common::token_of(Role::Viewer));
    let (_, _, metrics) = api.raw("GET", "/metrics", Some(("", viewer))).await;
    assert!(
        metrics.contains("retryctl_ml_auto_rollbacks_total 1"),
        "{metrics}"
    );
    let after = fail_fast_job(&api, "after-rollback").await;
    assert_ne!(after["method"], "ml", "{after}");
    drop(api);
    let api = sqlite_api(dir.path()).await;
    let restarted = fail_fast_job(&api, "after-restart").await;
    assert_ne!(
        restarted["method"], "ml",
        "the rollback was stored: {restarted}"
    );
    let (_, summary) = api.get_as(Role::Viewer, &format!("{BASE}/summary")).await;
    assert_eq!(
        summary["ml"]["shadow"], "ml-1",
        "shadows after a restart: {summary}"
    );
}

/// The same model served while the `fast` queue's dependency stays down: every retry fails,
/// so its forecasts are confident and wrong, but by the Bayesian tier's forecast recalibrated
/// on those outcomes (nothing works) its short waits cost less than the Bayesian tier's longer
/// ones: its decisions are not worse, and it keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_forecasts_worse_but_decides_no_worse_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let api = forced_queue_model(dir.path()).await;
    let start = Utc::now();
    for i in 0..600 {
        let at = start + Duration::seconds(i as i64 * 120);
        assert!(
            fast_job_down(&api, &format!("down-{i}"), at).await,
            "job {i}"
        );
    }
    let ml = summary_ml(&api).await;
    let check = &ml["live_check"];
    assert_eq!(ml["serving"], "ml-1", "{ml}");
    assert_eq!(check["forecasts_worse"], true, "{check}");
    let decisions = &check["decisions"];
    assert_eq!(decisions["worse"], false, "{check}");
    assert!(
        decisions["model_cost"].as_f64().unwrap() < decisions["bayesian_cost"].as_f64().unwrap(),
        "{check}"
    );
}
