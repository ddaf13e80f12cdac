//! Learning tests: synthetic episodes driven through `recommend` → wait → `observe`, in
//! virtual time, compared with the static exponential backoff on the same episodes.

use super::*;

/// How a synthetic failure ends.
#[derive(Debug, Clone, Copy)]
enum Process {
    /// Every attempt from this long after the first failure on succeeds.
    Outage { from_ms: u64, to_ms: u64 },
    /// Each attempt succeeds with this chance, whenever it is made.
    Flaky(f64),
    /// Never succeeds.
    Never,
}

struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Default)]
struct Tally {
    jobs: u64,
    succeeded: u64,
    retries: u64,
    waited_ms: u64,
    first_delays: Vec<u64>,
    methods: BTreeMap<Method, u64>,
}

impl Tally {
    /// The engine's default cost: retries × 1 + seconds × 0.05 + 100 per job that never
    /// succeeds.
    fn cost(&self) -> f64 {
        self.cost_with(&CostWeights::default())
    }

    fn cost_with(&self, w: &CostWeights) -> f64 {
        let failed = (self.jobs - self.succeeded) as f64;
        let seconds = self.waited_ms as f64 / 1000.0;
        (self.retries as f64 * w.per_attempt + seconds * w.per_second + failed * w.give_up_penalty)
            / self.jobs as f64
    }
}

use std::collections::BTreeMap;

/// Runs `jobs` episodes of `process`, starting `start_job` apart in virtual time.
fn run(
    e: &mut Engine,
    process: Process,
    jobs: u64,
    start_job: u64,
    rng: &mut Lcg,
    smart: bool,
) -> Tally {
    let mut tally = Tally::default();
    for n in start_job..start_job + jobs {
        let first = t0() + Duration::seconds(n as i64 * 4_000);
        let recovery = match process {
            Process::Outage { from_ms, to_ms } => {
                from_ms + (rng.unit() * (to_ms - from_ms) as f64) as u64
            }
            _ => 0,
        };
        let job_id = format!("job-{n}");
        let mut record = attempt_record(&job_id, 1, 0, first, false);
        e.observe(&record);
        tally.jobs += 1;
        let mut at = first;
        loop {
            let mut f = record.features();
            f.queue = "default".into();
            let rec = if smart {
                e.recommend(&f, at)
            } else {
                e.static_recommendation(&f, at)
            };
            *tally.methods.entry(rec.method).or_default() += 1;
            if !rec.should_retry {
                break;
            }
            if record.attempt_number == 1 {
                tally.first_delays.push(rec.delay_ms);
            }
            at += Duration::milliseconds(rec.delay_ms as i64);
            let elapsed = (at - first).num_milliseconds() as u64;
            let success = match process {
                Process::Outage { .. } => elapsed >= recovery,
                Process::Flaky(p) => rng.unit() < p,
                Process::Never => false,
            };
            tally.retries += 1;
            record = attempt_record(
                &job_id,
                record.attempt_number + 1,
                rec.delay_ms,
                at,
                success,
            );
            e.observe(&record);
            if success {
                tally.succeeded += 1;
                tally.waited_ms += elapsed;
                break;
            }
        }
    }
    tally
}

fn attempt_record(
    job: &str,
    n: u32,
    delay: u64,
    at: DateTime<Utc>,
    success: bool,
) -> AttemptRecord {
    attempt(job, "payment", "upstream_503", n, delay, at, success)
}

