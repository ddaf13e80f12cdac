//! Facade tests: the tiers end to end, guardrails on every answer, preview, episodes.

use super::*;
use crate::model::PolicyGuardrails;
use chrono::Duration;
use proptest::prelude::*;

pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
        .unwrap()
        .to_utc()
}

pub(crate) fn features(job_type: &str, class: &str, attempt: u32) -> RetryFeatures {
    RetryFeatures {
        job_type: job_type.into(),
        error_class: class.into(),
        attempt_number: attempt,
        queue: "default".into(),
        ..RetryFeatures::default()
    }
}

/// Attempt `n` of job `job` of (`job_type`, `class`) on queue `default`, run at `at` after a
/// wait of `delay_ms`; a success carries no error class (it has none of its own).
pub(crate) fn attempt(
    job: &str,
    job_type: &str,
    class: &str,
    n: u32,
    delay_ms: u64,
    at: DateTime<Utc>,
    success: bool,
) -> AttemptRecord {
    AttemptRecord {
        job_id: job.into(),
        job_type: job_type.into(),
        attempt_number: n,
        error_class: if success { "" } else { class }.into(),
        error_code: String::new(),
        status: if success { "succeeded" } else { "failed" }.into(),
        queue: "default".into(),
        tenant: None,
        payload_size: 0,
        time_of_day: 12,
        worker_version: String::new(),
        health: None,
        delay_ms,
        success,
        timestamp: at,
        processing_time: None,
    }
}

fn engine() -> Engine {
    Engine::new(default_strategy(), EngineSettings::default(), 42)
}

#[test]
fn rules_answer_with_the_matching_policy_and_say_why() {
    let mut e = engine();
    let r = e.recommend(&features("payment", "503", 1), t0());
    assert!(r.should_retry);
    assert_eq!(r.method, Method::Rules);
    assert_eq!(r.max_attempts, 3);
    assert!(
        (1_600..=2_400).contains(&r.delay_ms),
        "2s ± 20%: {}",
        r.delay_ms
    );
    let x = r.explanation.as_ref().unwrap();
    assert_eq!(x.policy.as_deref(), Some("service_unavailable"));
    assert!(
        r.rationale.contains("service_unavailable"),
        "{}",
        r.rationale
    );
    assert_eq!(
        r.next_evaluation,
        t0() + Duration::milliseconds(r.delay_ms as i64)
    );
    let stop = e.recommend(&features("payment", "validation", 1), t0());
    assert!(!stop.should_retry);
    assert_eq!(stop.delay_ms, 0);
}

#[test]
fn rules_estimate_success_from_the_prior_until_retries_are_observed() {
    let mut e = engine();
    let r = e.recommend(&features("payment", "503", 1), t0());
    assert_eq!(r.method, Method::Rules);
    assert!(
        r.estimated_success > 0.0 && r.estimated_success < 1.0,
        "{}",
        r.estimated_success
    );
    assert!(r.rationale.contains("prior"), "{}", r.rationale);
    let p = e.preview(&features("payment", "503", 1), 0, t0());
    assert!(!p.timeline.is_empty());
    for pair in p.timeline.windows(2) {
        assert!(pair[0].estimated_success > 0.0, "{:?}", p.timeline);
        assert!(pair[1].estimated_success >= pair[0].estimated_success);
    }
    let stop = e.recommend(&features("payment", "validation", 1), t0());
    assert_eq!(stop.estimated_success, 0.0, "no retry, no chance of one");
}

#[test]
fn no_matching_policy_falls_back_to_static_and_says_so() {
    let mut strategy = default_strategy();
    strategy.policies.retain(|p| p.name != "default");
    let mut e = Engine::new(strategy, EngineSettings::default(), 1);
    let r = e.recommend(&features("payment", "weird", 1), t0());
    assert_eq!(r.method, Method::Static);
    assert_eq!(r.delay_ms, 2_000);
    let x = r.explanation.unwrap();
    let tiers: Vec<_> = x.fallbacks.iter().map(|f| (f.from, f.to)).collect();
    assert_eq!(
        tiers,
        [
            (Method::Bayesian, Method::Rules),
            (Method::Rules, Method::Static)
        ]
    );
    assert!(x.fallbacks[1].reason.contains("weird"));
}

