//! Circuits an operator forces open or closed from the API, until released with `auto`.
//!
//! The engine holds the forced state for its decisions (a forced-open circuit defers a retry
//! into it, a forced-closed one keeps its breaker closed); the store keeps it across restarts,
//! and `/claim` leaves out the due jobs of a forced-open circuit until it is released, so a
//! forced circuit delays jobs but never gives one up. Each force and release is audited
//! (`circuit_forced`, `circuit_released`).

use super::state::AppState;
use crate::model::{
    CircuitForce, CircuitForceRequest, CircuitForceResult, CircuitView, FieldError, ForcedCircuit,
    PauseScope, RetryPreview, ScheduledJob,
};
use crate::server::edge::ApiResult;
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use serde_json::json;

/// What a request asks: force (open or closed) or release (`auto`); errors name the field.
fn requested(req: &CircuitForceRequest) -> Result<Option<CircuitForce>, FieldError> {
    let state = match req.state.as_str() {
        "open" => Some(CircuitForce::Open),
        "closed" => Some(CircuitForce::Closed),
        "auto" => None,
        "" => return Err(FieldError::new("state", "required: open, closed or auto")),
        other => {
            return Err(FieldError::new(
                "state",
                format!("{other:?} is not a circuit state: give open, closed or auto"),
            ));
        }
    };
    if req.reason.trim().is_empty() {
        return Err(FieldError::new("reason", "required: say why"));
    }
    Ok(state)
}

/// The plan of a job that a circuit forced open holds: the times stay as planned (they start
/// once the circuit is released) and the first step names the circuit and who forced it.
pub fn hold_plan(plan: &mut RetryPreview, forced: &[ForcedCircuit], job: &ScheduledJob) {
    let Some(f) = forced.iter().find(|f| f.holds(job)) else {
        return;
    };
    let note = format!(
        "held by circuit {} forced open until released ({}: {})",
        f.label(),
        f.actor,
        f.reason
    );
    super::pauses::note_hold(plan, &note);
}

fn check_scope(queue: &str, error_class: &str) -> Result<(), FieldError> {
    if queue.trim().is_empty() {
        return Err(FieldError::new("queue", "required: the circuit's queue"));
    }
    if error_class.trim().is_empty() {
        return Err(FieldError::new(
            "error_class",
            "required: the circuit's error class",
        ));
    }
    Ok(())
}

impl AppState {
    /// Loads the forced circuits at start-up into the engine.
    pub async fn restore_forced_circuits(&self) -> StoreResult<usize> {
        let forced = self.store.list_forced_circuits().await?;
        let n = forced.len();
        let mut engine = self.engine.lock();
        for f in forced {
            engine.force_circuit(f);
        }
        drop(engine);
        self.refresh_forced_gauge();
        Ok(n)
    }

    /// Forces a circuit open or closed, or releases it (`auto`): stored, then in force, then
    /// audited. A request that changes nothing answers `changed: false` and is not audited.
    pub async fn force_circuit(
        &self,
        actor: &str,
        queue: &str,
        error_class: &str,
        req: &CircuitForceRequest,
    ) -> ApiResult<CircuitForceResult> {
        check_scope(queue, error_class)?;
        let wanted = requested(req)?;
        let _serial = self.ops.circuit_changes.lock().await;
        let current = self.forced_circuit(queue, error_class);
        let audit_id = match (wanted, current) {
            (None, None) => None,
            (Some(w), Some(c)) if c.state == w => None,
            (None, Some(was)) => Some(self.release_forced(actor, &was, &req.reason).await?),
            (Some(state), _) => {
                let forced = ForcedCircuit {
                    queue: queue.to_string(),
                    error_class: error_class.to_string(),
                    state,
                    reason: req.reason.clone(),
                    actor: actor.to_string(),
                    forced_at: self.now(),
                };
                Some(self.put_forced(actor, forced).await?)
            }
        };
        Ok(CircuitForceResult {
            circuit: self.circuit_view(queue, error_class, self.now()),
            changed: audit_id.is_some(),
            audit_id,
        })
    }

