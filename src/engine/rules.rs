//! The rules tier: priority-ordered policies matched on error class / error code / job type,
//! exponential backoff with a choice of jitter, and Retry-After hints honoured.
//!
//! Patterns are compiled once, when the strategy is set, so a recommendation only runs
//! prepared regexes.

use crate::model::{FieldError, JitterKind, RetryPolicy};
use rand::RngExt;
use regex::Regex;

/// How an error pattern matches error_class and error_code.
#[derive(Debug, Clone)]
enum ErrorMatcher {
    /// `*`, or a policy without error patterns: every error.
    Any,
    /// Case-insensitive regex search (a plain word is a case-insensitive substring).
    Pattern(Regex),
}

impl ErrorMatcher {
    fn compile(pattern: &str) -> Self {
        let trimmed = pattern.trim();
        if trimmed == "*" {
            return Self::Any;
        }
        // A pattern that is not a valid regex (e.g. `(503`) is meant literally.
        let regex = Regex::new(&format!("(?i){trimmed}"))
            .or_else(|_| Regex::new(&format!("(?i){}", regex::escape(trimmed))))
            .expect("an escaped pattern is always a valid regex");
        Self::Pattern(regex)
    }

    fn matches(&self, error_class: &str, error_code: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Pattern(re) => re.is_match(error_class) || re.is_match(error_code),
        }
    }
}

/// A policy with its patterns compiled.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub policy: RetryPolicy,
    errors: Vec<ErrorMatcher>,
    job_types: Vec<Regex>,
}

impl CompiledPolicy {
    fn matches(&self, job_type: &str, error_class: &str, error_code: &str) -> bool {
        let job_ok =
            self.job_types.is_empty() || self.job_types.iter().any(|re| re.is_match(job_type));
        let error_ok = self.errors.is_empty()
            || self
                .errors
                .iter()
                .any(|m| m.matches(error_class, error_code));
        job_ok && error_ok
    }

    /// True when the policy says "do not retry this error at all" (e.g. validation errors).
    pub fn stops_at_once(&self) -> bool {
        self.policy.stop_on_validation || self.policy.max_attempts <= 1
    }
}

/// The policies of a strategy, compiled and sorted by priority (higher first, ties keep order).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    policies: Vec<CompiledPolicy>,
}

impl RuleSet {
    /// Validates and compiles; the error names the offending field, e.g.
    /// `policies[2].job_type_patterns[0]`.
    pub fn compile(policies: &[RetryPolicy]) -> Result<Self, FieldError> {
        let mut compiled = Vec::with_capacity(policies.len());
        for (i, policy) in policies.iter().enumerate() {
            validate_policy(i, policy, &policies[..i])?;
            compiled.push(compile_policy(i, policy)?);
        }
        compiled.sort_by_key(|p| std::cmp::Reverse(p.policy.priority));
        Ok(Self { policies: compiled })
    }

    /// Compiles what can be compiled, skipping invalid policies (used by `Engine::new`, which
    /// cannot fail; callers validate configuration with `validate_strategy` first).
    pub fn compile_lossy(policies: &[RetryPolicy]) -> Self {
        let mut compiled: Vec<CompiledPolicy> = policies
            .iter()
            .enumerate()
            .filter_map(|(i, p)| compile_policy(i, p).ok())
            .collect();
        compiled.sort_by_key(|p| std::cmp::Reverse(p.policy.priority));
        Self { policies: compiled }
    }

    /// The first policy, in priority order, that matches.
    pub fn matching(
        &self,
        job_type: &str,
        error_class: &str,
        error_code: &str,
    ) -> Option<&CompiledPolicy> {
        self.policies
            .iter()
            .find(|p| p.matches(job_type, error_class, error_code))
    }
}

fn compile_policy(index: usize, policy: &RetryPolicy) -> Result<CompiledPolicy, FieldError> {
    let errors = policy
        .error_patterns
        .iter()
        .map(|p| ErrorMatcher::compile(p))
        .collect();
    let mut job_types = Vec::with_capacity(policy.job_type_patterns.len());
    for (j, pattern) in policy.job_type_patterns.iter().enumerate() {
        let re = Regex::new(pattern).map_err(|e| {
            FieldError::new(
                format!("policies[{index}].job_type_patterns[{j}]"),
                format!("not a valid regex: {}", first_line(&e.to_string())),
            )
        })?;
        job_types.push(re);
    }
    Ok(CompiledPolicy {
        policy: policy.clone(),
        errors,
        job_types,
    })
}

fn first_line(text: &str) -> String {
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string()
}

