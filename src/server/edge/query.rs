//! Query parameters parsed by hand, so a bad value is answered 400 naming the parameter
//! (`limit: must be a whole number 1–1000 (got "0")`).

use crate::model::FieldError;

/// A `limit` query parameter: a whole number in 1..=max (default when absent).
pub fn parse_limit(text: Option<&str>, default: u32, max: u32) -> Result<u32, FieldError> {
    let Some(text) = text else { return Ok(default) };
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(FieldError::new(
            "limit",
            format!("must be a whole number 1–{max} (got {text:?})"),
        )),
    }
}

/// A cursor query parameter (`since`, `after`): a whole number, 0 when absent. An empty value
/// is refused: the document types the parameter as an integer.
pub fn parse_cursor(field: &str, text: Option<&str>) -> Result<u64, FieldError> {
    match text {
        None => Ok(0),
        Some(t) => t
            .parse()
            .map_err(|_| FieldError::new(field, format!("must be a whole number ≥ 0 (got {t:?})"))),
    }
}

/// A yes/no query parameter, `true` or `false` as the document's boolean states; `false`
/// when absent.
pub fn parse_flag(field: &str, text: Option<&str>) -> Result<bool, FieldError> {
    match text {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(t) => Err(FieldError::new(
            field,
            format!("must be true or false (got {t:?})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cursor_is_zero_when_absent_and_refused_when_empty() {
        assert_eq!(parse_cursor("since", None).unwrap(), 0);
        assert_eq!(parse_cursor("since", Some("42")).unwrap(), 42);
        let e = parse_cursor("after", Some("")).unwrap_err();
        assert_eq!(e.field, "after");
        assert!(e.message.contains("whole number"), "{e:?}");
    }

    proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        /// Any text is a value or a refusal naming the parameter and quoting the text.
        #[test]
        fn fuzz_http_query_numbers_and_flags(text in crate::fuzz::hostile_text(), max in 1u32..) {
            let quoted = format!("{text:?}");
            if let Err(e) = parse_limit(Some(&text), 1, max) {
                prop_assert!(e.field == "limit" && e.message.contains(&quoted), "{e:?}");
            }
            if let Err(e) = parse_cursor("since", Some(&text)) {
                prop_assert!(e.field == "since" && e.message.contains(&quoted), "{e:?}");
            }
            if let Err(e) = parse_flag("dry_run", Some(&text)) {
                prop_assert!(e.field == "dry_run" && e.message.contains(&quoted), "{e:?}");
            }
        }
    }
}
