use super::*;
use crate::model::Method;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn report(attempt: u32) -> FailureReport {
    serde_json::from_value(serde_json::json!({
        "job_id": "job-1", "job_type": "email", "attempt_number": attempt,
        "error_class": "timeout", "queue": "mail", "error_message": "upstream timed out",
        "retry_after_ms": 1500
    }))
    .unwrap()
}

fn rec(should_retry: bool, delay_ms: u64) -> RetryRecommendation {
    RetryRecommendation {
        should_retry,
        delay_ms,
        max_attempts: 5,
        confidence: 0.5,
        rationale: "test".into(),
        method: Method::Rules,
        estimated_success: 0.6,
        next_evaluation: t("2026-01-01T00:00:00Z"),
        policy_guardrails: vec![],
        explanation: None,
    }
}

#[test]
fn a_failure_schedules_at_its_timestamp_plus_delay() {
    let at = t("2026-01-01T00:00:00Z");
    let job = job_from_failure(&report(1), None, rec(true, 2_500), at);
    assert_eq!(job.state, JobState::Scheduled);
    assert_eq!(job.next_attempt_at, Some(t("2026-01-01T00:00:02.500Z")));
    assert_eq!(job.first_failure_at, at);
    assert_eq!(job.last_error, "upstream timed out");
    assert_eq!(job.max_attempts, 5);
}

#[test]
fn a_huge_error_text_is_capped_on_the_job() {
    let mut big = report(1);
    big.error_message = "ü".repeat(3_000);
    let job = job_from_failure(&big, None, rec(true, 1), t("2026-01-01T00:00:00Z"));
    assert!(job.last_error.len() <= MAX_ERROR_TEXT + '…'.len_utf8());
    assert!(job.last_error.ends_with('…'));
}

#[test]
fn stop_means_exhausted_and_killed_stays_killed() {
    let at = t("2026-01-01T00:00:00Z");
    let job = job_from_failure(&report(1), None, rec(false, 0), at);
    assert_eq!(
        (job.state, job.next_attempt_at),
        (JobState::Exhausted, None)
    );
    let dead = killed(&job_from_failure(&report(1), None, rec(true, 10), at), at);
    let again = job_from_failure(&report(2), Some(&dead), rec(true, 10), at);
    assert_eq!(
        (again.state, again.next_attempt_at),
        (JobState::Killed, None)
    );
}

#[test]
fn later_attempts_continue_the_episode() {
    let start = t("2026-01-01T00:00:00Z");
    let first = job_from_failure(&report(1), None, rec(true, 1_000), start);
    let later = t("2026-01-01T00:00:05Z");
    let f = failure_features(&report(2), Some(&first), later);
    assert_eq!(f.first_failure_at, Some(start));
    assert_eq!(f.retry_after_ms, Some(1500));
    assert_eq!(f.attempt_number, 2);
    assert_eq!(
        failure_features(&report(1), Some(&first), later).first_failure_at,
        Some(later)
    );
    assert_eq!(
        failure_features(&report(3), None, later).first_failure_at,
        None
    );
}

#[test]
fn success_finishes_only_pending_jobs() {
    let at = t("2026-01-01T00:00:00Z");
    let job = job_from_failure(&report(1), None, rec(true, 1_000), at);
    let done = succeeded(&job, at).unwrap();
    assert_eq!(
        (done.state, done.next_attempt_at),
        (JobState::Succeeded, None)
    );
    assert!(succeeded(&done, at).is_none());
    assert_eq!(ensure_pending(&done).unwrap_err().state, "succeeded");
}

#[test]
fn override_accepts_exactly_one_of_delay_ms_delay_at() {
    let now = t("2026-01-01T00:00:00Z");
    let req = |json| serde_json::from_value::<OverrideRequest>(json).unwrap();
    let ok = resolve_override(
        &req(serde_json::json!({"delay": "2m30s", "reason": "r"})),
        now,
    );
    assert_eq!(ok.unwrap(), (t("2026-01-01T00:02:30Z"), 150_000));
    let ok = resolve_override(
        &req(serde_json::json!({"delay_ms": 10, "reason": "r"})),
        now,
    );
    assert_eq!(ok.unwrap().1, 10);
    let at = serde_json::json!({"at": "2026-01-01T01:00:00Z", "reason": "r"});
    assert_eq!(
        resolve_override(&req(at), now).unwrap(),
        (t("2026-01-01T01:00:00Z"), 3_600_000)
    );

    let field = |json| resolve_override(&req(json), now).unwrap_err().field;
    assert_eq!(field(serde_json::json!({"reason": "r"})), "delay_ms");
    assert_eq!(
        field(serde_json::json!({"delay_ms": 1, "at": "2026-01-01T01:00:00Z", "reason": "r"})),
        "delay_ms"
    );
    assert_eq!(
        field(serde_json::json!({"delay": "soon", "reason": "r"})),
        "delay"
    );
    assert_eq!(field(serde_json::json!({"delay_ms": 5})), "reason");
    assert_eq!(
        field(serde_json::json!({"delay_ms": 5, "reason": "  "})),
        "reason"
    );
    assert_eq!(
        field(serde_json::json!({"delay": "90d", "reason": "r"})),
        "delay"
    );
}

