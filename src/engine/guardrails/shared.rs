//! The pacing guardrails with their counters in a shared ledger (many replicas, one Redis):
//! [`GuardrailState::evaluate_unpaced`] applies the guardrails that need no counter and says
//! what the ledger must place ([`PaceRequest`]); the ledger paces and spends atomically with
//! the same rules as the in-process path (budget → share → tenant quota → circuit → tenant
//! again after a probe → max retry age); [`GuardrailState::apply_paced`] turns its answer into
//! the verdict, in the words the in-process path uses (`text`).
//!
//! Only retries that may take an open circuit's probe come this way; the others are paced in
//! process on counters synced with the ledger in blocks (see `ledger`).
//!
//! What stays per replica: the traffic each queue saw and the circuits' failure windows, both
//! learned from the shared attempt log in order (so equal on replicas at the same position),
//! and the decision clock. The counters a replica shows are the ledger's as of its last sync.

use super::{
    Breaker, Bucket, GuardInput, GuardrailState, Verdict, bounded, circuit_key, max_delay_of,
    max_retry_age, paced_past_max_delay, push, quota_of, share, stop, text,
};
use crate::model::guardrail::{
    CIRCUIT_BREAKER, MAX_BUDGET_PERCENT, MAX_RETRY_AGE, RETRY_BUDGET, TENANT_QUOTA,
};
use crate::model::pacing::{
    BudgetLimit, CircuitHold, PaceAnswer, PaceKind, PaceRequest, PaceStep, ShareLimit,
};
use crate::model::{CircuitForce, PolicyGuardrails};
use chrono::{DateTime, Utc};

impl GuardrailState {
    /// Whether a retry into (queue, error class) may be its open circuit's probe: then the
    /// ledger places it (one probe across replicas); every other retry is paced in process
    /// on counters kept in step with the ledger (see `ledger`).
    pub fn may_take_probe(&self, cfg: &PolicyGuardrails, queue: &str, error_class: &str) -> bool {
        let key = circuit_key(queue, error_class);
        cfg.circuit_breaker.enabled
            && !self.forced.contains_key(&key)
            && self
                .circuits
                .get(&key)
                .is_some_and(|c| matches!(c.state, Breaker::Open { .. }))
    }

    /// The guardrails before pacing, and the request for a shared ledger when the answer is
    /// still a retry (`None`: the verdict is final, nothing to spend).
    pub fn evaluate_unpaced(
        &self,
        cfg: &PolicyGuardrails,
        input: GuardInput<'_>,
        should_retry: bool,
        delay_ms: u64,
        max_attempts: u32,
    ) -> (Verdict, Option<PaceRequest>) {
        let v = bounded(cfg, input, should_retry, delay_ms, max_attempts);
        if !v.should_retry {
            return (v, None);
        }
        let elapsed = input.elapsed_ms.unwrap_or(0);
        let request = PaceRequest {
            queue: input.queue.to_string(),
            tenant: input.tenant.map(str::to_string),
            error_class: input.error_class.to_string(),
            now: input.now,
            delay_ms: v.delay_ms,
            age_left_ms: cfg.max_retry_age.as_millis().saturating_sub(elapsed),
            budget: cfg.retry_budget.enabled.then_some(BudgetLimit {
                capacity: cfg.retry_budget.capacity,
                refill_per_second: cfg.retry_budget.refill_per_second,
            }),
            share: self.share_limit(cfg, input),
            tenant_quota: input
                .tenant
                .filter(|_| cfg.per_tenant_limits)
                .map(|t| quota_of(cfg, t)),
            circuit: self.circuit_hold(cfg, input),
        };
        (v, Some(request))
    }

    fn share_limit(&self, cfg: &PolicyGuardrails, input: GuardInput<'_>) -> Option<ShareLimit> {
        if cfg.max_budget_percent >= 100.0 {
            return None;
        }
        let attempts = self
            .traffic
            .get(input.queue)
            .map_or(0, |t| t.attempts(input.now));
        Some(ShareLimit {
            allowed: share::allowed(cfg.max_budget_percent, attempts),
            attempts,
            slot_ms: share::SLOT_MS,
            slots: share::SLOTS,
        })
    }

