//! On a store shared by replicas, alerts are evaluated by the leader alone (one raise, one
//! resolution, one event for the whole deployment), but each replica counts only the requests
//! it answered. So every replica publishes its windowed counts (retries per queue,
//! recommendations a guardrail changed, tier fall-backs) in the store at each alert tick, and
//! the leader adds up those of every replica that published within [`FRESH`] before it
//! evaluates: a retry storm split across replicas is still one storm.

use super::alert_rules::AlertInputs;
use super::state::AppState;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How recent another replica's counts must be to count (a replica that died stops counting).
pub const FRESH: Duration = Duration::seconds(10);

/// One replica's windowed counts, as it published them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaCounts {
    pub at: DateTime<Utc>,
    pub retries_last_minute: BTreeMap<String, u64>,
    pub guardrail_overrides: u64,
    pub recommendations: u64,
    pub static_answers: u64,
    pub bayesian_fallbacks: u64,
    pub ml_fallbacks: u64,
}

impl ReplicaCounts {
    /// The counts in `inputs` (this replica's own), stamped `at`.
    pub fn of(inputs: &AlertInputs, at: DateTime<Utc>) -> Self {
        Self {
            at,
            retries_last_minute: inputs.retries_last_minute.clone(),
            guardrail_overrides: inputs.guardrail_overrides,
            recommendations: inputs.recommendations,
            static_answers: inputs.static_answers,
            bayesian_fallbacks: inputs.bayesian_fallbacks,
            ml_fallbacks: inputs.ml_fallbacks,
        }
    }

    /// Adds these counts to `inputs`.
    pub fn add_to(&self, inputs: &mut AlertInputs) {
        for (queue, n) in &self.retries_last_minute {
            *inputs.retries_last_minute.entry(queue.clone()).or_insert(0) += n;
        }
        inputs.guardrail_overrides += self.guardrail_overrides;
        inputs.recommendations += self.recommendations;
        inputs.static_answers += self.static_answers;
        inputs.bayesian_fallbacks += self.bayesian_fallbacks;
        inputs.ml_fallbacks += self.ml_fallbacks;
    }
}

/// The published counts of the other replicas that are fresh at `now`; unreadable ones are
/// skipped with a warning.
pub fn others(published: &[(String, String)], me: &str, now: DateTime<Utc>) -> Vec<ReplicaCounts> {
    published
        .iter()
        .filter(|(replica, _)| replica != me)
        .filter_map(
            |(replica, body)| match serde_json::from_str::<ReplicaCounts>(body) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(replica, error = %e, "unreadable replica counts");
                    None
                }
            },
        )
        .filter(|c| (now - c.at).abs() <= FRESH)
        .collect()
}

impl AppState {
    /// Publishes this replica's counts; on failure the leader misses them for a tick.
    pub async fn publish_counts(&self, counts: &ReplicaCounts) {
        let Ok(body) = serde_json::to_string(counts) else {
            return;
        };
        if let Err(e) = self.store.put_replica_counts(&self.replica, body).await {
            tracing::warn!(error = %e, "cannot publish this replica's counts");
        }
    }

    /// The fresh counts of every other replica (none when the store does not answer).
    pub async fn other_counts(&self, now: DateTime<Utc>) -> Vec<ReplicaCounts> {
        match self.store.replica_counts().await {
            Ok(published) => others(&published, &self.replica, now),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the other replicas' counts");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_counts_of_other_replicas_add_up_stale_and_own_ones_do_not() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let counts = |at, retries| ReplicaCounts {
            at,
            retries_last_minute: BTreeMap::from([("q".to_string(), retries)]),
            recommendations: 10,
            ..ReplicaCounts::default()
        };
        let body = |c: &ReplicaCounts| serde_json::to_string(c).unwrap();
        let published = vec![
            ("me".to_string(), body(&counts(now, 1))),
            (
                "b".to_string(),
                body(&counts(now - Duration::seconds(2), 300)),
            ),
            (
                "dead".to_string(),
                body(&counts(now - Duration::minutes(5), 999)),
            ),
            ("broken".to_string(), "{".to_string()),
        ];
        let mut inputs = AlertInputs::default();
        inputs.retries_last_minute.insert("q".into(), 400);
        for c in others(&published, "me", now) {
            c.add_to(&mut inputs);
        }
        assert_eq!(inputs.retries_last_minute["q"], 700);
        assert_eq!(inputs.recommendations, 10);
    }
}
