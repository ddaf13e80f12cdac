//! Checks on strategy, policy and guardrail values that serde cannot express (ranges, finite
//! numbers, valid regexes). Used by the API and the config file alike, so both name the field.

use super::{FieldError, PolicyGuardrails, RetryPolicy, RetryStrategy};

/// Checks a whole strategy; field names are relative to it (`policies[1].jitter_percent`).
pub fn strategy(s: &RetryStrategy) -> Result<(), FieldError> {
    if s.name.trim().is_empty() {
        return Err(FieldError::new("name", "required and must not be empty"));
    }
    fraction("bayesian_threshold", s.bayesian_threshold)?;
    for (i, p) in s.policies.iter().enumerate() {
        policy(p).map_err(|e| prefixed(&format!("policies[{i}]"), e))?;
    }
    let mut names: Vec<&str> = s.policies.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(FieldError::new(
            "policies",
            format!("policy name {:?} appears twice", w[0]),
        ));
    }
    guardrails(&s.guardrails).map_err(|e| prefixed("guardrails", e))?;
    fraction("data_collection.sample_rate", s.data_collection.sample_rate)
}

/// Checks one rules-tier policy.
pub fn policy(p: &RetryPolicy) -> Result<(), FieldError> {
    if p.name.trim().is_empty() {
        return Err(FieldError::new("name", "required and must not be empty"));
    }
    if p.max_delay_ms > 0 && p.base_delay_ms > p.max_delay_ms {
        return Err(FieldError::new(
            "base_delay_ms",
            format!(
                "must not exceed max_delay_ms ({} > {})",
                p.base_delay_ms, p.max_delay_ms
            ),
        ));
    }
    finite_at_least("backoff_multiplier", p.backoff_multiplier, 1.0)?;
    percent("jitter_percent", p.jitter_percent)?;
    for (i, pattern) in p.job_type_patterns.iter().enumerate() {
        regex::Regex::new(pattern).map_err(|e| {
            FieldError::new(
                format!("job_type_patterns[{i}]"),
                format!("invalid regex: {e}"),
            )
        })?;
    }
    Ok(())
}

/// Checks the guardrails.
pub fn guardrails(g: &PolicyGuardrails) -> Result<(), FieldError> {
    if g.max_attempts == 0 {
        return Err(FieldError::new("max_attempts", "must be at least 1"));
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
    percent("max_budget_percent", g.max_budget_percent)?;
    finite_at_least("retry_budget.capacity", g.retry_budget.capacity, 0.0)?;
    finite_at_least(
        "retry_budget.refill_per_second",
        g.retry_budget.refill_per_second,
        0.0,
    )?;
    fraction(
        "circuit_breaker.failure_rate_threshold",
        g.circuit_breaker.failure_rate_threshold,
    )
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
            format!("must be a finite number of at least {min} (got {v})"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::default_strategy;

    #[test]
    fn default_strategy_is_valid() {
        assert_eq!(strategy(&default_strategy()), Ok(()));
    }

    #[test]
    fn bad_values_name_their_field() {
        type Spoil = fn(&mut RetryStrategy);
        let cases: [(Spoil, &str); 5] = [
            (|s| s.bayesian_threshold = f64::NAN, "bayesian_threshold"),
            (
                |s| s.policies[1].jitter_percent = -1.0,
                "policies[1].jitter_percent",
            ),
            (
                |s| s.policies[0].job_type_patterns = vec!["(".into()],
                "policies[0].job_type_patterns[0]",
            ),
            (|s| s.guardrails.max_attempts = 0, "guardrails.max_attempts"),
            (
                |s| s.policies[2].name = s.policies[3].name.clone(),
                "policies",
            ),
        ];
        for (spoil, field) in cases {
            let mut s = default_strategy();
            spoil(&mut s);
            assert_eq!(strategy(&s).unwrap_err().field, field);
        }
    }
}