    fn circuit_hold(&self, cfg: &PolicyGuardrails, input: GuardInput<'_>) -> Option<CircuitHold> {
        let key = circuit_key(input.queue, input.error_class);
        let open_ms = cfg.circuit_breaker.open_ms;
        match self.forced.get(&key) {
            Some(f) if f.state == CircuitForce::Open => {
                return Some(CircuitHold::Forced { open_ms });
            }
            Some(_) => return None,
            None => {}
        }
        if !cfg.circuit_breaker.enabled {
            return None;
        }
        match self.circuits.get(&key)?.state {
            Breaker::Open { probe_at, .. } => Some(CircuitHold::Open { probe_at, open_ms }),
            Breaker::Closed => None,
        }
    }

    /// Applies a shared ledger's answer to the verdict from [`Self::evaluate_unpaced`], notes
    /// the bucket the ledger left (for the console) and moves the decision clock.
    pub fn apply_paced(
        &mut self,
        cfg: &PolicyGuardrails,
        input: GuardInput<'_>,
        v: &mut Verdict,
        request: &PaceRequest,
        answer: &PaceAnswer,
    ) {
        self.clock.decided(input.now);
        let mut from = v.delay_ms;
        for step in &answer.steps {
            self.render(cfg, input, request, v, from, step);
            from = step.delay_ms;
        }
        if v.should_retry {
            paced_past_max_delay(max_delay_of(cfg), v);
            max_retry_age(cfg, input, v);
        }
        if !v.should_retry {
            v.delay_ms = 0;
            return;
        }
        if let Some(tokens) = answer.tokens_left {
            let updated = self
                .budgets
                .get(input.queue)
                .map_or(input.now, |b| b.updated.max(input.now));
            self.budgets
                .insert(input.queue.to_string(), Bucket { tokens, updated });
        }
    }

    /// One ledger step as the in-process path would have reported it (`from`: the delay
    /// before the step).
    fn render(
        &self,
        cfg: &PolicyGuardrails,
        input: GuardInput<'_>,
        request: &PaceRequest,
        v: &mut Verdict,
        from: u64,
        step: &PaceStep,
    ) {
        let to = step.delay_ms;
        let tenant = input.tenant.unwrap_or_default();
        match step.kind {
            PaceKind::Budget => push(
                v,
                RETRY_BUDGET,
                to,
                text::budget_wait(input.queue, from, to),
            ),
            PaceKind::BudgetNeverRefills => {
                stop(v, MAX_RETRY_AGE, text::budget_never_refills(input.queue));
            }
            PaceKind::Share => {
                let share = request.share.unwrap_or(ShareLimit {
                    allowed: 0,
                    attempts: 0,
                    slot_ms: share::SLOT_MS,
                    slots: share::SLOTS,
                });
                let counts = text::ShareCounts {
                    retries: step.count,
                    attempts: share.attempts,
                    allowed: share.allowed,
                    percent: cfg.max_budget_percent,
                };
                push(
                    v,
                    MAX_BUDGET_PERCENT,
                    to,
                    text::share_paced(input.queue, counts, from, to),
                );
            }
            PaceKind::Tenant => {
                let quota = request.tenant_quota.unwrap_or_default();
                push(v, TENANT_QUOTA, to, text::tenant_full(tenant, quota, to));
            }
            PaceKind::TenantZero => stop(v, TENANT_QUOTA, text::tenant_zero(tenant)),
            PaceKind::CircuitForced => {
                let key = circuit_key(input.queue, input.error_class);
                if let Some(f) = self.forced.get(&key) {
                    push(v, CIRCUIT_BREAKER, to, text::forced_open(input, f, to));
                } else {
                    v.delay_ms = to;
                }
            }
            PaceKind::CircuitProbe => {
                let probe_at = probe_time(request).unwrap_or(input.now);
                push(v, CIRCUIT_BREAKER, to, text::probe(input, probe_at));
            }
            PaceKind::CircuitAfterProbe => {
                push(v, CIRCUIT_BREAKER, to, text::after_probe(input, to));
            }
            // Rendered by `max_retry_age` after the steps, as in process.
            PaceKind::RetryAge => v.delay_ms = to,
        }
    }
}

fn probe_time(request: &PaceRequest) -> Option<DateTime<Utc>> {
    match request.circuit? {
        CircuitHold::Open { probe_at, .. } => Some(probe_at),
        CircuitHold::Forced { .. } => None,
    }
}
