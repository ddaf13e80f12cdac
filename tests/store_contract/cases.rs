//! The contract cases: every backend must pass each of them on a fresh, empty store.

use super::fixtures::{
    FailsAfter, alert, attempt, audit, document_of, job, loaded_snapshot, secs, t0,
};
use retryctl::engine::default_strategy;
use retryctl::model::{
    AttemptRecord, CircuitForce, EngineSnapshot, ForcedCircuit, JobState, Pause, PauseScope,
    ScheduledJob,
};
use retryctl::store::{Claim, ClassTally, JobFilter, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

type S = Arc<dyn Store>;

pub async fn append_returns_increasing_seqs(store: S) {
    let first = store
        .append_attempts(vec![attempt("a", 1, 0, false), attempt("b", 1, 1, false)])
        .await
        .unwrap();
    let second = store
        .append_attempts(vec![attempt("a", 2, 5, true)])
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(second.len(), 1);
    assert!(first[0] > 0 && first[0] < first[1] && first[1] < second[0]);
    assert!(store.append_attempts(vec![]).await.unwrap().is_empty());
}

pub async fn job_attempts_are_the_jobs_oldest_first(store: S) {
    let late = attempt("a", 3, 30, true);
    let early = attempt("a", 1, 0, false);
    let middle = attempt("a", 2, 10, false);
    store
        .append_attempts(vec![late.clone(), attempt("b", 1, 5, false), early.clone()])
        .await
        .unwrap();
    store.append_attempts(vec![middle.clone()]).await.unwrap();
    let got = store.job_attempts("a").await.unwrap();
    assert_eq!(got, vec![early, middle, late]);
    assert!(store.job_attempts("nobody").await.unwrap().is_empty());
}

pub async fn attempts_after_pages_in_sequence_order(store: S) {
    let all: Vec<AttemptRecord> = (0..25)
        .map(|i| attempt(&format!("j{i}"), 1, i, false))
        .collect();
    let seqs = store.append_attempts(all.clone()).await.unwrap();
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.attempts_after(after, 7).await.unwrap();
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        after = last.0;
        seen.extend(page);
    }
    let expected: Vec<(u64, AttemptRecord)> = seqs.into_iter().zip(all).collect();
    assert_eq!(seen, expected);
    let tail = store.attempts_after(expected[20].0, 100).await.unwrap();
    assert_eq!(tail, expected[21..].to_vec());
}

pub async fn aggregate_counts_retries_in_half_open_window(store: S) {
    let mut other_class = attempt("x", 2, 10, true);
    other_class.error_class = "rate_limit".into();
    let mut other_type = attempt("y", 2, 10, true);
    other_type.job_type = "sms".into();
    let records = vec![
        attempt("a", 1, -1, false), // before the window
        attempt("a", 1, 0, false),  // first run: counted, not a retry
        attempt("a", 2, 10, false), // failed retry, delay 2000
        attempt("a", 3, 20, true),  // successful retry, delay 3000
        attempt("b", 2, 59, true),  // successful retry, delay 2000
        attempt("b", 3, 60, true),  // at `to`: excluded
        other_class,
        other_type,
    ];
    store.append_attempts(records).await.unwrap();
    let from = t0();
    let to = t0() + secs(60);
    let agg = store
        .attempt_aggregate("email", "timeout", from, to)
        .await
        .unwrap();
    assert_eq!(agg.total_attempts, 4);
    assert_eq!(agg.successful_retries, 2);
    assert_eq!(agg.failed_retries, 1);
    assert_eq!(agg.retry_delay_ms_sum, 7_000);
    assert_eq!(
        agg.last_attempt_at,
        Some(attempt("b", 2, 59, true).timestamp)
    );
    let empty = store
        .attempt_aggregate("email", "none", from, to)
        .await
        .unwrap();
    assert_eq!(empty, Default::default());
    let inverted = store
        .attempt_aggregate("email", "timeout", to, from)
        .await
        .unwrap();
    assert_eq!(
        inverted,
        Default::default(),
        "an empty window, not an error"
    );
}

