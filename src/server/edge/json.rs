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

/// Parses one JSON document, naming the field on a type error and the position on a syntax
/// error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty request body: expected a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
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
}
