//! The tier's explanation when the elapsed view overrules the per-attempt view's stop, and a
//! job whose job type never recovered spreading its attempts.

use super::*;
use crate::engine::survival::lo_index;
use crate::engine::survival::tests::window_evidence;
use crate::model::RetryFeatures;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The default `max_retry_age`: the end of a spread reserve.
const DAY_MS: u64 = 24 * 3_600_000;

/// One minute into an episode of `ledger.sync` timeouts, attempt 5 of 10 just failed.
fn draft_at_a_minute(model: &SurvivalModel) -> Draft {
    draft_at(model, 60_000, 5, false)
}

/// The draft at `elapsed_ms` after attempt `attempt` of 10 of a `ledger.sync` timeout failed;
/// `spread`: no retry of its job type has succeeded yet.
fn draft_at(model: &SurvivalModel, elapsed_ms: u64, attempt: u32, spread: bool) -> Draft {
    let features = RetryFeatures {
        job_type: "ledger.sync".into(),
        error_class: "timeout".into(),
        attempt_number: attempt,
        ..RetryFeatures::default()
    };
    let ctx = Ctx {
        features: &features,
        now: DateTime::<Utc>::UNIX_EPOCH,
        attempt,
        elapsed_ms: Some(elapsed_ms),
        previous_delay_ms: None,
        max_delay_ms: 300_000,
        min_delay_ms: 0,
        hour: 2,
        view_evidence: 0.0,
    };
    let key = ModelKey::new("ledger.sync", "timeout", None);
    let input = BayesInput {
        key: &key,
        model,
        view: model.view(),
        spread,
        credibility: 0.8,
        threshold: 0.7,
        max_attempts: 10,
        max_retry_age_ms: DAY_MS,
        explore_rate: 0.0,
    };
    let mut rng = StdRng::seed_from_u64(1);
    draft(input, &ctx, Explanation::default(), &mut rng).expect("within the horizon")
}

#[test]
fn an_overruled_stop_is_explained_with_the_figures_of_the_view_that_decided() {
    let model = window_evidence(0.0);
    let decision = model.best(60_000, 5, 0).unwrap();
    let (best, stop) = (decision.best, decision.overridden.unwrap());
    let d = draft_at_a_minute(&model);
    assert!(d.should_retry && d.delay_ms == best.delay_ms, "{d:?}");
    let said = format!(
        "bayesian (ledger.sync/timeout): the per-attempt view would give up (its best retry, at {} elapsed, {:.1}% success, has expected cost {:.2}, not less than giving up (100.00)), but the elapsed view expects recovery: ",
        fmt_ms(GRID_MS[stop.index]),
        stop.success * 100.0,
        stop.cost
    );
    assert!(d.rationale.starts_with(&said), "{}", d.rationale);
    assert!(
        d.rationale
            .contains("of 'timeout' failures of 'ledger.sync' still failing after 1m recover by")
            && !d.rationale.contains("independently of time"),
        "{}",
        d.rationale
    );
    let x = &d.explanation;
    let post = x.posterior.as_ref().unwrap();
    let elapsed = model.recovery_posterior(60_000, best.index, 0.8);
    assert!(
        (post.mean - elapsed.mean).abs() < 1e-12,
        "{post:?} vs {elapsed:?}"
    );
    assert!((d.estimated_success - best.success).abs() < 1e-12);
    let chosen: Vec<_> = x.alternatives.iter().filter(|a| a.chosen).collect();
    assert_eq!(chosen.len(), 1, "{:?}", x.alternatives);
    assert_eq!(chosen[0].expected_cost, best.cost);
    assert_eq!(chosen[0].success_probability, best.success);
    for alt in &x.alternatives {
        let j = GRID_MS
            .iter()
            .position(|&b| b == 60_000 + alt.delay_ms)
            .unwrap();
        let c = model.candidate_in(View::Elapsed, 60_000, j, 5);
        assert_eq!(
            (alt.expected_cost, alt.success_probability),
            (c.cost, c.success)
        );
    }
}

#[test]
fn a_stop_both_views_agree_on_says_only_stop() {
    let model = window_evidence(50.0);
    let d = draft_at_a_minute(&model);
    assert!(!d.should_retry, "{d:?}");
    assert!(
        d.rationale
            .starts_with("bayesian (ledger.sync/timeout): stop: the best retry")
            && !d.rationale.contains("elapsed view"),
        "{}",
        d.rationale
    );
    let x = &d.explanation;
    assert!(
        x.alternatives.iter().all(|a| a.expected_cost >= 100.0),
        "{:?}",
        x.alternatives
    );
}