#[test]
fn operator_changes_release_a_claim() {
    let now = t("2026-01-01T00:00:00Z");
    let mut job = job_from_failure(&report(1), None, rec(true, 1_000), now);
    job.state = JobState::Claimed;
    job.claimed_by = Some("w1".into());
    let ov = JobOverride {
        delay_ms: 5,
        at: now,
        reason: "r".into(),
        actor: "operator:a".into(),
        created_at: now,
    };
    let o = overridden(&job, ov);
    assert_eq!(
        (o.state, o.claimed_by.as_deref()),
        (JobState::Scheduled, None)
    );
    assert!(o.r#override.is_some());
    let r = rescheduled(&o, rec(true, 3_000), now);
    assert_eq!(r.next_attempt_at, Some(t("2026-01-01T00:00:03Z")));
    assert!(
        r.r#override.is_none(),
        "applying a recommendation replaces the override"
    );
    assert_eq!(
        rescheduled(&o, rec(false, 0), now).state,
        JobState::Exhausted
    );
    assert_eq!(due_now(&job, now).next_attempt_at, Some(now));
}

#[test]
fn claim_requests_are_bounded() {
    let req = |json| serde_json::from_value::<ClaimRequest>(json).unwrap();
    assert!(validate_claim(&req(serde_json::json!({"worker": "w"}))).is_ok());
    let field = |json| validate_claim(&req(json)).unwrap_err().field;
    assert_eq!(field(serde_json::json!({"worker": ""})), "worker");
    assert_eq!(
        field(serde_json::json!({"worker": "w", "limit": 0})),
        "limit"
    );
    assert_eq!(
        field(serde_json::json!({"worker": "w", "lease_ms": 0})),
        "lease_ms"
    );
}

#[test]
fn a_report_under_a_lease_applies_only_while_that_lease_holds() {
    let (at, until, claimed) = claimed_by_w1();
    let mut under = report(2);
    assert!(check_lease(&under, None, at).is_ok(), "no lease, no check");
    under.claimed_by = Some("w1".into());
    under.lease_until = Some(until);
    assert!(check_lease(&under, Some(&claimed), at).is_ok());
    let why = |job: &ScheduledJob, at| check_lease(&under, Some(job), at).unwrap_err().why;
    assert!(why(&claimed, until).contains("ran out"));
    let mut again = claimed.clone();
    again.claimed_by = Some("w2".into());
    assert!(why(&again, at).contains("claimed again (by w2)"));
    let mut done = claimed.clone();
    done.state = JobState::Succeeded;
    assert!(why(&done, at).contains("succeeded"));
    assert!(
        check_lease(&under, None, at)
            .unwrap_err()
            .why
            .contains("not on the schedule")
    );
}

#[test]
fn a_first_failure_without_a_lease_depends_on_the_stored_job_only_when_killed() {
    let (earlier, at) = (t("2026-01-01T00:00:00Z"), t("2026-01-01T01:00:00Z"));
    let first = report(1);
    assert!(!needs_stored_job(&first));
    let unread = job_from_failure(&first, None, rec(true, 2_500), at);
    for state in [
        JobState::Scheduled,
        JobState::Claimed,
        JobState::Succeeded,
        JobState::Exhausted,
        JobState::Killed,
    ] {
        let stored = ScheduledJob {
            state,
            ..job_from_failure(&report(3), None, rec(true, 9_000), earlier)
        };
        let read = job_from_failure(&first, Some(&stored), rec(true, 2_500), at);
        assert_eq!(read == unread, state != JobState::Killed, "{state:?}");
        assert_eq!(
            failure_features(&first, Some(&stored), at),
            failure_features(&first, None, at),
            "{state:?}"
        );
        assert_eq!(check_lease(&first, Some(&stored), at), Ok(()));
    }
}

#[test]
fn later_attempts_and_leased_reports_need_the_stored_job() {
    assert!(needs_stored_job(&report(2)));
    let mut leased = report(1);
    leased.claimed_by = Some("worker-1".into());
    assert!(needs_stored_job(&leased));
    let mut until = report(1);
    until.lease_until = Some(t("2026-01-01T00:00:30Z"));
    assert!(needs_stored_job(&until));
}

#[test]
fn each_lease_field_given_is_checked_on_its_own() {
    let (at, until, claimed) = claimed_by_w1();
    let mut by_worker = report(2);
    by_worker.claimed_by = Some("w1".into());
    assert!(check_lease(&by_worker, Some(&claimed), at).is_ok());
    by_worker.claimed_by = Some("w2".into());
    assert!(check_lease(&by_worker, Some(&claimed), at).is_err());
    let mut by_lease = report(2);
    by_lease.lease_until = Some(until);
    assert!(check_lease(&by_lease, Some(&claimed), at).is_ok());
    assert!(
        check_lease(&by_lease, Some(&claimed), until).is_err(),
        "ran out"
    );
    by_lease.lease_until = Some(at);
    assert!(check_lease(&by_lease, Some(&claimed), at).is_err());
}

/// A job claimed by `w1` at `at` under a lease until `until`: (at, until, job).
fn claimed_by_w1() -> (DateTime<Utc>, DateTime<Utc>, ScheduledJob) {
    let at = t("2026-01-01T00:00:00Z");
    let until = t("2026-01-01T00:00:30Z");
    let mut claimed = job_from_failure(&report(1), None, rec(true, 1_000), at);
    claimed.state = JobState::Claimed;
    claimed.claimed_by = Some("w1".into());
    claimed.lease_until = Some(until);
    (at, until, claimed)
}
