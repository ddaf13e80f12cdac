use super::*;
use crate::model::{CircuitBreakerConfig, RetryBudget};
use chrono::Duration;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
        .unwrap()
        .to_utc()
}

fn input(attempt: u32, now: DateTime<Utc>) -> GuardInput<'static> {
    GuardInput {
        attempt,
        queue: "payments",
        tenant: Some("acme"),
        error_class: "503",
        now,
        elapsed_ms: None,
    }
}

fn names(v: &Verdict) -> Vec<&str> {
    v.effects.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn emergency_stop_stops_everything() {
    let cfg = PolicyGuardrails {
        emergency_stop: true,
        ..PolicyGuardrails::default()
    };
    let v = GuardrailState::default().evaluate(&cfg, input(1, t0()), true, 5_000, 3);
    assert!(!v.should_retry);
    assert_eq!(v.delay_ms, 0);
    assert_eq!(names(&v), ["emergency_stop"]);
}

#[test]
fn bounds_and_attempts_are_named_when_they_change_the_answer() {
    let cfg = PolicyGuardrails {
        min_delay_ms: 500,
        max_delay_ms: 60_000,
        max_attempts: 4,
        ..PolicyGuardrails::default()
    };
    let s = GuardrailState::default();
    let v = s.evaluate(&cfg, input(1, t0()), true, 100, 10);
    assert_eq!((v.delay_ms, names(&v)), (500, vec!["min_delay"]));
    assert_eq!(
        v.max_attempts, 4,
        "the guardrail caps the tier's max attempts"
    );
    let v = s.evaluate(&cfg, input(1, t0()), true, 90_000, 10);
    assert_eq!((v.delay_ms, names(&v)), (60_000, vec!["max_delay"]));
    let v = s.evaluate(&cfg, input(4, t0()), true, 1_000, 10);
    assert_eq!((v.should_retry, names(&v)), (false, vec!["max_attempts"]));
    let v = s.evaluate(&cfg, input(2, t0()), true, 1_000, 10);
    assert!(
        v.should_retry && v.effects.is_empty(),
        "nothing changed, nothing named"
    );
}

#[test]
fn an_empty_budget_delays_until_a_token_refills_also_past_the_max_delay() {
    let cfg = PolicyGuardrails {
        retry_budget: RetryBudget {
            enabled: true,
            capacity: 2.0,
            refill_per_second: 0.1,
        },
        max_delay_ms: 25_000,
        ..PolicyGuardrails::default()
    };
    let mut s = GuardrailState::default();
    let now = t0();
    for _ in 0..2 {
        let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
        assert_eq!(v.delay_ms, 1_000);
        s.commit(&cfg, input(1, now), &v);
    }
    let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
    assert_eq!((v.delay_ms, names(&v)), (10_000, vec!["retry_budget"]));
    s.commit(&cfg, input(1, now), &v);
    let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
    assert_eq!(
        (v.delay_ms, names(&v)),
        (20_000, vec!["retry_budget"]),
        "the borrowed token is spent"
    );
    s.commit(&cfg, input(1, now), &v);
    let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
    assert_eq!(
        (v.should_retry, v.delay_ms, names(&v)),
        (true, 30_000, vec!["retry_budget", "max_delay"]),
        "a 30s wait beyond the 25s max delay paces, it does not stop"
    );
    assert!(
        v.effects[1].detail.contains("keeps its place"),
        "{}",
        v.effects[1].detail
    );
    let later = now + Duration::seconds(60);
    let v = s.evaluate(&cfg, input(1, later), true, 1_000, 5);
    assert!(v.should_retry && v.effects.is_empty(), "refilled by `now`");
    let (budgets, _, _) = s.status(&cfg, later);
    assert_eq!(budgets[0].queue, "payments");
    assert!((budgets[0].tokens_available - 2.0).abs() < 1e-9);
}

#[test]
fn a_full_tenant_minute_moves_the_retry_to_the_next_minute() {
    let cfg = PolicyGuardrails {
        per_tenant_limits: true,
        tenant_quota_per_minute: 100,
        tenant_quotas: [("acme".to_string(), 2)].into(),
        ..PolicyGuardrails::default()
    };
    let mut s = GuardrailState::default();
    let now = t0() + Duration::seconds(10);
    for _ in 0..2 {
        let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
        s.commit(&cfg, input(1, now), &v);
    }
    let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
    assert_eq!((v.delay_ms, names(&v)), (50_000, vec!["tenant_quota"]));
    let other = GuardInput {
        tenant: Some("other"),
        ..input(1, now)
    };
    assert!(
        s.evaluate(&cfg, other, true, 1_000, 5).effects.is_empty(),
        "quotas are per tenant"
    );
    let (_, tenants, _) = s.status(&cfg, now);
    assert_eq!(
        (tenants[0].retries_last_minute, tenants[0].quota_per_minute),
        (2, 2)
    );
}

fn breaker_cfg() -> PolicyGuardrails {
    PolicyGuardrails {
        circuit_breaker: CircuitBreakerConfig {
            enabled: true,
            failure_rate_threshold: 0.9,
            min_samples: 10,
            window_ms: 60_000,
            open_ms: 30_000,
        },
        ..PolicyGuardrails::default()
    }
}

#[test]
fn the_circuit_opens_sends_one_probe_and_closes_on_success() {
    let cfg = breaker_cfg();
    let mut s = GuardrailState::default();
    let now = t0();
    for i in 0..10 {
        s.observe_retry(
            &cfg,
            "payments",
            "503",
            false,
            now + Duration::milliseconds(i * 100),
        );
    }
    let opened = now + Duration::milliseconds(900);
    let (_, _, circuits) = s.status(&cfg, opened);
    assert_eq!(circuits[0].state, "open");
    assert_eq!(s.open_circuits(), 1);
    let probe_at = opened + Duration::seconds(30);
    let v = s.evaluate(&cfg, input(1, opened), true, 2_000, 5);
    assert_eq!(
        (v.delay_ms, names(&v)),
        (30_000, vec!["circuit_breaker"]),
        "the probe waits for probe time"
    );
    s.commit(&cfg, input(1, opened), &v);
    let v = s.evaluate(&cfg, input(1, opened), true, 2_000, 5);
    assert_eq!(
        v.delay_ms, 60_000,
        "others wait until after the probe's verdict"
    );
    let other_class = GuardInput {
        error_class: "429",
        ..input(1, opened)
    };
    assert!(
        s.evaluate(&cfg, other_class, true, 2_000, 5)
            .effects
            .is_empty()
    );
    let (_, _, circuits) = s.status(&cfg, probe_at);
    assert_eq!(circuits[0].state, "half_open");
    s.observe_retry(
        &cfg,
        "payments",
        "503",
        true,
        probe_at + Duration::seconds(1),
    );
    let (_, _, circuits) = s.status(&cfg, probe_at + Duration::seconds(1));
    assert_eq!(circuits[0].state, "closed");
    assert!(
        s.evaluate(&cfg, input(1, probe_at), true, 2_000, 5)
            .effects
            .is_empty()
    );
}

#[test]
fn a_failed_probe_reopens_the_circuit() {
    let cfg = breaker_cfg();
    let mut s = GuardrailState::default();
    let now = t0();
    for _ in 0..10 {
        s.observe_retry(&cfg, "payments", "503", false, now);
    }
    let probe = now + Duration::seconds(31);
    s.observe_retry(&cfg, "payments", "503", false, probe);
    let (_, _, circuits) = s.status(&cfg, probe);
    assert_eq!(circuits[0].state, "open");
    assert_eq!(circuits[0].probe_at, Some(probe + Duration::seconds(30)));
}

#[test]
fn too_few_samples_keep_the_circuit_closed() {
    let cfg = breaker_cfg();
    let mut s = GuardrailState::default();
    for _ in 0..9 {
        s.observe_retry(&cfg, "payments", "503", false, t0());
    }
    assert_eq!(s.open_circuits(), 0);
}

#[test]
fn successes_while_closed_count_in_the_failure_rate() {
    let cfg = breaker_cfg();
    let mut s = GuardrailState::default();
    let at = |ms: i64| t0() + Duration::milliseconds(ms);
    // A rate limit's window: retries just after the reset succeed, later ones fail until the
    // next reset. 2 of 20 succeed: a 90 % failure rate, at the threshold.
    for i in 0..2 {
        s.observe_retry(&cfg, "payments", "503", true, at(i * 100));
    }
    for i in 0..17 {
        s.observe_retry(&cfg, "payments", "503", false, at(1_000 + i * 100));
    }
    assert_eq!(
        s.open_circuits(),
        0,
        "17 failures after 2 successes: 89 % of the window failed, under the 90 % threshold"
    );
    s.observe_retry(&cfg, "payments", "503", false, at(3_000));
    assert_eq!(s.open_circuits(), 1, "18 of 20 failed: 90 %");
}

#[test]
fn the_probe_s_success_starts_a_fresh_window() {
    let cfg = breaker_cfg();
    let mut s = GuardrailState::default();
    for _ in 0..10 {
        s.observe_retry(&cfg, "payments", "503", false, t0());
    }
    let probe = t0() + Duration::seconds(31);
    s.observe_retry(&cfg, "payments", "503", true, probe);
    assert_eq!(s.open_circuits(), 0);
    s.observe_retry(&cfg, "payments", "503", false, probe + Duration::seconds(1));
    assert_eq!(
        s.open_circuits(),
        0,
        "the outage's failures before the probe no longer count"
    );
}

fn forced(state: CircuitForce) -> ForcedCircuit {
    ForcedCircuit {
        queue: "payments".into(),
        error_class: "503".into(),
        state,
        reason: "provider incident".into(),
        actor: "operator:ann".into(),
        forced_at: t0(),
    }
}

#[test]
fn a_forced_open_circuit_defers_and_release_restores() {
    let cfg = breaker_cfg();
    let mut s = GuardrailState::default();
    s.force(forced(CircuitForce::Open));
    let v = s.evaluate(&cfg, input(1, t0()), true, 2_000, 5);
    assert!(v.should_retry, "forced open defers, it never drops");
    assert_eq!((v.delay_ms, names(&v)), (30_000, vec!["circuit_breaker"]));
    assert!(v.effects[0].detail.contains("forced open by operator:ann"));
    let (_, _, circuits) = s.status(&cfg, t0());
    assert_eq!(
        circuits.len(),
        1,
        "a forced circuit is listed though never seen"
    );
    assert_eq!(circuits[0].state, "open");
    assert_eq!(
        circuits[0].forced.as_ref().unwrap().reason,
        "provider incident"
    );
    assert_eq!(s.open_circuits(), 1);
    let disabled = PolicyGuardrails {
        circuit_breaker: CircuitBreakerConfig {
            enabled: false,
            ..breaker_cfg().circuit_breaker
        },
        ..breaker_cfg()
    };
    let v = s.evaluate(&disabled, input(1, t0()), true, 2_000, 5);
    assert_eq!(
        v.delay_ms, 30_000,
        "the operator's force holds with the breaker off"
    );
    assert_eq!(
        s.release("payments", "503").map(|f| f.state),
        Some(CircuitForce::Open)
    );
    let v = s.evaluate(&cfg, input(1, t0()), true, 2_000, 5);
    assert!(v.effects.is_empty() && v.delay_ms == 2_000);
    assert_eq!(s.open_circuits(), 0);
    assert!(s.release("payments", "503").is_none());
}

#[test]
fn a_forced_closed_circuit_does_not_open() {
    let cfg = breaker_cfg();
    let mut s = GuardrailState::default();
    for _ in 0..10 {
        s.observe_retry(&cfg, "payments", "503", false, t0());
    }
    assert_eq!(s.open_circuits(), 1);
    s.force(forced(CircuitForce::Closed));
    assert_eq!(
        s.open_circuits(),
        0,
        "forcing closed closes an open breaker"
    );
    for _ in 0..20 {
        s.observe_retry(&cfg, "payments", "503", false, t0());
    }
    let v = s.evaluate(&cfg, input(1, t0()), true, 2_000, 5);
    assert!(v.effects.is_empty(), "{:?}", v.effects);
    let (_, _, circuits) = s.status(&cfg, t0());
    assert_eq!(circuits[0].state, "closed");
    assert!(circuits[0].forced.is_some());
    s.release("payments", "503");
    s.observe_retry(&cfg, "payments", "503", false, t0());
    assert_eq!(
        s.open_circuits(),
        1,
        "released, the breaker decides from its window again"
    );
}

#[test]
fn forced_circuits_survive_a_restore_of_learned_state() {
    let mut s = GuardrailState::default();
    s.force(forced(CircuitForce::Open));
    let learned: GuardrailState =
        serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert!(learned.forced().is_empty(), "not in the snapshot");
    assert_eq!(
        learned.restored(&s).forced(),
        vec![forced(CircuitForce::Open)]
    );
}

fn arb_cfg() -> impl Strategy<Value = PolicyGuardrails> {
    (
        1u32..12,
        0u64..5_000,
        0u64..400_000,
        any::<bool>(),
        any::<bool>(),
        (0.0f64..5.0, 0.0f64..2.0),
        0u32..4,
    )
        .prop_map(
            |(max_attempts, min, extra, stop, tenants, (cap, refill), quota)| PolicyGuardrails {
                max_attempts,
                min_delay_ms: min,
                max_delay_ms: min + extra,
                emergency_stop: stop,
                per_tenant_limits: tenants,
                tenant_quota_per_minute: quota,
                retry_budget: RetryBudget {
                    enabled: true,
                    capacity: cap,
                    refill_per_second: refill,
                },
                circuit_breaker: CircuitBreakerConfig {
                    min_samples: 3,
                    failure_rate_threshold: 0.5,
                    ..CircuitBreakerConfig::default()
                },
                ..PolicyGuardrails::default()
            },
        )
}

proptest! {
    /// Whatever the tier proposed and whatever state the guardrails are in: a retry is always
    /// at least min_delay, past max_delay only when the answer says so, never beyond max
    /// attempts, never under emergency stop; a retry is only ever ended by the emergency
    /// stop, max attempts, max retry age or a tenant quota of 0.
    #[test]
    fn no_retry_ever_escapes_the_guardrails(
        cfg in arb_cfg(),
        steps in proptest::collection::vec((1u32..15, any::<bool>(), 0u64..1_000_000, 0i64..120_000, any::<bool>(), any::<bool>()), 1..40),
    ) {
        let mut s = GuardrailState::default();
        let mut now = t0();
        for (attempt, retry, delay, advance, observe, success) in steps {
            now += Duration::milliseconds(advance);
            if observe {
                s.observe_retry(&cfg, "payments", "503", success, now);
            }
            let i = input(attempt, now);
            let v = s.evaluate(&cfg, i, retry, delay, 20);
            if v.should_retry {
                prop_assert!(v.delay_ms >= cfg.min_delay_ms, "{} < min {}", v.delay_ms, cfg.min_delay_ms);
                prop_assert!(
                    v.delay_ms <= cfg.max_delay_ms || names(&v).contains(&"max_delay"),
                    "{} > max {} unnamed", v.delay_ms, cfg.max_delay_ms
                );
                prop_assert!(attempt < cfg.max_attempts);
                prop_assert!(!cfg.emergency_stop);
                prop_assert!(retry, "guardrails never turn a stop into a retry");
            } else {
                prop_assert_eq!(v.delay_ms, 0);
                let enders = ["emergency_stop", "max_attempts", "max_retry_age", "tenant_quota"];
                prop_assert!(!retry || names(&v).iter().any(|n| enders.contains(n)), "{:?}", names(&v));
                if names(&v).contains(&"tenant_quota") {
                    prop_assert_eq!(cfg.tenant_quota_per_minute, 0);
                }
            }
            prop_assert!(v.max_attempts <= cfg.max_attempts);
            s.commit(&cfg, i, &v);
        }
    }
}

/// A share config with the token bucket out of the way, so only `max_budget_percent` binds.
fn share_cfg(percent: f64) -> PolicyGuardrails {
    PolicyGuardrails {
        max_budget_percent: percent,
        retry_budget: RetryBudget {
            enabled: false,
            ..RetryBudget::default()
        },
        per_tenant_limits: false,
        ..PolicyGuardrails::default()
    }
}

#[test]
fn retries_over_their_share_of_a_queues_traffic_are_paced_and_named() {
    let cfg = share_cfg(20.0);
    let mut s = GuardrailState::default();
    for _ in 0..5_000 {
        s.observe_attempt("payments", t0());
    }
    let now = t0() + Duration::seconds(1);
    for _ in 0..1_000 {
        let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
        assert!(v.should_retry && v.effects.is_empty());
        s.commit(&cfg, input(1, now), &v);
    }
    let v = s.evaluate(&cfg, input(1, now), true, 1_000, 5);
    assert!(v.should_retry, "the share paces, it never drops");
    assert_eq!(names(&v), ["max_budget_percent"]);
    let at = now + Duration::milliseconds(v.delay_ms as i64);
    assert!(
        share::slot_index(at) >= share::slot_index(now + Duration::seconds(1)) + 10,
        "scheduled once the first window's retries are out of its window: {}",
        v.delay_ms
    );
    assert!(
        v.effects[0].detail.contains("1000"),
        "{}",
        v.effects[0].detail
    );
    let other = GuardInput {
        queue: "emails",
        ..input(1, now)
    };
    assert!(
        s.evaluate(&cfg, other, true, 1_000, 5).effects.is_empty(),
        "per queue"
    );
    let all = share_cfg(100.0);
    assert!(
        s.evaluate(&all, input(1, now), true, 1_000, 5)
            .effects
            .is_empty()
    );
}

#[test]
fn a_quiet_queue_may_always_retry_up_to_the_floor() {
    let cfg = share_cfg(0.0);
    let mut s = GuardrailState::default();
    for i in 0..share::MIN_RETRIES {
        let v = s.evaluate(&cfg, input(1, t0()), true, 1_000, 5);
        assert!(v.should_retry && v.effects.is_empty(), "retry {i}");
        s.commit(&cfg, input(1, t0()), &v);
    }
    let v = s.evaluate(&cfg, input(1, t0()), true, 1_000, 5);
    assert_eq!(
        (v.should_retry, names(&v)),
        (true, vec!["max_budget_percent"])
    );
}

#[test]
fn a_job_past_its_maximum_retry_age_ends_and_says_so() {
    let cfg = PolicyGuardrails {
        max_retry_age: crate::model::WireDuration::from_millis(3_600_000),
        ..PolicyGuardrails::default()
    };
    let s = GuardrailState::default();
    let aged = |elapsed| GuardInput {
        elapsed_ms: Some(elapsed),
        ..input(2, t0())
    };
    assert!(
        s.evaluate(&cfg, aged(3_000_000), true, 60_000, 5)
            .effects
            .is_empty()
    );
    let v = s.evaluate(&cfg, aged(3_590_000), true, 60_000, 5);
    assert_eq!((v.should_retry, names(&v)), (false, vec!["max_retry_age"]));
    assert!(
        v.effects[0].detail.contains("60m"),
        "{}",
        v.effects[0].detail
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Whatever the traffic: every retry is scheduled, and no window holds more scheduled
    /// retries than `max_budget_percent` of the attempts seen when each was decided (or the
    /// floor), counted independently from the list of scheduled times.
    #[test]
    fn paced_retries_keep_every_window_within_the_share(
        percent in 0.0f64..100.0,
        attempt_ratio in 0.2f64..0.9,
        steps in proptest::collection::vec((0.0f64..1.0, 0i64..8, 0u64..90_000), 1..4_000),
    ) {
        let cfg = share_cfg(percent);
        let mut s = GuardrailState::default();
        let mut attempts = 0u64;
        let mut scheduled: Vec<(i64, u64)> = Vec::new();
        let mut now = t0();
        for (draw, advance, delay) in steps {
            now += Duration::milliseconds(advance);
            if draw < attempt_ratio {
                s.observe_attempt("payments", now);
                attempts += 1;
                continue;
            }
            let i = input(1, now);
            let v = s.evaluate(&cfg, i, true, delay, 5);
            prop_assert!(v.should_retry && v.delay_ms >= delay);
            s.commit(&cfg, i, &v);
            let at = share::slot_index(now + Duration::milliseconds(v.delay_ms as i64));
            // The attempts seen so far bound what any decision was allowed.
            scheduled.push((at, share::allowed(percent, attempts)));
        }
        for &(end, _) in &scheduled {
            let within: Vec<_> = scheduled.iter().filter(|(k, _)| *k > end - 10 && *k <= end).collect();
            let most = within.iter().map(|(_, a)| *a).max().unwrap_or(0);
            prop_assert!(within.len() as u64 <= most, "{} retries in a window allowing {most}", within.len());
        }
    }
}

proptest! {
    #[test]
    fn the_first_minute_with_room_is_the_one_the_definition_gives(
        slots in proptest::collection::btree_map(0i64..40, 0u32..6, 0..30),
        quota in 1u32..6,
        first in -5i64..45,
    ) {
        let used = |m: i64| slots.get(&m).copied().unwrap_or(0);
        let by_definition = (first..).find(|m| used(*m) < quota).unwrap();
        prop_assert_eq!(first_minute_with_room(&slots, quota, first), by_definition);
    }
}