pub async fn prune_drops_only_old_attempts(store: S) {
    let old = vec![attempt("a", 1, -100, false), attempt("b", 1, -50, false)];
    let new = vec![attempt("a", 2, 0, true), attempt("c", 1, 10, false)];
    store.append_attempts(old).await.unwrap();
    let kept = store.append_attempts(new.clone()).await.unwrap();
    assert_eq!(store.prune_attempts(t0()).await.unwrap(), 2);
    assert_eq!(store.prune_attempts(t0()).await.unwrap(), 0);
    assert_eq!(store.job_attempts("a").await.unwrap(), vec![new[0].clone()]);
    assert!(store.job_attempts("b").await.unwrap().is_empty());
    let rest = store.attempts_after(0, 100).await.unwrap();
    assert_eq!(rest, kept.iter().copied().zip(new).collect::<Vec<_>>());
    let later = store
        .append_attempts(vec![attempt("d", 1, 20, false)])
        .await
        .unwrap();
    assert!(later[0] > kept[1], "sequence numbers are never reused");
}

pub async fn put_get_replace_job(store: S) {
    assert_eq!(store.get_job("j1").await.unwrap(), None);
    let mut j = job("j1", JobState::Scheduled, 30);
    j.tenant = Some("acme".into());
    store.put_job(j.clone()).await.unwrap();
    assert_eq!(store.get_job("j1").await.unwrap(), Some(j.clone()));
    j.state = JobState::Killed;
    j.next_attempt_at = None;
    store.put_job(j.clone()).await.unwrap();
    assert_eq!(store.get_job("j1").await.unwrap(), Some(j));
    let page = store.list_jobs(JobFilter::default()).await.unwrap();
    assert_eq!(page.total, 1);
}

pub async fn put_jobs_stores_them_all(store: S) {
    store
        .put_job(job("a", JobState::Scheduled, 1))
        .await
        .unwrap();
    let mut replaced = job("a", JobState::Succeeded, 2);
    replaced.attempt_number = 3;
    let jobs = vec![
        replaced.clone(),
        job("b", JobState::Claimed, 3),
        job("c", JobState::Killed, 4),
    ];
    store.put_jobs(jobs.clone()).await.unwrap();
    store.put_jobs(vec![]).await.unwrap();
    for j in &jobs {
        assert_eq!(store.get_job(&j.job_id).await.unwrap().as_ref(), Some(j));
    }
    assert_eq!(
        store.list_jobs(JobFilter::default()).await.unwrap().total,
        3
    );
}

pub async fn list_jobs_filters_and_totals(store: S) {
    for i in 0..30 {
        let state = [JobState::Scheduled, JobState::Succeeded, JobState::Claimed][i % 3];
        let mut j = job(&format!("j{i:02}"), state, i as i64);
        j.queue = if i % 2 == 0 { "even" } else { "odd" }.into();
        j.error_class = if i < 10 { "rate_limit" } else { "timeout" }.into();
        store.put_job(j).await.unwrap();
    }
    let count = |filter: JobFilter| {
        let store = store.clone();
        async move {
            let page = store.list_jobs(filter.clone()).await.unwrap();
            assert!(page.jobs.iter().all(|j| matches(&filter, j)), "{filter:?}");
            (page.total, page.jobs.len())
        }
    };
    let by_queue = JobFilter {
        queue: Some("even".into()),
        ..Default::default()
    };
    assert_eq!(count(by_queue).await, (15, 15));
    let by_state = JobFilter {
        state: Some(JobState::Succeeded),
        limit: 4,
        ..Default::default()
    };
    assert_eq!(count(by_state).await, (10, 4));
    let all_three = JobFilter {
        queue: Some("odd".into()),
        state: Some(JobState::Scheduled),
        error_class: Some("timeout".into()),
        ..Default::default()
    };
    // odd i in 10..30 with i % 3 == 0: 15, 21, 27
    assert_eq!(count(all_three).await, (3, 3));
}

pub async fn list_jobs_filters_by_type_tenant_and_text(store: S) {
    for i in 0..12 {
        let mut j = job(&format!("t{i:02}"), JobState::Scheduled, i as i64);
        j.job_type = if i % 2 == 0 { "email" } else { "webhook" }.into();
        j.tenant = (i % 3 == 0).then(|| "acme".to_string());
        j.last_error = if i < 4 {
            "connection refused by 10.0.0.1"
        } else {
            "timed out"
        }
        .into();
        store.put_job(j).await.unwrap();
    }
    let listed = |filter: JobFilter| {
        let store = store.clone();
        async move {
            let page = store.list_jobs(filter.clone()).await.unwrap();
            assert!(page.jobs.iter().all(|j| filter.matches(j)), "{filter:?}");
            let ids: Vec<String> = page.jobs.iter().map(|j| j.job_id.clone()).collect();
            (page.total, ids)
        }
    };
    let webhooks_of_acme = JobFilter {
        job_type: Some("webhook".into()),
        tenant: Some("acme".into()),
        ..Default::default()
    };
    assert_eq!(
        listed(webhooks_of_acme).await,
        (2, vec!["t03".into(), "t09".into()])
    );
    let refused = JobFilter {
        text: Some("refused".into()),
        limit: 3,
        ..Default::default()
    };
    assert_eq!(listed(refused).await.0, 4);
    let by_id = JobFilter {
        text: Some("t1".into()),
        ..Default::default()
    };
    assert_eq!(listed(by_id).await.0, 2);
}

