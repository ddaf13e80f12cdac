//! Operator pauses of a queue, or of one error class or job type on it. While a pause holds,
//! `/claim` does not hand out the scope's due jobs, and a new failure in the scope is scheduled
//! no earlier than the pause's end (a pause without end leaves the job scheduled; it is handed
//! out once resumed). A pause never makes the service give a job up. The plan shown for a
//! job a pause holds starts at the pause's end and names the pause.
//!
//! Pauses are stored (they survive a restart) and kept in memory for the claim and the ingest
//! paths; each start, resume and expiry is audited (`pause`, `resume`, `pause_expired`).

use super::state::AppState;
use crate::model::{
    FieldError, GuardrailEffect, Pause, PauseRequest, PauseScope, RetryPreview,
    RetryRecommendation, ScheduledJob, holding_pause, parse_short_duration,
};
use crate::server::edge::{ApiError, ApiResult};
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde_json::json;

/// Name of the pause in a recommendation's `policy_guardrails`.
pub const PAUSE_GUARDRAIL: &str = "pause";
/// Longest pause `for` may ask (30 days); longer is almost surely a typo.
const MAX_PAUSE: chrono::Duration = chrono::Duration::days(30);

/// The pauses in memory, oldest first (expired ones stay until housekeeping removes them, and
/// are ignored meanwhile).
#[derive(Debug, Default)]
pub struct PauseBook {
    pauses: RwLock<Vec<Pause>>,
}

impl PauseBook {
    /// The pauses that hold at `now`, oldest first.
    pub fn active(&self, now: DateTime<Utc>) -> Vec<Pause> {
        let pauses = self.pauses.read();
        pauses
            .iter()
            .filter(|p| p.active_at(now))
            .cloned()
            .collect()
    }

    /// The scopes paused at `now` (what a claim leaves out).
    pub fn scopes(&self, now: DateTime<Utc>) -> Vec<PauseScope> {
        let pauses = self.pauses.read();
        let active = pauses.iter().filter(|p| p.active_at(now));
        active.map(|p| p.scope.clone()).collect()
    }

    /// The active pause covering a job that ends last (one without end before any other).
    pub fn covering(
        &self,
        queue: &str,
        error_class: &str,
        job_type: &str,
        now: DateTime<Utc>,
    ) -> Option<Pause> {
        let pauses = self.pauses.read();
        pauses
            .iter()
            .filter(|p| p.active_at(now) && p.scope.covers(queue, error_class, job_type))
            .max_by_key(|p| p.end_rank())
            .cloned()
    }

    fn insert(&self, pause: Pause) {
        self.pauses.write().push(pause);
    }

    fn remove(&self, id: &str) -> Option<Pause> {
        let mut pauses = self.pauses.write();
        let at = pauses.iter().position(|p| p.id == id)?;
        Some(pauses.remove(at))
    }

    fn expired(&self, now: DateTime<Utc>) -> Vec<Pause> {
        let pauses = self.pauses.read();
        pauses
            .iter()
            .filter(|p| !p.active_at(now))
            .cloned()
            .collect()
    }
}

/// The plan of a job a pause holds: its next attempt no earlier than the pause's end (every
/// later step moves by as much), and the first step says which pause holds it. A pause
/// without end leaves the times as planned: they start once it is resumed.
pub fn hold_plan(
    plan: &mut RetryPreview,
    pauses: &[Pause],
    job: &ScheduledJob,
    now: DateTime<Utc>,
) {
    let Some(pause) = holding_pause(pauses, job, now) else {
        return;
    };
    let Some(first) = plan.timeline.first() else {
        return;
    };
    let start = first.scheduled_time.max(now);
    if let Some(until) = pause.until.filter(|u| *u > start) {
        let shift = until - first.scheduled_time;
        for step in &mut plan.timeline {
            step.scheduled_time += shift;
        }
    }
    note_hold(plan, &pause_note(pause));
}

/// Puts what holds the job (`note`) in front of its plan's first step and first
/// recommendation: `held by …; then rules: …`.
pub fn note_hold(plan: &mut RetryPreview, note: &str) {
    let prefix = |text: &mut String| *text = format!("{note}; then {text}");
    if let Some(first) = plan.timeline.first_mut() {
        prefix(&mut first.rationale);
    }
    if let Some(rec) = plan.recommendations.first_mut() {
        prefix(&mut rec.rationale);
    }
}

/// `held by pause p-… of webhooks until 16:17:10 UTC (operator:jane: vendor down)`.
fn pause_note(pause: &Pause) -> String {
    let end = match pause.until {
        Some(u) => format!("until {}", u.format("%H:%M:%S UTC")),
        None => "until resumed".to_string(),
    };
    format!(
        "held by pause {} of {} {end} ({}: {})",
        pause.id,
        pause.scope.label(),
        pause.actor,
        pause.reason
    )
}

