use super::*;
use chrono::Duration;

fn attempt(job: &str, n: u32, success: bool, at: DateTime<Utc>) -> AttemptRecord {
    let json = serde_json::json!({
        "job_id": job, "job_type": "email", "attempt_number": n,
        "error_class": if success { "" } else { "timeout" },
        "success": success, "timestamp": at.to_rfc3339(),
    });
    serde_json::from_value(json).unwrap()
}

fn query(steps: u32) -> PatternQuery {
    PatternQuery {
        job_type: "email".into(),
        error_class: "timeout".into(),
        tenant: None,
        steps,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

/// One job per recovery time: fails (attempt 1) at t0, succeeds `ms` later.
fn book_with_recoveries(ms: &[i64]) -> PatternBook {
    let mut book = PatternBook::default();
    for (i, &ms) in ms.iter().enumerate() {
        let job = format!("j{i}");
        book.record_attempt(&attempt(&job, 1, false, t0()), t0());
        let done = t0() + Duration::milliseconds(ms);
        book.record_attempt(&attempt(&job, 2, true, done), t0());
    }
    book
}

#[test]
fn recoveries_are_counted_by_time_and_summarised() {
    let book = book_with_recoveries(&[1_000, 3_000, 5_000, 20_000, 60_000]);
    let p = book.query(&query(144), t0());
    assert_eq!(p.failures, 5);
    let r = p.recovered;
    assert_eq!((r.within_5s, r.within_30s, r.later), (3, 1, 1));
    let times = p.recovery.unwrap();
    assert_eq!(times.count, 5);
    assert!((times.mean_ms - 17_800.0).abs() < 1e-6, "{times:?}");
    // Population sd of the five values.
    assert!((times.sd_ms - 22_139.56).abs() < 0.01, "{times:?}");
    assert!((times.median_ms / 5_000.0 - 1.0).abs() < 0.05, "{times:?}");
    assert!((times.p90_ms / 60_000.0 - 1.0).abs() < 0.05, "{times:?}");
}

#[test]
fn endings_count_only_followed_jobs() {
    let mut book = PatternBook::default();
    book.record_attempt(&attempt("a", 1, false, t0()), t0());
    book.record_attempt(&attempt("b", 1, false, t0()), t0());
    book.record_end("a", Ending::GaveUp, t0());
    book.record_end("b", Ending::HitMaxAttempts, t0());
    book.record_end("never-seen", Ending::GaveUp, t0());
    // A success after the end is not a recovery.
    book.record_attempt(&attempt("a", 2, true, t0()), t0());
    let p = book.query(&query(144), t0());
    assert_eq!((p.given_up, p.hit_max_attempts), (1, 1));
    assert_eq!(p.recovered.total(), 0);
    assert!(p.recovery.is_none());
}

#[test]
fn the_window_and_the_filters_select_steps() {
    let mut book = PatternBook::default();
    let old = t0() - Duration::hours(3);
    book.record_attempt(&attempt("old", 1, false, old), old);
    let mut other = attempt("t", 1, false, t0());
    other.tenant = Some("acme".into());
    book.record_attempt(&other, t0());
    assert_eq!(book.query(&query(144), t0()).failures, 2);
    assert_eq!(book.query(&query(6), t0()).failures, 1, "the last hour");
    let mut acme = query(144);
    acme.tenant = Some("acme".into());
    assert_eq!(book.query(&acme, t0()).failures, 1);
    acme.error_class = "rate_limit".into();
    assert_eq!(book.query(&acme, t0()).failures, 0);
}

#[test]
fn steps_older_than_a_day_are_dropped() {
    let mut book = PatternBook::default();
    let day_ago = t0() - Duration::hours(24);
    book.record_attempt(&attempt("old", 1, false, day_ago), day_ago);
    book.record_attempt(&attempt("new", 1, false, t0()), t0());
    assert_eq!(book.query(&query(144), t0()).failures, 1);
}

#[test]
fn the_peak_is_the_busiest_thirty_minutes() {
    let mut book = PatternBook::default();
    let counts = [(0, 1), (20, 4), (30, 5), (40, 3), (90, 6)];
    for (minutes, n) in counts {
        let at = t0() + Duration::minutes(minutes);
        for i in 0..n {
            let job = format!("{minutes}-{i}");
            book.record_attempt(&attempt(&job, 1, false, at), at);
        }
    }
    let now = t0() + Duration::minutes(100);
    let peak = book.query(&query(144), now).peak_failures.unwrap();
    assert_eq!(peak.failures, 12);
    assert_eq!(peak.from, t0() + Duration::minutes(20));
    assert_eq!(peak.to, t0() + Duration::minutes(50));
    let current = book.query(&query(1), t0()).peak_failures.unwrap();
    assert_eq!(
        (current.to, current.failures),
        (t0(), 1),
        "ends at now, not in the future"
    );
    let empty = PatternBook::default().query(&query(144), now);
    assert!(empty.peak_failures.is_none());
}

/// The cost measured over 10⁶ attempts: 1000 keys, 5 tenants, spread over 24 hours. Run with
/// `cargo test --release patterns_query_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement; slow in debug builds"]
fn patterns_query_cost() {
    let mut book = PatternBook::default();
    let start = t0() - Duration::hours(24);
    for i in 0..1_000_000u64 {
        let at = start + Duration::microseconds((i * 86_400) as i64);
        let mut a = attempt(&format!("j{}", i / 2), 1 + (i % 2) as u32, i % 2 == 1, at);
        a.job_type = format!("type{}", (i / 2) % 200);
        a.error_class = if a.success {
            String::new()
        } else {
            format!("e{}", (i / 2) % 5)
        };
        a.tenant = Some(format!("t{}", (i / 400) % 5));
        book.record_attempt(&a, at);
    }
    let mut took = Vec::new();
    for k in 0..1_000 {
        let mut q = query(144);
        q.job_type = format!("type{}", k % 200);
        q.error_class = format!("e{}", k % 5);
        let started = std::time::Instant::now();
        let p = book.query(&q, t0());
        took.push(started.elapsed());
        assert!(p.failures > 0);
    }
    took.sort();
    println!(
        "p50 {:?} p99 {:?} max {:?}",
        took[500], took[990], took[999]
    );
}

#[test]
fn a_full_table_follows_new_jobs_again_once_old_episodes_age_out() {
    let mut book = PatternBook::default();
    for i in 0..MAX_OPEN_EPISODES {
        book.record_attempt(&attempt(&format!("old-{i}"), 1, false, t0()), t0());
    }
    book.record_attempt(&attempt("same-step", 1, false, t0()), t0());
    assert!(
        !book.open.contains_key(&book.id("same-step")),
        "followed past the cap"
    );
    let later = t0() + Duration::hours(24) + Duration::minutes(10);
    book.record_attempt(&attempt("next-day", 1, false, later), later);
    assert!(book.open.contains_key(&book.id("next-day")));
    assert_eq!(book.open.len(), 1, "episodes older than a day were kept");
}

#[test]
fn a_configured_cap_bounds_the_followed_jobs() {
    let mut book = PatternBook::new(2);
    for job in ["a", "b", "c"] {
        book.record_attempt(&attempt(job, 1, false, t0()), t0());
    }
    assert_eq!(book.open.len(), 2);
    assert!(
        !book.open.contains_key(&book.id("c")),
        "followed past the cap"
    );
    let p = book.query(&query(1), t0());
    assert_eq!(
        p.failures, 3,
        "a job past the cap still counts as a failure"
    );
}

#[test]
fn keys_and_pairs_by_reference_hash_and_compare_as_the_owned_ones() {
    let hasher = hashbrown::DefaultHashBuilder::default();
    let keys = [
        ("email", "timeout", ""),
        ("email", "timeout", "acme"),
        ("sms", "timeout", ""),
    ];
    for (job_type, error_class, tenant) in keys {
        let by_ref = KeyRef {
            job_type,
            error_class,
            tenant,
        };
        let owned = Arc::new(by_ref.owned());
        assert_eq!(hasher.hash_one(by_ref), hasher.hash_one(&owned));
        assert!(by_ref.equivalent(&owned));
        let pair = (job_type.to_string(), error_class.to_string());
        let pair_ref = PairRef(job_type, error_class);
        assert_eq!(hasher.hash_one(pair_ref), hasher.hash_one(&pair));
        assert!(pair_ref.equivalent(&pair));
    }
    let other = Arc::new(
        KeyRef::from(&Key {
            job_type: "email".into(),
            error_class: "timeout".into(),
            tenant: "acme".into(),
        })
        .owned(),
    );
    assert!(
        !KeyRef {
            job_type: "email",
            error_class: "timeout",
            tenant: ""
        }
        .equivalent(&other)
    );
}

#[test]
fn a_followed_job_ends_once_and_its_key_is_shared() {
    let mut book = PatternBook::default();
    book.record_attempt(&attempt("a", 1, false, t0()), t0());
    book.record_attempt(&attempt("b", 1, false, t0()), t0());
    assert_eq!(book.keys.len(), 1, "one key for two jobs of the same kind");
    let done = t0() + Duration::seconds(3);
    assert!(
        book.record_attempt(&attempt("a", 2, true, done), t0())
            .is_some()
    );
    assert!(
        book.record_attempt(&attempt("a", 3, true, done), t0())
            .is_none()
    );
    assert_eq!(
        book.record_end("b", Ending::GaveUp, t0()),
        Some(step_of(t0()))
    );
    assert!(book.open.is_empty());
}

#[test]
fn a_followed_job_takes_the_32_bytes_the_module_docs_promise() {
    assert_eq!(std::mem::size_of::<(u64, Episode)>(), 32);
}

#[test]
fn a_job_first_heard_of_past_the_steps_32_bits_hold_is_counted_not_followed() {
    let mut book = PatternBook::default();
    let far = Utc.with_ymd_and_hms(50_000, 1, 1, 0, 0, 0).unwrap();
    book.record_attempt(&attempt("far", 1, false, t0()), far);
    assert!(book.open.is_empty(), "followed past the steps it can hold");
    assert_eq!(book.query(&query(1), far).failures, 1);
    book.record_attempt(&attempt("near", 1, false, t0()), t0());
    assert_eq!(
        book.record_end("near", Ending::GaveUp, t0()),
        Some(step_of(t0()))
    );
}

/// The per-step counts of followed jobs, from the table itself.
fn counted_from_the_table(book: &PatternBook) -> BTreeMap<i32, u32> {
    let mut counts = BTreeMap::new();
    for ep in book.open.values() {
        *counts.entry(ep.opened_step).or_default() += 1;
    }
    counts
}

proptest::proptest! {
    /// Over random first failures, re-sent first failures, successes and endings spread over
    /// three days on a small table, the counts that decide whether to sweep always match the
    /// table, and no episode older than 24 hours is kept once the table was full.
    #[test]
    fn the_sweep_counts_match_the_table(
        ops in proptest::collection::vec((0u8..4, 0u16..40, 0u32..(3 * 144)), 1..400),
    ) {
        let mut book = PatternBook::new(16);
        for (kind, job, step) in ops {
            let at = t0() + Duration::minutes(10 * i64::from(step));
            let job = format!("j{job}");
            match kind {
                0 | 1 => { book.record_attempt(&attempt(&job, 1, false, at), at); }
                2 => { book.record_attempt(&attempt(&job, 2, true, at), at); }
                _ => { book.record_end(&job, Ending::GaveUp, at); }
            }
            proptest::prop_assert_eq!(&book.opened_per_step, &counted_from_the_table(&book));
            proptest::prop_assert!(book.open.len() <= 16);
        }
    }
}

#[test]
fn a_full_table_takes_no_new_job_until_its_oldest_step_ages_out() {
    let mut book = PatternBook::new(3);
    for job in ["a", "b", "c"] {
        book.record_attempt(&attempt(job, 1, false, t0()), t0());
    }
    let next_step = t0() + Duration::minutes(10);
    book.record_attempt(&attempt("d", 1, false, next_step), next_step);
    assert_eq!(book.open.len(), 3);
    assert_eq!(
        book.opened_per_step.values().sum::<u32>(),
        3,
        "the counts lost a job"
    );
    let a_day_later = t0() + Duration::hours(24);
    book.record_attempt(&attempt("e", 1, false, a_day_later), a_day_later);
    assert!(book.open.contains_key(&book.id("e")), "aged episodes kept");
    assert_eq!(book.open.len(), 1);
}
