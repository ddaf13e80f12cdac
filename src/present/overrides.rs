//! The operator's "retry this job later" input, as typed into the console's override dialog
//! or given to `retryctl override --delay`: a delay, a UTC time of day or an RFC 3339 time.

use crate::model::{OverrideRequest, parse_duration};
use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, Utc};

/// Hint shown under the delay input.
pub const DELAY_HINT: &str = "30s, 2m, 1h30m, 14:30 (UTC, next occurrence) or 2026-11-23T14:30:00Z";

/// Checks the override dialog's input and builds the request, or says what to fix.
pub fn parse_override(
    delay: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<OverrideRequest, String> {
    let reason = reason.trim();
    let mut req = OverrideRequest {
        reason: reason.to_string(),
        ..OverrideRequest::default()
    };
    match parse_when(delay.trim(), now)? {
        When::After(ms) => req.delay_ms = Some(ms),
        When::At(at) => req.at = Some(at),
    }
    if reason.is_empty() {
        return Err("a reason is required (it goes to the audit log)".into());
    }
    Ok(req)
}

/// An absolute time from the same input as [`parse_override`] (a delay counts from `now`),
/// e.g. `retryctl pause --until`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    match parse_when(text.trim(), now)? {
        When::After(ms) => i64::try_from(ms)
            .ok()
            .and_then(ChronoDuration::try_milliseconds)
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(|| format!("`{}` is too far ahead", text.trim())),
        When::At(at) => Ok(at),
    }
}

enum When {
    After(u64),
    At(DateTime<Utc>),
}

fn parse_when(text: &str, now: DateTime<Utc>) -> Result<When, String> {
    if text.is_empty() {
        return Err(format!("enter a delay or a time: {DELAY_HINT}"));
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        let at = at.with_timezone(&Utc);
        if at <= now {
            return Err(format!("{text} is in the past"));
        }
        return Ok(When::At(at));
    }
    if text.contains(':') {
        return clock_time(text, now).map(When::At);
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` has no unit: say `{text}s` or `{text}m`"));
    }
    let d = parse_duration(text)
        .map_err(|_| format!("`{text}` is not a delay or a time: {DELAY_HINT}"))?;
    Ok(When::After(
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
    ))
}

/// `HH:MM` or `HH:MM:SS` in UTC: today if still ahead, else tomorrow.
fn clock_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let time = NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .map_err(|_| format!("`{text}` is not a time of day: use HH:MM or HH:MM:SS (UTC)"))?;
    let today = now.date_naive().and_time(time).and_utc();
    Ok(if today > now {
        today
    } else {
        today + ChronoDuration::days(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        /// Any input, at any moment of the years the service runs in, is a time or an error
        /// that names the input or shows the forms to use.
        #[test]
        fn fuzz_time_override_input_is_a_time_or_says_why(
            text in crate::fuzz::hostile_text(),
            now_s in 0i64..8_000_000_000,
        ) {
            let now = DateTime::from_timestamp(now_s, 0).unwrap();
            if let Err(e) = parse_time(&text, now) {
                prop_assert!(e.contains(text.trim()) || e.contains(DELAY_HINT), "{text:?}: {e}");
            }
            if let Err(e) = parse_override(&text, "a reason", now) {
                prop_assert!(e.contains(text.trim()) || e.contains(DELAY_HINT), "{text:?}: {e}");
            }
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn delays_and_times_are_understood() {
        let r = parse_override("30s", "db failover", now()).unwrap();
        assert_eq!(
            (r.delay_ms, r.at, r.reason.as_str()),
            (Some(30_000), None, "db failover")
        );
        assert_eq!(
            parse_override("2m", "x", now()).unwrap().delay_ms,
            Some(120_000)
        );
        assert_eq!(
            parse_override("1h30m", "x", now()).unwrap().delay_ms,
            Some(5_400_000)
        );
        let at = parse_override("14:30", "x", now()).unwrap().at.unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-23T14:30:00+00:00");
        let at = parse_override("09:00", "x", now()).unwrap().at.unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-24T09:00:00+00:00");
        let at = parse_override("2026-11-23T12:00:00Z", "x", now())
            .unwrap()
            .at;
        assert_eq!(at, Some("2026-11-23T12:00:00Z".parse().unwrap()));
    }

    #[test]
    fn times_are_absolute() {
        let at = |t: &str| parse_time(t, now()).unwrap().to_rfc3339();
        assert_eq!(at("10m"), "2026-11-23T10:10:00+00:00");
        assert_eq!(at("09:00"), "2026-11-24T09:00:00+00:00");
        assert!(parse_time("99999999999999h", now()).is_err());
    }

    #[test]
    fn bad_input_says_what_to_fix() {
        assert!(parse_override("", "x", now()).unwrap_err().contains("30s"));
        assert!(
            parse_override("30", "x", now())
                .unwrap_err()
                .contains("30s")
        );
        assert!(
            parse_override("soon", "x", now())
                .unwrap_err()
                .contains("not a delay")
        );
        assert!(
            parse_override("25:99", "x", now())
                .unwrap_err()
                .contains("HH:MM")
        );
        let past = parse_override("2026-11-23T09:00:00Z", "x", now()).unwrap_err();
        assert!(past.contains("past"), "{past}");
        assert!(
            parse_override("30s", "   ", now())
                .unwrap_err()
                .contains("reason")
        );
    }
}
