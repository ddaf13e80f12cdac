//! `GET /events?since=N&limit=M` (the live stream, from memory) and
//! `GET /audit?after=N&limit=M` (who changed what, from the store).

use crate::model::{AuditEntry, EventPage};
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use crate::server::edge::query::{parse_cursor, parse_limit};
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

/// Default and largest page of events / audit entries.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(events))
        .route("/audit", get(audit))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    since: Option<String>,
    limit: Option<String>,
}

async fn events(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<ApiJson<EventPage>> {
    caller.require(Access::Read)?;
    let since = parse_cursor("since", q.since.as_deref())?;
    let limit = parse_limit(q.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    Ok(ApiJson(
        state.ops.lock().events.since(since, limit as usize),
    ))
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// Oldest first; pass the last entry's `id` as `after` for the next page.
async fn audit(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<ApiJson<Vec<AuditEntry>>> {
    caller.require(Access::Read)?;
    let after = parse_cursor("after", q.after.as_deref())?;
    let limit = parse_limit(q.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    Ok(ApiJson(
        state.store_ok(state.store.list_audit(after, limit).await)?,
    ))
}
