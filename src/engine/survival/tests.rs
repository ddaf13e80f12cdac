use super::*;
use chrono::DateTime;

pub(in crate::engine) fn params() -> SolveParams {
    SolveParams {
        per_attempt: 1.0,
        per_second: 0.05,
        give_up: 100.0,
        min_delay_ms: 0,
        max_delay_ms: 300_000,
        max_attempts: 10,
    }
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

/// Feeds an episode with recovery at `t_ms` tried at `schedule` (elapsed times).
fn episode(m: &mut SurvivalModel, t_ms: u64, schedule: &[u64]) {
    let mut previous = 0;
    for &e in schedule {
        let success = e >= t_ms;
        m.observe(previous, e, success, at());
        if m.needs_refresh() {
            m.refresh(params());
        }
        if success {
            return;
        }
        previous = e;
    }
}

#[test]
fn grid_indices_snap_late_attempts_to_their_boundary() {
    assert_eq!(lo_index(0), 0);
    assert_eq!(lo_index(99), 0);
    assert_eq!(
        lo_index(12_200),
        GRID_MS.iter().position(|&b| b == 12_000).unwrap()
    );
    assert_eq!(
        hi_index(12_200),
        GRID_MS.iter().position(|&b| b == 12_000).unwrap(),
        "200ms late still counts"
    );
    assert_eq!(
        hi_index(12_900),
        GRID_MS.iter().position(|&b| b == 13_500).unwrap()
    );
    assert_eq!(hi_index(u64::MAX), GRID_MS.len() - 1);
    assert_eq!(lo_index(u64::MAX), GRID_MS.len() - 1);
}

#[test]
fn an_outage_of_six_to_twelve_seconds_is_learned_from_static_schedules() {
    let mut m = SurvivalModel::new(params());
    // Static backoff: attempts at 2, 6, 14, 30 s elapsed; recovery uniform in 6–12 s.
    for i in 0..300u64 {
        episode(
            &mut m,
            6_000 + (i * 7_919) % 6_000,
            &[2_000, 6_000, 14_000, 30_000],
        );
    }
    m.refresh(params());
    assert_eq!(m.view(), View::Elapsed);
    let by = |ms: u64| m.recovery_posterior(0, lo_index(ms), 0.8).mean;
    assert!(by(5_000) < 0.05, "by 5s: {}", by(5_000));
    // An attempt at 14 s says "recovered by 15 s" (it ran between boundaries).
    assert!(by(15_000) > 0.95, "by 15s: {}", by(15_000));
    let best = m.best(0, 9, 0).unwrap().best;
    assert!((6_000..=15_000).contains(&best.delay_ms), "{best:?}");
    assert!(best.cost < m.give_up_cost());
}

#[test]
fn a_failure_that_never_recovers_is_given_up() {
    let mut m = SurvivalModel::new(params());
    let schedule = [
        1_000, 3_000, 7_000, 30_000, 120_000, 300_000, 600_000, 900_000, 1_200_000,
    ];
    for _ in 0..10 {
        episode(&mut m, u64::MAX, &schedule[..3]);
    }
    m.refresh(params());
    let early = m.best(0, 9, 0).unwrap().best;
    assert!(
        early.cost < m.give_up_cost(),
        "only 7 s tried: later may still recover {early:?}"
    );
    for _ in 0..80 {
        episode(&mut m, u64::MAX, &schedule);
    }
    m.refresh(params());
    let best = m.best(0, 9, 0).unwrap().best;
    assert!(best.cost >= m.give_up_cost(), "{best:?}");
    let post = m.recovery_posterior(0, lo_index(300_000), 0.8);
    assert!(post.upper < 0.1, "{post:?}");
}

#[test]
fn flaky_failures_are_retried_soon() {
    let mut m = SurvivalModel::new(params());
    let mut state = 17u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    for _ in 0..400 {
        // Each attempt succeeds with p = 0.5 whatever the time; delays vary (jitter,
        // exploration), which is what tells the two views apart.
        let mut previous = 0;
        for _ in 0..5 {
            let e = previous + [100u64, 250, 500, 1_000, 2_000, 4_000][(next() % 6) as usize];
            let success = next() % 2 == 0;
            m.observe(previous, e, success, at());
            if m.needs_refresh() {
                m.refresh(params());
            }
            if success {
                break;
            }
            previous = e;
        }
    }
    m.refresh(params());
    assert_eq!(m.view(), View::PerAttempt);
    let best = m.best(0, 9, 0).unwrap().best;
    assert!(best.delay_ms <= 1_000, "{best:?}");
    assert!((0.35..0.65).contains(&best.success), "{best:?}");
}

#[test]
fn counts_survive_a_round_trip_and_bad_counts_are_reset() {
    let mut m = SurvivalModel::new(params());
    episode(&mut m, 8_000, &[2_000, 6_000, 14_000]);
    let back = SurvivalModel::from_counts(m.counts.clone(), params());
    assert_eq!(back.counts, m.counts);
    let mut bad = m.counts.clone();
    bad.events = vec![f64::NAN; 3];
    let fixed = SurvivalModel::from_counts(bad, params());
    assert_eq!(fixed.counts.events.len(), GRID_MS.len() - 1);
    assert!(fixed.best(0, 3, 0).is_some());
}

/// What the model knows when a class seen as flaky (a retry after 1 s nearly always worked,
/// and the per-attempt view decides) meets a maintenance window: ten thousand failed
/// attempts at each of 2, 6, 14, 30 and 60 s, none late enough to see the window end. `failed_late` adds that many failed attempts at every boundary after a minute.
pub(crate) fn window_evidence(failed_late: f64) -> SurvivalModel {
    let mut c = SurvivalModel::new(params()).counts;
    c.attempt_successes[lo_index(1_000)] = 90.0;
    c.events[lo_index(750)] = 90.0;
    for e in [2_000, 6_000, 14_000, 30_000, 60_000] {
        c.attempt_failures[lo_index(e)] = 10_000.0;
    }
    for j in lo_index(60_000) + 1..K {
        c.attempt_failures[j] = failed_late;
    }
    let horizon = if failed_late > 0.0 {
        INTERVALS
    } else {
        lo_index(60_000)
    };
    c.survived[..horizon].iter_mut().for_each(|x| *x = 1_000.0);
    c.loglik_attempt = 0.0;
    c.loglik_time = -2.0 * VIEW_MARGIN;
    c.samples = 50_090;
    SurvivalModel::from_counts(c, params())
}

#[test]
fn elapsed_times_nobody_tried_are_no_evidence_that_a_failure_never_ends() {
    let m = window_evidence(0.0);
    assert_eq!(m.view(), View::PerAttempt);
    let decision = m.best(60_000, 5, 0).expect("a boundary in reach");
    let best = decision.best;
    assert!(
        best.cost < m.give_up_cost() && best.success >= 0.2,
        "the unexplored tail is called hopeless: {best:?}"
    );
    assert_eq!(
        decision.view,
        View::Elapsed,
        "the figures are the elapsed view's"
    );
    let stop = decision
        .overridden
        .expect("the per-attempt view's stop is kept");
    assert!(stop.cost >= m.give_up_cost(), "{stop:?}");
    assert_eq!(best, m.candidate_in(View::Elapsed, 60_000, best.index, 5));
}

#[test]
fn failures_observed_at_those_times_are() {
    let m = window_evidence(50.0);
    assert_eq!(m.view(), View::PerAttempt);
    let decision = m.best(60_000, 5, 0).expect("a boundary in reach");
    let best = decision.best;
    assert!(best.cost >= m.give_up_cost(), "keeps retrying: {best:?}");
    assert_eq!(
        (decision.view, decision.overridden),
        (View::PerAttempt, None)
    );
}

/// Flaky outcomes on the schedule the elapsed view plans for a young class (15 s, then 50 s
/// and 2 min elapsed): each interval tried learns the same chance in both views, so the data
/// cannot tell them apart. The per-attempt view decides then and retries at once; before,
/// the elapsed view kept the class and its 15 s wait (`eval`'s flaky scenario).
#[test]
fn flaky_outcomes_on_one_schedule_choose_the_per_attempt_view() {
    let mut m = SurvivalModel::new(params());
    let mut state = 5u64;
    let mut success = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % 10 < 6
    };
    for _ in 0..300 {
        let mut previous = 0;
        for e in [15_000, 50_000, 120_000] {
            let ok = success();
            m.observe(previous, e, ok, at());
            if m.needs_refresh() {
                m.refresh(params());
            }
            if ok {
                break;
            }
            previous = e;
        }
    }
    m.refresh(params());
    assert_eq!(m.view(), View::PerAttempt);
    let best = m.best(0, 5, 0).unwrap().best;
    assert!(best.delay_ms <= 1_000, "{best:?}");
}

/// An outage class (recovery 20–40 s, retried at 10 s and 40 s) learned, then thousands of
/// retries at 60 s that all succeed, as after an incident whose jobs were paced: both views
/// predict them alike, so the elapsed view's lead decays, but the view holds and a new job
/// still waits for the recovery time instead of retrying at once.
#[test]
fn outcomes_both_views_predict_alike_do_not_turn_the_view() {
    let mut m = SurvivalModel::new(params());
    for i in 0..200u64 {
        episode(&mut m, 20_000 + (i * 7_919) % 20_000, &[10_000, 40_000]);
    }
    m.refresh(params());
    assert_eq!(m.view(), View::Elapsed);
    for _ in 0..3_000 {
        episode(&mut m, 0, &[60_000]);
    }
    m.refresh(params());
    assert!(!m.view_decided(), "{:?}", m.counts);
    assert_eq!(m.view(), View::Elapsed);
    let best = m.best(0, 5, 0).unwrap().best;
    assert!(best.delay_ms >= 10_000, "{best:?}");
}