#[test]
fn equal_seeds_give_equal_answers() {
    let (mut a, mut b) = (engine(), engine());
    for attempt in 1..3 {
        let f = features("payment", "rate_limit", attempt);
        assert_eq!(a.recommend(&f, t0()), b.recommend(&f, t0()));
    }
}

#[test]
fn set_strategy_rejects_bad_input_naming_the_field() {
    let mut e = engine();
    let mut s = default_strategy();
    s.policies[2].job_type_patterns = vec!["[".into()];
    assert_eq!(
        e.set_strategy(s).unwrap_err().field,
        "policies[2].job_type_patterns[0]"
    );
    let mut s = default_strategy();
    s.bayesian_threshold = 1.5;
    assert_eq!(e.set_strategy(s).unwrap_err().field, "bayesian_threshold");
    let mut s = default_strategy();
    s.guardrails.emergency_stop = true;
    e.set_strategy(s).unwrap();
    let r = e.recommend(&features("payment", "503", 1), t0());
    assert!(!r.should_retry);
    assert_eq!(r.policy_guardrails, ["emergency_stop"]);
}

#[test]
fn a_retry_after_hint_is_honoured() {
    let mut e = engine();
    let mut f = features("api", "429", 1);
    f.retry_after_ms = Some(45_000);
    let r = e.recommend(&f, t0());
    assert!(r.delay_ms >= 45_000, "{}", r.delay_ms);
    assert!(r.rationale.contains("Retry-After"), "{}", r.rationale);
}

#[test]
fn preview_lists_the_schedule_without_spending_budget() {
    let mut s = default_strategy();
    s.guardrails.retry_budget.capacity = 1.0;
    s.guardrails.retry_budget.refill_per_second = 0.0;
    let mut e = Engine::new(s, EngineSettings::default(), 3);
    let f = features("api", "429", 1);
    for _ in 0..3 {
        let p = e.preview(&f, 0, t0());
        assert_eq!(
            p.timeline.len(),
            4,
            "each step is checked against today's budget"
        );
    }
    let p = e.preview(&f, 0, t0());
    assert_eq!(p.timeline.len(), 4, "rate limit: 5 attempts, 4 retries");
    assert_eq!(p.recommendations.len(), 5);
    assert!(!p.recommendations.last().unwrap().should_retry);
    let mut at = t0();
    for (i, entry) in p.timeline.iter().enumerate() {
        at += Duration::milliseconds(entry.delay_ms as i64);
        assert_eq!(entry.scheduled_time, at);
        assert_eq!(entry.attempt_number, 2 + i as u32);
    }
    assert!(
        e.recommend(&f, t0()).should_retry,
        "preview left the one token alone"
    );
    assert!(
        !e.recommend(&f, t0()).should_retry,
        "and recommend spent it"
    );
}

#[test]
fn max_budget_percent_paces_retries_per_queue_and_is_named() {
    let mut s = default_strategy();
    s.guardrails.retry_budget.enabled = false;
    s.guardrails.max_budget_percent = 10.0;
    let mut e = Engine::new(s, EngineSettings::default(), 5);
    for i in 0..8_000 {
        e.observe(&attempt(
            &format!("j{i}"),
            "payment",
            "503",
            1,
            0,
            t0(),
            false,
        ));
    }
    let now = t0() + Duration::seconds(1);
    let answers: Vec<_> = (0..900)
        .map(|_| e.recommend(&features("payment", "503", 1), now))
        .collect();
    assert!(answers.iter().all(|r| r.should_retry), "pacing never drops");
    let paced = answers
        .iter()
        .filter(|r| {
            r.policy_guardrails
                .iter()
                .any(|g| g == "max_budget_percent")
        })
        .count();
    assert_eq!(
        paced, 100,
        "10% of 8,000 attempts run at once, the rest are paced"
    );
    let last = answers.last().unwrap();
    assert!(
        last.delay_ms >= 54_000,
        "into the next window: {}",
        last.delay_ms
    );
    assert_eq!(last.policy_guardrails[0], "max_budget_percent");
    assert!(
        last.rationale.contains("max_budget_percent"),
        "{}",
        last.rationale
    );
}