fn validate_policy(i: usize, p: &RetryPolicy, earlier: &[RetryPolicy]) -> Result<(), FieldError> {
    let field = |name: &str| format!("policies[{i}].{name}");
    if p.name.trim().is_empty() {
        return Err(FieldError::new(
            field("name"),
            "required and must not be empty",
        ));
    }
    if earlier.iter().any(|e| e.name == p.name) {
        return Err(FieldError::new(
            field("name"),
            format!("duplicate policy name {:?}", p.name),
        ));
    }
    for (j, pattern) in p.error_patterns.iter().enumerate() {
        if pattern.trim().is_empty() {
            return Err(FieldError::new(
                field(&format!("error_patterns[{j}]")),
                "must not be empty (use \"*\" to match every error)",
            ));
        }
    }
    if !p.backoff_multiplier.is_finite() || p.backoff_multiplier < 1.0 {
        return Err(FieldError::new(
            field("backoff_multiplier"),
            format!("must be a finite number ≥ 1 (got {})", p.backoff_multiplier),
        ));
    }
    if !p.jitter_percent.is_finite() || !(0.0..=100.0).contains(&p.jitter_percent) {
        return Err(FieldError::new(
            field("jitter_percent"),
            format!("must be between 0 and 100 (got {})", p.jitter_percent),
        ));
    }
    if p.max_attempts > 1 && p.max_delay_ms < p.base_delay_ms {
        return Err(FieldError::new(
            field("max_delay_ms"),
            format!(
                "must be at least base_delay_ms ({} < {})",
                p.max_delay_ms, p.base_delay_ms
            ),
        ));
    }
    Ok(())
}

/// The exponential delay before the retry that follows failed attempt `attempt` (1-based),
/// before jitter: `base × multiplier^(attempt-1)`, capped at the policy's maximum.
pub fn exponential_ms(policy: &RetryPolicy, attempt: u32) -> f64 {
    let exponent = attempt.saturating_sub(1).min(200) as i32;
    let raw = policy.base_delay_ms as f64 * policy.backoff_multiplier.powi(exponent);
    let cap = policy.max_delay_ms.max(policy.base_delay_ms) as f64;
    if raw.is_finite() { raw.min(cap) } else { cap }
}

/// Applies `kind` of jitter to `delay_ms`. `previous_ms` is the last delay of this job (for
/// decorrelated jitter). The result never exceeds the policy's cap.
pub fn jittered_ms<R: rand::Rng>(
    policy: &RetryPolicy,
    delay_ms: f64,
    previous_ms: f64,
    rng: &mut R,
) -> f64 {
    let cap = policy.max_delay_ms.max(policy.base_delay_ms) as f64;
    let out = match policy.jitter {
        JitterKind::None => delay_ms,
        JitterKind::Percent => {
            let spread = policy.jitter_percent / 100.0;
            if spread <= 0.0 {
                delay_ms
            } else {
                delay_ms * (1.0 + rng.random_range(-spread..=spread))
            }
        }
        JitterKind::Full => rng.random_range(0.0..=delay_ms.max(0.0)),
        JitterKind::Equal => delay_ms / 2.0 + rng.random_range(0.0..=(delay_ms / 2.0).max(0.0)),
        JitterKind::Decorrelated => {
            let base = policy.base_delay_ms as f64;
            let high = (previous_ms.max(base) * 3.0).max(base);
            rng.random_range(base..=high)
        }
    };
    out.clamp(0.0, cap)
}

/// The rules tier's answer before guardrails.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesAnswer {
    pub policy: String,
    pub should_retry: bool,
    pub delay_ms: u64,
    pub max_attempts: u32,
    pub rationale: String,
}

/// Inputs the rules tier needs about the failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct RulesInput<'a> {
    pub attempt: u32,
    pub error_class: &'a str,
    pub retry_after_ms: Option<u64>,
    /// The delay before the attempt that just failed, if known (decorrelated jitter).
    pub previous_delay_ms: Option<u64>,
    /// The largest delay the guardrails allow (bounds a Retry-After hint).
    pub max_delay_ms: u64,
}

