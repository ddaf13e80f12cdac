//! What the design's status lines and "today at a glance" show, kept as recommendations and
//! attempts arrive: which tier decides each queue's retries (and how often it fell back),
//! and today's retries and recommended delays. Time is passed in (the service's clock).

use super::series::Outcomes;
use super::window::WindowCounter;
use crate::model::{
    Alert, AttemptRecord, CircuitView, Comparison, MLModel, Method, QueueMark, QueueStatus,
    QueueStatusLines, RetryRecommendation, TodayAtAGlance,
};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;

/// The window of the per-queue status lines.
pub const QUEUE_WINDOW_SECS: u32 = 300;
/// Share of a queue's recommendations that fell back which marks it "mostly falling back".
const FALLBACK_SHARE: f64 = 0.5;
/// Recommendations a queue needs in the window before its fall-back share means anything.
const FALLBACK_MIN: u64 = 10;
/// Failed attempts in the window, with no success, that mark a queue failing.
const FAILING_MIN: u64 = 20;
/// Separates the queue from the key's kind in the window counter.
const SEP: char = '\u{1f}';
const FELL: &str = "fell_back";

/// Recommendations per queue and tier over the last five minutes. "Fell back" counts answers
/// from the static tier (every other tier failed) and answers that fell back from ML.
#[derive(Debug)]
pub struct QueueBook {
    decisions: WindowCounter,
}

impl Default for QueueBook {
    fn default() -> Self {
        Self {
            decisions: WindowCounter::new(QUEUE_WINDOW_SECS),
        }
    }
}

/// The state a status mark is read from, besides the queue's own decisions.
pub struct QueueFacts<'a> {
    pub circuits: &'a [CircuitView],
    /// Per queue, failures and successes recorded in the last [`QUEUE_WINDOW_SECS`].
    pub outcomes: &'a BTreeMap<String, Outcomes>,
    pub alerts: &'a [Alert],
    pub ml: Option<&'a MLModel>,
}

impl QueueBook {
    /// Notes a recommendation made for `queue` at `now`.
    pub fn note(&mut self, queue: &str, rec: &RetryRecommendation, now: DateTime<Utc>) {
        self.decisions
            .add(&format!("{queue}{SEP}{}", rec.method.as_str()), 1, now);
        let from_ml = rec
            .explanation
            .iter()
            .flat_map(|e| &e.fallbacks)
            .any(|f| f.from == Method::Ml);
        if rec.method == Method::Static || from_ml {
            self.decisions.add(&format!("{queue}{SEP}{FELL}"), 1, now);
        }
    }

    /// The status line of every queue with recommendations, an open circuit or a retry-storm
    /// alert.
    pub fn lines(&self, facts: &QueueFacts<'_>, now: DateTime<Utc>) -> QueueStatusLines {
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (key, n) in self.decisions.sums(QUEUE_WINDOW_SECS, now) {
            if let Some((queue, kind)) = key.split_once(SEP) {
                counts
                    .entry(queue.into())
                    .or_default()
                    .insert(kind.into(), n);
            }
        }
        let open = facts.circuits.iter().filter(|c| c.state == "open");
        for c in open {
            counts.entry(c.queue.clone()).or_default();
        }
        for a in facts.alerts.iter().filter(|a| a.active) {
            if let Some(queue) = a.id.strip_prefix("retry_storm:") {
                counts.entry(queue.into()).or_default();
            }
        }
        for (queue, o) in facts.outcomes {
            if failing(o) {
                counts.entry(queue.clone()).or_default();
            }
        }
        let queues = counts
            .into_iter()
            .map(|(queue, kinds)| status(queue, &kinds, facts))
            .collect();
        QueueStatusLines {
            window_seconds: u64::from(QUEUE_WINDOW_SECS),
            queues,
        }
    }
}

fn status(queue: String, kinds: &BTreeMap<String, u64>, facts: &QueueFacts<'_>) -> QueueStatus {
    let of = |m: Method| kinds.get(m.as_str()).copied().unwrap_or(0);
    let recommendations: u64 = Method::ALL.into_iter().map(of).sum();
    let strategy = Method::ALL
        .into_iter()
        .filter(|&m| of(m) > 0)
        .max_by_key(|&m| (of(m), std::cmp::Reverse(m)));
    let model_version = facts
        .ml
        .filter(|_| strategy == Some(Method::Ml))
        .map(|m| m.version.clone());
    let fell = kinds.get(FELL).copied().unwrap_or(0);
    let (mark, reason) = mark(&queue, (fell, recommendations), facts);
    QueueStatus {
        queue,
        strategy,
        model_version,
        recommendations,
        mark,
        reason,
    }
}