/// The pause a request asks for, at `now` by `actor`; errors name the field.
pub fn resolve(req: &PauseRequest, actor: &str, now: DateTime<Utc>) -> Result<Pause, FieldError> {
    if req.queue.trim().is_empty() {
        return Err(FieldError::new("queue", "required: the queue to pause"));
    }
    if req.reason.trim().is_empty() {
        return Err(FieldError::new("reason", "required: say why"));
    }
    let until = match (req.until.as_deref(), req.r#for.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new("for", "give either until or for, not both"));
        }
        (Some(text), None) => Some(parse_until(text, now)?),
        (None, Some(text)) => Some(now + parse_for(text)?),
        (None, None) => None,
    };
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    Ok(Pause {
        id: format!("p-{:012x}", rand::random::<u64>() >> 16),
        scope: PauseScope {
            queue: req.queue.clone(),
            error_class: nonempty(&req.error_class),
            job_type: nonempty(&req.job_type),
        },
        until,
        reason: req.reason.clone(),
        actor: actor.to_string(),
        created_at: now,
    })
}

fn parse_until(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    let until = DateTime::parse_from_rfc3339(text)
        .map_err(|_| FieldError::new("until", format!("{text:?} is not an RFC 3339 time")))?
        .with_timezone(&Utc);
    if until <= now {
        return Err(FieldError::new(
            "until",
            format!("{text} is not in the future"),
        ));
    }
    Ok(until)
}

fn parse_for(text: &str) -> Result<chrono::Duration, FieldError> {
    let d = parse_short_duration(text).map_err(|e| FieldError::new("for", e))?;
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    if d <= chrono::Duration::zero() || d > MAX_PAUSE {
        return Err(FieldError::new(
            "for",
            format!("{text:?}: give a duration above zero and at most 30 days"),
        ));
    }
    Ok(d)
}

