//! `GET /openapi.json`: an OpenAPI 3 document of every endpoint, built with `utoipa` from the
//! wire types in `model` (their `ToSchema` derives) and the route table below.
//!
//! The table is checked against the router's source by `tests/schedule_api.rs`
//! (`openapi_documents_every_route`), so a new route without an entry fails the tests.

use crate::model::API_BASE;
use crate::model::*;
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder,
};

pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document(caller: Caller) -> ApiResult<Json<OpenApi>> {
    caller.require(Access::Any)?;
    Ok(Json(openapi()))
}

/// A request or response body.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    /// JSON of the named component schema.
    Json(&'static str),
    /// A JSON array of the named component schema.
    Array(&'static str),
    /// Plain text of the given media type.
    Text(&'static str),
}

/// One operation of the API.
struct Op {
    method: HttpMethod,
    /// Relative to [`API_BASE`] unless it starts with `//` (then top level, one slash kept).
    path: &'static str,
    summary: &'static str,
    request: Body,
    response: Body,
    /// Query parameters: (name, description).
    query: &'static [(&'static str, &'static str)],
}

const fn op(
    method: HttpMethod,
    path: &'static str,
    summary: &'static str,
    request: Body,
    response: Body,
) -> Op {
    Op {
        method,
        path,
        summary,
        request,
        response,
        query: &[],
    }
}

use Body::{Array, Json as J, None as Empty, Text};
use HttpMethod::{Delete, Get, Post, Put};

/// Every endpoint the service answers.
fn table() -> Vec<Op> {
    vec![
        op(
            Post,
            "/recommendation",
            "What to do after a failed attempt (worker)",
            J("RetryFeatures"),
            J("RetryRecommendation"),
        ),
        op(
            Post,
            "/preview",
            "The whole planned retry schedule, consuming no budget",
            J("PreviewRequest"),
            J("RetryPreview"),
        ),
        Op {
            query: &[
                ("job_type", "required"),
                ("error_class", "required"),
                ("window", "duration, default 24h"),
            ],
            ..op(
                Get,
                "/stats",
                "Attempt statistics of one (job type, error class)",
                Empty,
                J("RetryStats"),
            )
        },
        op(
            Post,
            "/attempt",
            "Record one attempt (durable when answered)",
            J("AttemptRecord"),
            J("StatusResponse"),
        ),
        op(
            Post,
            "/attempts",
            "Record a batch: a JSON array or NDJSON of attempts",
            Array("AttemptRecord"),
            J("BatchRecorded"),
        ),
        op(
            Get,
            "/policies",
            "Policies in evaluation order: {\"policies\": [RetryPolicy]}",
            Empty,
            J("PolicyList"),
        ),
        op(
            Post,
            "/policies",
            "Add or replace a policy by name (operator)",
            J("RetryPolicy"),
            J("StatusResponse"),
        ),
        op(
            Delete,
            "/policies/{name}",
            "Remove a policy (operator)",
            Empty,
            J("StatusResponse"),
        ),
        op(
            Post,
            "/bayesian/update",
            "Rebuild one Bayesian model now (operator)",
            J("BayesianUpdateRequest"),
            J("StatusResponse"),
        ),
        op(
            Post,
            "/engine/seed",
            "Restart the engine's random stream (jitter, exploration) from a seed (operator)",
            J("EngineSeed"),
            J("EngineSeed"),
        ),
        op(
            Post,
            "/ml/train",
            "Train an ML model (not available yet: 404)",
            J("MLTrainingConfig"),
            J("ErrorBody"),
        ),
        op(
            Post,
            "/ml/deploy",
            "Deploy an ML model (not available yet: 404)",
            Empty,
            J("ErrorBody"),
        ),
        op(
            Post,
            "/ml/rollback",
            "Roll back the ML model (not available yet: 404)",
            Empty,
            J("ErrorBody"),
        ),
        op(
            Get,
            "/strategy",
            "The active strategy",
            Empty,
            J("RetryStrategy"),
        ),
        op(
            Put,
            "/strategy",
            "Replace the strategy (operator)",
            J("RetryStrategy"),
            J("StatusResponse"),
        ),
        op(
            Put,
            "/guardrails",
            "Replace the guardrails (operator)",
            J("PolicyGuardrails"),
            J("StatusResponse"),
        ),
        op(
            Get,
            "/health",
            "Liveness and the degraded flag",
            Empty,
            J("HealthResponse"),
        ),
        op(
            Get,
            "/metrics",
            "Prometheus metrics (OpenMetrics text)",
            Empty,
            Text("application/openmetrics-text"),
        ),
        op(
            Get,
            "//metrics",
            "Prometheus metrics (OpenMetrics text)",
            Empty,
            Text("application/openmetrics-text"),
        ),
        op(
            Post,
            "/failures",
            "Record a failure, get the recommendation, schedule the retry (worker)",
            J("FailureReport"),
            J("FailureResponse"),
        ),
        Op {
            query: &[
                ("queue", "filter"),
                ("state", "scheduled|claimed|succeeded|exhausted|killed"),
                ("error_class", "filter"),
                ("cursor", "next_cursor of the previous page"),
                ("limit", "1-1000, default 50"),
            ],
            ..op(
                Get,
                "/jobs",
                "The retry schedule, one page",
                Empty,
                J("JobPage"),
            )
        },
        op(
            Get,
            "/jobs/{id}",
            "One job: attempts and planned timeline",
            Empty,
            J("JobDetail"),
        ),
        op(
            Post,
            "/jobs/{id}/override",
            "Set the next attempt's time (operator; reason required)",
            J("OverrideRequest"),
            J("ScheduledJob"),
        ),
        op(
            Post,
            "/jobs/{id}/apply",
            "Apply the current (or static) recommendation (operator)",
            J("ActionRequest"),
            J("ScheduledJob"),
        ),
        op(
            Post,
            "/jobs/{id}/retry-now",
            "Make the job due now (operator)",
            J("ActionRequest"),
            J("ScheduledJob"),
        ),
        op(
            Post,
            "/jobs/{id}/kill",
            "Stop retrying the job (operator)",
            J("ActionRequest"),
            J("ScheduledJob"),
        ),
        op(
            Post,
            "/claim",
            "Claim due retries with a lease (worker; at-least-once)",
            J("ClaimRequest"),
            J("ClaimResponse"),
        ),
        Op {
            query: &[("active", "true: only alerts that hold now")],
            ..op(
                Get,
                "/alerts",
                "Alerts, active first",
                Empty,
                Array("Alert"),
            )
        },
        op(
            Post,
            "/alerts/{id}/ack",
            "Acknowledge an alert (operator)",
            J("ActionRequest"),
            J("Alert"),
        ),
        Op {
            query: &[
                ("since", "cursor of the previous page"),
                ("limit", "1-1000, default 100"),
            ],
            ..op(
                Get,
                "/events",
                "Recent events (live stream)",
                Empty,
                J("EventPage"),
            )
        },
        Op {
            query: &[
                ("after", "id of the last entry seen"),
                ("limit", "1-1000, default 100"),
            ],
            ..op(
                Get,
                "/audit",
                "Who changed what, when and why",
                Empty,
                Array("AuditEntry"),
            )
        },
        op(
            Get,
            "/summary",
            "Everything the console needs for one refresh",
            Empty,
            J("Summary"),
        ),
        op(
            Get,
            "/openapi.json",
            "This document",
            Empty,
            Text("application/json"),
        ),
    ]
}

/// The full path of a table entry.
fn full_path(path: &str) -> String {
    match path.strip_prefix('/') {
        Some(top) if top.starts_with('/') => top.to_string(),
        _ => format!("{API_BASE}{path}"),
    }
}

/// The OpenAPI document.
pub fn openapi() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for op in table() {
        paths = paths.path(
            full_path(op.path),
            PathItem::new(op.method.clone(), operation(&op)),
        );
    }
    let info = InfoBuilder::new()
        .title("retryctl")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Smart, visible retries. Errors answer {error, status, timestamp, details}.",
        ));
    OpenApiBuilder::new()
        .info(info)
        .paths(paths)
        .components(Some(
            ComponentsBuilder::new()
                .schemas_from_iter(schemas())
                .build(),
        ))
        .build()
}

