//! The tier's explanation when the elapsed view overrules the per-attempt view's stop.

use super::*;
use crate::engine::survival::tests::window_evidence;
use crate::model::RetryFeatures;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// One minute into an episode of `ledger.sync` timeouts, attempt 5 of 10 just failed.
fn draft_at_a_minute(model: &SurvivalModel) -> Draft {
    let features = RetryFeatures {
        job_type: "ledger.sync".into(),
        error_class: "timeout".into(),
        attempt_number: 5,
        ..RetryFeatures::default()
    };
    let ctx = Ctx {
        features: &features,
        now: DateTime::<Utc>::UNIX_EPOCH,
        attempt: 5,
        elapsed_ms: Some(60_000),
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
        credibility: 0.8,
        threshold: 0.7,
        max_attempts: 10,
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