/// How a pause changes a recommendation for a failure at `at`: named in `policy_guardrails`
/// and the rationale; a retry is delayed to the pause's end, if it has one.
pub fn apply(rec: &mut RetryRecommendation, pause: &Pause, at: DateTime<Utc>) {
    let end = match pause.until {
        Some(until) => format!("until {}", until.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "until resumed".to_string(),
    };
    rec.rationale.push_str(&format!(
        "; guardrail {PAUSE_GUARDRAIL}: {} paused {end} ({}): not handed out before then",
        pause.scope.label(),
        pause.reason
    ));
    rec.policy_guardrails.push(PAUSE_GUARDRAIL.to_string());
    if let Some(explanation) = rec.explanation.as_mut() {
        explanation.guardrails.push(GuardrailEffect {
            name: PAUSE_GUARDRAIL.to_string(),
            detail: format!("{} paused {end}", pause.scope.label()),
        });
    }
    if let (true, Some(until)) = (rec.should_retry, pause.until) {
        let wait = (until - at).num_milliseconds().max(0);
        rec.delay_ms = rec.delay_ms.max(u64::try_from(wait).unwrap_or(0));
    }
}

impl AppState {
    /// Loads the stored pauses at start-up (expired ones are removed by the next housekeeping).
    pub async fn restore_pauses(&self) -> StoreResult<usize> {
        let pauses = self.store.list_pauses().await?;
        let n = pauses.len();
        for pause in pauses {
            self.ops.pauses.insert(pause);
        }
        self.refresh_pause_gauge();
        Ok(n)
    }

    /// Starts a pause: stored, then in force, then audited as `pause`.
    pub async fn pause(&self, actor: &str, req: &PauseRequest) -> ApiResult<Pause> {
        let pause = resolve(req, actor, self.now())?;
        self.store_write(self.store.put_pause(&pause).await)?;
        self.ops.pauses.insert(pause.clone());
        self.refresh_pause_gauge();
        let detail = serde_json::to_value(&pause).unwrap_or_default();
        self.audit(actor, "pause", &pause.scope.label(), &pause.reason, detail)
            .await?;
        Ok(pause)
    }

    /// Ends a pause now: removed from the store and from force, audited as `resume`.
    pub async fn resume(&self, actor: &str, id: &str, reason: &str) -> ApiResult<Pause> {
        if reason.trim().is_empty() {
            return Err(FieldError::new("reason", "required: say why").into());
        }
        let Some(pause) = self
            .ops
            .pauses
            .active(self.now())
            .into_iter()
            .find(|p| p.id == id)
        else {
            return Err(ApiError::not_found(format!("no active pause {id:?}")));
        };
        self.store_write(self.store.remove_pause(id).await)?;
        self.ops.pauses.remove(id);
        self.refresh_pause_gauge();
        let detail = json!({ "pause": pause });
        self.audit(actor, "resume", &pause.scope.label(), reason, detail)
            .await?;
        Ok(pause)
    }

    /// Removes the pauses that reached their end, auditing each as `pause_expired`.
    pub async fn expire_pauses(&self) -> ApiResult<usize> {
        let expired = self.ops.pauses.expired(self.now());
        for pause in &expired {
            self.store_write(self.store.remove_pause(&pause.id).await)?;
            self.ops.pauses.remove(&pause.id);
            let detail = json!({ "pause": pause });
            let reason = "the pause reached its end";
            self.audit(
                "service",
                "pause_expired",
                &pause.scope.label(),
                reason,
                detail,
            )
            .await?;
        }
        self.refresh_pause_gauge();
        Ok(expired.len())
    }

    fn refresh_pause_gauge(&self) {
        let n = self.ops.pauses.active(self.now()).len();
        self.metrics.set_pauses_active(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_time_pause_ends_are_refused_by_name(
            until in proptest::option::of(crate::fuzz::hostile_text()),
            r#for in proptest::option::of(crate::fuzz::hostile_text()),
        ) {
            let body = json!({"queue": "q", "reason": "x", "until": until, "for": r#for});
            if let Err(e) = resolve(&req(body), "operator:a", Utc::now()) {
                proptest::prop_assert!(["until", "for"].contains(&e.field.as_str()), "{e:?}");
                proptest::prop_assert!(!e.message.trim().is_empty());
            }
        }
    }

    fn req(json: serde_json::Value) -> PauseRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn resolve_names_the_bad_field() {
        let now = Utc::now();
        let cases = [
            (json!({"queue": "", "reason": "x"}), "queue"),
            (json!({"queue": "q", "reason": " "}), "reason"),
            (json!({"queue": "q", "reason": "x", "for": "soon"}), "for"),
            (json!({"queue": "q", "reason": "x", "for": "0s"}), "for"),
            (
                json!({"queue": "q", "reason": "x", "until": "yesterday"}),
                "until",
            ),
            (
                json!({"queue": "q", "reason": "x", "until": "2001-01-01T00:00:00Z"}),
                "until",
            ),
            (
                json!({"queue": "q", "reason": "x", "until": "2999-01-01T00:00:00Z", "for": "1m"}),
                "for",
            ),
        ];
        for (body, field) in cases {
            let err = resolve(&req(body.clone()), "operator:a", now).unwrap_err();
            assert_eq!(err.field, field, "{body}");
        }
    }

    #[test]
    fn for_sets_the_end_and_a_pause_delays_a_retry_to_it() {
        let now = Utc::now();
        let body = json!({"queue": "q", "error_class": "timeout", "for": "10m", "reason": "x"});
        let pause = resolve(&req(body), "operator:a", now).unwrap();
        assert_eq!(pause.until, Some(now + chrono::Duration::minutes(10)));
        let mut rec = RetryRecommendation {
            should_retry: true,
            delay_ms: 1_000,
            max_attempts: 5,
            confidence: 1.0,
            rationale: "rules".into(),
            method: crate::model::Method::Rules,
            estimated_success: 0.5,
            next_evaluation: now,
            policy_guardrails: Vec::new(),
            explanation: None,
        };
        apply(&mut rec, &pause, now);
        assert_eq!(rec.delay_ms, 600_000);
        assert_eq!(rec.policy_guardrails, ["pause"]);
        assert!(
            rec.rationale.contains("q/timeout paused until"),
            "{}",
            rec.rationale
        );
    }

    #[test]
    fn covering_prefers_the_pause_without_end() {
        let now = Utc::now();
        let book = PauseBook::default();
        let make = |class: Option<&str>, until| Pause {
            id: format!("{class:?}"),
            scope: PauseScope {
                queue: "q".into(),
                error_class: class.map(String::from),
                job_type: None,
            },
            until,
            reason: "x".into(),
            actor: "a".into(),
            created_at: now,
        };
        book.insert(make(
            Some("timeout"),
            Some(now + chrono::Duration::minutes(5)),
        ));
        book.insert(make(None, None));
        book.insert(make(Some("dns"), Some(now - chrono::Duration::minutes(1))));
        let found = book.covering("q", "timeout", "t", now).unwrap();
        assert_eq!(found.until, None);
        assert!(book.covering("other", "timeout", "t", now).is_none());
        assert_eq!(book.scopes(now).len(), 2);
        assert_eq!(book.expired(now).len(), 1);
    }
}