    async fn put_forced(&self, actor: &str, forced: ForcedCircuit) -> ApiResult<u64> {
        self.store_write(self.store.put_forced_circuit(&forced).await)?;
        self.engine.lock().force_circuit(forced.clone());
        self.refresh_forced_gauge();
        let detail = serde_json::to_value(&forced).unwrap_or_default();
        self.audit(
            actor,
            "circuit_forced",
            &forced.label(),
            &forced.reason,
            detail,
        )
        .await
    }

    async fn release_forced(
        &self,
        actor: &str,
        was: &ForcedCircuit,
        reason: &str,
    ) -> ApiResult<u64> {
        let (queue, class) = (&was.queue, &was.error_class);
        self.store_write(self.store.remove_forced_circuit(queue, class).await)?;
        self.engine.lock().release_circuit(queue, class);
        self.refresh_forced_gauge();
        let detail = json!({ "released": was });
        self.audit(actor, "circuit_released", &was.label(), reason, detail)
            .await
    }

    fn forced_circuit(&self, queue: &str, error_class: &str) -> Option<ForcedCircuit> {
        let forced = self.engine.lock().forced_circuits();
        forced
            .into_iter()
            .find(|f| f.queue == queue && f.error_class == error_class)
    }

    /// The circuit of (queue, error class) as `/summary` shows it (closed if never seen).
    fn circuit_view(&self, queue: &str, error_class: &str, now: DateTime<Utc>) -> CircuitView {
        let (_, _, circuits) = self.engine.lock().guardrail_status(now);
        circuits
            .into_iter()
            .find(|c| c.queue == queue && c.error_class == error_class)
            .unwrap_or_else(|| CircuitView {
                queue: queue.to_string(),
                error_class: error_class.to_string(),
                state: "closed".into(),
                failure_rate: 0.0,
                probe_at: None,
                forced: None,
            })
    }

    /// Circuits not in their normal state at `now`: open or half open by the breaker, or
    /// forced either way.
    pub fn unusual_circuits(&self, now: DateTime<Utc>) -> Vec<CircuitView> {
        let (_, _, circuits) = self.engine.lock().guardrail_status(now);
        circuits
            .into_iter()
            .filter(|c| c.state != "closed" || c.forced.is_some())
            .collect()
    }

    /// The scopes a claim leaves out now: the paused ones and the forced-open circuits.
    pub fn held_scopes(&self) -> Vec<PauseScope> {
        let mut held = self.ops.pauses.scopes(self.now());
        let forced = self.engine.lock().forced_circuits();
        let forced_open = forced
            .into_iter()
            .filter(|f| f.state == CircuitForce::Open)
            .map(|f| PauseScope {
                queue: f.queue,
                error_class: Some(f.error_class),
                job_type: None,
            });
        held.extend(forced_open);
        held
    }

    fn refresh_forced_gauge(&self) {
        let forced = self.engine.lock().forced_circuits();
        let open = forced
            .iter()
            .filter(|f| f.state == CircuitForce::Open)
            .count() as u64;
        let closed = forced.len() as u64 - open;
        self.metrics.set_circuits_forced(open, closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(state: &str, reason: &str) -> CircuitForceRequest {
        CircuitForceRequest {
            state: state.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn requests_name_the_bad_field() {
        assert_eq!(requested(&req("open", "x")), Ok(Some(CircuitForce::Open)));
        assert_eq!(
            requested(&req("closed", "x")),
            Ok(Some(CircuitForce::Closed))
        );
        assert_eq!(requested(&req("auto", "x")), Ok(None));
        for (r, field) in [
            (req("", "x"), "state"),
            (req("half_open", "x"), "state"),
            (req("open", " "), "reason"),
        ] {
            assert_eq!(requested(&r).unwrap_err().field, field, "{r:?}");
        }
        assert_eq!(check_scope(" ", "t").unwrap_err().field, "queue");
        assert_eq!(check_scope("q", "").unwrap_err().field, "error_class");
    }
}
