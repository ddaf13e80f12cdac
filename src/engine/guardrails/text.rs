//! The words a pacing guardrail reports in `policy_guardrails`, one function each, used alike
//! when the engine paces in process and when a shared ledger placed the retry (`shared`).

use super::GuardInput;
use super::share::WINDOW_MS;
use crate::engine::rules::fmt_ms;
use crate::model::ForcedCircuit;
use chrono::{DateTime, Utc};

pub fn budget_never_refills(queue: &str) -> String {
    format!(
        "retry budget of queue '{queue}' is exhausted and never refills (refill_per_second 0), so no retry can run before the maximum retry age: stop"
    )
}

pub fn budget_wait(queue: &str, from_ms: u64, wait_ms: u64) -> String {
    format!(
        "retry budget of queue '{queue}' is exhausted: delayed {} → {} until a token refills",
        fmt_ms(from_ms),
        fmt_ms(wait_ms)
    )
}

/// What the share's explanation counts.
#[derive(Debug, Clone, Copy)]
pub struct ShareCounts {
    /// Retries scheduled in the window of the unpaced time.
    pub retries: u64,
    /// Attempts observed in the window ending at the decision.
    pub attempts: u64,
    /// Retries allowed per window.
    pub allowed: u64,
    pub percent: f64,
}

pub fn share_paced(queue: &str, c: ShareCounts, from_ms: u64, to_ms: u64) -> String {
    format!(
        "queue '{queue}' has {} retries scheduled against {} attempts in a {} window: retries may be at most {}% of its traffic ({} per window): paced {} → {}",
        c.retries,
        c.attempts,
        fmt_ms(WINDOW_MS as u64),
        c.percent,
        c.allowed,
        fmt_ms(from_ms),
        fmt_ms(to_ms)
    )
}

pub fn tenant_zero(tenant: &str) -> String {
    format!("tenant '{tenant}' has a quota of 0 retries per minute: stop")
}

pub fn tenant_full(tenant: &str, quota: u32, delay_ms: u64) -> String {
    format!(
        "tenant '{tenant}' used its {quota} retries this minute: delayed to the next minute with room ({})",
        fmt_ms(delay_ms)
    )
}

pub fn probe(input: GuardInput<'_>, probe_at: DateTime<Utc>) -> String {
    format!(
        "circuit '{}'/'{}' is open: this retry is the probe at {}",
        input.queue,
        input.error_class,
        probe_at.format("%H:%M:%S")
    )
}

pub fn after_probe(input: GuardInput<'_>, delay_ms: u64) -> String {
    format!(
        "circuit '{}'/'{}' is open and a probe is scheduled: delayed until after the probe's verdict ({})",
        input.queue,
        input.error_class,
        fmt_ms(delay_ms)
    )
}

pub fn forced_open(input: GuardInput<'_>, f: &ForcedCircuit, delay_ms: u64) -> String {
    format!(
        "circuit '{}'/'{}' is forced open by {} ({}): deferred {}, and held until released",
        input.queue,
        input.error_class,
        f.actor,
        f.reason,
        fmt_ms(delay_ms)
    )
}