/// A job type's first failures, twelve failed retries in its first few seconds and nothing
/// else: in the per-attempt view (where a new model starts) its chance is its prior's few per
/// cent (0.5 / 13).
fn failures_only() -> SurvivalModel {
    let params = crate::engine::survival::tests::params();
    let mut c = SurvivalModel::new(params).counts;
    for e in [1_000, 2_000, 3_500] {
        c.attempt_failures[lo_index(e)] = 4.0;
    }
    c.survived[..lo_index(3_500)]
        .iter_mut()
        .for_each(|x| *x = 4.0);
    c.samples = 12;
    SurvivalModel::from_counts(c, params)
}

/// Planned as independent tickets at a few per cent, a job whose job type never recovered
/// would retry seconds apart and spend its attempts; once it has spent half of them, until one
/// of its job type's retries succeeds, the rest are spread in log-time to its maximum retry age
/// instead.
#[test]
fn until_its_job_type_recovers_a_job_spreads_its_reserve_to_its_maximum_retry_age() {
    let model = failures_only();
    assert_eq!(model.view(), View::PerAttempt);
    let (elapsed, attempt) = (5_000, 6);
    let free = draft_at(&model, elapsed, attempt, false);
    assert!(free.should_retry && free.delay_ms <= 2_000, "{free:?}");
    let spared = draft_at(&model, elapsed, attempt, true);
    let floor = sparing_floor(&model, elapsed, 4, DAY_MS);
    assert!(floor > elapsed + 2_000, "floor {floor}");
    assert!(
        !spared.should_retry || elapsed + spared.delay_ms >= floor,
        "{spared:?}"
    );
    assert!(
        spared.rationale.contains(&format!(
            "no retry of 'ledger.sync' with 'timeout' has succeeded yet: its 4 attempts left (fewer than half of 10) are spread to its maximum retry age 1440m, none before {} elapsed",
            fmt_ms(floor)
        )),
        "{}",
        spared.rationale
    );
}

/// Issue 9 (`notes/r9-engine.md`, r18-engine): the first half of a job's attempts go as the
/// model plans them, also while its job type has never recovered. Spreading them too (as
/// r17-engine did from the second retry on) slowed the first partner-webhook window of `demo`
/// enough to open its circuit later and teach the next windows a later first retry.
#[test]
fn a_job_spends_the_first_half_of_its_attempts_as_the_model_plans() {
    let model = failures_only();
    let elapsed = 5_000;
    for attempt in 1..=5 {
        let free = draft_at(&model, elapsed, attempt, false);
        let spread = draft_at(&model, elapsed, attempt, true);
        assert_eq!(spread, free, "attempt {attempt}");
    }
    assert!(!in_reserve(5, 10) && in_reserve(4, 10) && in_reserve(0, 1));
    assert!(!in_reserve(3, 5) && in_reserve(2, 5));
}

/// The spread leaves every attempt of the reserve a share of the way to the maximum retry age:
/// from half a second with four left, each floor is the ratio on from the last that would reach
/// a day with the last attempt, or the last boundary in reach of the maximum delay (5 min)
/// when that is nearer; the fourth is past ten minutes.
#[test]
fn the_floors_of_a_job_reach_its_maximum_retry_age_with_its_last_attempt() {
    let model = SurvivalModel::new(crate::engine::survival::tests::params());
    let mut elapsed = 500;
    let mut floors = Vec::new();
    for left in (1..=4).rev() {
        let floor = sparing_floor(&model, elapsed, left, DAY_MS);
        let ratio = (DAY_MS as f64 / elapsed as f64).powf(1.0 / left as f64);
        let spread = (elapsed as f64 * ratio) as u64;
        let last_in_reach = model.reachable(elapsed).map(|j| GRID_MS[j]).max().unwrap();
        assert!(floor > elapsed, "{floors:?}");
        assert_eq!(floor, spread.min(last_in_reach), "{floors:?}");
        floors.push(floor);
        elapsed = floor;
    }
    assert_eq!(sparing_floor(&model, 0, 4, DAY_MS), 0);
    assert!(elapsed >= 600_000, "{floors:?}");
}