/// The ids a bulk action locks: every match of the filter, in list order, whatever the
/// filter's limit and cursor, the same as paging through `list_jobs`.
pub async fn list_job_ids_are_every_match_in_list_order(store: S) {
    for i in 0..25 {
        let mut j = job(&format!("b{i:02}"), JobState::Scheduled, (25 - i) as i64);
        j.queue = if i % 2 == 0 { "even" } else { "odd" }.into();
        j.tenant = (i % 3 == 0).then(|| "acme".to_string());
        store.put_job(j).await.unwrap();
    }
    for filter in [
        JobFilter::default(),
        JobFilter {
            queue: Some("even".into()),
            limit: 2,
            ..Default::default()
        },
        JobFilter {
            tenant: Some("acme".into()),
            ..Default::default()
        },
        JobFilter {
            queue: Some("none".into()),
            ..Default::default()
        },
    ] {
        let listed = store
            .list_jobs(JobFilter {
                limit: 1000,
                ..filter.clone()
            })
            .await
            .unwrap();
        let want: Vec<String> = listed.jobs.into_iter().map(|j| j.job_id).collect();
        let ids = store.list_job_ids(filter.clone()).await.unwrap();
        assert_eq!(ids, want, "{filter:?}");
    }
    let evens = JobFilter {
        queue: Some("even".into()),
        ..Default::default()
    };
    let ids = store.list_job_ids(evens).await.unwrap();
    assert_eq!(ids.len(), 13);
    assert_eq!(
        ids.first().map(String::as_str),
        Some("b24"),
        "soonest first"
    );
    // A claim moves jobs to `claimed` (the start-up reads pending jobs by state).
    assert_eq!(
        store.claim_due(claim("w", 25, 30, 4)).await.unwrap().len(),
        4
    );
    for state in [JobState::Claimed, JobState::Scheduled, JobState::Killed] {
        let filter = JobFilter {
            state: Some(state),
            limit: 1000,
            ..Default::default()
        };
        let listed = store.list_jobs(filter.clone()).await.unwrap();
        let want: Vec<String> = listed.jobs.into_iter().map(|j| j.job_id).collect();
        let ids = store.list_job_ids(filter).await.unwrap();
        assert_eq!(ids, want, "{state:?}");
        let n = match state {
            JobState::Claimed => 4,
            JobState::Scheduled => 21,
            _ => 0,
        };
        assert_eq!(ids.len(), n, "{state:?}");
    }
}

