//! `ApiJson<T>`: a JSON body extractor whose errors name the field
//! (`attempt_number: invalid value: integer -1, expected u32`), in the upstream error shape.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON request body (and response: it serialises like `axum::Json`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_error(rejection.status(), rejection.body_text()))?;
        require_object(&bytes)?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn body_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "request body too large").with_details(text);
    }
    ApiError::new(status, "unreadable request body").with_details(text)
}

/// Every body taken by [`ApiJson`] is one JSON object: serde would also build a struct from an
/// array of its fields in order (`[null, null]`), which the API does not document.
pub fn require_object(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Err(ApiError::bad_request(
            "expected a JSON object, got an array",
        )),
        _ => Ok(()),
    }
}

/// Parses one JSON document, naming the field on a type error and the position on a syntax
/// error. A whole number written with a fraction (`6324.0`) is read as the integer it is, as
/// JSON Schema's `integer` allows.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty request body: expected a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first_try = serde_path_to_error::deserialize(&mut de);
    match first_try {
        Ok(value) => {
            de.end()
                .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
            Ok(value)
        }
        Err(e) if e.inner().is_data() => {
            retry_with_whole_numbers(bytes).unwrap_or(Err(path_error(e)))
        }
        Err(e) if e.inner().is_syntax() => read_parsed(bytes).unwrap_or(Err(path_error(e))),
        Err(e) => Err(path_error(e)),
    }
}

/// serde_json reports a wrong type for an enum field (`"action": null`) as a syntax error,
/// "expected value", with no field. When the document is well-formed, reading it again from
/// its parsed form names the field and the type (`action: invalid type: null, expected string
/// or map`). `None` when the document is malformed after all.
fn read_parsed<T: DeserializeOwned>(bytes: &[u8]) -> Option<Result<T, ApiError>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    Some(serde_path_to_error::deserialize(value).map_err(path_error))
}

/// The slow path, taken only after a type error: when the document holds whole numbers written
/// as floats, reads it again with those as integers. `None` when there were none to rewrite.
fn retry_with_whole_numbers<T: DeserializeOwned>(bytes: &[u8]) -> Option<Result<T, ApiError>> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !integral_floats_to_integers(&mut value) {
        return None;
    }
    Some(serde_path_to_error::deserialize(value).map_err(path_error))
}

/// Rewrites every float with no fractional part that fits an `i64` or `u64` as that integer;
/// true when anything changed.
pub fn integral_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::{Number, Value};
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let whole: Option<Number> = if f.fract() != 0.0 || !f.is_finite() {
                None
            } else if f >= 0.0 && f < u64::MAX as f64 {
                Some((f as u64).into())
            } else if f < 0.0 && f >= i64::MIN as f64 {
                Some((f as i64).into())
            } else {
                None
            };
            whole.map(|w| *n = w).is_some()
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) | changed),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) | changed),
        _ => false,
    }
}

/// Turns a located serde error into a 400 whose details start with the field path.
pub fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::bad_request(format!("malformed JSON: {inner}"));
    }
    let message = strip_position(inner);
    if path == "." {
        ApiError::bad_request(message)
    } else {
        ApiError::bad_request(format!("{path}: {message}"))
    }
}

