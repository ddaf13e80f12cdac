//! The names of the guardrails, as a recommendation reports them in `policy_guardrails` and
//! `GuardrailEffect::name`, and as the `guardrail` label of the trigger metric.

pub const EMERGENCY_STOP: &str = "emergency_stop";
pub const MAX_ATTEMPTS: &str = "max_attempts";
/// `max_retry_age`: how long after its first failure a job may still be retried.
pub const MAX_RETRY_AGE: &str = "max_retry_age";
pub const MIN_DELAY: &str = "min_delay";
pub const MAX_DELAY: &str = "max_delay";
pub const RETRY_BUDGET: &str = "retry_budget";
/// `max_budget_percent`: retries over their share of a queue's traffic are paced.
pub const MAX_BUDGET_PERCENT: &str = "max_budget_percent";
pub const TENANT_QUOTA: &str = "tenant_quota";
pub const CIRCUIT_BREAKER: &str = "circuit_breaker";

/// Every guardrail name.
pub const ALL: [&str; 9] = [
    MAX_ATTEMPTS,
    MAX_RETRY_AGE,
    MIN_DELAY,
    MAX_DELAY,
    RETRY_BUDGET,
    MAX_BUDGET_PERCENT,
    TENANT_QUOTA,
    CIRCUIT_BREAKER,
    EMERGENCY_STOP,
];