/// A job moved to another state, queue or time leaves its old place in every listing, count
/// and claim (backends that keep indexes must move it in each of them).
pub async fn replaced_jobs_move_in_listings_counts_and_claims(store: S) {
    for i in 0..20 {
        store
            .put_job(job(&format!("j{i:02}"), JobState::Scheduled, 100 + i))
            .await
            .unwrap();
    }
    let mut moved = job("j05", JobState::Succeeded, 5);
    moved.queue = "other".into();
    let due_now = job("j07", JobState::Scheduled, -10);
    store.put_jobs(vec![moved, due_now]).await.unwrap();
    let counts = store.count_jobs_by_state().await.unwrap();
    let expected = BTreeMap::from([(JobState::Scheduled, 19), (JobState::Succeeded, 1)]);
    assert_eq!(counts, expected);
    let first = store
        .list_jobs(JobFilter {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = first.jobs.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!((ids, first.total), (vec!["j07", "j00"], 20));
    let other = JobFilter {
        queue: Some("other".into()),
        ..Default::default()
    };
    let page = store.list_jobs(other).await.unwrap();
    assert_eq!((page.jobs.len(), page.total), (1, 1));
    assert_eq!(page.jobs[0].job_id, "j05");
    let claimed = store.claim_due(claim("w", 0, 30, 10)).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(ids, vec!["j07"]);
    let counts = store.count_jobs_by_state().await.unwrap();
    assert_eq!(counts.get(&JobState::Claimed), Some(&1));
    assert_eq!(counts.get(&JobState::Scheduled), Some(&18));
}

/// Cursor pages under a filter hold exactly the matching jobs, in order, with the filter's
/// total on every page.
pub async fn filtered_cursor_pages_cover_exactly_the_matches(store: S) {
    let mut expected = Vec::new();
    for i in 0..90 {
        let mut j = job(&format!("f{i:02}"), JobState::Scheduled, 90 - i);
        j.error_class = ["timeout", "rate_limit", "timeout"][i as usize % 3].into();
        if j.error_class == "rate_limit" {
            expected.push((90 - i, j.job_id.clone()));
        }
        store.put_job(j).await.unwrap();
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let filter = JobFilter {
            error_class: Some("rate_limit".into()),
            cursor: cursor.take(),
            limit: 7,
            ..Default::default()
        };
        let page = store.list_jobs(filter).await.unwrap();
        assert_eq!(page.total, 30);
        seen.extend(page.jobs.into_iter().map(|j| j.job_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, expected);
}

/// `POST /failures` writes the attempt and the job it scheduled together.
pub async fn append_attempt_with_job_writes_both(store: S) {
    let before = store
        .append_attempts(vec![attempt("x", 1, 0, false)])
        .await
        .unwrap();
    let failed = attempt("j1", 1, 5, false);
    let scheduled = job("j1", JobState::Scheduled, 10);
    let seq = store
        .append_attempt_with_job(failed.clone(), scheduled.clone())
        .await
        .unwrap();
    assert!(seq > before[0]);
    assert_eq!(
        store.job_attempts("j1").await.unwrap(),
        vec![failed.clone()]
    );
    assert_eq!(store.get_job("j1").await.unwrap(), Some(scheduled));
    let replay = store.attempts_after(before[0], 10).await.unwrap();
    assert_eq!(replay, vec![(seq, failed)]);
    let mut exhausted = job("j1", JobState::Exhausted, 20);
    exhausted.attempt_number = 2;
    store
        .append_attempt_with_job(attempt("j1", 2, 15, false), exhausted.clone())
        .await
        .unwrap();
    assert_eq!(store.get_job("j1").await.unwrap(), Some(exhausted));
    let counts = store.count_jobs_by_state().await.unwrap();
    assert_eq!(counts, BTreeMap::from([(JobState::Exhausted, 1)]));
}

/// A failure written without reading its job first replaces any job but a killed one: a
/// killed job is left as it is and nothing is appended. A claimed job counts as not killed.
pub async fn a_write_unless_killed_leaves_only_killed_jobs_alone(store: S) {
    let fresh = job("new", JobState::Scheduled, 10);
    let seq = store
        .append_attempt_with_job_unless_killed(attempt("new", 1, 5, false), fresh.clone())
        .await
        .unwrap();
    assert!(seq.is_some(), "a job not stored yet is written");
    assert_eq!(store.get_job("new").await.unwrap(), Some(fresh));
    store
        .put_jobs(vec![
            job("held", JobState::Scheduled, 1),
            job("gone", JobState::Killed, 1),
        ])
        .await
        .unwrap();
    store.claim_due(claim("w", 2, 30, 10)).await.unwrap();
    let again = job("held", JobState::Scheduled, 40);
    let seq = store
        .append_attempt_with_job_unless_killed(attempt("held", 1, 6, false), again.clone())
        .await
        .unwrap();
    assert!(seq.is_some(), "a claimed job is not killed");
    assert_eq!(store.get_job("held").await.unwrap(), Some(again));
    let killed = store.get_job("gone").await.unwrap();
    let refused = store
        .append_attempt_with_job_unless_killed(
            attempt("gone", 1, 7, false),
            job("gone", JobState::Scheduled, 50),
        )
        .await
        .unwrap();
    assert_eq!(refused, None);
    assert_eq!(store.get_job("gone").await.unwrap(), killed);
    assert!(store.job_attempts("gone").await.unwrap().is_empty());
    let logged = store.attempts_after(0, 10).await.unwrap();
    assert_eq!(logged.len(), 2, "only the two written failures: {logged:?}");
}

/// Per-class tallies count every appended attempt with a class, by either write, and
/// retention does not lower them.
pub async fn error_class_counts_follow_appends_and_outlive_pruning(store: S) {
    assert!(store.error_class_counts().await.unwrap().is_empty());
    let mut classless = attempt("c", 2, 3, true);
    classless.error_class.clear();
    let mut limited = attempt("b", 1, 2, false);
    limited.error_class = "rate_limit".into();
    let batch = vec![
        attempt("a", 1, 0, false),
        attempt("a", 2, 1, true),
        limited,
        classless,
    ];
    store.append_attempts(batch).await.unwrap();
    store
        .append_attempt_with_job(attempt("d", 1, 4, false), job("d", JobState::Scheduled, 9))
        .await
        .unwrap();
    let tally = |attempts, successes| ClassTally {
        attempts,
        successes,
    };
    let expected = BTreeMap::from([
        ("rate_limit".to_string(), tally(1, 0)),
        ("timeout".to_string(), tally(3, 1)),
    ]);
    assert_eq!(store.error_class_counts().await.unwrap(), expected);
    assert_eq!(store.prune_attempts(t0() + secs(100)).await.unwrap(), 5);
    assert_eq!(store.error_class_counts().await.unwrap(), expected);
}

fn matches(filter: &JobFilter, job: &ScheduledJob) -> bool {
    filter.matches(job)
}

pub async fn list_jobs_cursor_pages_have_no_gaps_or_duplicates(store: S) {
    let mut expected_pending = Vec::new();
    let mut expected_finished = Vec::new();
    for i in 0..250 {
        let id = format!("job-{i:03}");
        // Many ties in time, so the job id must break them.
        let state = if i % 5 == 0 {
            JobState::Succeeded
        } else {
            JobState::Scheduled
        };
        let j = job(&id, state, 1_000 - (i % 40));
        let key = (1_000 - (i % 40), id.clone());
        if state.is_pending() {
            expected_pending.push(key);
        } else {
            expected_finished.push(key);
        }
        store.put_job(j).await.unwrap();
    }
    expected_pending.sort();
    expected_finished.sort();
    let expected: Vec<String> = expected_pending
        .into_iter()
        .chain(expected_finished)
        .map(|(_, id)| id)
        .collect();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let filter = JobFilter {
            cursor: cursor.take(),
            limit: 17,
            ..Default::default()
        };
        let page = store.list_jobs(filter).await.unwrap();
        assert_eq!(page.total, 250);
        assert!(page.jobs.len() <= 17);
        seen.extend(page.jobs.into_iter().map(|j| j.job_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

pub async fn list_jobs_rejects_a_forged_cursor(store: S) {
    store
        .put_job(job("j1", JobState::Scheduled, 0))
        .await
        .unwrap();
    let filter = JobFilter {
        cursor: Some("not-a-cursor".into()),
        ..Default::default()
    };
    match store.list_jobs(filter).await {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "cursor"),
        other => panic!("expected an invalid-cursor error, got {other:?}"),
    }
}

fn claim(worker: &str, now_secs: i64, lease_secs: i64, limit: u32) -> Claim {
    Claim {
        worker: worker.into(),
        now: t0() + secs(now_secs),
        lease_until: t0() + secs(now_secs + lease_secs),
        limit,
        queue: None,
        paused: Vec::new(),
    }
}

pub async fn claim_due_claims_each_due_job_exactly_once(store: S) {
    for i in 0..60 {
        store
            .put_job(job(
                &format!("due-{i:02}"),
                JobState::Scheduled,
                -(i as i64),
            ))
            .await
            .unwrap();
    }
    for i in 0..10 {
        let id = format!("future-{i}");
        store
            .put_job(job(&id, JobState::Scheduled, 5 + i))
            .await
            .unwrap();
    }
    store
        .put_job(job("done", JobState::Succeeded, -500))
        .await
        .unwrap();
    let claimers = (0..16).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_due(claim(&format!("w{w}"), 0, 30, 3))
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| (j.job_id.clone(), j, w)));
            }
        })
    });
    let mut claimed = BTreeMap::new();
    for handle in claimers.collect::<Vec<_>>() {
        for (id, j, w) in handle.await.unwrap() {
            assert_eq!(j.state, JobState::Claimed);
            assert_eq!(j.claimed_by.as_deref(), Some(format!("w{w}").as_str()));
            assert_eq!(j.lease_until, Some(t0() + secs(30)));
            assert!(
                claimed.insert(id.clone(), w).is_none(),
                "{id} claimed twice"
            );
        }
    }
    let expected: BTreeSet<String> = (0..60).map(|i| format!("due-{i:02}")).collect();
    assert_eq!(claimed.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let stored = store.get_job("due-07").await.unwrap().unwrap();
    assert_eq!(
        stored.claimed_by.as_deref(),
        Some(format!("w{}", claimed["due-07"]).as_str())
    );
    assert_eq!(
        store.get_job("future-0").await.unwrap().unwrap().state,
        JobState::Scheduled
    );
}

