//! Incident controls: `POST /emergency-stop` (engage or release with a reason) and
//! `GET /changes` (what operators changed: the audit log, optionally of some kinds only).

use crate::model::{AuditEntry, EmergencyStopRequest, EmergencyStopState, FieldError};
use crate::server::core::state::{AppState, Change};
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use crate::server::edge::query::parse_limit;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Audit entries read per store round trip while filtering `GET /changes`.
const SCAN_PAGE: u32 = 1_000;
const DEFAULT_CHANGES: u32 = 100;
const MAX_CHANGES: u32 = 1_000;

/// The kinds of change `GET /changes?kind=` knows, and the audit actions each covers.
const KINDS: [(&str, &[&str]); 8] = [
    (
        "strategy",
        &[
            "strategy",
            "policy_add",
            "policy_remove",
            "bayesian_update",
            "engine_cost",
        ],
    ),
    ("guardrails", &["guardrails"]),
    ("emergency_stop", &["emergency_stop"]),
    (
        "bulk",
        &[
            "bulk_retry_now",
            "bulk_kill",
            "bulk_override",
            "bulk_apply_static",
        ],
    ),
    ("job", &["override", "apply", "retry_now", "kill"]),
    ("alert", &["alert_ack"]),
    ("pause", &["pause", "resume", "pause_expired"]),
    ("circuit", &["circuit_forced", "circuit_released"]),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(emergency_stop))
        .routes(routes!(changes))
}

#[utoipa::path(post, path = "/emergency-stop",
    summary = "Engage or release the emergency stop (operator; reason required)",
    description = "While engaged every recommendation says stop. The change is stored with the \
        strategy (it survives a restart) and audited as `emergency_stop` with the reason.",
    request_body = EmergencyStopRequest,
    responses((status = 200, description = "the stop's state", body = EmergencyStopState)))]
async fn emergency_stop(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EmergencyStopRequest>,
) -> ApiResult<ApiJson<EmergencyStopState>> {
    caller.require(Access::Operate)?;
    if req.reason.trim().is_empty() {
        return Err(FieldError::new("reason", "required: say why").into());
    }
    let was = state.engine.lock().strategy().guardrails.emergency_stop;
    if was == req.engaged {
        return Ok(ApiJson(EmergencyStopState {
            engaged: was,
            changed: false,
        }));
    }
    state
        .update_strategy(&caller.actor(), &req.reason, |strategy| {
            strategy.guardrails.emergency_stop = req.engaged;
            Ok(Change {
                action: "emergency_stop",
                target: if req.engaged { "engaged" } else { "released" }.into(),
                detail: json!({ "engaged": req.engaged }),
            })
        })
        .await?;
    Ok(ApiJson(EmergencyStopState {
        engaged: req.engaged,
        changed: true,
    }))
}

/// `GET /changes` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ChangesQuery {
    /// Only changes at or after this time (RFC 3339).
    #[param(value_type = Option<crate::model::params::TimeOrEmptyParam>, inline)]
    since: Option<String>,
    /// Comma-separated kinds: strategy, guardrails, emergency_stop, bulk, job, alert, pause,
    /// circuit.
    #[param(value_type = Option<KindsParam>, inline)]
    kind: Option<String>,
    /// Most entries answered (newest kept), default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[utoipa::path(get, path = "/changes",
    summary = "What operators changed, newest first, with who and why (viewer)",
    params(ChangesQuery),
    responses((status = 200, description = "the changes, newest first", body = Vec<AuditEntry>)))]
async fn changes(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<ApiJson<Vec<AuditEntry>>> {
    caller.require(Access::Read)?;
    let since = parse_since(q.since.as_deref())?;
    let actions = parse_kinds(q.kind.as_deref())?;
    let limit = parse_limit(q.limit.as_deref(), DEFAULT_CHANGES, MAX_CHANGES)? as usize;
    let mut found = Vec::new();
    let mut after = 0;
    loop {
        let page = state.store_read(state.store.list_audit(after, SCAN_PAGE).await)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        found.extend(page.into_iter().filter(|e| {
            since.is_none_or(|t| e.at >= t)
                && actions
                    .as_ref()
                    .is_none_or(|a| a.contains(&e.action.as_str()))
        }));
    }
    found.reverse();
    found.truncate(limit);
    Ok(ApiJson(found))
}

fn parse_since(text: Option<&str>) -> Result<Option<DateTime<Utc>>, FieldError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| FieldError::new("since", format!("{t:?} is not an RFC 3339 time"))),
    }
}

crate::model::params::param_schema!(
    /// `kind`: empty, or [`KINDS`] names separated by commas (spaces allowed).
    KindsParam => utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(kinds_pattern()))
);

fn kinds_pattern() -> String {
    let one = format!(
        "({})",
        KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join("|")
    );
    format!("^({one}( *, *{one})*)?$")
}

fn parse_kinds(text: Option<&str>) -> Result<Option<Vec<&'static str>>, FieldError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let mut actions = Vec::new();
    for kind in text.split(',').map(str::trim) {
        let (_, covered) = KINDS.iter().find(|(k, _)| *k == kind).ok_or_else(|| {
            let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
            FieldError::new(
                "kind",
                format!("unknown kind {kind:?}: one of {}", known.join(", ")),
            )
        })?;
        actions.extend_from_slice(covered);
    }
    Ok(Some(actions))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config(256))]

        #[test]
        fn fuzz_http_changes_query_is_read_or_named(
            since in crate::fuzz::hostile_text(),
            kind in crate::fuzz::hostile_text(),
        ) {
            if let Err(e) = parse_since(Some(&since)) {
                let quoted = format!("{since:?}");
                proptest::prop_assert!(e.field == "since" && e.message.contains(&quoted), "{e:?}");
            }
            if let Err(e) = parse_kinds(Some(&kind)) {
                proptest::prop_assert!(e.field == "kind" && e.message.contains("unknown kind"));
            }
        }
    }
}
