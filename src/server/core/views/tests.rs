use super::*;
use crate::model::{Explanation, Fallback, JobExpectation};
use chrono::{Duration, TimeZone};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn rec(method: Method, delay_ms: u64) -> RetryRecommendation {
    let json = serde_json::json!({
        "should_retry": true, "delay_ms": delay_ms, "max_attempts": 3, "confidence": 0.5,
        "estimated_success": 0.5, "method": method.as_str(), "rationale": "",
        "next_evaluation": now().to_rfc3339(), "policy_guardrails": [],
    });
    serde_json::from_value(json).unwrap()
}

static NO_OUTCOMES: BTreeMap<String, Outcomes> = BTreeMap::new();

fn facts<'a>(circuits: &'a [CircuitView], alerts: &'a [Alert]) -> QueueFacts<'a> {
    QueueFacts {
        circuits,
        outcomes: &NO_OUTCOMES,
        alerts,
        ml: None,
    }
}

#[test]
fn a_queue_shows_its_deciding_tier_and_normal() {
    let mut book = QueueBook::default();
    for _ in 0..3 {
        book.note("payments", &rec(Method::Bayesian, 1000), now());
    }
    book.note("payments", &rec(Method::Rules, 1000), now());
    let lines = book.lines(&facts(&[], &[]), now());
    assert_eq!(lines.window_seconds, 300);
    let q = &lines.queues[0];
    assert_eq!(
        (q.queue.as_str(), q.strategy),
        ("payments", Some(Method::Bayesian))
    );
    assert_eq!((q.recommendations, q.mark), (4, QueueMark::Normal));
    assert_eq!(q.reason, "normal");
    let later = book.lines(&facts(&[], &[]), now() + Duration::minutes(6));
    assert!(later.queues.is_empty(), "outside the window");
}

#[test]
fn marks_name_the_reason() {
    let mut book = QueueBook::default();
    for _ in 0..10 {
        book.note("email", &rec(Method::Static, 1000), now());
    }
    let mut from_ml = rec(Method::Bayesian, 1000);
    from_ml.explanation = Some(Explanation {
        fallbacks: vec![Fallback {
            from: Method::Ml,
            to: Method::Bayesian,
            reason: "model error".into(),
        }],
        ..Explanation::default()
    });
    book.note("reports", &from_ml, now());
    let lines = book.lines(&facts(&[], &[]), now());
    let email = &lines.queues[0];
    assert_eq!(email.mark, QueueMark::Warning);
    assert_eq!(email.reason, "mostly falling back (100 % of 10)");
    assert_eq!(lines.queues[1].reason, "normal", "too few to judge");

    let circuit = CircuitView {
        queue: "email".into(),
        error_class: "timeout".into(),
        state: "open".into(),
        failure_rate: 0.9,
        probe_at: None,
        forced: None,
    };
    let lines = book.lines(&facts(&[circuit], &[]), now());
    assert_eq!(lines.queues[0].reason, "open circuit (timeout)");
}

#[test]
fn a_retry_storm_alert_marks_a_high_retry_rate() {
    let alert: Alert = serde_json::from_value(serde_json::json!({
        "id": "retry_storm:push", "name": "retry_storm", "severity": "warning",
        "message": "", "active": true, "raised_at": now().to_rfc3339(),
        "updated_at": now().to_rfc3339(),
    }))
    .unwrap();
    let lines = QueueBook::default().lines(&facts(&[], &[alert]), now());
    let q = &lines.queues[0];
    assert_eq!((q.queue.as_str(), q.strategy), ("push", None));
    assert_eq!(
        (q.mark, q.reason.as_str()),
        (QueueMark::Warning, "high retry rate")
    );
}

#[test]
fn today_counts_retries_and_delays_and_compares_with_static() {
    let mut today = Today::default();
    let a: AttemptRecord = serde_json::from_value(serde_json::json!({
        "job_id": "j", "attempt_number": 2, "success": false, "timestamp": now().to_rfc3339(),
    }))
    .unwrap();
    today.note_attempt(&a, now());
    today.note_recommendation(&rec(Method::Rules, 1000), now());
    today.note_recommendation(&rec(Method::Rules, 3000), now());
    let comparison = Comparison {
        jobs: 4,
        smart: JobExpectation {
            attempts: 1.5,
            ..JobExpectation::default()
        },
        static_backoff: JobExpectation {
            attempts: 2.0,
            ..JobExpectation::default()
        },
        ..Comparison::default()
    };
    let started = now() - Duration::days(2);
    let g = today.glance(&comparison, started, now());
    assert_eq!(
        g.from,
        Some(Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap())
    );
    assert_eq!((g.retries, g.delays, g.comparison_jobs), (1, 2, 4));
    assert_eq!(
        (g.mean_delay_ms, g.sd_delay_ms),
        (Some(2000.0), Some(1000.0))
    );
    assert_eq!(g.retries_vs_static, Some(-0.25));
    let tomorrow = today.glance(&Comparison::default(), started, now() + Duration::days(1));
    assert_eq!((tomorrow.retries, tomorrow.mean_delay_ms), (0, None));
    assert_eq!(tomorrow.retries_vs_static, None);
}

#[test]
fn a_queue_with_many_failures_and_no_success_reads_failing() {
    let mut book = QueueBook::default();
    book.note("payments", &rec(Method::Rules, 1000), now());
    book.note("webhooks", &rec(Method::Rules, 1000), now());
    let outcomes = BTreeMap::from([
        (
            "payments".to_string(),
            Outcomes {
                failures: 2000,
                successes: 0,
            },
        ),
        (
            "webhooks".to_string(),
            Outcomes {
                failures: 2000,
                successes: 1,
            },
        ),
        (
            "search".to_string(),
            Outcomes {
                failures: FAILING_MIN,
                successes: 0,
            },
        ),
        (
            "email".to_string(),
            Outcomes {
                failures: FAILING_MIN - 1,
                successes: 0,
            },
        ),
    ]);
    let facts = QueueFacts {
        outcomes: &outcomes,
        ..facts(&[], &[])
    };
    let lines = book.lines(&facts, now());
    let mark = |name: &str| {
        let q = lines.queues.iter().find(|q| q.queue == name);
        q.map(|q| (q.mark, q.reason.clone()))
    };
    assert_eq!(
        mark("payments"),
        Some((
            QueueMark::Warning,
            "failing: 2000 failed, none succeeded".into()
        ))
    );
    assert_eq!(mark("webhooks"), Some((QueueMark::Normal, "normal".into())));
    assert_eq!(
        mark("search").map(|m| m.0),
        Some(QueueMark::Warning),
        "listed without recommendations"
    );
    assert_eq!(mark("email"), None, "too few to judge, no recommendation");
}