pub async fn expired_lease_is_claimable_again(store: S) {
    store
        .put_job(job("j", JobState::Scheduled, -1))
        .await
        .unwrap();
    let first = store.claim_due(claim("w1", 0, 30, 10)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        store
            .claim_due(claim("w2", 29, 30, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due(claim("w2", 30, 30, 10)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].claimed_by.as_deref(), Some("w2"));
    assert_eq!(again[0].lease_until, Some(t0() + secs(60)));
}

pub async fn claim_respects_queue_and_limit(store: S) {
    // Due times chosen so that neither id order nor insertion order is the due order.
    for (i, due) in [-3, -9, -1, -5, -20, -30].into_iter().enumerate() {
        let mut j = job(&format!("j{i}"), JobState::Scheduled, due);
        j.queue = if i < 4 { "mail" } else { "sms" }.into();
        store.put_job(j).await.unwrap();
    }
    let mut only_mail = claim("w", 0, 30, 2);
    only_mail.queue = Some("mail".into());
    let got: Vec<String> = store
        .claim_due(only_mail)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(got, vec!["j1", "j3"], "the longest-due first");
    let rest = store.claim_due(claim("w", 0, 30, 100)).await.unwrap();
    assert_eq!(rest.len(), 4);
}

fn scope(queue: &str, error_class: Option<&str>, job_type: Option<&str>) -> PauseScope {
    PauseScope {
        queue: queue.into(),
        error_class: error_class.map(String::from),
        job_type: job_type.map(String::from),
    }
}

pub async fn claim_leaves_out_paused_scopes(store: S) {
    let shapes = [
        ("mail", "timeout", "email"),
        ("mail", "dns", "email"),
        ("mail", "dns", "digest"),
        ("sms", "timeout", "email"),
    ];
    for (i, (queue, class, job_type)) in shapes.into_iter().enumerate() {
        let mut j = job(&format!("j{i}"), JobState::Scheduled, -10 + i as i64);
        (j.queue, j.error_class, j.job_type) = (queue.into(), class.into(), job_type.into());
        store.put_job(j).await.unwrap();
    }
    let mut paused = claim("w", 0, 30, 100);
    paused.paused = vec![
        scope("mail", Some("timeout"), None),
        scope("mail", None, Some("digest")),
    ];
    let ids = |jobs: Vec<ScheduledJob>| jobs.into_iter().map(|j| j.job_id).collect::<Vec<_>>();
    let got = ids(store.claim_due(paused).await.unwrap());
    assert_eq!(got, vec!["j1", "j3"], "paused scopes are left out");
    let mut whole_queue = claim("w", 0, 30, 100);
    whole_queue.paused = vec![scope("mail", None, None)];
    assert!(store.claim_due(whole_queue).await.unwrap().is_empty());
    let resumed = ids(store.claim_due(claim("w", 0, 30, 100)).await.unwrap());
    assert_eq!(resumed, vec!["j0", "j2"]);
}

fn pause(id: &str, created_secs: i64) -> Pause {
    Pause {
        id: id.into(),
        scope: scope("mail", Some("timeout"), None),
        until: Some(t0() + secs(600)),
        reason: "provider down".into(),
        actor: "operator:ann".into(),
        created_at: t0() + secs(created_secs),
    }
}

pub async fn pauses_put_list_and_remove(store: S) {
    assert!(store.list_pauses().await.unwrap().is_empty());
    store.put_pause(&pause("p-b", 5)).await.unwrap();
    store.put_pause(&pause("p-a", 9)).await.unwrap();
    let mut replaced = pause("p-b", 5);
    replaced.until = None;
    store.put_pause(&replaced).await.unwrap();
    let listed = store.list_pauses().await.unwrap();
    assert_eq!(
        listed,
        vec![replaced, pause("p-a", 9)],
        "oldest first, replaced by id"
    );
    assert!(store.remove_pause("p-b").await.unwrap());
    assert!(!store.remove_pause("p-b").await.unwrap());
    assert_eq!(store.list_pauses().await.unwrap(), vec![pause("p-a", 9)]);
}

fn forced(queue: &str, class: &str, state: CircuitForce) -> ForcedCircuit {
    ForcedCircuit {
        queue: queue.into(),
        error_class: class.into(),
        state,
        reason: "provider down".into(),
        actor: "operator:ann".into(),
        forced_at: t0(),
    }
}

pub async fn forced_circuits_put_list_and_remove(store: S) {
    assert!(store.list_forced_circuits().await.unwrap().is_empty());
    let b = forced("sms", "timeout", CircuitForce::Open);
    let a = forced("mail", "timeout", CircuitForce::Open);
    let a_dns = forced("mail", "dns", CircuitForce::Closed);
    for f in [&b, &a, &a_dns] {
        store.put_forced_circuit(f).await.unwrap();
    }
    let closed = forced("mail", "timeout", CircuitForce::Closed);
    store.put_forced_circuit(&closed).await.unwrap();
    assert_eq!(
        store.list_forced_circuits().await.unwrap(),
        vec![a_dns.clone(), closed, b.clone()],
        "by queue then error class, replaced by (queue, error class)"
    );
    assert!(
        store
            .remove_forced_circuit("mail", "timeout")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_forced_circuit("mail", "timeout")
            .await
            .unwrap()
    );
    assert!(!store.remove_forced_circuit("sms", "dns").await.unwrap());
    assert_eq!(store.list_forced_circuits().await.unwrap(), vec![a_dns, b]);
}

pub async fn count_jobs_by_state_counts_present_states(store: S) {
    assert!(store.count_jobs_by_state().await.unwrap().is_empty());
    for (i, state) in [JobState::Scheduled, JobState::Scheduled, JobState::Killed]
        .into_iter()
        .enumerate()
    {
        store
            .put_job(job(&format!("j{i}"), state, 0))
            .await
            .unwrap();
    }
    let counts = store.count_jobs_by_state().await.unwrap();
    let expected = BTreeMap::from([(JobState::Scheduled, 2), (JobState::Killed, 1)]);
    assert_eq!(counts, expected);
}

pub async fn strategy_round_trips(store: S) {
    assert_eq!(store.load_strategy().await.unwrap(), None);
    let mut strategy = default_strategy();
    store.save_strategy(&strategy).await.unwrap();
    assert_eq!(store.load_strategy().await.unwrap(), Some(strategy.clone()));
    strategy.bayesian_threshold = 0.9;
    strategy.name = "tuned".into();
    store.save_strategy(&strategy).await.unwrap();
    assert_eq!(store.load_strategy().await.unwrap(), Some(strategy));
}

pub async fn snapshot_round_trips_with_watermark(store: S) {
    assert!(store.load_snapshot().await.unwrap().is_none());
    let snap = EngineSnapshot::new(
        3,
        &serde_json::json!({"models": [{"key": "email/timeout", "alpha": 2.5}]}),
    )
    .unwrap();
    store
        .save_snapshot(Box::new(snap.clone()), 41)
        .await
        .unwrap();
    assert_eq!(loaded_snapshot(&*store).await, Some((snap.clone(), 41)));
    let newer = EngineSnapshot::new(3, &serde_json::json!({})).unwrap();
    store
        .save_snapshot(Box::new(newer.clone()), 99)
        .await
        .unwrap();
    assert_eq!(loaded_snapshot(&*store).await, Some((newer, 99)));
}

/// A document of several pieces in every backend (3 MB) reads back byte for byte.
pub async fn a_large_snapshot_reads_back_byte_for_byte(store: S) {
    let episodes: Vec<String> = (0..200_000).map(|i| format!("episode-{i:08}")).collect();
    let big = EngineSnapshot::new(3, &episodes).unwrap();
    store.save_snapshot(Box::new(big.clone()), 7).await.unwrap();
    let (mut reader, watermark) = store.load_snapshot().await.unwrap().unwrap();
    let read = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut bytes).map(|_| bytes)
    });
    let bytes = read.await.unwrap().unwrap();
    assert_eq!(watermark, 7);
    assert!(bytes.len() > 3_000_000, "{} bytes", bytes.len());
    assert!(bytes == document_of(&big), "the document read back differs");
}

