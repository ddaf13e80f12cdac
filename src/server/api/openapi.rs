//! `GET /openapi.json`: the OpenAPI 3 document of every endpoint. It is generated from the
//! routes: each handler carries `#[utoipa::path]` and is registered with `routes!`, so a route
//! cannot exist without its documentation; bodies are the `ToSchema` wire types of `model`.
//!
//! [`base`] states what every operation shares (info, the error body, the bearer scheme);
//! [`finish`] adds the answers every operation can give (4XX and 503 in the error shape) and
//! the bearer requirement to each operation that does not state its own.

use crate::model::ErrorBody;
use crate::model::params::TIME_PATTERN;
use crate::server::edge::{Access, ApiResult, Caller};
use axum::{Extension, Json};
use std::sync::Arc;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Response, ResponseBuilder,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Name of the bearer-token security scheme.
const BEARER: &str = "bearer";

pub fn routes() -> OpenApiRouter<crate::server::core::AppState> {
    OpenApiRouter::new().routes(routes!(document))
}

/// The document, as generated when the router was built.
#[utoipa::path(
    get,
    path = "/openapi.json",
    summary = "This document (any role)",
    responses((status = 200, description = "the OpenAPI 3 document of this service", content_type = "application/json"))
)]
async fn document(
    caller: Caller,
    Extension(doc): Extension<Arc<serde_json::Value>>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Access::Any)?;
    Ok(Json(serde_json::Value::clone(&doc)))
}

/// What every operation shares: info, the error body schema and the bearer scheme.
pub fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("retryctl")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Smart, visible retries. Errors answer {error, status, timestamp, details}. \
             Send `Authorization: Bearer <token>` when the service has tokens configured; \
             each operation's summary names the roles it needs (worker, viewer, operator; \
             an operator may do everything).",
        ));
    let mut doc = OpenApiBuilder::new().info(info).build();
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc
}

/// Completes every operation of the generated document (see [`complete`]), states the range
/// of every unsigned or small integer (see [`bound_integers`]) and the form of every time
/// (see [`spell_out_times`]).
/// The result is JSON: utoipa's types cannot hold the renamed formats.
pub fn finish(doc: OpenApi) -> serde_json::Value {
    let doc = complete_operations(doc);
    let mut value = serde_json::to_value(&doc).expect("an OpenAPI document is JSON");
    bound_integers(&mut value);
    spell_out_times(&mut value);
    state_cross_field_rules(&mut value);
    value
}

/// The rules between fields that derived schemas cannot state: a failed attempt names its
/// error class (`AttemptRecord.validate`).
fn state_cross_field_rules(doc: &mut serde_json::Value) {
    let class = serde_json::to_value(crate::model::required_text()).expect("a schema is JSON");
    let failed_names_its_class = serde_json::json!({
        "if": {"properties": {"success": {"const": false}}, "required": ["success"]},
        "then": {"properties": {"error_class": class}, "required": ["error_class"]},
    });
    let attempt = doc
        .pointer_mut("/components/schemas/AttemptRecord")
        .and_then(serde_json::Value::as_object_mut);
    if let (Some(attempt), serde_json::Value::Object(rule)) = (attempt, failed_names_its_class) {
        attempt.extend(rule);
    }
}

/// Gives every `date-time` string schema [`TIME_PATTERN`]: in OpenAPI 3.1 a `format` is a note,
/// not a rule, so without a pattern a client (and schemathesis) may send `""` as a time.
fn spell_out_times(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("format").and_then(|f| f.as_str()) == Some("date-time") {
                map.entry("pattern").or_insert_with(|| TIME_PATTERN.into());
            }
            map.values_mut().for_each(spell_out_times);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(spell_out_times),
        _ => {}
    }
}

/// Each integer format utoipa writes for a Rust type (`u8` is `u-int8`, ...), the name the
/// document gives it (`uint8`, as in the OpenAPI format registry) and the type's range.
const INTEGER_FORMATS: [(&str, &str, i128, i128); 6] = [
    ("int8", "int8", i8::MIN as i128, i8::MAX as i128),
    ("int16", "int16", i16::MIN as i128, i16::MAX as i128),
    ("u-int8", "uint8", 0, u8::MAX as i128),
    ("u-int16", "uint16", 0, u16::MAX as i128),
    ("u-int32", "uint32", 0, u32::MAX as i128),
    ("u-int64", "uint64", 0, u64::MAX as i128),
];

