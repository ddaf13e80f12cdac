use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::seconds(secs)
}

fn job(attempts: f64, time_ms: f64, give_up: f64) -> JobExpectation {
    JobExpectation {
        attempts,
        time_to_success_ms: time_ms,
        give_up,
    }
}

const STEP_S: i64 = PATTERN_STEP_SECS as i64;

#[test]
fn each_step_holds_its_cohort_and_the_total_weighs_jobs() {
    let mut book = CohortBook::default();
    // Step 0: two jobs; step 2: one job. Step 1 is empty.
    book.compare(job(1.0, 2_000.0, 0.0), job(3.0, 8_000.0, 0.5), t(10));
    book.compare(job(2.0, 4_000.0, 0.5), job(4.0, 8_000.0, 0.5), t(20));
    book.compare(
        job(1.0, 1_000.0, 0.0),
        job(2.0, 2_000.0, 0.0),
        t(2 * STEP_S + 5),
    );
    let v = book.view(3, t(0), t(2 * STEP_S + 30));
    assert_eq!(v.steps.len(), 3);
    assert_eq!(v.step_seconds, 600);
    assert_eq!(v.from, Some(t(0)));
    let first = &v.steps[0];
    assert_eq!(first.jobs, 2);
    assert_eq!(first.smart_estimated, Some(0.75));
    assert_eq!(first.static_estimated, Some(0.5));
    assert_eq!(first.smart_retries, Some(1.5));
    // Weighted by the chance of success: (2000·1 + 4000·0.5) / 1.5.
    let tts = first.smart_time_to_success_ms.unwrap();
    assert!((tts - 4_000.0 / 1.5).abs() < 1e-9, "{tts}");
    assert_eq!(v.steps[1], CohortStep::default());
    assert_eq!(v.total.jobs, 3);
    let d = v.difference.unwrap();
    // Smart (1 + 0.5 + 1) / 3, static (0.5 + 0.5 + 1) / 3.
    assert!((d - 0.5 / 3.0).abs() < 1e-9, "{d}");
}

#[test]
fn endings_count_in_the_cohort_of_the_first_failure() {
    let mut book = CohortBook::default();
    let now = t(5 * STEP_S);
    book.ended(step_of(t(0)), true, now);
    book.ended(step_of(t(0)), false, now);
    book.ended(step_of(t(0)), true, now);
    let v = book.view(6, t(0), now);
    let first = &v.steps[0];
    assert_eq!((first.ended, first.recovered), (3, 2));
    assert_eq!(first.smart_measured, Some(2.0 / 3.0));
    assert_eq!(first.smart_estimated, None);
    assert_eq!(v.steps[5].smart_measured, None);
    assert_eq!(v.difference, None);
}

#[test]
fn the_window_starts_no_earlier_than_the_service_and_old_cohorts_are_gone() {
    let mut book = CohortBook::default();
    book.compare(job(1.0, 1.0, 0.0), job(1.0, 1.0, 0.0), t(0));
    // A day and a step later the slot is reused: the old cohort is not read back.
    let later = t((SLOTS as i64 + 1) * STEP_S);
    let v = book.view(144, t(0), later);
    assert_eq!(v.steps.len(), 144);
    assert_eq!(v.total.jobs, 0);
    book.ended(step_of(t(0)), true, later);
    assert_eq!(book.view(144, t(0), later).total.ended, 0);
    // Started three steps ago: three steps and a half are answered, from the start.
    let started = later - chrono::Duration::seconds(3 * STEP_S);
    let v = book.view(144, started, later);
    assert_eq!(v.steps.len(), 4);
    assert_eq!(v.from, Some(started));
}

#[test]
fn windows_become_whole_steps_within_a_day_or_name_the_parameter() {
    assert_eq!(steps(None), Ok(144));
    assert_eq!(steps(Some("1h")), Ok(6));
    assert_eq!(steps(Some("10m")), Ok(1));
    assert_eq!(steps(Some("15m")), Ok(2), "rounded up");
    assert_eq!(steps(Some("5s")), Ok(1), "the shortest window");
    assert_eq!(steps(Some("25h")), Ok(144), "the longest window");
    for bad in ["0s", "5", "soon", ""] {
        let e = steps(Some(bad)).unwrap_err();
        assert_eq!(e.field, "window", "{bad}");
    }
}