/// An encoding that fails after some pieces were stored saves nothing: the previous snapshot
/// is still the one loaded, and the next one saves as usual.
pub async fn a_snapshot_whose_encoding_fails_leaves_the_previous_one(store: S) {
    let first = EngineSnapshot::new(3, &serde_json::json!({"k": 1})).unwrap();
    store
        .save_snapshot(Box::new(first.clone()), 5)
        .await
        .unwrap();
    let err = store
        .save_snapshot(Box::new(FailsAfter(3 << 20)), 9)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be encoded"), "{err}");
    assert_eq!(loaded_snapshot(&*store).await, Some((first, 5)));
    let next = EngineSnapshot::new(3, &serde_json::json!({"k": 2})).unwrap();
    store
        .save_snapshot(Box::new(next.clone()), 11)
        .await
        .unwrap();
    assert_eq!(loaded_snapshot(&*store).await, Some((next, 11)));
}

pub async fn audit_ids_increase_and_page(store: S) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(store.append_audit(audit(&format!("a{i}"))).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let all = store.list_audit(0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert_eq!(all[2].action, "a2");
    assert_eq!(all[2].detail, audit("x").detail);
    let page = store.list_audit(ids[1], 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), ids[2..4]);
}

pub async fn alerts_upsert_and_list_newest_first(store: S) {
    assert!(store.list_alerts().await.unwrap().is_empty());
    store.put_alert(&alert("old", 0, true)).await.unwrap();
    store.put_alert(&alert("new", 10, true)).await.unwrap();
    let mut acked = alert("old", 0, false);
    acked.acked_by = Some("operator:bob".into());
    acked.acked_at = Some(t0() + secs(20));
    store.put_alert(&acked).await.unwrap();
    let alerts = store.list_alerts().await.unwrap();
    assert_eq!(alerts, vec![alert("new", 10, true), acked]);
}

