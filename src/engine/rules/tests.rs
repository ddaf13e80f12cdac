use super::*;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

fn rules() -> RuleSet {
    RuleSet::compile(&default_policies())
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
    let r = RuleSet::compile(&policies);
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
fn a_pattern_that_is_not_a_regex_is_literal() {
    let mut policy = default_policies().remove(3);
    policy.error_patterns = vec!["(503".into()];
    let r = RuleSet::compile(&[policy]);
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