/// Whether a queue's window reads as failing: at least [`FAILING_MIN`] failed attempts and
/// not one success (an outage, or a burst whose retries have not run yet).
fn failing(o: &Outcomes) -> bool {
    o.successes == 0 && o.failures >= FAILING_MIN
}

/// The most pressing mark: open circuit, failing, high retry rate, mostly falling back, a model
/// in canary, else normal.
fn mark(queue: &str, (fell, recs): (u64, u64), facts: &QueueFacts<'_>) -> (QueueMark, String) {
    let open: Vec<&str> = facts
        .circuits
        .iter()
        .filter(|c| c.queue == queue && c.state == "open")
        .map(|c| c.error_class.as_str())
        .collect();
    if !open.is_empty() {
        return (
            QueueMark::Warning,
            format!("open circuit ({})", open.join(", ")),
        );
    }
    if let Some(o) = facts.outcomes.get(queue).filter(|o| failing(o)) {
        return (
            QueueMark::Warning,
            format!("failing: {} failed, none succeeded", o.failures),
        );
    }
    let storm = format!("retry_storm:{queue}");
    if facts.alerts.iter().any(|a| a.active && a.id == storm) {
        return (QueueMark::Warning, "high retry rate".into());
    }
    if recs >= FALLBACK_MIN && fell as f64 >= FALLBACK_SHARE * recs as f64 {
        let pct = (100 * fell) / recs;
        return (
            QueueMark::Warning,
            format!("mostly falling back ({pct} % of {recs})"),
        );
    }
    match facts.ml {
        Some(m) if m.enabled && m.canary_percent > 0.0 && m.canary_percent < 100.0 => (
            QueueMark::Changing,
            format!("ml {} in canary ({} %)", m.version, m.canary_percent),
        ),
        _ => (QueueMark::Normal, "normal".into()),
    }
}

/// Today's retries and recommended delays (UTC days, service clock).
#[derive(Debug, Default)]
pub struct Today {
    day: Option<NaiveDate>,
    retries: u64,
    delays: u64,
    delay_sum: f64,
    delay_sum_sq: f64,
}

impl Today {
    /// Counts a retry (an attempt after the job's first) heard of at `now`.
    pub fn note_attempt(&mut self, a: &AttemptRecord, now: DateTime<Utc>) {
        self.roll(now);
        if a.attempt_number > 1 {
            self.retries += 1;
        }
    }

    /// Counts the delay of a recommendation to retry made at `now`.
    pub fn note_recommendation(&mut self, rec: &RetryRecommendation, now: DateTime<Utc>) {
        self.roll(now);
        if rec.should_retry {
            let ms = rec.delay_ms as f64;
            self.delays += 1;
            self.delay_sum += ms;
            self.delay_sum_sq += ms * ms;
        }
    }

    /// Today's figures at `now`, with the comparison's estimate against static backoff.
    pub fn glance(
        &self,
        comparison: &Comparison,
        started_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> TodayAtAGlance {
        let today = now.date_naive();
        let midnight = today.and_time(chrono::NaiveTime::MIN).and_utc();
        let current = self.day == Some(today);
        let (retries, delays) = if current {
            (self.retries, self.delays)
        } else {
            (0, 0)
        };
        let mean = (delays > 0).then(|| self.delay_sum / delays as f64);
        let sd = mean.map(|m| (self.delay_sum_sq / delays as f64 - m * m).max(0.0).sqrt());
        let fixed = comparison.static_backoff.attempts;
        let versus = (comparison.jobs > 0 && fixed > 0.0)
            .then(|| (comparison.smart.attempts - fixed) / fixed);
        TodayAtAGlance {
            from: Some(midnight.max(started_at)),
            retries,
            retries_vs_static: versus,
            comparison_jobs: comparison.jobs,
            delays,
            mean_delay_ms: mean,
            sd_delay_ms: sd,
        }
    }

    fn roll(&mut self, now: DateTime<Utc>) {
        let today = now.date_naive();
        if self.day != Some(today) {
            *self = Self {
                day: Some(today),
                ..Self::default()
            };
        }
    }
}

#[cfg(test)]
mod tests;