pub async fn concurrent_appenders_get_distinct_seqs(store: S) {
    let writers = (0..200).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let batch = (0..5)
                .map(|n| attempt(&format!("w{w}"), n + 1, i64::from(n), n == 4))
                .collect();
            store.append_attempts(batch).await.unwrap()
        })
    });
    let mut all = BTreeSet::new();
    for handle in writers.collect::<Vec<_>>() {
        let seqs = handle.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        all.extend(seqs);
    }
    assert_eq!(all.len(), 1_000);
    let stored = store.attempts_after(0, 2_000).await.unwrap();
    let stored_seqs: BTreeSet<u64> = stored.iter().map(|(s, _)| *s).collect();
    assert_eq!(stored_seqs, all);
    assert_eq!(store.job_attempts("w123").await.unwrap().len(), 5);
}

pub async fn the_write_probe_succeeds_and_repeats(store: S) {
    store.probe_write().await.unwrap();
    store.probe_write().await.unwrap();
    assert!(!store.name().is_empty());
}

fn ml_version(n: u32, state: retryctl::model::MlState) -> retryctl::model::MlVersion {
    let metrics = retryctl::model::MlMetrics {
        rows: 10,
        log_loss: 0.5,
        brier: 0.2,
        ece: 0.01,
        auc: Some(0.8),
        accuracy: 0.7,
        f1_score: 0.6,
    };
    retryctl::model::MlVersion {
        version: format!("ml-{n}"),
        model_type: "logistic".into(),
        features: vec!["delay".into()],
        state,
        canary_percent: 0.0,
        trained_at: t0(),
        data_from: t0(),
        data_to: t0(),
        training_rows: 100,
        holdout_rows: 10,
        training_ms: 5,
        cross_validation: vec![metrics.clone()],
        holdout: metrics.clone(),
        bayesian_holdout: metrics,
        decision_cost: Some(retryctl::model::MlDecisionCost {
            decisions: 4,
            left_out: 1,
            unsupported: 2,
            model: 2.5,
            bayesian: 3.0,
            standard_error: 0.25,
        }),
        hyperparameters: BTreeMap::new(),
        updated_at: t0(),
    }
}

