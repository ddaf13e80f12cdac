//! `POST /attempt` (upstream, one record) and `POST /attempts` (ours: a JSON array or NDJSON).
//! Both answer only after the store committed the attempts.

use crate::model::{AttemptRecord, BatchRecorded, ErrorBody, StatusResponse};
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::{ApiError, ApiResult};
use crate::server::edge::json::{ApiJson, parse_json};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_one))
}

/// `POST /attempts`, which gets the larger batch body limit.
pub fn batch_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_batch))
}

#[utoipa::path(post, path = "/attempt",
    summary = "Record one attempt, durable when answered (worker)",
    request_body = AttemptRecord,
    responses((status = 200, description = "recorded", body = StatusResponse)))]
async fn record_one(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(attempt): ApiJson<AttemptRecord>,
) -> ApiResult<ApiJson<StatusResponse>> {
    caller.require(Access::Work)?;
    state.record_attempts(vec![attempt]).await?;
    Ok(ApiJson(StatusResponse::new("recorded")))
}

#[utoipa::path(post, path = "/attempts",
    summary = "Record a batch: a JSON array or NDJSON of attempts (worker)",
    request_body(content = NonEmptyBatch,
        description = "a JSON array, or one JSON object per line (NDJSON); at least one and at most `limits.batch_max_records` attempts"),
    responses(
        (status = 200, description = "recorded", body = BatchRecorded),
        (status = 413, description = "too many attempts or too large a body", body = ErrorBody)))]
async fn record_batch(
    caller: Caller,
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<ApiJson<BatchRecorded>> {
    caller.require(Access::Work)?;
    let attempts = parse_batch(&body)?;
    let limit = state.config.limits.batch_max_records;
    if attempts.len() > limit {
        return Err(
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "batch too large").with_details(format!(
                "{} attempts in one batch; the limit (limits.batch_max_records) is {limit}",
                attempts.len()
            )),
        );
    }
    let successes = attempts.iter().filter(|a| a.success).count() as u64;
    let recorded = attempts.len() as u64;
    state.record_attempts(attempts).await?;
    Ok(ApiJson(BatchRecorded {
        status: "recorded".into(),
        recorded,
        successes,
        failures: recorded - successes,
    }))
}

/// The body of `POST /attempts` as the document states it: one attempt or more.
struct NonEmptyBatch;

impl utoipa::PartialSchema for NonEmptyBatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(utoipa::openapi::Ref::from_schema_name(AttemptRecord::name()))
            .min_items(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for NonEmptyBatch {}

/// A JSON array when the body starts with `[`, otherwise one JSON object per line (NDJSON).
fn parse_batch(body: &[u8]) -> ApiResult<Vec<AttemptRecord>> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let attempts: Vec<AttemptRecord> = match first {
        None => Vec::new(),
        Some(b'[') => parse_json(body)?,
        Some(_) => parse_ndjson(body)?,
    };
    if attempts.is_empty() {
        return Err(ApiError::bad_request(
            "no attempts in the body: send a JSON array or one JSON object per line",
        ));
    }
    Ok(attempts)
}

fn parse_ndjson(body: &[u8]) -> ApiResult<Vec<AttemptRecord>> {
    body.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| {
            parse_json(line).map_err(|e| {
                let details = e.details.clone().unwrap_or_default();
                ApiError::bad_request(format!("line {}: {details}", i + 1))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"job_id":"a","success":true,"timestamp":"2024-05-01T00:00:00Z"}"#;
    const B: &str = r#"{"job_id":"b","attempt_number":2,"error_class":"timeout","success":false,"timestamp":"2024-05-01T00:00:01Z"}"#;

    #[test]
    fn array_and_ndjson_parse_alike() {
        let array = parse_batch(format!("[{A},{B}]").as_bytes()).unwrap();
        let lines = parse_batch(format!("{A}\n\n{B}\n").as_bytes()).unwrap();
        assert_eq!(array, lines);
        assert_eq!(array[1].attempt_number, 2);
    }

    #[test]
    fn errors_name_the_record() {
        let bad = r#"{"job_id":"c","success":"no","timestamp":"2024-05-01T00:00:00Z"}"#;
        let e = parse_batch(format!("[{A},{bad}]").as_bytes()).unwrap_err();
        assert!(e.details.unwrap().starts_with("[1].success: invalid type"));
        let e = parse_batch(format!("{A}\n{bad}").as_bytes()).unwrap_err();
        assert!(
            e.details
                .unwrap()
                .starts_with("line 2: success: invalid type")
        );
        let e = parse_batch(b"  \n").unwrap_err();
        assert!(e.details.unwrap().starts_with("no attempts"));
    }

    mod fuzz {
        use super::*;
        use crate::fuzz::{damage, edit, edited_json, hostile_bytes, hostile_json};
        use proptest::prelude::*;

        fn check(body: &[u8], e: &ApiError) -> Result<(), TestCaseError> {
            let details = e.details.as_deref().unwrap_or_default();
            prop_assert!(
                !details.trim().is_empty(),
                "{:?}: {e:?}",
                String::from_utf8_lossy(body)
            );
            Ok(())
        }

        proptest! {
            #![proptest_config(crate::fuzz::config(256))]

            #[test]
            fn fuzz_http_any_batch_bytes_are_attempts_or_a_400(bytes in hostile_bytes()) {
                if let Err(e) = parse_batch(&bytes) {
                    check(&bytes, &e)?;
                }
            }

            #[test]
            fn fuzz_http_damaged_batches_are_a_400(lines in 1usize..20, damage in damage()) {
                let text = damage.apply(&[A, B].repeat(lines).join("\n"));
                if let Err(e) = parse_batch(text.as_bytes()) {
                    check(text.as_bytes(), &e)?;
                }
            }

            /// One record of an NDJSON batch edited: a refusal names its line.
            #[test]
            fn fuzz_http_a_bad_ndjson_record_is_named_by_line(
                before in 0usize..20,
                after in 0usize..5,
                (at, change) in edit(hostile_json()),
                blank_lines in any::<bool>(),
            ) {
                let doc: serde_json::Value = serde_json::from_str(B).unwrap();
                let (bad, _) = edited_json(&doc, &at, &change);
                let sep = if blank_lines { "\n \n" } else { "\n" };
                let mut lines = vec![A; before];
                lines.push(&bad);
                lines.extend(vec![B; after]);
                let text = lines.join(sep);
                let batch = parse_batch(text.as_bytes());
                if before == 0 && bad.starts_with('[') {
                    // The body is then read as one JSON array, not as lines.
                    if let Err(e) = batch {
                        check(text.as_bytes(), &e)?;
                    }
                    return Ok(());
                }
                match (parse_json::<AttemptRecord>(bad.as_bytes()), batch) {
                    (Ok(_), Ok(all)) => prop_assert_eq!(all.len(), before + after + 1),
                    (Err(_), Err(e)) => {
                        let line = if blank_lines { 2 * before + 1 } else { before + 1 };
                        let details = e.details.unwrap_or_default();
                        prop_assert!(details.starts_with(&format!("line {line}: ")), "{details}");
                    }
                    (one, all) => prop_assert!(false, "{bad}: alone {one:?}, in a batch {all:?}"),
                }
            }

            #[test]
            fn fuzz_http_any_json_array_is_attempts_or_a_400(
                items in prop::collection::vec(hostile_json(), 0..8)
            ) {
                let text = serde_json::Value::Array(items).to_string();
                if let Err(e) = parse_batch(text.as_bytes()) {
                    check(text.as_bytes(), &e)?;
                }
            }
        }
    }
}
