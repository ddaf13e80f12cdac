//! The incident endpoints of the client: bulk actions on a job filter, pauses, the emergency
//! stop, forced circuits and the change log.

use super::{Client, ClientResult, decode};
use crate::model::{
    AuditEntry, BulkRequest, BulkResult, CircuitForceRequest, CircuitForceResult, CircuitView,
    EmergencyStopRequest, EmergencyStopState, Pause, PauseRequest, Series,
};
use reqwest::Method;

/// Filter of `GET /changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangesQuery {
    /// Only changes at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Comma-separated kinds (`strategy`, `guardrails`, `emergency_stop`, `bulk`, `job`,
    /// `alert`, `pause`).
    pub kind: Option<String>,
    pub limit: Option<u32>,
}

impl Client {
    /// `POST /jobs/bulk`: one action on every job a filter matches (or a dry run of it).
    pub async fn bulk(&self, req: &BulkRequest) -> ClientResult<BulkResult> {
        self.send(Method::POST, &["jobs", "bulk"], req).await
    }

    /// `POST /pauses`: pause a queue (or an error class or job type on it).
    pub async fn pause(&self, req: &PauseRequest) -> ClientResult<Pause> {
        self.send(Method::POST, &["pauses"], req).await
    }

    /// `GET /pauses`: the pauses in force, oldest first.
    pub async fn pauses(&self) -> ClientResult<Vec<Pause>> {
        self.get(&["pauses"], &[]).await
    }

    /// `DELETE /pauses/{id}?reason=`: resume a paused scope now; the pause that ended.
    pub async fn resume(&self, id: &str, reason: &str) -> ClientResult<Pause> {
        let url = self.url(&["pauses", id], &[("reason", Some(reason))])?;
        let resp = self.execute(self.http.delete(url.clone()), &url).await?;
        decode(resp, &url).await
    }

    /// `POST /emergency-stop`: engage or release the emergency stop.
    pub async fn emergency_stop(
        &self,
        req: &EmergencyStopRequest,
    ) -> ClientResult<EmergencyStopState> {
        self.send(Method::POST, &["emergency-stop"], req).await
    }

    /// `POST /circuits/{queue}/{error_class}`: force a circuit open or closed, or release it.
    pub async fn force_circuit(
        &self,
        queue: &str,
        error_class: &str,
        req: &CircuitForceRequest,
    ) -> ClientResult<CircuitForceResult> {
        self.send(Method::POST, &["circuits", queue, error_class], req)
            .await
    }

    /// `GET /circuits`: open, half-open and forced circuits.
    pub async fn circuits(&self) -> ClientResult<Vec<CircuitView>> {
        self.get(&["circuits"], &[]).await
    }

    /// `GET /series?window=&step=`: per-queue counts in fixed steps over a recent window
    /// (e.g. `15m` in `10s` steps) and the top error classes in it.
    pub async fn series(&self, window: &str, step: &str) -> ClientResult<Series> {
        let pairs = [("window", Some(window)), ("step", Some(step))];
        self.get(&["series"], &pairs).await
    }

    /// `GET /changes`: what operators changed, newest first.
    pub async fn changes(&self, q: &ChangesQuery) -> ClientResult<Vec<AuditEntry>> {
        let limit = q.limit.map(|l| l.to_string());
        let pairs = [
            ("since", q.since.as_deref()),
            ("kind", q.kind.as_deref()),
            ("limit", limit.as_deref()),
        ];
        self.get(&["changes"], &pairs).await
    }
}
