use super::*;
use crate::model::{Explanation, Fallback, Severity};

fn t(secs: i64) -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::seconds(secs)
}

fn rec(method: Method, should_retry: bool, delay_ms: u64, success: f64) -> RetryRecommendation {
    RetryRecommendation {
        should_retry,
        delay_ms,
        max_attempts: 3,
        confidence: 0.0,
        rationale: String::new(),
        method,
        estimated_success: success,
        next_evaluation: t(0),
        policy_guardrails: vec![],
        explanation: None,
    }
}

fn attempt(n: u32, queue: &str, class: &str, success: bool) -> AttemptRecord {
    serde_json::from_value(serde_json::json!({
        "job_id": "j", "attempt_number": n, "queue": queue, "error_class": class,
        "success": success, "timestamp": "2020-01-01T00:00:00Z"
    }))
    .unwrap()
}

#[test]
fn shadow_comparison_accumulates_both_sides() {
    let mut ops = Ops::default();
    let shadow = rec(Method::Static, true, 4_000, 0.4);
    ops.record_recommendation(
        &rec(Method::Bayesian, true, 1_000, 0.8),
        &shadow,
        None,
        t(0),
    );
    ops.record_recommendation(&rec(Method::Bayesian, false, 0, 0.2), &shadow, None, t(1));
    let c = ops.comparison();
    assert_eq!(c.recommendations, 2);
    assert_eq!(c.retries_avoided, 1);
    assert!((c.smart_mean_success - 0.5).abs() < 1e-9);
    assert!((c.static_mean_success - 0.4).abs() < 1e-9);
}

#[test]
fn per_job_expectations_are_means_over_the_jobs() {
    let mut ops = Ops::default();
    let job = |attempts, time_to_success_ms, give_up| JobExpectation {
        attempts,
        time_to_success_ms,
        give_up,
    };
    ops.compare_job(job(1.0, 2_000.0, 0.0), job(3.0, 10_000.0, 0.2), t(0));
    ops.compare_job(job(2.0, 4_000.0, 0.1), job(4.0, 20_000.0, 0.4), t(1));
    let c = ops.comparison();
    assert_eq!(c.jobs, 2);
    assert_eq!(c.smart, job(1.5, 3_000.0, 0.05));
    assert_eq!(c.static_backoff.attempts, 3.5);
    assert_eq!(c.static_backoff.time_to_success_ms, 15_000.0);
    assert!((c.static_backoff.give_up - 0.3).abs() < 1e-12);
}

#[test]
fn fallbacks_and_guardrails_feed_the_alert_inputs() {
    let mut ops = Ops::default();
    let mut smart = rec(Method::Rules, true, 1_000, 0.5);
    smart.explanation = Some(Explanation {
        fallbacks: vec![Fallback {
            from: Method::Bayesian,
            to: Method::Rules,
            reason: "x".into(),
        }],
        ..Default::default()
    });
    smart.policy_guardrails = vec!["max_delay".into()];
    let shadow = rec(Method::Static, true, 1_000, 0.5);
    for i in 0..12 {
        ops.record_recommendation(&smart, &shadow, Some("j"), t(i));
    }
    ops.record_recommendation(&rec(Method::Static, true, 1, 0.1), &shadow, None, t(12));
    let inputs = ops.alert_inputs(&AlertThresholds::default(), EngineView::default(), t(12));
    assert_eq!(inputs.recommendations, 13);
    assert_eq!(inputs.bayesian_fallbacks, 12);
    assert_eq!(inputs.static_answers, 1);
    assert_eq!(inputs.guardrail_overrides, 12);
    assert_eq!(ops.events.recent(kind::GUARDRAIL, 100).len(), 12);
    let later = ops.alert_inputs(&AlertThresholds::default(), EngineView::default(), t(400));
    assert_eq!(later.guardrail_overrides, 0, "outside the 5-minute window");
}

#[test]
fn attempts_feed_rates_storms_and_error_classes() {
    let mut ops = Ops::default();
    ops.record_attempt(&attempt(1, "mail", "timeout", false), t(0));
    ops.record_attempt(&attempt(2, "mail", "timeout", true), t(1));
    ops.record_attempt(&attempt(3, "mail", "timeout", false), t(2));
    ops.record_attempt(&attempt(2, "pay", "429", false), t(2));
    let inputs = ops.alert_inputs(&AlertThresholds::default(), EngineView::default(), t(2));
    assert_eq!(inputs.retries_last_minute.get("mail"), Some(&2));
    assert_eq!(inputs.retries_last_minute.get("pay"), Some(&1));
    let rates = ops.rates(t(2));
    assert_eq!(rates.retries_per_minute, 3.0);
    assert!((rates.retry_success_rate_5m - 1.0 / 3.0).abs() < 1e-9);
    assert!((rates.attempts_per_second - 4.0 / 60.0).abs() < 1e-9);
    let classes = ops.error_classes();
    assert_eq!(classes[1].error_class, "timeout");
    assert_eq!((classes[1].attempts, classes[1].successes), (3, 1));
}

#[test]
fn alert_list_puts_active_and_severe_first() {
    let mut ops = Ops::default();
    let alert = |id: &str, severity, active| Alert {
        id: id.into(),
        name: id.into(),
        severity,
        message: String::new(),
        labels: Default::default(),
        raised_at: t(0),
        active,
        resolved_at: None,
        acked_at: None,
        acked_by: None,
    };
    for a in [
        alert("a", Severity::Critical, false),
        alert("b", Severity::Warning, true),
        alert("c", Severity::Critical, true),
    ] {
        ops.alerts.insert(a.id.clone(), a);
    }
    let ids: Vec<String> = ops.alert_list().into_iter().map(|a| a.id).collect();
    assert_eq!(ids, ["c", "b", "a"]);
}

#[test]
fn active_tier_is_the_most_used_in_the_last_minute() {
    let mut ops = Ops::default();
    assert_eq!(ops.active_tier(t(0)), None);
    let shadow = rec(Method::Static, true, 1, 0.0);
    ops.record_recommendation(&rec(Method::Rules, true, 1, 0.0), &shadow, None, t(0));
    ops.record_recommendation(&rec(Method::Bayesian, true, 1, 0.0), &shadow, None, t(1));
    ops.record_recommendation(&rec(Method::Bayesian, true, 1, 0.0), &shadow, None, t(2));
    assert_eq!(ops.active_tier(t(2)), Some(Method::Bayesian));
    assert_eq!(ops.active_tier(t(200)), None);
}