fn operation(op: &Op) -> utoipa::openapi::path::Operation {
    let mut builder = OperationBuilder::new()
        .summary(Some(op.summary))
        .response(
            "200",
            ResponseBuilder::new()
                .description("success")
                .content(media(op.response), content(op.response)),
        )
        .response(
            "4XX",
            error_response("the request was wrong: details name the field"),
        )
        .response("503", error_response("the store is unavailable (degraded)"));
    for name in path_params(op.path) {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(scalar(Type::String))),
        );
    }
    for (name, description) in op.query {
        let param = ParameterBuilder::new()
            .name(*name)
            .parameter_in(ParameterIn::Query)
            .description(Some(*description))
            .schema(Some(scalar(query_type(name))));
        builder = builder.parameter(param);
    }
    if !matches!(op.request, Body::None) {
        let body = RequestBodyBuilder::new().content(media(op.request), content(op.request));
        builder = builder.request_body(Some(body.build()));
    }
    builder.build()
}

/// The type of a query parameter, by name (cursors and page sizes are whole numbers).
fn query_type(name: &str) -> Type {
    match name {
        "limit" | "since" | "after" => Type::Integer,
        "active" => Type::Boolean,
        _ => Type::String,
    }
}

fn scalar(kind: Type) -> Schema {
    Schema::Object(ObjectBuilder::new().schema_type(kind).build())
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content(Body::Json("ErrorBody")))
        .build()
}

