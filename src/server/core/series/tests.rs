use super::*;
use chrono::Duration;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
        .unwrap()
        .to_utc()
}

fn attempt(queue: &str, class: &str, n: u32, success: bool) -> AttemptRecord {
    serde_json::from_value(serde_json::json!({
        "job_id": "j", "job_type": "t", "queue": queue, "error_class": class,
        "attempt_number": n, "success": success, "timestamp": t0(),
    }))
    .unwrap()
}

#[test]
fn counts_land_in_their_steps() {
    let mut book = SeriesBook::default();
    let now = t0() + Duration::seconds(35);
    book.record_attempt(&attempt("mail", "timeout", 1, false), t0());
    book.record_attempt(
        &attempt("mail", "timeout", 2, false),
        t0() + Duration::seconds(12),
    );
    book.record_attempt(&attempt("mail", "dns", 3, true), now);
    book.record_give_up("mail", now);
    book.record_attempt(&attempt("", "dns", 1, false), now - Duration::minutes(2));
    let s = book.series(60_000, 20_000, now);
    assert_eq!((s.steps, s.start), (3, t0() - Duration::seconds(20)));
    assert_eq!(
        s.queues.len(),
        1,
        "queues without counts in the window are left out"
    );
    let mail = &s.queues[0];
    assert_eq!(mail.queue, "mail");
    assert_eq!(mail.failures, [0, 2, 0]);
    assert_eq!(mail.retries, [0, 1, 1]);
    assert_eq!(mail.successes, [0, 0, 1]);
    assert_eq!(mail.give_ups, [0, 0, 1]);
    let classes: Vec<(&str, u64)> = s
        .top_error_classes
        .iter()
        .map(|c| (c.error_class.as_str(), c.failures))
        .collect();
    assert_eq!(
        classes,
        [("timeout", 2)],
        "the dns failure is outside the window"
    );
    let hour = book.series(3_600_000, 600_000, now);
    assert_eq!(hour.queues[0].queue, "default");
    assert_eq!(hour.queues[0].failures.iter().sum::<u64>(), 1);
    assert_eq!(hour.top_error_classes.len(), 2);
}

#[test]
fn queues_past_the_cap_count_as_other_until_one_idles_for_an_hour() {
    let mut book = SeriesBook::default();
    for i in 0..MAX_KEYS {
        book.record_attempt(&attempt(&format!("q{i}"), "c", 1, false), t0());
    }
    book.record_attempt(&attempt("late", "c", 1, false), t0());
    let s = book.series(60_000, 10_000, t0());
    assert_eq!(s.queues.len(), MAX_KEYS + 1);
    assert!(s.queues.iter().any(|q| q.queue == OTHER));
    assert!(!s.queues.iter().any(|q| q.queue == "late"));
    let later = t0() + Duration::minutes(61);
    book.record_attempt(&attempt("late", "c", 1, false), later);
    let s = book.series(60_000, 10_000, later);
    let names: Vec<&str> = s.queues.iter().map(|q| q.queue.as_str()).collect();
    assert_eq!(names, ["late"], "idle rings gave way");
}

#[test]
fn resolve_checks_window_and_step() {
    assert_eq!(resolve(None, None), Ok((900_000, 10_000)));
    assert_eq!(resolve(Some("1h"), Some("10m")), Ok((3_600_000, 600_000)));
    let rounded = [
        (
            ("2h", "10s"),
            (3_600_000, 10_000),
            "longer than kept: the hour kept",
        ),
        (("15m", "5s"), (900_000, 10_000), "step rounded up to 10s"),
        (("15m", "15s"), (900_000, 20_000), "step rounded up to 20s"),
        (
            ("15m", "20m"),
            (1_200_000, 1_200_000),
            "window at least one step",
        ),
        (
            ("15m", "40s"),
            (920_000, 40_000),
            "window rounded up to whole steps",
        ),
        (
            ("1h", "7m"),
            (3_360_000, 420_000),
            "whole steps within the hour",
        ),
        (
            ("1ms", "2h"),
            (3_600_000, 3_600_000),
            "step at most the hour",
        ),
    ];
    for ((window, step), expected, why) in rounded {
        assert_eq!(resolve(Some(window), Some(step)), Ok(expected), "{why}");
    }
    for (window, step, field) in [
        ("0s", "10s", "window"),
        ("soon", "10s", "window"),
        ("15m", "0s", "step"),
        ("15m", "nope", "step"),
    ] {
        let err = resolve(Some(window), Some(step)).unwrap_err();
        assert_eq!(err.field, field, "{window} {step}: {err:?}");
    }
}
