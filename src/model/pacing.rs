//! The pacing guardrails' counters shared by many replicas (retry budget, budget share, tenant
//! quota, circuit probe): what a replica asks a shared ledger ([`PaceRequest`]) and what it
//! answers ([`PaceAnswer`]). The engine builds the request after its other guardrails; a
//! store that shares them (Redis) places the retry and spends the counters in one atomic step,
//! so N replicas spend one budget; the engine then turns the answer into the recommendation's
//! `policy_guardrails` with the same words as on one node.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One retry to place, with every limit that applies to it (absent: that guardrail is off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaceRequest {
    pub queue: String,
    pub tenant: Option<String>,
    pub error_class: String,
    /// The decision's time.
    pub now: DateTime<Utc>,
    /// The delay after the other guardrails (min/max delay), before pacing.
    pub delay_ms: u64,
    /// Time left before the job's maximum retry age: a retry paced past it ends the job and
    /// spends nothing.
    pub age_left_ms: u64,
    /// The queue's token bucket.
    pub budget: Option<BudgetLimit>,
    /// Retries allowed per share window (`max_budget_percent` of the queue's traffic).
    pub share: Option<ShareLimit>,
    /// The tenant's retries per minute (0 stops its retries).
    pub tenant_quota: Option<u32>,
    /// The circuit of (queue, error class) when it holds retries.
    pub circuit: Option<CircuitHold>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetLimit {
    pub capacity: f64,
    pub refill_per_second: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShareLimit {
    /// Retries allowed in any window.
    pub allowed: u64,
    /// Attempts the queue saw in the window (for the explanation).
    pub attempts: u64,
    /// Length of one sub-window and sub-windows per window.
    pub slot_ms: i64,
    pub slots: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CircuitHold {
    /// An operator forced it open: the retry waits at least `open_ms`.
    Forced { open_ms: u64 },
    /// The breaker is open: one retry (the probe) runs at `probe_at`, the others after its
    /// verdict (`open_ms` later).
    Open {
        probe_at: DateTime<Utc>,
        open_ms: u64,
    },
}

/// Which pacing guardrail changed the retry, in the order they were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaceKind {
    /// No token: delayed until one refills.
    Budget,
    /// No token and the bucket never refills: stop.
    BudgetNeverRefills,
    /// Over the share: paced to the first sub-window where it fits.
    Share,
    /// The tenant's minute is full: the next minute with room.
    Tenant,
    /// The tenant's quota is 0: stop.
    TenantZero,
    /// Forced open circuit.
    CircuitForced,
    /// This retry is the open circuit's probe.
    CircuitProbe,
    /// Another retry is the probe: after its verdict.
    CircuitAfterProbe,
    /// Paced past the maximum retry age: stop, nothing spent.
    RetryAge,
}

/// One change: the guardrail, the delay after it, and a count it reports (for `Share`: the
/// retries scheduled in the window at the unpaced time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PaceStep {
    pub kind: PaceKind,
    pub delay_ms: u64,
    pub count: u64,
}

/// Where the retry was placed and what was spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaceAnswer {
    pub delay_ms: u64,
    /// A step ended the job: nothing was spent.
    pub stopped: bool,
    pub steps: Vec<PaceStep>,
    /// Tokens left in the queue's bucket after this retry (when the budget applies).
    pub tokens_left: Option<f64>,
}

impl PaceKind {
    /// The short name the ledger answers with.
    pub fn code(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::BudgetNeverRefills => "budget_never",
            Self::Share => "share",
            Self::Tenant => "tenant",
            Self::TenantZero => "tenant_zero",
            Self::CircuitForced => "circuit_forced",
            Self::CircuitProbe => "circuit_probe",
            Self::CircuitAfterProbe => "circuit_after_probe",
            Self::RetryAge => "retry_age",
        }
    }

    /// The kind of a short name, if it is one.
    pub fn from_code(code: &str) -> Option<Self> {
        const ALL: [PaceKind; 9] = [
            PaceKind::Budget,
            PaceKind::BudgetNeverRefills,
            PaceKind::Share,
            PaceKind::Tenant,
            PaceKind::TenantZero,
            PaceKind::CircuitForced,
            PaceKind::CircuitProbe,
            PaceKind::CircuitAfterProbe,
            PaceKind::RetryAge,
        ];
        ALL.into_iter().find(|k| k.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [
            "budget",
            "share",
            "tenant_zero",
            "circuit_after_probe",
            "retry_age",
        ] {
            assert_eq!(PaceKind::from_code(code).map(PaceKind::code), Some(code));
        }
        assert_eq!(PaceKind::from_code("nope"), None);
    }
}