/// serde_json appends " at line L column C"; for a data error the field path says more.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptRecord, PreviewRequest};

    fn details<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        parse_json::<T>(body.as_bytes())
            .unwrap_err()
            .details
            .unwrap()
    }

    #[test]
    fn errors_name_the_field() {
        let d = details::<AttemptRecord>(
            r#"{"job_id":"j","attempt_number":-1,"success":false,"timestamp":"2024-01-01T00:00:00Z"}"#,
        );
        assert_eq!(
            d,
            "attempt_number: invalid value: integer `-1`, expected u32"
        );
        let d = details::<PreviewRequest>(r#"{"features":{"job_type":7}}"#);
        assert!(d.starts_with("features.job_type: invalid type"), "{d}");
        let d = details::<AttemptRecord>(r#"{"job_id":"j"}"#);
        assert!(d.starts_with("missing field `success`"), "{d}");
        let d = details::<AttemptRecord>(r#"{"job_id": "#);
        assert!(d.starts_with("malformed JSON"), "{d}");
        let d = details::<AttemptRecord>("");
        assert!(d.starts_with("empty request body"), "{d}");
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let seed: crate::model::EngineSeed = parse_json(br#"{"seed": 6324.0}"#).unwrap();
        assert_eq!(seed.seed, 6324);
        let d = details::<crate::model::EngineSeed>(r#"{"seed": 0.5}"#);
        assert!(d.starts_with("seed: invalid type: floating point"), "{d}");
        let d = details::<AttemptRecord>(
            r#"{"job_id":"j","attempt_number":-1.0,"success":false,"timestamp":"2024-01-01T00:00:00Z"}"#,
        );
        assert!(
            d.starts_with("attempt_number: invalid value: integer `-1`"),
            "{d}"
        );
    }

    /// Found by `fuzz_http_edited_bodies_name_the_field`: a wrong type for an enum was
    /// "malformed JSON: expected value at line 1 column 11", naming no field.
    #[test]
    fn a_wrong_type_for_an_enum_names_the_field() {
        let d = details::<crate::model::BulkRequest>(r#"{"action": null, "reason": "r"}"#);
        assert!(d.starts_with("action: invalid type: null"), "{d}");
        let d = details::<crate::model::BulkRequest>(r#"{"action": 7, "reason": "r"}"#);
        assert!(d.starts_with("action: invalid type: integer"), "{d}");
        let d = details::<crate::model::BulkRequest>(r#"{"action": nul"#);
        assert!(d.starts_with("malformed JSON"), "{d}");
    }

    #[test]
    fn an_object_body_given_as_an_array_is_refused() {
        let e = require_object(b"  [null, null]").unwrap_err();
        assert_eq!(
            e.details.as_deref(),
            Some("expected a JSON object, got an array")
        );
        assert!(require_object(b"{}").is_ok());
    }

    /// The fuzz tests of every body the API reads (README "Fuzzing").
    mod fuzz {
        use super::*;
        use crate::fuzz::{damage, edit, edited_json, hostile_bytes, hostile_json, nameable_keys};
        use crate::model::*;
        use proptest::prelude::*;
        use serde_json::Value;

        /// What [`ApiJson`] does with a body.
        fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
            require_object(bytes)?;
            parse_json(bytes)
        }

        /// Parses a body as one of the API's body types.
        type Parser = fn(&[u8]) -> Result<(), ApiError>;

        /// Every body type the API reads, with one valid document of it.
        fn seeds() -> Vec<(&'static str, Value, Parser)> {
            fn p<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), ApiError> {
                body::<T>(bytes).map(drop)
            }
            crate::fuzz::api_bodies()
                .into_iter()
                .map(|(name, doc)| {
                    let parse: Parser = match name {
                        "AttemptRecord" => p::<AttemptRecord>,
                        "FailureReport" => p::<FailureReport>,
                        "RetryFeatures" => p::<RetryFeatures>,
                        "PreviewRequest" => p::<PreviewRequest>,
                        "BayesianUpdateRequest" => p::<BayesianUpdateRequest>,
                        "BulkRequest" => p::<BulkRequest>,
                        "CircuitForceRequest" => p::<CircuitForceRequest>,
                        "ClaimRequest" => p::<ClaimRequest>,
                        "CostWeights" => p::<CostWeights>,
                        "EmergencyStopRequest" => p::<EmergencyStopRequest>,
                        "EngineSeed" => p::<EngineSeed>,
                        "OverrideRequest" => p::<OverrideRequest>,
                        "PauseRequest" => p::<PauseRequest>,
                        "ActionRequest" => p::<Option<ActionRequest>>,
                        "RetryPolicy" => p::<RetryPolicy>,
                        "RetryStrategy" => p::<RetryStrategy>,
                        "PolicyGuardrails" => p::<PolicyGuardrails>,
                        other => panic!("no parser for the seed {other}"),
                    };
                    (name, doc, parse)
                })
                .collect()
        }

        #[test]
        fn every_seed_is_valid() {
            for (name, doc, parse) in seeds() {
                parse(doc.to_string().as_bytes()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            }
        }

        fn seed(i: &prop::sample::Index) -> (&'static str, Value, Parser) {
            let mut all = seeds();
            all.swap_remove(i.index(all.len()))
        }

        fn explained(name: &str, input: &[u8], e: &ApiError) -> Result<(), TestCaseError> {
            let details = e.details.as_deref().unwrap_or_default();
            prop_assert!(
                !details.trim().is_empty(),
                "{name} {:?}: {e:?}",
                String::from_utf8_lossy(input)
            );
            prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
            Ok(())
        }

        proptest! {
            #![proptest_config(crate::fuzz::config(256))]

            #[test]
            fn fuzz_http_any_bytes_are_a_body_or_a_400(
                which in any::<prop::sample::Index>(),
                bytes in hostile_bytes(),
            ) {
                let (name, _, parse) = seed(&which);
                if let Err(e) = parse(&bytes) {
                    explained(name, &bytes, &e)?;
                }
            }

            #[test]
            fn fuzz_http_any_json_is_a_body_or_a_400(
                which in any::<prop::sample::Index>(),
                value in hostile_json(),
            ) {
                let (name, _, parse) = seed(&which);
                let text = value.to_string();
                if let Err(e) = parse(text.as_bytes()) {
                    explained(name, text.as_bytes(), &e)?;
                }
            }

            #[test]
            fn fuzz_http_damaged_bodies_are_a_400(
                which in any::<prop::sample::Index>(),
                damage in damage(),
            ) {
                let (name, doc, parse) = seed(&which);
                let text = damage.apply(&serde_json::to_string_pretty(&doc).unwrap());
                if let Err(e) = parse(text.as_bytes()) {
                    explained(name, text.as_bytes(), &e)?;
                }
            }

            /// One value replaced, removed or added: a refusal names a key on its path.
            #[test]
            fn fuzz_http_edited_bodies_name_the_field(
                which in any::<prop::sample::Index>(),
                (at, change) in edit(hostile_json()),
            ) {
                let (name, doc, parse) = seed(&which);
                let (text, path) = edited_json(&doc, &at, &change);
                if let Err(e) = parse(text.as_bytes()) {
                    explained(name, text.as_bytes(), &e)?;
                    let details = e.details.unwrap_or_default();
                    let keys = nameable_keys(&path, &change);
                    prop_assert!(keys.is_empty() || keys.iter().any(|k| details.contains(k.as_str())),
                        "{name}: edit {change:?} at {path:?} -> {details}");
                }
            }
        }
    }
}