#[test]
fn the_static_shadow_agrees_with_the_static_recommendation() {
    let e = engine();
    for (class, attempt) in [("503", 1), ("503", 3), ("429", 2), ("timeout", 9)] {
        let f = features("payment", class, attempt);
        let full = e.static_recommendation(&f, t0());
        let brief = e.static_shadow(&f, t0());
        let key = |r: &RetryRecommendation| (r.should_retry, r.delay_ms, r.max_attempts, r.method);
        assert_eq!(key(&brief), key(&full), "{class} attempt {attempt}");
        assert!((brief.estimated_success - full.estimated_success).abs() < 1e-12);
        assert!(brief.explanation.is_none());
    }
}

#[test]
fn episodes_link_attempts_by_job_id() {
    let mut e = engine();
    let record = |n: u32, secs: i64, delay: u64| {
        let at = t0() + Duration::seconds(secs);
        attempt("job-1", "payment", "503", n, delay, at, false)
    };
    e.observe(&record(1, 0, 0));
    e.observe(&record(2, 3, 3_000));
    let mut f = features("payment", "503", 2);
    f.job_id = Some("job-1".into());
    let r = e.recommend(&f, t0() + Duration::seconds(100));
    assert_eq!(
        r.explanation.unwrap().elapsed_ms,
        Some(3_000),
        "from record times, not now"
    );
    let mut f = features("payment", "503", 2);
    f.first_failure_at = Some(t0());
    let r = e.recommend(&f, t0() + Duration::seconds(9));
    assert_eq!(r.explanation.unwrap().elapsed_ms, Some(9_000));
}

#[test]
fn the_configured_cap_bounds_the_open_episodes() {
    let settings = EngineSettings {
        max_open_episodes: 2,
        ..EngineSettings::default()
    };
    let mut e = Engine::new(default_strategy(), settings, 7);
    for (i, job) in ["a", "b", "c"].into_iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64);
        e.observe(&attempt(job, "payment", "503", 1, 0, at, false));
    }
    assert!(
        e.episodes.get("a").is_none(),
        "the least recently touched goes"
    );
    assert!(e.episodes.get("b").is_some() && e.episodes.get("c").is_some());
}

fn arb_guardrails() -> impl Strategy<Value = PolicyGuardrails> {
    (
        1u32..8,
        0u64..3_000,
        0u64..200_000,
        any::<bool>(),
        0.0f64..4.0,
    )
        .prop_map(|(attempts, min, extra, stop, cap)| {
            let mut g = PolicyGuardrails {
                max_attempts: attempts,
                min_delay_ms: min,
                max_delay_ms: min + extra,
                emergency_stop: stop,
                per_tenant_limits: true,
                tenant_quota_per_minute: 3,
                ..PolicyGuardrails::default()
            };
            g.retry_budget.capacity = cap;
            g.retry_budget.refill_per_second = 0.05;
            g
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Every recommendation of the facade respects the guardrails.
    #[test]
    fn every_recommendation_respects_the_guardrails(
        g in arb_guardrails(),
        reqs in proptest::collection::vec((0usize..6, 1u32..12, proptest::option::of(0u64..400_000), 0i64..20_000), 1..30),
    ) {
        let classes = ["503", "429", "validation", "timeout", "weird", "rate_limit"];
        let mut s = default_strategy();
        s.guardrails = g.clone();
        let mut e = Engine::new(s, EngineSettings::default(), 9);
        let mut now = t0();
        for (class, attempt, hint, step) in reqs {
            now += Duration::milliseconds(step);
            let mut f = features("job", classes[class], attempt);
            f.tenant = Some("t".into());
            f.retry_after_ms = hint;
            let r = e.recommend(&f, now);
            if r.should_retry {
                let paced = r.policy_guardrails.iter().any(|n| n == "max_delay");
                prop_assert!(r.delay_ms >= g.min_delay_ms && (r.delay_ms <= g.max_delay_ms || paced), "{} outside [{}, {}]", r.delay_ms, g.min_delay_ms, g.max_delay_ms);
                prop_assert!(attempt < g.max_attempts);
                prop_assert!(!g.emergency_stop);
            }
            let named: Vec<String> = r.explanation.unwrap().guardrails.into_iter().map(|x| x.name).collect();
            prop_assert_eq!(named, r.policy_guardrails);
        }
    }
}

mod cold_window;
mod learning;
mod maintenance;
mod ml;
