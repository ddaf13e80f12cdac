//! Durations on the wire.
//!
//! The upstream service (Go) encodes `time.Duration` as integer nanoseconds and its docs also show
//! strings such as `"00:02:30"`. We accept integer nanoseconds, human strings (`"2m30s"`,
//! `"1h 5m"`, `"250ms"`) and clock strings (`"00:02:30"`), and we write integer nanoseconds so an
//! upstream client reads our answers unchanged.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;
use std::time::Duration;

/// The latest time the wire writes: RFC 3339 has four-digit years.
fn latest_wire_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The earliest time the wire writes.
fn earliest_wire_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `at` plus `ms` milliseconds, kept within the years 0000–9999 the wire can write: clients
/// send any time and any delay, and time arithmetic past chrono's range would panic.
pub fn after_ms(at: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    let delta = TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
    at.checked_add_signed(delta)
        .map_or_else(latest_wire_time, |t| t.min(latest_wire_time()))
}

/// `at` minus `ms` milliseconds, kept within the years 0000–9999 (see [`after_ms`]).
pub fn before_ms(at: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    let delta = TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
    at.checked_sub_signed(delta)
        .map_or_else(earliest_wire_time, |t| t.max(earliest_wire_time()))
}

/// A duration as the upstream API carries it (Go `time.Duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct WireDuration(pub Duration);

impl WireDuration {
    pub fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    pub fn as_millis(&self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl From<Duration> for WireDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

/// The forms of [`parse_duration`] the API document states, as a regex (ECMAScript and Python
/// read it alike): integer nanoseconds as text, `1.5s` (a fraction of ms, s, m or h),
/// `HH:MM:SS`, or up to four terms of a number and a unit (`2m30s`, `1h 5m`). The parser also
/// takes humantime's longer unit names (`2min`, `1 hour`), which the document leaves out.
pub const DURATION_PATTERN: &str = "^([0-9]{1,19}|[0-9]{1,6}\\.[0-9]{1,3}(ms|s|m|h)|[0-9]{1,6}:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?|[0-9]{1,6}(ns|us|ms|s|m|h|d)( ?[0-9]{1,6}(ns|us|ms|s|m|h|d)){0,3})$";

/// A duration an operator gives for a change (an override's delay, a pause, a query window):
/// up to four terms of at most two digits and a unit of ms, s, m or h, so at most 16.5 days
/// (every such bound in the service is 30 days or more, or the server rounds into its range).
pub const SHORT_DURATION_PATTERN: &str = "^[0-9]{1,2}(ms|s|m|h)( ?[0-9]{1,2}(ms|s|m|h)){0,3}$";

/// A query window or step (`GET /stats`, `/patterns`, `/series`, `/smart-vs-static`): up to
/// four terms of at most four digits and a unit of ms, s, m or h, the first above zero (each
/// endpoint rounds a window into the range it keeps, so any such value is answered).
pub const WINDOW_PATTERN: &str = "^[1-9][0-9]{0,3}(ms|s|m|h)( ?[0-9]{1,4}(ms|s|m|h)){0,3}$";

/// [`SHORT_DURATION_PATTERN`] above zero: the first term starts with a non-zero digit.
pub const POSITIVE_DURATION_PATTERN: &str = "^[1-9][0-9]?(ms|s|m|h)( ?[0-9]{1,2}(ms|s|m|h)){0,3}$";

fn duration_schema(pattern: &str, nullable: bool, description: &str) -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type, schema::SchemaType};
    let kind = if nullable {
        SchemaType::Array(vec![Type::String, Type::Null])
    } else {
        Type::String.into()
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// Schema of an optional operator duration from zero to 16.5 days ([`SHORT_DURATION_PATTERN`]).
pub fn optional_short_duration() -> utoipa::openapi::Object {
    duration_schema(
        SHORT_DURATION_PATTERN,
        true,
        "a duration such as \"10m\" or \"1h 30m\"",
    )
}

/// Schema of an optional operator duration above zero ([`POSITIVE_DURATION_PATTERN`]).
pub fn optional_positive_duration() -> utoipa::openapi::Object {
    duration_schema(
        POSITIVE_DURATION_PATTERN,
        true,
        "a duration above zero such as \"10m\" or \"1h 30m\"",
    )
}

/// Schema of a query window above zero ([`WINDOW_PATTERN`]).
pub fn positive_duration() -> utoipa::openapi::Object {
    duration_schema(
        WINDOW_PATTERN,
        false,
        "a duration above zero such as \"15m\" or \"24h\"",
    )
}

/// OpenAPI: integer nanoseconds, or a string such as `"2m30s"` or `"00:02:30"`.
impl utoipa::PartialSchema for WireDuration {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let nanos = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(u64::MAX))
            .description(Some("integer nanoseconds (Go time.Duration)"));
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(DURATION_PATTERN))
            .description(Some(
                "a duration such as \"2m30s\", \"250ms\" or \"00:02:30\"",
            ));
        OneOfBuilder::new().item(nanos).item(text).into()
    }
}

impl utoipa::ToSchema for WireDuration {}

