//! Builders for the records the contract cases store.

use chrono::{DateTime, Duration, TimeZone, Utc};
use retryctl::model::{
    Alert, AttemptRecord, AuditEntry, EngineSnapshot, JobState, Method, RetryRecommendation,
    ScheduledJob, Severity, SnapshotSource,
};
use retryctl::store::Store;
use std::collections::BTreeMap;

/// A fixed "now" so cases do not depend on the clock.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// An attempt of `job_id`: attempt `n`, `at` seconds after `t0`.
pub fn attempt(job_id: &str, n: u32, at: i64, success: bool) -> AttemptRecord {
    AttemptRecord {
        job_id: job_id.into(),
        job_type: "email".into(),
        attempt_number: n,
        error_class: "timeout".into(),
        error_code: "504".into(),
        status: if success { "ok" } else { "failed" }.into(),
        queue: "default".into(),
        tenant: Some("acme".into()),
        payload_size: 512,
        time_of_day: 12,
        worker_version: "1.2.3".into(),
        health: Some(BTreeMap::from([("cpu".to_string(), 0.25)])),
        delay_ms: if n > 1 { 1_000 * u64::from(n) } else { 0 },
        success,
        timestamp: t0() + secs(at) + Duration::nanoseconds(123),
        processing_time: None,
    }
}

pub fn recommendation() -> RetryRecommendation {
    RetryRecommendation {
        should_retry: true,
        delay_ms: 2_000,
        max_attempts: 5,
        confidence: 0.8,
        rationale: "timeouts recover within seconds".into(),
        method: Method::Rules,
        estimated_success: 0.7,
        next_evaluation: t0(),
        policy_guardrails: vec!["max_delay".into()],
        explanation: None,
    }
}

/// A job on queue `default`; pending jobs are due `due` seconds after `t0`, finished ones were
/// updated then.
pub fn job(job_id: &str, state: JobState, due: i64) -> ScheduledJob {
    let at = t0() + secs(due);
    ScheduledJob {
        job_id: job_id.into(),
        job_type: "email".into(),
        queue: "default".into(),
        tenant: None,
        error_class: "timeout".into(),
        error_code: "504".into(),
        last_error: "upstream timed out".into(),
        state,
        attempt_number: 1,
        max_attempts: 5,
        next_attempt_at: state.is_pending().then_some(at),
        first_failure_at: t0() - secs(60),
        updated_at: if state.is_pending() {
            t0() - secs(1)
        } else {
            at
        },
        recommendation: recommendation(),
        r#override: None,
        claimed_by: None,
        lease_until: None,
    }
}

pub fn audit(action: &str) -> AuditEntry {
    AuditEntry {
        id: 999,
        at: t0(),
        actor: "operator:alice".into(),
        action: action.into(),
        target: "job-1".into(),
        reason: "incident 42".into(),
        detail: serde_json::json!({"delay_ms": 30000}),
    }
}

pub fn alert(id: &str, raised: i64, active: bool) -> Alert {
    Alert {
        id: id.into(),
        name: "retry_storm".into(),
        severity: Severity::Warning,
        message: format!("alert {id}"),
        labels: BTreeMap::from([("queue".to_string(), "default".to_string())]),
        raised_at: t0() + secs(raised),
        active,
        resolved_at: None,
        acked_at: None,
        acked_by: None,
    }
}

/// The store's snapshot read whole, and its watermark, to compare.
pub async fn loaded_snapshot(store: &dyn Store) -> Option<(EngineSnapshot, u64)> {
    let (reader, watermark) = store.load_snapshot().await.unwrap()?;
    let read = tokio::task::spawn_blocking(move || EngineSnapshot::read(reader));
    Some((read.await.unwrap().unwrap(), watermark))
}

/// The stored document of a snapshot as its source writes it.
pub fn document_of(snapshot: &dyn SnapshotSource) -> Vec<u8> {
    let mut document = Vec::new();
    snapshot.write_document(&mut document).unwrap();
    document
}

/// A snapshot whose encoding writes `bytes` bytes of a document and then fails, as an encoding
/// cut short would.
pub struct FailsAfter(pub usize);

impl SnapshotSource for FailsAfter {
    fn write_document(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(b"{\"version\":3,\"data\":[")?;
        out.write_all(&vec![b'0'; self.0])?;
        Err(std::io::Error::other("the test's encoding failed"))
    }
}
