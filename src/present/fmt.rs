//! Display formatting of durations, ages, ratios and counts.

use crate::model::{JobState, TimelineEntry};
use chrono::{DateTime, Utc};

/// How a finished job ended (`succeeded`, `was given up`, `was killed`); `None` while pending.
pub fn job_end(state: JobState) -> Option<&'static str> {
    match state {
        JobState::Scheduled | JobState::Claimed => None,
        JobState::Succeeded => Some("succeeded"),
        JobState::Exhausted => Some("was given up"),
        JobState::Killed => Some("was killed"),
    }
}

/// What decided a planned attempt: `override` when an operator set its time, else the tier.
pub fn step_method(step: &TimelineEntry) -> &'static str {
    if step.overridden {
        "override"
    } else {
        step.method.as_str()
    }
}

/// `4.2s`, `2m05s`, `1h02m`, `3d04h`.
pub fn secs(s: f64) -> String {
    let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let whole = s as u64;
    match whole {
        0..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        3600..86_400 => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
        _ => format!("{}d{:02}h", whole / 86_400, whole % 86_400 / 3600),
    }
}

/// Milliseconds as [`secs`], but whole seconds without a decimal (`5s`, `500ms`).
pub fn ms(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => secs(ms as f64 / 1000.0),
    }
}

/// Seconds from `now` until `at` (negative when past).
pub fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (at - now).num_milliseconds() as f64 / 1000.0
}

/// `12s ago`, `3m04s ago`.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", whole_secs(-until(at, now)))
}

/// Whole seconds, for ages and countdowns where tenths would only flicker.
pub fn whole_secs(s: f64) -> String {
    let s = if s > 0.0 { s.floor() } else { 0.0 };
    if s < 60.0 {
        format!("{s:.0}s")
    } else {
        secs(s)
    }
}

/// The length of a window whose figures are shown: `24h`, `3h`, `1h02m`, `40m00s`.
pub fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let whole = (to - from).num_seconds().max(0);
    if whole >= 3600 && whole % 3600 == 0 {
        format!("{}h", whole / 3600)
    } else {
        secs(whole as f64)
    }
}

/// `78%`.
pub fn pct(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

/// `1205`, `12.3k`, `4.1M`.
pub fn count(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(secs(4.21), "4.2s");
        assert_eq!(secs(125.0), "2m05s");
        assert_eq!(secs(3723.0), "1h02m");
        assert_eq!(secs(-3.0), "0.0s");
        assert_eq!(ms(500), "500ms");
        assert_eq!(ms(5000), "5s");
        assert_eq!(ms(300_000), "5m00s");
        assert_eq!(whole_secs(12.9), "12s");
        assert_eq!(count(12_345), "12.3k");
    }
}