impl Serialize for WireDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl<'de> Deserialize<'de> for WireDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WireDurationVisitor)
    }
}

struct WireDurationVisitor;

impl de::Visitor<'_> for WireDurationVisitor {
    type Value = WireDuration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration: integer nanoseconds, a string like \"2m30s\", or \"HH:MM:SS\"")
    }

    fn visit_u64<E: de::Error>(self, ns: u64) -> Result<Self::Value, E> {
        Ok(WireDuration(Duration::from_nanos(ns)))
    }

    fn visit_i64<E: de::Error>(self, ns: i64) -> Result<Self::Value, E> {
        u64::try_from(ns)
            .map(|ns| WireDuration(Duration::from_nanos(ns)))
            .map_err(|_| E::custom(format!("duration must not be negative (got {ns} ns)")))
    }

    fn visit_f64<E: de::Error>(self, ns: f64) -> Result<Self::Value, E> {
        // `u64::MAX as f64` is 2^64, one past the largest u64.
        if ns.is_finite() && ns >= 0.0 && ns.fract() == 0.0 && ns < u64::MAX as f64 {
            Ok(WireDuration(Duration::from_nanos(ns as u64)))
        } else {
            Err(E::custom(format!(
                "duration in nanoseconds must be a non-negative whole number (got {ns})"
            )))
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        parse_duration(s).map(WireDuration).map_err(E::custom)
    }
}

/// Parses a duration an operator gives in a request body (an override's delay, a pause's
/// length): only the form the document states, [`SHORT_DURATION_PATTERN`].
pub fn parse_short_duration(input: &str) -> Result<Duration, String> {
    static SHORT: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| documented(SHORT_DURATION_PATTERN));
    parse_documented(input, &SHORT, "at most two digits")
}

/// Parses a query window (`window=24h`, `step=10s`): only the form the document states,
/// [`WINDOW_PATTERN`] (so above zero).
pub fn parse_window(input: &str) -> Result<Duration, String> {
    static WINDOW: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| documented(WINDOW_PATTERN));
    parse_documented(
        input,
        &WINDOW,
        "at most four digits, the first term above zero",
    )
}

fn documented(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).expect("the document's duration patterns compile")
}

/// `input` parsed, when it matches `form`, so the service accepts exactly what its document
/// promises; otherwise an error that names the form (`digits` says how long a number may be).
fn parse_documented(input: &str, form: &regex::Regex, digits: &str) -> Result<Duration, String> {
    if !form.is_match(input) {
        return Err(format!(
            "invalid duration {input:?}: use up to four terms of a number ({digits}) and a \
             unit of ms, s, m or h, like \"30s\", \"10m\" or \"1h 30m\""
        ));
    }
    parse_duration(input)
}

/// Parses a human duration: `"2m30s"`, `"1h 5m"`, `"250ms"`, `"1.5s"`, `"00:02:30"`, or a bare
/// integer of nanoseconds (`"1500000000"`).
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration: use a value like \"30s\", \"2m30s\" or \"00:02:30\"".into());
    }
    if let Ok(ns) = s.parse::<u64>() {
        return Ok(Duration::from_nanos(ns));
    }
    if s.contains(':') {
        return parse_clock(s);
    }
    if let Some(secs) = fractional_seconds(s) {
        return secs;
    }
    humantime::parse_duration(s).map_err(|e| {
        format!(
            "invalid duration {input:?}: {e}; use a value like \"30s\", \"2m30s\" or \"00:02:30\""
        )
    })
}

/// `"1.5s"` — humantime has no fractions, Go's `time.ParseDuration` does.
fn fractional_seconds(s: &str) -> Option<Result<Duration, String>> {
    let (number, unit_secs) = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
        .iter()
        .find_map(|(unit, scale)| s.strip_suffix(unit).map(|n| (n, *scale)))?;
    if !number.contains('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    if !(value.is_finite() && value >= 0.0) {
        return Some(Err(format!(
            "invalid duration {s:?}: must be a non-negative number"
        )));
    }
    Some(Duration::try_from_secs_f64(value * unit_secs).map_err(|_| too_long(s)))
}

fn too_long(s: &str) -> String {
    format!("invalid duration {s:?}: longer than this service can count (584 years)")
}