pub async fn ml_versions_keep_parameters_and_list_newest_first(store: S) {
    use retryctl::model::MlState;
    assert!(store.list_ml_versions().await.unwrap().is_empty());
    let (two, ten) = (
        ml_version(2, MlState::Candidate),
        ml_version(10, MlState::Candidate),
    );
    store
        .put_ml_versions(vec![(two.clone(), Some(b"model two".to_vec()))])
        .await
        .unwrap();
    store
        .put_ml_versions(vec![(ten.clone(), Some(b"model ten".to_vec()))])
        .await
        .unwrap();
    let listed: Vec<String> = store
        .list_ml_versions()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(listed, ["ml-10", "ml-2"], "ml-10 is newer than ml-2");
    let active = retryctl::model::MlVersion {
        state: MlState::Active,
        ..two
    };
    store
        .put_ml_versions(vec![(active, None), (ten, None)])
        .await
        .unwrap();
    let all = store.list_ml_versions().await.unwrap();
    assert_eq!(all[1].state, MlState::Active);
    let kept = store.ml_model("ml-2").await.unwrap();
    assert_eq!(
        kept.as_deref(),
        Some(&b"model two"[..]),
        "a state change keeps the model"
    );
    assert_eq!(store.ml_model("ml-3").await.unwrap(), None);
}
