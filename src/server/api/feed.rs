//! `GET /events?since=N&limit=M` (the live stream, from memory) and
//! `GET /audit?after=N&limit=M` (who changed what, from the store).

use crate::model::{AuditEntry, EventPage};
use crate::server::core::state::AppState;
use crate::server::edge::auth::{Access, Caller};
use crate::server::edge::error::ApiResult;
use crate::server::edge::json::ApiJson;
use crate::server::edge::query::{parse_cursor, parse_limit};
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Default and largest page of events / audit entries.
pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1_000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// The `next` cursor of the previous page (0 or absent: from the oldest event held).
    #[param(value_type = Option<u64>, minimum = 0)]
    since: Option<String>,
    /// Page size, default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

#[utoipa::path(get, path = "/events",
    summary = "Recent events, the live stream (viewer)",
    params(EventsQuery),
    responses((status = 200, description = "one page of events", body = EventPage)))]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// The `id` of the last entry seen (0 or absent: from the first).
    #[param(value_type = Option<u64>, minimum = 0)]
    after: Option<String>,
    /// Page size, default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Oldest first; pass the last entry's `id` as `after` for the next page.
#[utoipa::path(get, path = "/audit",
    summary = "Who changed what, when and why (viewer)",
    params(AuditQuery),
    responses((status = 200, description = "one page, oldest first", body = Vec<AuditEntry>)))]
async fn audit(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<ApiJson<Vec<AuditEntry>>> {
    caller.require(Access::Read)?;
    let after = parse_cursor("after", q.after.as_deref())?;
    let limit = parse_limit(q.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)?;
    Ok(ApiJson(
        state.store_read(state.store.list_audit(after, limit).await)?,
    ))
}