fn parse_clock(s: &str) -> Result<Duration, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("invalid duration {s:?}: clock durations look like \"HH:MM:SS\"");
    if parts.len() != 3 {
        return Err(bad());
    }
    let hours: u64 = parts[0].parse().map_err(|_| bad())?;
    let minutes: u64 = parts[1].parse().map_err(|_| bad())?;
    let seconds: f64 = parts[2].parse().map_err(|_| bad())?;
    if minutes >= 60 || !(0.0..60.0).contains(&seconds) {
        return Err(bad());
    }
    hours
        .checked_mul(3600)
        .and_then(|h| h.checked_add(minutes * 60))
        .and_then(|secs| Duration::from_secs(secs).checked_add(Duration::from_secs_f64(seconds)))
        .ok_or_else(|| too_long(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::string::string_regex;

    /// A pattern without its anchors, as proptest generates from it.
    fn body(pattern: &str) -> String {
        pattern
            .trim_start_matches('^')
            .trim_end_matches('$')
            .to_string()
    }

    #[test]
    fn time_arithmetic_stays_within_four_digit_years() {
        let end = latest_wire_time();
        let start = earliest_wire_time();
        assert_eq!(after_ms(end, 1), end);
        assert_eq!(after_ms(start, u64::MAX), end);
        assert_eq!(before_ms(start, 1), start);
        assert_eq!(before_ms(end, u64::MAX), start);
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(after_ms(t, 1_500), t + TimeDelta::milliseconds(1_500));
        assert_eq!(before_ms(t, 1_500), t - TimeDelta::milliseconds(1_500));
    }

    proptest! {
        #[test]
        fn every_documented_duration_parses(text in string_regex(&body(DURATION_PATTERN)).unwrap()) {
            prop_assert!(parse_duration(&text).is_ok(), "{text:?}");
        }

        #[test]
        fn short_durations_stay_under_seventeen_days(
            text in string_regex(&body(SHORT_DURATION_PATTERN)).unwrap()
        ) {
            let d = parse_short_duration(&text).map_err(TestCaseError::fail)?;
            prop_assert!(d <= Duration::from_secs(17 * 86_400), "{text:?}");
        }

        #[test]
        fn positive_durations_are_above_zero(
            text in string_regex(&body(POSITIVE_DURATION_PATTERN)).unwrap()
        ) {
            let d = parse_short_duration(&text).map_err(TestCaseError::fail)?;
            prop_assert!(!d.is_zero(), "{text:?}");
        }

        #[test]
        fn windows_parse_above_zero(text in string_regex(&body(WINDOW_PATTERN)).unwrap()) {
            let d = parse_window(&text).map_err(TestCaseError::fail)?;
            prop_assert!(!d.is_zero(), "{text:?}");
        }

        #[test]
        fn short_durations_refuse_what_the_document_leaves_out(
            text in proptest::prop_oneof![
                proptest::strategy::Just(String::new()),
                "[0-9]{1,19}",
                "[0-9]{1,2}\\.[0-9](s|m|h)",
                "[0-9]{1,2}:[0-5][0-9]:[0-5][0-9]",
                "[0-9]{5,6}(ms|s|m|h)",
                "[0-9]{1,2}(d|min|ns|us)",
            ]
        ) {
            for e in [parse_short_duration(&text), parse_window(&text)].map(Result::unwrap_err) {
                prop_assert!(e.contains("ms, s, m or h"), "{text:?}: {e}");
            }
        }
    }

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_time_any_text_is_a_duration_or_says_why(text in crate::fuzz::hostile_text()) {
            check_duration_text(&text)?;
        }

        #[test]
        fn fuzz_time_numbers_and_units_of_any_size(
            text in "[0-9]{0,30}(\\.[0-9]{0,30})?(e[0-9]{1,3})?(ns|us|ms|s|m|h|d|w|y|min|hours)?\
                     ( ?[0-9]{0,25}(\\.[0-9]{0,5})?(ns|us|ms|s|m|h|d|w|y)){0,4}"
        ) {
            check_duration_text(&text)?;
        }

        #[test]
        fn fuzz_time_clock_durations_of_any_size(
            text in "-?[0-9]{0,25}:-?[0-9]{0,4}:-?[0-9]{0,25}(\\.[0-9]{0,25})?(e[0-9]{1,3})?"
        ) {
            check_duration_text(&text)?;
        }

        #[test]
        fn fuzz_time_any_json_is_a_wire_duration_or_says_why(value in crate::fuzz::hostile_json()) {
            if let Err(e) = serde_json::from_value::<WireDuration>(value) {
                prop_assert!(e.to_string().contains("duration"), "{e}");
            }
        }
    }

    /// A duration parses, or the error names the text as a duration and says what to write.
    fn check_duration_text(text: &str) -> Result<(), TestCaseError> {
        match parse_duration(text) {
            Ok(_) => Ok(()),
            Err(e) => {
                prop_assert!(e.contains("duration"), "{text:?}: {e}");
                Ok(())
            }
        }
    }

    #[test]
    fn accepts_every_documented_form() {
        let cases = [
            ("2m30s", 150_000),
            ("2m 30s", 150_000),
            ("00:02:30", 150_000),
            ("250ms", 250),
            ("1.5s", 1_500),
            ("1500000000", 1_500),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
    }

    /// Found by `fuzz_time_*`: these panicked (float seconds past `Duration`, hours overflowing).
    #[test]
    fn too_long_a_duration_is_an_error() {
        for text in [
            "99999999999999999999.5h",
            "20000000000000000000.s",
            "18446744073709551615:00:00",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("longer than"), "{text}: {err}");
        }
    }

    #[test]
    fn rejects_nonsense_with_a_hint() {
        for bad in ["", "soon", "-5s", "00:99:00", "1:2"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn json_round_trip_uses_go_nanoseconds() {
        let d: WireDuration = serde_json::from_str("\"2m30s\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "150000000000");
        let back: WireDuration = serde_json::from_str("150000000000").unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<WireDuration>("-1").is_err());
    }
}
