//! The few counters of the service's `/metrics` the driver checks itself against.

use serde::Serialize;
use std::collections::BTreeMap;

/// Counters read from a `/metrics` exposition (or the difference of two readings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceCounters {
    /// `retryctl_attempts_total{outcome="failure"}`
    pub attempts_failed: u64,
    /// `retryctl_attempts_total{outcome="success"}`
    pub attempts_succeeded: u64,
    /// `retryctl_retries_total`
    pub retries: u64,
    /// `retryctl_recommendations_total{method=...}`
    pub recommendations: BTreeMap<String, u64>,
    /// Answered requests that make a recommendation without a failure: an operator applying
    /// one (`POST …/jobs/{id}/apply`) or anyone asking (`POST …/recommendation`).
    pub other_recommending: u64,
}

/// Matched paths (suffixes) whose answered POSTs make a recommendation outside `/failures`.
const OTHER_RECOMMENDING: [&str; 2] = ["/jobs/{id}/apply", "/recommendation"];

/// Whether an `http_requests_total` sample is an answered request that made a recommendation.
fn other_recommending(labels: &str) -> bool {
    let path = label(labels, "path").unwrap_or_default();
    label(labels, "method") == Some("POST")
        && label(labels, "status").is_some_and(|s| s.starts_with('2'))
        && OTHER_RECOMMENDING.iter().any(|p| path.ends_with(p))
}

impl ServiceCounters {
    /// Reads the counters from OpenMetrics / Prometheus text; absent ones stay 0.
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for (name, labels, value) in text.lines().filter_map(sample) {
            match (name, label(labels, "outcome"), label(labels, "method")) {
                ("retryctl_attempts_total", Some("failure"), _) => out.attempts_failed = value,
                ("retryctl_attempts_total", Some("success"), _) => out.attempts_succeeded = value,
                ("retryctl_retries_total", _, _) => out.retries = value,
                ("retryctl_recommendations_total", _, Some(method)) => {
                    out.recommendations.insert(method.to_string(), value);
                }
                ("retryctl_http_requests_total", _, _) if other_recommending(labels) => {
                    out.other_recommending += value;
                }
                _ => {}
            }
        }
        out
    }

    /// What was counted since `before` (counters are monotonic; a restart reads as 0).
    pub fn since(&self, before: &Self) -> Self {
        let recommendations = self
            .recommendations
            .iter()
            .map(|(m, v)| {
                let was = before.recommendations.get(m).copied().unwrap_or(0);
                (m.clone(), v.saturating_sub(was))
            })
            .collect();
        Self {
            attempts_failed: self.attempts_failed.saturating_sub(before.attempts_failed),
            attempts_succeeded: self
                .attempts_succeeded
                .saturating_sub(before.attempts_succeeded),
            retries: self.retries.saturating_sub(before.retries),
            recommendations,
            other_recommending: self
                .other_recommending
                .saturating_sub(before.other_recommending),
        }
    }

    /// Recommendations of every method.
    pub fn recommendations_total(&self) -> u64 {
        self.recommendations.values().sum()
    }
}

/// `name{labels} value` → (name, labels, value) for integer-valued samples.
fn sample(line: &str) -> Option<(&str, &str, u64)> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.trim().parse::<f64>().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.trim_end_matches('}')),
        None => (series, ""),
    };
    Some((name, labels, value as u64))
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP retryctl_attempts Attempts recorded, by outcome\n\
        # TYPE retryctl_attempts counter\n\
        retryctl_attempts_total{outcome=\"success\"} 7\n\
        retryctl_attempts_total{outcome=\"failure\"} 12\n\
        retryctl_retries_total 9\n\
        retryctl_recommendations_total{method=\"bayesian\"} 10\n\
        retryctl_recommendations_total{method=\"rules\"} 2\n\
        retryctl_http_requests_total{method=\"POST\",path=\"/x\",status=\"200\"} 99\n\
        retryctl_http_requests_total{method=\"POST\",path=\"/api/v1/retry/jobs/{id}/apply\",status=\"200\"} 2\n\
        retryctl_http_requests_total{method=\"POST\",path=\"/api/v1/retry/jobs/{id}/apply\",status=\"409\"} 5\n\
        # EOF\n";

    #[test]
    fn reads_the_counters_it_needs() {
        let c = ServiceCounters::parse(TEXT);
        assert_eq!(
            (c.attempts_succeeded, c.attempts_failed, c.retries),
            (7, 12, 9)
        );
        assert_eq!(c.recommendations["bayesian"], 10);
        assert_eq!(c.recommendations_total(), 12);
        assert!(!c.recommendations.contains_key("POST"));
        assert_eq!(c.other_recommending, 2, "answered applies only");
    }

    #[test]
    fn differences_are_per_counter() {
        let after = ServiceCounters::parse(TEXT);
        let before = ServiceCounters {
            attempts_failed: 2,
            retries: 1,
            recommendations: [("rules".to_string(), 2)].into(),
            ..ServiceCounters::default()
        };
        let d = after.since(&before);
        assert_eq!(
            (d.attempts_succeeded, d.attempts_failed, d.retries),
            (7, 10, 8)
        );
        assert_eq!(d.recommendations["rules"], 0);
        assert_eq!(d.recommendations["bayesian"], 10);
    }
}
