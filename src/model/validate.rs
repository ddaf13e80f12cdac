//! Checks on strategy, policy, guardrail and cost values that serde cannot express (ranges, finite
//! numbers, valid regexes, unique policy names). The only validation of these values: the API,
//! the config file and `Engine::set_strategy` all call it, so each names the field the same way.

use super::{CostWeights, FieldError, PolicyGuardrails, RetryPolicy, RetryStrategy};

/// Checks a whole strategy; field names are relative to it (`policies[1].jitter_percent`).
pub fn strategy(s: &RetryStrategy) -> Result<(), FieldError> {
    super::require_text("name", &s.name)?;
    fraction("bayesian_threshold", s.bayesian_threshold)?;
    for (i, p) in s.policies.iter().enumerate() {
        policy(p).map_err(|e| prefixed(&format!("policies[{i}]"), e))?;
        if s.policies[..i].iter().any(|earlier| earlier.name == p.name) {
            return Err(FieldError::new(
                format!("policies[{i}].name"),
                format!("duplicate policy name {:?}", p.name),
            ));
        }
    }
    guardrails(&s.guardrails).map_err(|e| prefixed("guardrails", e))?;
    fraction("data_collection.sample_rate", s.data_collection.sample_rate)
}

/// Checks one rules-tier policy.
pub fn policy(p: &RetryPolicy) -> Result<(), FieldError> {
    super::require_text("name", &p.name)?;
    for (j, pattern) in p.error_patterns.iter().enumerate() {
        if pattern.trim().is_empty() {
            return Err(FieldError::new(
                format!("error_patterns[{j}]"),
                "must not be empty (use \"*\" to match every error)",
            ));
        }
    }
    // A policy that never retries needs no delays, so it may leave max_delay_ms at 0.
    let no_delays = p.max_attempts <= 1 && p.max_delay_ms == 0;
    if p.max_delay_ms < p.base_delay_ms && !no_delays {
        return Err(FieldError::new(
            "max_delay_ms",
            format!(
                "must be at least base_delay_ms ({} < {})",
                p.max_delay_ms, p.base_delay_ms
            ),
        ));
    }
    finite_at_least("backoff_multiplier", p.backoff_multiplier, 1.0)?;
    percent("jitter_percent", p.jitter_percent)?;
    job_type_patterns(&p.job_type_patterns)
}

fn job_type_patterns(patterns: &[String]) -> Result<(), FieldError> {
    for (j, pattern) in patterns.iter().enumerate() {
        regex::Regex::new(pattern).map_err(|e| {
            FieldError::new(
                format!("job_type_patterns[{j}]"),
                format!("not a valid regex: {}", last_line(&e.to_string())),
            )
        })?;
    }
    Ok(())
}

/// The line of a regex error that says what is wrong (the others draw the pattern).
fn last_line(text: &str) -> String {
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string()
}

/// Checks the guardrails; field names are relative to them (`retry_budget.capacity`).
pub fn guardrails(g: &PolicyGuardrails) -> Result<(), FieldError> {
    if g.max_attempts == 0 {
        return Err(FieldError::new(
            "max_attempts",
            "must be at least 1 (1 = never retry)",
        ));
    }
    if g.min_delay_ms > g.max_delay_ms {
        return Err(FieldError::new(
            "min_delay_ms",
            format!(
                "must not exceed max_delay_ms ({} > {})",
                g.min_delay_ms, g.max_delay_ms
            ),
        ));
    }
    if g.max_retry_age.as_millis() == 0 {
        return Err(FieldError::new(
            "max_retry_age",
            "must be greater than 0 (set max_attempts = 1 to never retry)",
        ));
    }
    percent("max_budget_percent", g.max_budget_percent)?;
    finite_at_least("retry_budget.capacity", g.retry_budget.capacity, 0.0)?;
    finite_at_least(
        "retry_budget.refill_per_second",
        g.retry_budget.refill_per_second,
        0.0,
    )?;
    circuit_breaker(g)
}

fn circuit_breaker(g: &PolicyGuardrails) -> Result<(), FieldError> {
    let c = &g.circuit_breaker;
    let threshold = c.failure_rate_threshold;
    if !(threshold.is_finite() && threshold > 0.0 && threshold <= 1.0) {
        return Err(FieldError::new(
            "circuit_breaker.failure_rate_threshold",
            format!("must be in (0, 1] (got {threshold})"),
        ));
    }
    for (field, ms) in [
        ("circuit_breaker.window_ms", c.window_ms),
        ("circuit_breaker.open_ms", c.open_ms),
    ] {
        if c.enabled && ms == 0 {
            return Err(FieldError::new(field, "must be greater than 0"));
        }
    }
    Ok(())
}

/// The cost weights: each a finite number ≥ 0, and retrying or waiting must cost something
/// (with both at 0 every schedule is free and no delay is better than another).
pub fn cost_weights(c: &CostWeights) -> Result<(), FieldError> {
    for (field, weight) in [
        ("per_attempt", c.per_attempt),
        ("per_second", c.per_second),
        ("give_up_penalty", c.give_up_penalty),
    ] {
        finite_at_least(field, weight, 0.0)?;
        if weight > super::cost::MAX_COST_WEIGHT {
            return Err(FieldError::new(
                field,
                format!(
                    "must be at most {:e} (got {weight})",
                    super::cost::MAX_COST_WEIGHT
                ),
            ));
        }
    }
    if c.per_attempt == 0.0 && c.per_second == 0.0 {
        return Err(FieldError::new(
            "per_attempt",
            "per_attempt and per_second are both 0: give a retry or a second of waiting a cost",
        ));
    }
    Ok(())
}

fn prefixed(prefix: &str, e: FieldError) -> FieldError {
    FieldError::new(format!("{prefix}.{}", e.field), e.message)
}

fn fraction(field: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be between 0 and 1 (got {v})"),
        ))
    }
}

fn percent(field: &str, v: f64) -> Result<(), FieldError> {
    if v.is_finite() && (0.0..=100.0).contains(&v) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be a percentage between 0 and 100 (got {v})"),
        ))
    }
}

fn finite_at_least(field: &str, v: f64, min: f64) -> Result<(), FieldError> {
    if v.is_finite() && v >= min {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be a finite number ≥ {min} (got {v})"),
        ))
    }
}

#[cfg(test)]
mod tests;