fn media(body: Body) -> &'static str {
    match body {
        Body::Text(media) => media,
        _ => "application/json",
    }
}

fn content(body: Body) -> utoipa::openapi::Content {
    let schema: Option<RefOr<Schema>> = match body {
        Body::Json(name) => Some(Ref::from_schema_name(name).into()),
        Body::Array(name) => Some(
            ArrayBuilder::new()
                .items(Ref::from_schema_name(name))
                .build()
                .into(),
        ),
        Body::Text(_) | Body::None => None,
    };
    ContentBuilder::new().schema(schema).build()
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
}

type Schemas = Vec<(String, RefOr<Schema>)>;

fn add<T: ToSchema>(out: &mut Schemas) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

/// Every wire type an operation names, with the types they contain.
fn schemas() -> Schemas {
    let mut out = Schemas::new();
    add::<RetryFeatures>(&mut out);
    add::<RetryRecommendation>(&mut out);
    add::<PreviewRequest>(&mut out);
    add::<RetryPreview>(&mut out);
    add::<RetryStats>(&mut out);
    add::<AttemptRecord>(&mut out);
    add::<BatchRecorded>(&mut out);
    add::<StatusResponse>(&mut out);
    add::<PolicyList>(&mut out);
    add::<RetryPolicy>(&mut out);
    add::<BayesianUpdateRequest>(&mut out);
    add::<EngineSeed>(&mut out);
    add::<MLTrainingConfig>(&mut out);
    add::<RetryStrategy>(&mut out);
    add::<PolicyGuardrails>(&mut out);
    add::<HealthResponse>(&mut out);
    add::<ErrorBody>(&mut out);
    add::<FailureReport>(&mut out);
    add::<FailureResponse>(&mut out);
    add::<JobPage>(&mut out);
    add::<JobDetail>(&mut out);
    add::<ScheduledJob>(&mut out);
    add::<OverrideRequest>(&mut out);
    add::<ActionRequest>(&mut out);
    add::<ClaimRequest>(&mut out);
    add::<ClaimResponse>(&mut out);
    add::<Alert>(&mut out);
    add::<EventPage>(&mut out);
    add::<AuditEntry>(&mut out);
    add::<Summary>(&mut out);
    out
}

/// The (method, full path) pairs documented, for tests.
pub fn documented_routes() -> Vec<(String, String)> {
    table()
        .iter()
        .map(|op| (method_name(&op.method).to_string(), full_path(op.path)))
        .collect()
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        Get => "GET",
        Post => "POST",
        Put => "PUT",
        Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_to_a_component() {
        let doc = serde_json::to_value(openapi()).unwrap();
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
        let doc = serde_json::to_value(openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["summary"].is_string(), "{method} {path}");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    assert!(p["schema"]["type"].is_string(), "{method} {path}: {p}");
                }
            }
        }
    }

    #[test]
    fn paths_are_absolute_and_params_declared() {
        let doc = serde_json::to_value(openapi()).unwrap();
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
