use super::*;
use crate::engine::default_strategy;
use crate::model::PolicyGuardrails;

/// The field `strategy` names for the default strategy changed by `spoil`.
fn field_of(spoil: impl FnOnce(&mut RetryStrategy)) -> String {
    let mut s = default_strategy();
    spoil(&mut s);
    strategy(&s).unwrap_err().field
}

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
            "policies[3].name",
        ),
    ];
    for (spoil, field) in cases {
        assert_eq!(field_of(spoil), field);
    }
}

#[test]
fn a_bad_job_type_regex_names_the_field() {
    let mut s = default_strategy();
    s.policies[2].job_type_patterns = vec!["ok".into(), "(unclosed".into()];
    let err = strategy(&s).unwrap_err();
    assert_eq!(err.field, "policies[2].job_type_patterns[1]");
    assert!(err.message.contains("regex"), "{}", err.message);
}

#[test]
fn invalid_numbers_name_the_field() {
    assert_eq!(
        field_of(|s| s.policies[1].backoff_multiplier = f64::NAN),
        "policies[1].backoff_multiplier"
    );
    assert_eq!(
        field_of(|s| s.policies[3].jitter_percent = 150.0),
        "policies[3].jitter_percent"
    );
    assert_eq!(
        field_of(|s| s.policies[3].max_delay_ms = 10),
        "policies[3].max_delay_ms"
    );
    assert_eq!(
        field_of(|s| s.policies[0].name = "default".into()),
        "policies[3].name"
    );
}

#[test]
fn guardrail_errors_name_the_field() {
    let bad = PolicyGuardrails {
        min_delay_ms: 10,
        max_delay_ms: 5,
        ..PolicyGuardrails::default()
    };
    assert_eq!(guardrails(&bad).unwrap_err().field, "min_delay_ms");
    let mut bad = PolicyGuardrails::default();
    bad.retry_budget.refill_per_second = f64::NAN;
    assert_eq!(
        guardrails(&bad).unwrap_err().field,
        "retry_budget.refill_per_second"
    );
    let mut bad = PolicyGuardrails::default();
    bad.circuit_breaker.failure_rate_threshold = 0.0;
    assert_eq!(
        guardrails(&bad).unwrap_err().field,
        "circuit_breaker.failure_rate_threshold"
    );
}
