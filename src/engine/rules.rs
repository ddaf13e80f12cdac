//! The rules tier: priority-ordered policies matched on error class / error code / job type,
//! exponential backoff with a choice of jitter, and Retry-After hints honoured.
//!
//! Patterns are compiled once, when the strategy is set, so a recommendation only runs
//! prepared regexes. The default strategy and its policies (those shipped upstream) are here
//! too.

use super::tier::{Ctx, Draft};
use crate::model::{Explanation, JitterKind, Method, RetryPolicy, RetryStrategy};
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
    /// Compiles the policies. A policy whose job-type pattern is not a regex is left out:
    /// `model::validate::strategy` refuses such a strategy before it is set, and
    /// `Engine::new`, which cannot fail, uses what compiles.
    pub fn compile(policies: &[RetryPolicy]) -> Self {
        let mut compiled: Vec<CompiledPolicy> =
            policies.iter().filter_map(compile_policy).collect();
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

fn compile_policy(policy: &RetryPolicy) -> Option<CompiledPolicy> {
    let errors = policy
        .error_patterns
        .iter()
        .map(|p| ErrorMatcher::compile(p))
        .collect();
    let job_types = policy
        .job_type_patterns
        .iter()
        .map(|pattern| Regex::new(pattern).ok())
        .collect::<Option<_>>()?;
    Some(CompiledPolicy {
        policy: policy.clone(),
        errors,
        job_types,
    })
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

/// The rules tier for a matched policy.
pub fn draft<R: rand::Rng>(
    policy: &CompiledPolicy,
    ctx: &Ctx<'_>,
    explanation: Explanation,
    rng: &mut R,
) -> Draft {
    let input = RulesInput {
        attempt: ctx.attempt,
        error_class: &ctx.features.error_class,
        retry_after_ms: ctx.features.retry_after_ms,
        previous_delay_ms: ctx.previous_delay_ms,
        max_delay_ms: ctx.max_delay_ms,
    };
    let answer = decide(policy, input, rng);
    let mut explanation = explanation;
    explanation.policy = Some(answer.policy);
    Draft {
        should_retry: answer.should_retry,
        delay_ms: answer.delay_ms,
        max_attempts: answer.max_attempts,
        // A fixed policy is certain of what it says, not of the outcome.
        confidence: if answer.should_retry { 0.5 } else { 1.0 },
        estimated_success: 0.0,
        method: Method::Rules,
        rationale: answer.rationale,
        explanation,
        explored: false,
    }
}

/// The strategy shipped by default: the upstream policies, threshold 0.70, upstream guardrails.
pub fn default_strategy() -> RetryStrategy {
    RetryStrategy {
        name: "smart".into(),
        enabled: true,
        policies: default_policies(),
        bayesian_threshold: 0.70,
        ml_enabled: false,
        ml_model: None,
        guardrails: Default::default(),
        data_collection: Default::default(),
        bayesian_enabled: true,
    }
}

fn policy(
    name: &str,
    patterns: &[&str],
    attempts: u32,
    base_ms: u64,
    max_ms: u64,
    jitter: f64,
    priority: i32,
) -> RetryPolicy {
    RetryPolicy {
        name: name.into(),
        error_patterns: patterns.iter().map(|p| p.to_string()).collect(),
        job_type_patterns: Vec::new(),
        max_attempts: attempts,
        base_delay_ms: base_ms,
        max_delay_ms: max_ms,
        backoff_multiplier: 2.0,
        jitter_percent: jitter,
        stop_on_validation: attempts <= 1,
        priority,
        jitter: JitterKind::Percent,
    }
}

/// The policies shipped upstream: validation errors stop at once; rate limits, unavailability
/// and everything else back off exponentially with jitter.
pub fn default_policies() -> Vec<RetryPolicy> {
    vec![
        policy(
            "validation",
            &["400", "validation", "invalid_input"],
            1,
            0,
            0,
            0.0,
            300,
        ),
        policy(
            "rate_limit",
            &["429", "rate_limit", "too_many_requests"],
            5,
            5_000,
            60_000,
            25.0,
            200,
        ),
        policy(
            "service_unavailable",
            &["503", "service_unavailable", "timeout"],
            3,
            2_000,
            30_000,
            20.0,
            100,
        ),
        policy("default", &["*"], 3, 1_000, 30_000, 15.0, 0),
    ]
}

#[cfg(test)]
mod tests;
