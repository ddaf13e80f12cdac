//! Training examples from recorded attempts, point-in-time: the attempts are replayed in
//! record-time order, and each retry becomes one example — the [`Situation`] of the failure
//! before it (elapsed time and recent failures as known at that failure, from earlier records
//! only), the wait before the retry, and whether the retry succeeded.
//!
//! Episodes are linked as the engine links them (`learn::next_episode`): by job id, a new
//! episode at a first run or a changed error class, an unknown job's second attempt placing
//! its first failure `delay_ms` earlier; a repeated attempt number (at-least-once delivery)
//! counts once.

use super::features::{RecentFailures, Situation};
use crate::model::{AttemptRecord, before_ms};
use chrono::{DateTime, Timelike, Utc};
use std::collections::HashMap;

/// One retry: the failure before it (an index into the replayed attempts, with what was known
/// then), the wait, and the outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example {
    /// The episode (one job's run of failures until it ends), numbered in the order they began.
    pub episode: usize,
    pub failed: usize,
    pub elapsed_ms: u64,
    pub recent_failures: u32,
    pub delay_ms: u64,
    pub success: bool,
    /// When the retry ran (the order of forward-chaining validation).
    pub at: DateTime<Utc>,
}

/// The attempts in record-time order and the examples drawn from them, oldest retry first.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub attempts: Vec<AttemptRecord>,
    pub examples: Vec<Example>,
}

/// What the replay remembers of a job's open episode.
#[derive(Debug, Clone, Copy)]
struct Open {
    episode: usize,
    failed: usize,
    first_failure: DateTime<Utc>,
    attempt: u32,
    recent_failures: u32,
}

impl Dataset {
    /// Replays `attempts` (any order; sorted here by timestamp, ties kept in arrival order).
    pub fn from_attempts(mut attempts: Vec<AttemptRecord>) -> Self {
        attempts.sort_by_key(|a| a.timestamp);
        let mut open: HashMap<&str, Open> = HashMap::new();
        let mut recent = RecentFailures::default();
        let mut examples = Vec::new();
        let mut episodes = 0;
        for (i, a) in attempts.iter().enumerate() {
            let before = open.get(a.job_id.as_str()).copied();
            if let Some(e) = before.and_then(|o| example(&attempts, o, a)) {
                examples.push(e);
            }
            if a.success {
                open.remove(a.job_id.as_str());
                continue;
            }
            let second = a.timestamp.timestamp();
            recent.record(&a.queue, &a.error_class, second);
            let continued = before.filter(|o| {
                a.attempt_number > 1
                    && attempts[o.failed].error_class == a.error_class
                    && a.timestamp >= o.first_failure
            });
            let (episode, first_failure) = match (continued, before) {
                (Some(o), _) => (o.episode, o.first_failure),
                (None, None) if a.attempt_number == 2 => {
                    (episodes, before_ms(a.timestamp, a.delay_ms))
                }
                (None, _) => (episodes, a.timestamp),
            };
            episodes += usize::from(continued.is_none());
            let state = Open {
                episode,
                failed: i,
                first_failure,
                attempt: a.attempt_number,
                recent_failures: recent.count(&a.queue, &a.error_class, second),
            };
            open.insert(a.job_id.as_str(), state);
        }
        Self { examples, attempts }
    }

    /// The situation of example `e`'s failure.
    pub fn situation(&self, e: &Example) -> Situation<'_> {
        let a = &self.attempts[e.failed];
        situation_of(a, e.elapsed_ms, e.recent_failures)
    }
}

/// The situation of failed attempt `a` with what was known at it.
pub fn situation_of(a: &AttemptRecord, elapsed_ms: u64, recent_failures: u32) -> Situation<'_> {
    Situation {
        job_type: &a.job_type,
        error_class: &a.error_class,
        error_code: &a.error_code,
        queue: &a.queue,
        tenant: a.tenant.as_deref(),
        attempt: a.attempt_number,
        payload_size: a.payload_size,
        hour: a.timestamp.hour() as u8,
        elapsed_ms,
        recent_failures,
    }
}

/// The example retry `a` makes after the open failure `o`, if it is a later attempt of it.
fn example(attempts: &[AttemptRecord], o: Open, a: &AttemptRecord) -> Option<Example> {
    let failed = &attempts[o.failed];
    let same_failure = a.success || a.error_class == failed.error_class;
    if a.attempt_number <= o.attempt || !same_failure {
        return None;
    }
    Some(Example {
        episode: o.episode,
        failed: o.failed,
        elapsed_ms: (failed.timestamp - o.first_failure)
            .num_milliseconds()
            .max(0) as u64,
        recent_failures: o.recent_failures,
        delay_ms: a.delay_ms,
        success: a.success,
        at: a.timestamp,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A recorded attempt of job type `email` (a failure is a `timeout`), `secs` after a fixed
    /// moment.
    pub(in crate::engine::ml) fn attempt(
        job: &str,
        n: u32,
        secs: i64,
        delay_ms: u64,
        success: bool,
    ) -> AttemptRecord {
        AttemptRecord {
            job_id: job.into(),
            job_type: "email".into(),
            attempt_number: n,
            error_class: if success {
                String::new()
            } else {
                "timeout".into()
            },
            error_code: String::new(),
            status: String::new(),
            queue: "q".into(),
            tenant: None,
            payload_size: 0,
            time_of_day: 0,
            worker_version: String::new(),
            health: None,
            delay_ms,
            success,
            timestamp: Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap(),
            processing_time: None,
        }
    }

    #[test]
    fn each_retry_is_one_example_with_what_was_known_at_the_failure_before_it() {
        let attempts = vec![
            attempt("b", 1, 1, 0, false),
            attempt("a", 3, 30, 20_000, true),
            attempt("a", 1, 0, 0, false),
            attempt("a", 2, 10, 10_000, false),
        ];
        let d = Dataset::from_attempts(attempts);
        assert_eq!(d.examples.len(), 2);
        let (first, second) = (d.examples[0], d.examples[1]);
        assert_eq!(
            (first.elapsed_ms, first.delay_ms, first.success),
            (0, 10_000, false)
        );
        assert_eq!(
            first.recent_failures, 1,
            "a's first failure only: b came later"
        );
        assert_eq!(
            (second.elapsed_ms, second.delay_ms, second.success),
            (10_000, 20_000, true)
        );
        assert_eq!(
            second.recent_failures, 3,
            "a@0, b@1, a@10 within the minute"
        );
        assert_eq!(d.situation(&second).attempt, 2);
    }

    #[test]
    fn a_repeated_attempt_counts_once_and_an_unknown_second_attempt_places_its_episode() {
        let attempts = vec![
            attempt("a", 2, 5, 5_000, false),
            attempt("a", 2, 6, 5_000, false),
            attempt("a", 3, 20, 14_000, true),
        ];
        let d = Dataset::from_attempts(attempts);
        assert_eq!(
            d.examples.len(),
            1,
            "the redelivered attempt 2 teaches nothing"
        );
        assert_eq!(
            d.examples[0].elapsed_ms, 6_000,
            "first failure placed at 0 s"
        );
    }
}