/// Gives every integer schema of a known format the `minimum` and `maximum` of its Rust type
/// unless it states a narrower one: clients (and schemathesis) read `format` as a hint only,
/// while the server refuses what does not fit the type.
fn bound_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let known = map
                .get("format")
                .and_then(|f| f.as_str())
                .and_then(|format| {
                    INTEGER_FORMATS
                        .iter()
                        .find(|(written, ..)| *written == format)
                });
            if let Some((_, name, min, max)) = known {
                map.insert("format".into(), serde_json::json!(name));
                for (key, bound) in [("minimum", min), ("maximum", max)] {
                    map.entry(key).or_insert_with(|| serde_json::json!(*bound));
                }
            }
            map.values_mut().for_each(bound_integers);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

fn complete_operations(mut doc: OpenApi) -> OpenApi {
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            complete(op);
        }
    }
    doc
}

/// The error answers every operation can give, and the bearer requirement unless the
/// operation states its own (`/health` states that it needs none).
fn complete(op: &mut Operation) {
    let answers = [
        ("4XX", "the request was wrong: details name the field"),
        ("503", "the store is unavailable (degraded)"),
    ];
    for (status, description) in answers {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    }
    if op.security.is_none() {
        op.security = Some(vec![SecurityRequirement::new::<_, _, &str>(BEARER, [])]);
        let denials = [
            ("401", "no token, or a token the service does not know"),
            ("403", "the token's role may not do this"),
        ];
        for (status, description) in denials {
            op.responses
                .responses
                .insert(status.to_string(), error_response(description));
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    let schema = Ref::from_schema_name(ErrorBody::name());
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use crate::config::Limits;

    fn document() -> serde_json::Value {
        let (_, doc) = super::super::split(&Limits::default());
        doc
    }

    #[test]
    fn every_reference_resolves_to_a_component() {
        let doc = document();
        let components = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        let refs: Vec<&str> = text
            .split("\"$ref\":\"#/components/schemas/")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        assert!(refs.len() > 30);
        for name in refs {
            assert!(components.contains_key(name), "missing component {name}");
        }
    }

    #[test]
    fn every_parameter_has_a_schema_and_every_operation_a_summary() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["summary"].is_string(), "{method} {path}");
                assert!(op["responses"]["4XX"].is_object(), "{method} {path}");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    assert!(p["schema"]["type"].is_string(), "{method} {path}: {p}");
                }
            }
        }
    }

    #[test]
    fn unsigned_integers_carry_the_range_of_their_rust_type() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let seed = &schemas["EngineSeed"]["properties"]["seed"];
        assert_eq!(seed["format"], "uint64");
        assert_eq!(seed["maximum"], serde_json::json!(u64::MAX));
        let hour = &schemas["RetryFeatures"]["properties"]["time_of_day"];
        assert_eq!(
            (hour["format"].as_str(), hour["maximum"].as_u64()),
            (Some("uint8"), Some(23))
        );
        let limit = &doc["paths"]["/api/v1/retry/audit"]["get"]["parameters"][1]["schema"];
        assert_eq!(limit["maximum"], 1000);
    }

    proptest::proptest! {
        #[test]
        fn every_documented_time_is_read_by_the_service(
            text in proptest::string::string_regex(
                crate::model::params::TIME_PATTERN.trim_start_matches('^').trim_end_matches('$')
            ).unwrap()
        ) {
            let read: Result<chrono::DateTime<chrono::Utc>, _> =
                serde_json::from_value(serde_json::json!(text));
            proptest::prop_assert!(read.is_ok(), "{text:?}");
        }
    }

    #[test]
    fn a_failed_attempt_must_name_its_error_class() {
        let doc = document();
        let attempt = &doc["components"]["schemas"]["AttemptRecord"];
        assert_eq!(attempt["if"]["properties"]["success"]["const"], false);
        assert_eq!(attempt["then"]["required"][0], "error_class");
    }

    #[test]
    fn times_carry_their_pattern() {
        let doc = document();
        let timestamp = &doc["components"]["schemas"]["AttemptRecord"]["properties"]["timestamp"];
        assert_eq!(timestamp["format"], "date-time");
        assert_eq!(
            timestamp["pattern"].as_str(),
            Some(crate::model::params::TIME_PATTERN)
        );
    }

    #[test]
    fn paths_are_absolute_and_params_declared() {
        let doc = document();
        assert_eq!(
            doc["openapi"].as_str().map(|v| v.starts_with("3.")),
            Some(true)
        );
        let override_op = &doc["paths"]["/api/v1/retry/jobs/{id}/override"]["post"];
        assert_eq!(override_op["parameters"][0]["name"], "id");
        assert_eq!(override_op["parameters"][0]["in"], "path");
        assert!(doc["paths"]["/metrics"]["get"].is_object());
        let override_schema = &doc["components"]["schemas"]["OverrideRequest"]["properties"];
        assert!(override_schema["delay_ms"].is_object() && override_schema["reason"].is_object());
    }
}