/// Runs one policy for a failed attempt.
pub fn decide<R: rand::Rng>(
    policy: &CompiledPolicy,
    input: RulesInput<'_>,
    rng: &mut R,
) -> RulesAnswer {
    let p = &policy.policy;
    let max_attempts = p.max_attempts.max(1);
    let stop = |why: String| RulesAnswer {
        policy: p.name.clone(),
        should_retry: false,
        delay_ms: 0,
        max_attempts,
        rationale: why,
    };
    if policy.stops_at_once() {
        return stop(format!(
            "rules: policy '{}' stops at once: retrying a {} error cannot help",
            p.name, input.error_class
        ));
    }
    if input.attempt >= max_attempts {
        return stop(format!(
            "rules: policy '{}' allows {max_attempts} attempts and attempt {} failed: stop",
            p.name, input.attempt
        ));
    }
    let base = exponential_ms(p, input.attempt);
    let previous = input
        .previous_delay_ms
        .map(|d| d as f64)
        .unwrap_or_else(|| exponential_ms(p, input.attempt.saturating_sub(1).max(1)));
    let jittered = jittered_ms(p, base, previous, rng);
    let mut delay = jittered.round() as u64;
    let mut rationale = format!(
        "rules: policy '{}': attempt {} of {max_attempts}, backoff {} × {}^{} = {} (cap {}), {} jitter → {}",
        p.name,
        input.attempt,
        fmt_ms(p.base_delay_ms),
        p.backoff_multiplier,
        input.attempt - 1,
        fmt_ms(base.round() as u64),
        fmt_ms(p.max_delay_ms),
        jitter_label(p),
        fmt_ms(delay)
    );
    if let Some(hint) = input.retry_after_ms {
        delay = honour_retry_after(delay, hint, input.max_delay_ms, &mut rationale);
    }
    RulesAnswer {
        policy: p.name.clone(),
        should_retry: true,
        delay_ms: delay,
        max_attempts,
        rationale,
    }
}

/// Never below the Retry-After hint unless the hint exceeds the largest allowed delay.
pub fn honour_retry_after(
    delay_ms: u64,
    hint_ms: u64,
    max_delay_ms: u64,
    rationale: &mut String,
) -> u64 {
    if hint_ms > max_delay_ms {
        rationale.push_str(&format!(
            "; Retry-After {} exceeds the maximum delay {}: capped there",
            fmt_ms(hint_ms),
            fmt_ms(max_delay_ms)
        ));
        return max_delay_ms;
    }
    if delay_ms < hint_ms {
        rationale.push_str(&format!("; Retry-After {} honoured", fmt_ms(hint_ms)));
        return hint_ms;
    }
    rationale.push_str(&format!(
        "; Retry-After {} already respected",
        fmt_ms(hint_ms)
    ));
    delay_ms
}

fn jitter_label(p: &RetryPolicy) -> String {
    match p.jitter {
        JitterKind::None => "no".into(),
        JitterKind::Percent => format!("±{}%", p.jitter_percent),
        JitterKind::Full => "full".into(),
        JitterKind::Equal => "equal".into(),
        JitterKind::Decorrelated => "decorrelated".into(),
    }
}