fn smart_engine() -> Engine {
    let mut s = default_strategy();
    // The circuit breaker would rightly stop retries into a class that never recovers; these
    // tests are about what the model learns.
    s.guardrails.circuit_breaker.enabled = false;
    Engine::new(s, EngineSettings::default(), 11)
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Teaches `e` with `taught` episodes of `process`, then measures it on `measured` more; and
/// the static backoff on as many from the same seed. Returns (learned, static).
fn learned_and_static(
    e: &mut Engine,
    process: Process,
    taught: u64,
    measured: u64,
    seed: u64,
) -> (Tally, Tally) {
    let mut rng = Lcg(seed);
    run(e, process, taught, 0, &mut rng, true);
    let smart = run(e, process, measured, taught, &mut rng, true);
    let fixed = run(
        &mut smart_engine(),
        process,
        measured,
        0,
        &mut Lcg(seed),
        false,
    );
    (smart, fixed)
}

/// Asserts the learned strategy costs less than `ratio` × the static one (the target on
/// recovering scenarios is 0.75) at an equal or better success rate.
fn assert_cheaper(smart: &Tally, fixed: &Tally, ratio: f64) {
    assert!(
        smart.succeeded >= fixed.succeeded,
        "succeeded {} vs {}",
        smart.succeeded,
        fixed.succeeded
    );
    assert!(
        smart.cost() < ratio * fixed.cost(),
        "smart {:.2} vs static {:.2}",
        smart.cost(),
        fixed.cost()
    );
}

#[test]
fn outages_ending_six_to_twelve_seconds_in_are_waited_out_and_beat_static_backoff() {
    let process = Process::Outage {
        from_ms: 6_000,
        to_ms: 12_000,
    };
    let mut e = smart_engine();
    let (mut smart, fixed) = learned_and_static(&mut e, process, 300, 300, 5);
    assert!(
        smart.methods[&Method::Bayesian] > 290,
        "{:?}",
        smart.methods
    );
    let first = median(&mut smart.first_delays);
    assert!(
        (6_000..=13_500).contains(&first),
        "median first retry {first}ms"
    );
    assert_cheaper(&smart, &fixed, 0.75);
    let x = e.recommend(&attempt_record("probe", 1, 0, t0(), false).features(), t0());
    assert!(
        x.rationale.starts_with("bayesian (payment/upstream_503)"),
        "{}",
        x.rationale
    );
    assert!(x.rationale.contains("credible"), "{}", x.rationale);
    let why = x.explanation.unwrap();
    assert!(
        why.posterior.is_some() && !why.alternatives.is_empty() && !why.similar_cases.is_empty()
    );
    assert_eq!(why.alternatives.iter().filter(|a| a.chosen).count(), 1);
}

#[test]
fn a_strategy_with_the_bayesian_tier_off_decides_by_rules() {
    let process = Process::Outage {
        from_ms: 6_000,
        to_ms: 12_000,
    };
    let mut e = smart_engine();
    run(&mut e, process, 300, 0, &mut Lcg(5), true);
    let probe = attempt_record("probe", 1, 0, t0(), false).features();
    assert_eq!(e.recommend(&probe, t0()).method, Method::Bayesian);
    let mut off = e.strategy().clone();
    off.bayesian_enabled = false;
    e.set_strategy(off).unwrap();
    assert_eq!(e.recommend(&probe, t0()).method, Method::Rules);
}

#[test]
fn flaky_failures_get_short_delays() {
    let (mut smart, fixed) =
        learned_and_static(&mut smart_engine(), Process::Flaky(0.5), 400, 200, 8);
    let first = median(&mut smart.first_delays);
    assert!(first <= 1_500, "median first retry {first}ms (static: 2s)");
    assert!(
        smart.cost() < fixed.cost(),
        "smart {:.2} vs static {:.2}",
        smart.cost(),
        fixed.cost()
    );
}

#[test]
fn failures_that_never_recover_are_stopped_after_evidence() {
    let mut e = smart_engine();
    let mut rng = Lcg(3);
    run(&mut e, Process::Never, 200, 0, &mut rng, true);
    let later = run(&mut e, Process::Never, 200, 200, &mut rng, true);
    let per_job = later.retries as f64 / later.jobs as f64;
    assert!(
        per_job <= 0.05,
        "{per_job} retries per job, {:?}",
        later.methods
    );
    let r = e.recommend(&attempt_record("x", 1, 0, t0(), false).features(), t0());
    assert!(
        !r.should_retry && r.method == Method::Bayesian,
        "{}",
        r.rationale
    );
}

#[test]
fn a_young_model_falls_back_to_rules_and_says_why() {
    let mut e = smart_engine();
    run(
        &mut e,
        Process::Outage {
            from_ms: 6_000,
            to_ms: 12_000,
        },
        2,
        0,
        &mut Lcg(1),
        true,
    );
    let r = e.recommend(&attempt_record("x", 1, 0, t0(), false).features(), t0());
    assert_eq!(r.method, Method::Rules);
    let why = r.explanation.unwrap();
    assert_eq!(
        (why.fallbacks[0].from, why.fallbacks[0].to),
        (Method::Bayesian, Method::Rules)
    );
    assert!(
        why.fallbacks[0].reason.contains("payment/upstream_503 has"),
        "{}",
        why.fallbacks[0].reason
    );
    assert!(
        r.rationale.contains("observed") && r.estimated_success > 0.0,
        "the rules answer carries what the young model observed: {} ({})",
        r.rationale,
        r.estimated_success
    );
}

#[test]
fn a_retry_after_hint_schedules_the_first_retry_just_after_it() {
    let mut e = smart_engine();
    run(
        &mut e,
        Process::Outage {
            from_ms: 6_000,
            to_ms: 12_000,
        },
        100,
        0,
        &mut Lcg(2),
        true,
    );
    let mut f = attempt_record("x", 1, 0, t0(), false).features();
    f.retry_after_ms = Some(20_000);
    let r = e.recommend(&f, t0());
    assert_eq!(r.method, Method::Bayesian);
    assert!((20_000..=20_500).contains(&r.delay_ms), "{}", r.delay_ms);
    assert!(
        r.rationale.contains("Retry-After 20s honoured"),
        "{}",
        r.rationale
    );
}

#[test]
fn exploration_never_exceeds_its_share() {
    let settings = EngineSettings {
        exploration_rate: 0.2,
        ..EngineSettings::default()
    };
    let mut s = default_strategy();
    s.guardrails.circuit_breaker.enabled = false;
    let mut e = Engine::new(s, settings, 4);
    let process = Process::Outage {
        from_ms: 6_000,
        to_ms: 12_000,
    };
    run(&mut e, process, 400, 0, &mut Lcg(9), true);
    assert!(e.explore.decided > 100);
    assert!(
        e.explore.explored as f64 <= 0.2 * e.explore.decided as f64,
        "{:?}",
        e.explore
    );
    assert!(e.explore.explored > 0, "exploration happens");
}

#[test]
fn tenants_get_their_own_model_once_they_have_enough_data() {
    let settings = EngineSettings {
        tenant_min_samples: 20,
        ..EngineSettings::default()
    };
    let mut e = Engine::new(default_strategy(), settings, 4);
    let mut rng = Lcg(4);
    for n in 0..40u64 {
        let first = t0() + Duration::seconds(n as i64 * 100);
        let mut r1 = attempt_record(&format!("t{n}"), 1, 0, first, false);
        r1.tenant = Some("acme".into());
        e.observe(&r1);
        let at = first + Duration::milliseconds(8_000 + (rng.unit() * 100.0) as i64);
        let mut r2 = attempt_record(&format!("t{n}"), 2, 8_000, at, true);
        r2.tenant = Some("acme".into());
        e.observe(&r2);
    }
    let mut f = attempt_record("y", 1, 0, t0(), false).features();
    f.tenant = Some("acme".into());
    let key = e.recommend(&f, t0()).explanation.unwrap().model_key;
    assert_eq!(key.as_deref(), Some("payment/upstream_503/acme"));
    f.tenant = Some("other".into());
    let key = e.recommend(&f, t0()).explanation.unwrap().model_key;
    assert_eq!(
        key.as_deref(),
        Some("payment/upstream_503@12h"),
        "every episode began at noon: the hour-of-day model has enough data"
    );
    let at_night = t0() + Duration::hours(12);
    let key = e.recommend(&f, at_night).explanation.unwrap().model_key;
    assert_eq!(key.as_deref(), Some("payment/upstream_503"));
    f.job_type = "refund".into();
    let key = e.recommend(&f, t0()).explanation.unwrap().model_key;
    assert_eq!(
        key.as_deref(),
        Some("*/upstream_503"),
        "class-wide model for a new job type"
    );
    let status = e.model_status();
    // job, class-wide, tenant, and two hour-of-day models (the episodes ran 12:00–13:05);
    // the 13h one is too young to be used.
    assert_eq!((status.bayesian_models, status.warm_models), (5, 4));
}

#[test]
fn a_snapshot_restores_everything_learned() {
    // No exploration: the random state is not part of what is learned.
    let quiet = || {
        let mut s = default_strategy();
        s.guardrails.circuit_breaker.enabled = false;
        let settings = EngineSettings {
            exploration_rate: 0.0,
            ..EngineSettings::default()
        };
        Engine::new(s, settings, 11)
    };
    let mut e = quiet();
    run(
        &mut e,
        Process::Outage {
            from_ms: 6_000,
            to_ms: 12_000,
        },
        60,
        0,
        &mut Lcg(6),
        true,
    );
    e.observe(&attempt_record("open-job", 1, 0, t0(), false));
    // Settle pending samples so both sides derive from the same counts.
    assert!(e.refresh_model("payment", "upstream_503", t0()));
    let text = serde_json::to_string(&e.snapshot()).unwrap();
    let mut back = quiet();
    back.restore(serde_json::from_str(&text).unwrap()).unwrap();
    let json = |e: &Engine| serde_json::to_string(&e.bayesian_models()).unwrap();
    assert!(json(&back) == json(&e), "models differ after restore");
    assert_eq!(back.model_status(), e.model_status());
    assert!(back.snapshot() == e.snapshot(), "snapshots differ");
    let mut f = attempt_record("open-job", 1, 0, t0(), false).features();
    f.queue = "default".into();
    let (a, b) = (e.preview(&f, 0, t0()), back.preview(&f, 0, t0()));
    assert!(a == b, "same model, same episode, same plan");
    let bad = EngineSnapshot::new(99, &serde_json::Value::Null).unwrap();
    assert!(back.restore(bad).unwrap_err().contains("version 99"));
    let garbage = EngineSnapshot::new(1, &serde_json::json!({"models": 3})).unwrap();
    assert!(back.restore(garbage).unwrap_err().contains("malformed"));
    assert!(
        back.snapshot() == e.snapshot(),
        "a refused snapshot changes nothing"
    );
}

/// What the service stores: the document written as it is encoded is the whole snapshot's
/// text byte for byte, and read back as it is decoded it restores the same engine.
#[test]
fn a_snapshot_written_and_read_in_pieces_is_the_same_snapshot() {
    let mut e = smart_engine();
    run(
        &mut e,
        Process::Outage {
            from_ms: 6_000,
            to_ms: 12_000,
        },
        60,
        0,
        &mut Lcg(6),
        true,
    );
    for i in 0..50 {
        e.observe(&attempt_record(&format!("open-{i}"), 1, 0, t0(), false));
    }
    let whole = serde_json::to_vec(&e.snapshot()).unwrap();
    let mut streamed = Vec::new();
    let copy = e.snapshot_copy();
    crate::model::SnapshotSource::write_document(&copy, &mut streamed).unwrap();
    assert!(streamed == whole, "the streamed document differs");
    let read = |text: &[u8]| serde_json::from_reader::<_, StoredSnapshot>(text);
    let mut back = smart_engine();
    back.restore_stored(read(&streamed).unwrap());
    assert!(back.snapshot() == e.snapshot(), "snapshots differ");
    // Data before the version (no writer does this) is read too.
    let text = std::str::from_utf8(&whole).unwrap();
    let data = &text[text.find("\"data\":").unwrap() + 7..text.len() - 1];
    let swapped = format!("{{\"data\":{data},\"version\":3}}");
    let mut again = smart_engine();
    again.restore_stored(read(swapped.as_bytes()).unwrap());
    assert!(again.snapshot() == e.snapshot(), "data before version");
    // The empty snapshot holds nothing; an unknown version and malformed data are refused.
    assert!(read(br#"{"version":0,"data":null}"#).unwrap().0.is_none());
    let unknown = read(br#"{"version":99,"data":{}}"#)
        .err()
        .unwrap()
        .to_string();
    assert!(unknown.contains("version 99 is not supported"), "{unknown}");
    let malformed = read(br#"{"version":3,"data":{"models":3}}"#).err().unwrap();
    assert!(malformed.is_data(), "{malformed}");
}

#[test]
fn models_are_exported_in_the_upstream_shape() {
    let mut e = smart_engine();
    run(
        &mut e,
        Process::Outage {
            from_ms: 6_000,
            to_ms: 12_000,
        },
        50,
        0,
        &mut Lcg(6),
        true,
    );
    let models = e.bayesian_models();
    let m = models.iter().find(|m| m.job_type == "payment").unwrap();
    let edges: Vec<(u64, u64)> = m
        .buckets
        .iter()
        .map(|b| (b.delay_min_ms, b.delay_max_ms))
        .collect();
    assert_eq!(
        edges,
        [
            (0, 1_000),
            (1_000, 5_000),
            (5_000, 15_000),
            (15_000, 30_000),
            (30_000, 60_000),
            (60_000, 300_000),
            (300_000, 900_000),
            (900_000, 0)
        ]
    );
    for b in &m.buckets {
        assert!(
            b.lower_bound <= b.probability && b.probability <= b.upper_bound,
            "{b:?}"
        );
    }
    assert!(m.sample_count >= 50);
    let curve = &m.recovery_curve;
    assert!(
        curve
            .windows(2)
            .all(|w| w[0].probability <= w[1].probability + 1e-12),
        "monotone"
    );
    let trained = e.model_status().last_trained;
    let trained = trained.expect("models train on their own as samples arrive");
    let later = trained + chrono::Duration::hours(3);
    assert!(e.refresh_model("payment", "upstream_503", later));
    assert!(!e.refresh_model("payment", "nope", later));
    assert_eq!(
        e.model_status().last_trained,
        Some(later),
        "a retrain is when it was trained"
    );
}

#[test]
fn preview_of_a_learned_class_plans_with_the_model() {
    let mut e = smart_engine();
    run(
        &mut e,
        Process::Outage {
            from_ms: 6_000,
            to_ms: 12_000,
        },
        200,
        0,
        &mut Lcg(7),
        true,
    );
    let f = attempt_record("new", 1, 0, t0(), false).features();
    let p = e.preview(&f, 0, t0());
    assert!(!p.timeline.is_empty());
    assert_eq!(p.timeline[0].method, Method::Bayesian);
    assert!(
        p.timeline
            .windows(2)
            .all(|w| w[0].estimated_success <= w[1].estimated_success),
        "cumulative"
    );
    assert!(p.timeline[0].estimated_success > 0.5, "{:?}", p.timeline[0]);
}

#[test]
fn a_recovery_time_that_drifts_is_relearned() {
    let mut e = smart_engine();
    let mut rng = Lcg(12);
    run(
        &mut e,
        Process::Outage {
            from_ms: 6_000,
            to_ms: 12_000,
        },
        300,
        0,
        &mut rng,
        true,
    );
    let later = Process::Outage {
        from_ms: 20_000,
        to_ms: 30_000,
    };
    let first_window = run(&mut e, later, 100, 300, &mut rng, true);
    run(&mut e, later, 200, 400, &mut rng, true);
    let mut settled = run(&mut e, later, 100, 600, &mut rng, true);
    let fixed = run(&mut smart_engine(), later, 100, 0, &mut Lcg(12), false);
    assert_eq!(settled.succeeded, settled.jobs);
    let first = median(&mut settled.first_delays);
    assert!(
        (20_000..=35_000).contains(&first),
        "median first retry {first}ms after the drift"
    );
    assert!(
        settled.cost() < first_window.cost(),
        "{:.2} then {:.2}",
        first_window.cost(),
        settled.cost()
    );
    assert_cheaper(&settled, &fixed, 0.75);
}

#[test]
fn a_maintenance_window_is_waited_out_where_static_backoff_gives_up() {
    let window = Process::Outage {
        from_ms: 0,
        to_ms: 600_000,
    };
    let (smart, fixed) = learned_and_static(&mut smart_engine(), window, 300, 200, 21);
    assert!(smart.succeeded > fixed.succeeded, "{smart:?} vs {fixed:?}");
    assert_cheaper(&smart, &fixed, 0.75);
}

#[test]
fn rate_limit_windows_without_a_hint_are_learned() {
    let window = Process::Outage {
        from_ms: 0,
        to_ms: 60_000,
    };
    let (smart, fixed) = learned_and_static(&mut smart_engine(), window, 300, 200, 31);
    assert_cheaper(&smart, &fixed, 0.75);
}

#[test]
fn the_cost_weights_given_are_the_ones_minimised() {
    // A caller that values time more (1 per second, as `eval` may) gets earlier retries.
    let weights = CostWeights {
        per_attempt: 1.0,
        per_second: 1.0,
        give_up_penalty: 100.0,
    };
    let settings = EngineSettings {
        cost: weights.clone(),
        ..EngineSettings::default()
    };
    let mut s = default_strategy();
    s.guardrails.circuit_breaker.enabled = false;
    let mut e = Engine::new(s, settings, 11);
    let process = Process::Outage {
        from_ms: 6_000,
        to_ms: 12_000,
    };
    let (smart, fixed) = learned_and_static(&mut e, process, 300, 300, 5);
    let (a, b) = (smart.cost_with(&weights), fixed.cost_with(&weights));
    assert!(a < 0.75 * b, "smart {a:.2} vs static {b:.2}");
}

/// The similar cases of a job's recommendation are other jobs' retries: its own earlier
/// attempts are its history, not evidence from a similar case.
#[test]
fn similar_cases_leave_out_the_jobs_own_attempts() {
    let mut e = smart_engine();
    let s = chrono::Duration::seconds;
    for (job, start) in [("mine", t0()), ("other", t0() + s(1))] {
        e.observe(&attempt_record(job, 1, 0, start, false));
        e.observe(&attempt_record(job, 2, 2_000, start + s(2), false));
    }
    let mut features = attempt_record("mine", 2, 2_000, t0() + s(2), false).features();
    features.job_id = Some("mine".into());
    let rec = e.recommend(&features, t0() + s(3));
    let cases = rec.explanation.unwrap().similar_cases;
    let ids: Vec<&str> = cases.iter().map(|c| c.job_id.as_str()).collect();
    assert!(ids.contains(&"other"), "{ids:?}");
    assert!(!ids.contains(&"mine"), "{ids:?}");
}
