//! What an attempt teaches: the job's episode after it, the outcome the models learn from a
//! retry, and the circuit a retry's outcome feeds.

use super::episodes::{Episode, Labels, LabelsRef};
use super::registry::Outcome;
use crate::model::{AttemptRecord, SimilarCase};
use chrono::{DateTime, Timelike, Utc};
use std::sync::Arc;

/// The episode after a failed attempt: a new one on the first failure (or when the job was
/// unknown), else the old one advanced. A changed error class starts a new episode, since a
/// different failure recovers on its own clock. `evidence` is what this attempt's outcome said
/// about the job's view (see [`Episode::view_evidence`]). `labels` gives the shared copy of
/// the labels a new episode needs.
pub fn next_episode(
    previous: Option<Episode>,
    a: &AttemptRecord,
    evidence: f64,
    labels: impl FnOnce(LabelsRef<'_>) -> Arc<Labels>,
) -> Episode {
    let fresh = |first: DateTime<Utc>| Episode {
        labels: labels(labels_of(a)),
        first_failure: first,
        last_attempt: a.attempt_number,
        last_failure_at: a.timestamp,
        last_delay_ms: a.delay_ms,
        view_evidence: 0.0,
    };
    match previous {
        Some(mut e)
            if a.attempt_number > 1
                && *e.labels.error_class == *a.error_class
                && a.timestamp >= e.first_failure =>
        {
            e.last_attempt = a.attempt_number;
            e.last_failure_at = a.timestamp;
            e.last_delay_ms = a.delay_ms;
            e.view_evidence += evidence;
            e
        }
        // An unknown job's second attempt still places its first failure (`delay_ms` ago).
        None if a.attempt_number == 2 => Episode {
            view_evidence: evidence,
            ..fresh(crate::model::before_ms(a.timestamp, a.delay_ms))
        },
        _ => fresh(a.timestamp),
    }
}

/// What a record's episode is about.
fn labels_of(a: &AttemptRecord) -> LabelsRef<'_> {
    LabelsRef {
        job_type: &a.job_type,
        error_class: &a.error_class,
        tenant: a.tenant.as_deref(),
        queue: &a.queue,
    }
}

/// What a retry teaches the models of its episode, if anything. A first run teaches nothing
/// about recovery; a retry of an unknown job is usable only as a second attempt (its
/// `delay_ms` places the first failure); a repeated attempt number (at-least-once delivery) is
/// learned once; a failure with another error class starts a new episode instead.
pub fn outcome<'a>(episode: Option<&'a Episode>, a: &'a AttemptRecord) -> Option<Outcome<'a>> {
    if a.attempt_number < 2 {
        return None;
    }
    let began = episode.map_or(crate::model::before_ms(a.timestamp, a.delay_ms), |e| {
        e.first_failure
    });
    let (job_type, class, tenant, previous_ms, elapsed_ms) = match episode {
        Some(e)
            if a.attempt_number > e.last_attempt
                && (a.success || *a.error_class == *e.labels.error_class) =>
        {
            (
                &*e.labels.job_type,
                &*e.labels.error_class,
                e.labels.tenant.as_deref(),
                e.last_elapsed_ms(),
                e.elapsed_at(a.timestamp),
            )
        }
        None if a.attempt_number == 2 && !a.error_class.is_empty() => (
            a.job_type.as_str(),
            a.error_class.as_str(),
            a.tenant.as_deref(),
            0,
            a.delay_ms,
        ),
        _ => return None,
    };
    let case = SimilarCase {
        job_id: a.job_id.clone(),
        attempt_number: a.attempt_number,
        delay_ms: a.delay_ms,
        elapsed_ms,
        success: a.success,
        timestamp: a.timestamp,
    };
    Some(Outcome {
        job_type,
        error_class: class,
        tenant,
        hour: began.hour() as u8,
        previous_ms,
        case,
    })
}

/// The (queue, error class) circuit a retry's outcome feeds, if any. A success carries no
/// class of its own, so it takes its episode's.
pub fn circuit<'a>(
    episode: Option<&'a Episode>,
    a: &'a AttemptRecord,
) -> Option<(&'a str, &'a str)> {
    if a.attempt_number < 2 {
        return None;
    }
    let class = episode
        .map(|e| &*e.labels.error_class)
        .filter(|_| a.success || a.error_class.is_empty())
        .unwrap_or(&a.error_class);
    if class.is_empty() {
        return None;
    }
    let queue = episode.map_or(a.queue.as_str(), |e| &e.labels.queue);
    Some((queue, class))
}