/// Human form of a millisecond duration: `850ms`, `7.5s`, `2m30s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = ms as f64 / 1000.0;
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            format!("{s:.1}s")
        }
    } else {
        let m = ms / 60_000;
        let s = (ms % 60_000) / 1000;
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::default_policies;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;

    fn rules() -> RuleSet {
        RuleSet::compile(&default_policies()).unwrap()
    }

    fn input(attempt: u32) -> RulesInput<'static> {
        RulesInput {
            attempt,
            error_class: "x",
            retry_after_ms: None,
            previous_delay_ms: None,
            max_delay_ms: 300_000,
        }
    }

    #[test]
    fn default_policies_match_by_class_and_code_case_insensitively() {
        let r = rules();
        let name =
            |class: &str, code: &str| r.matching("job", class, code).unwrap().policy.name.clone();
        assert_eq!(name("Rate_Limit", ""), "rate_limit");
        assert_eq!(name("http", "429"), "rate_limit");
        assert_eq!(name("SERVICE_UNAVAILABLE", ""), "service_unavailable");
        assert_eq!(name("db_timeout", ""), "service_unavailable");
        assert_eq!(name("validation", "400"), "validation");
        assert_eq!(name("connection_reset", "ECONNRESET"), "default");
    }

    #[test]
    fn priority_decides_between_matching_policies() {
        let mut policies = default_policies();
        let mut special = policies[3].clone();
        special.name = "payments_first".into();
        special.error_patterns = vec!["^5\\d\\d$".into()];
        special.job_type_patterns = vec!["^payment".into()];
        special.priority = 1000;
        policies.push(special);
        let r = RuleSet::compile(&policies).unwrap();
        assert_eq!(
            r.matching("payment_capture", "x", "503")
                .unwrap()
                .policy
                .name,
            "payments_first"
        );
        assert_eq!(
            r.matching("email", "x", "503").unwrap().policy.name,
            "service_unavailable"
        );
        // Regex anchors apply: "5031" is not a 5xx code.
        assert_eq!(
            r.matching("payment_capture", "x", "5031")
                .unwrap()
                .policy
                .name,
            "service_unavailable"
        );
    }

    #[test]
    fn a_bad_job_type_regex_names_the_field() {
        let mut policies = default_policies();
        policies[2].job_type_patterns = vec!["ok".into(), "(unclosed".into()];
        let err = RuleSet::compile(&policies).unwrap_err();
        assert_eq!(err.field, "policies[2].job_type_patterns[1]");
        assert!(err.message.contains("regex"), "{}", err.message);
    }

    #[test]
    fn invalid_numbers_name_the_field() {
        let mut policies = default_policies();
        policies[1].backoff_multiplier = f64::NAN;
        assert_eq!(
            RuleSet::compile(&policies).unwrap_err().field,
            "policies[1].backoff_multiplier"
        );
        let mut policies = default_policies();
        policies[3].jitter_percent = 150.0;
        assert_eq!(
            RuleSet::compile(&policies).unwrap_err().field,
            "policies[3].jitter_percent"
        );
        let mut policies = default_policies();
        policies[3].max_delay_ms = 10;
        assert_eq!(
            RuleSet::compile(&policies).unwrap_err().field,
            "policies[3].max_delay_ms"
        );
        let mut policies = default_policies();
        policies[0].name = "default".into();
        assert_eq!(
            RuleSet::compile(&policies).unwrap_err().field,
            "policies[3].name"
        );
    }

    #[test]
    fn a_pattern_that_is_not_a_regex_is_literal() {
        let mut policy = default_policies().remove(3);
        policy.error_patterns = vec!["(503".into()];
        let r = RuleSet::compile(&[policy]).unwrap();
        assert!(r.matching("j", "upstream (503) error", "").is_some());
        assert!(r.matching("j", "upstream 503 error", "").is_none());
    }

    #[test]
    fn validation_stops_and_default_backs_off_exponentially() {
        let r = rules();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let v = decide(
            r.matching("j", "validation", "").unwrap(),
            input(1),
            &mut rng,
        );
        assert!(!v.should_retry);
        let mut p = r.matching("j", "weird", "").unwrap().clone();
        p.policy.jitter = JitterKind::None;
        assert_eq!(decide(&p, input(1), &mut rng).delay_ms, 1_000);
        assert_eq!(decide(&p, input(2), &mut rng).delay_ms, 2_000);
        assert!(
            !decide(&p, input(3), &mut rng).should_retry,
            "3 attempts allowed"
        );
        p.policy.max_attempts = 20;
        assert_eq!(decide(&p, input(10), &mut rng).delay_ms, 30_000, "capped");
    }

    #[test]
    fn jitter_kinds_stay_within_their_bounds() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut p = default_policies()[3].clone();
        p.max_delay_ms = 100_000;
        for kind in [
            JitterKind::Percent,
            JitterKind::Full,
            JitterKind::Equal,
            JitterKind::Decorrelated,
        ] {
            p.jitter = kind;
            p.jitter_percent = 15.0;
            for _ in 0..2_000 {
                let d = jittered_ms(&p, 8_000.0, 4_000.0, &mut rng);
                let (lo, hi) = match kind {
                    JitterKind::Percent => (6_800.0, 9_200.0),
                    JitterKind::Full => (0.0, 8_000.0),
                    JitterKind::Equal => (4_000.0, 8_000.0),
                    JitterKind::Decorrelated => (1_000.0, 12_000.0),
                    JitterKind::None => unreachable!(),
                };
                assert!((lo..=hi).contains(&d), "{kind:?}: {d} not in [{lo}, {hi}]");
            }
        }
        p.jitter = JitterKind::Decorrelated;
        p.max_delay_ms = 5_000;
        assert!(jittered_ms(&p, 8_000.0, 40_000.0, &mut rng) <= 5_000.0);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let r = rules();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let policy = r.matching("j", "rate_limit", "429").unwrap();
        let mut i = input(1);
        i.retry_after_ms = Some(42_000);
        let a = decide(policy, i, &mut rng);
        assert_eq!(a.delay_ms, 42_000);
        assert!(
            a.rationale.contains("Retry-After 42s honoured"),
            "{}",
            a.rationale
        );
        i.retry_after_ms = Some(900_000);
        let a = decide(policy, i, &mut rng);
        assert_eq!(a.delay_ms, 300_000);
        assert!(
            a.rationale.contains("exceeds the maximum delay"),
            "{}",
            a.rationale
        );
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(fmt_ms(850), "850ms");
        assert_eq!(fmt_ms(7_500), "7.5s");
        assert_eq!(fmt_ms(30_000), "30s");
        assert_eq!(fmt_ms(150_000), "2m30s");
    }
}
