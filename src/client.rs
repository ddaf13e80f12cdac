//! Typed HTTP client of the retry service API, used by the console and the CLI subcommands.
//!
//! Talks only HTTP and shares only the wire types in [`crate::model`]. Every method maps one
//! endpoint under `/api/v1/retry`; errors say which endpoint failed and why, and tell a lost
//! connection ([`ClientError::is_connection`]) from an answer the service refused.

use crate::model::{
    ActionRequest, Alert, AttemptRecord, AuditEntry, BatchRecorded, BayesianUpdateRequest,
    ClaimRequest, ClaimResponse, CostWeights, EngineSeed, ErrorBody, EventPage, FailureReport,
    FailureResponse, HealthResponse, JobDetail, JobPage, OverrideRequest, Patterns, PolicyList,
    PreviewRequest, RetryPreview, RetryStrategy, ScheduledJob, SmartVsStatic, StrategyUpdate,
    Summary,
};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

mod incident;
mod ml;

pub use incident::ChangesQuery;

/// Default service address (the local `retryctl serve`).
pub const DEFAULT_API: &str = "http://127.0.0.1:7878";

/// What went wrong talking to the service.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("`{url}` is not a usable service URL: {message}")]
    BadUrl { url: String, message: String },
    #[error("cannot reach the service at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{path}: {status} {error}{}", details.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Api {
        path: String,
        status: u16,
        error: String,
        details: Option<String>,
    },
    #[error("{path}: unexpected answer: {message}")]
    Decode { path: String, message: String },
}

impl ClientError {
    /// True when the service could not be reached (the console then reconnects).
    pub fn is_connection(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    /// The HTTP status of a refused request.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// Filter and page of `GET /jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    pub state: Option<String>,
    pub queue: Option<String>,
    pub error_class: Option<String>,
    pub job_type: Option<String>,
    pub tenant: Option<String>,
    /// Jobs whose id or last error contains this text.
    pub text: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// A client of one service.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Client {
    /// A client of the service at `api` (e.g. `http://127.0.0.1:7878`), sending `token` as a
    /// bearer token; each request gives up after `timeout`.
    pub fn new(api: &str, token: Option<String>, timeout: Duration) -> ClientResult<Client> {
        let bad = |message: String| ClientError::BadUrl {
            url: api.to_string(),
            message,
        };
        let base = Url::parse(api).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("use http:// or https://".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("retryctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Client { http, base, token })
    }

    /// The service URL as given.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /summary`: everything the console shows in one call.
    pub async fn summary(&self) -> ClientResult<Summary> {
        self.get(&["summary"], &[]).await
    }

    /// `GET /jobs` with a filter and page.
    pub async fn jobs(&self, q: &JobQuery) -> ClientResult<JobPage> {
        let limit = q.limit.map(|l| l.to_string());
        let pairs = [
            ("state", q.state.as_deref()),
            ("queue", q.queue.as_deref()),
            ("error_class", q.error_class.as_deref()),
            ("job_type", q.job_type.as_deref()),
            ("tenant", q.tenant.as_deref()),
            ("text", q.text.as_deref()),
            ("cursor", q.cursor.as_deref()),
            ("limit", limit.as_deref()),
        ];
        self.get(&["jobs"], &pairs).await
    }

    /// `GET /jobs/{id}`: history, recommendation and timeline of one job.
    pub async fn job(&self, id: &str) -> ClientResult<JobDetail> {
        self.get(&["jobs", id], &[]).await
    }

    /// `GET /patterns` for one (job type, error class) over the default window (24 h).
    pub async fn patterns(&self, job_type: &str, error_class: &str) -> ClientResult<Patterns> {
        let pairs = [
            ("job_type", Some(job_type)),
            ("error_class", Some(error_class)),
        ];
        self.get(&["patterns"], &pairs).await
    }

    /// `GET /smart-vs-static` over `window` (whole 10-minute steps, at most 24 h).
    pub async fn smart_vs_static(&self, window: &str) -> ClientResult<SmartVsStatic> {
        self.get(&["smart-vs-static"], &[("window", Some(window))])
            .await
    }

    /// `GET /jobs/{id}/preview`: the job's plan from its scheduled next attempt on.
    pub async fn job_plan(&self, id: &str) -> ClientResult<RetryPreview> {
        self.get(&["jobs", id, "preview"], &[]).await
    }

    /// `POST /jobs/{id}/override`.
    pub async fn override_job(&self, id: &str, req: &OverrideRequest) -> ClientResult<()> {
        self.send_ignoring(Method::POST, &["jobs", id, "override"], req)
            .await
    }

    /// `POST /jobs/{id}/apply` (the smart recommendation, or static backoff with `use_static`).
    pub async fn apply(&self, id: &str, req: &ActionRequest) -> ClientResult<()> {
        self.send_ignoring(Method::POST, &["jobs", id, "apply"], req)
            .await
    }

    /// `POST /jobs/{id}/retry-now`: the job, due now.
    pub async fn retry_now(&self, id: &str, req: &ActionRequest) -> ClientResult<ScheduledJob> {
        self.send(Method::POST, &["jobs", id, "retry-now"], req)
            .await
    }

    /// `POST /jobs/{id}/kill`: the job, killed.
    pub async fn kill(&self, id: &str, req: &ActionRequest) -> ClientResult<ScheduledJob> {
        self.send(Method::POST, &["jobs", id, "kill"], req).await
    }

    /// `POST /preview`: the planned schedule for a failed job.
    pub async fn preview(&self, req: &PreviewRequest) -> ClientResult<RetryPreview> {
        self.send(Method::POST, &["preview"], req).await
    }

    /// `GET /alerts`.
    pub async fn alerts(&self) -> ClientResult<Vec<Alert>> {
        self.get(&["alerts"], &[]).await
    }

    /// `POST /alerts/{id}/ack`: the acknowledged alert.
    pub async fn ack_alert(&self, id: &str, req: &ActionRequest) -> ClientResult<Alert> {
        self.send(Method::POST, &["alerts", id, "ack"], req).await
    }

    /// `GET /events?since=`.
    pub async fn events(&self, since: u64) -> ClientResult<EventPage> {
        let since = since.to_string();
        self.get(&["events"], &[("since", Some(since.as_str()))])
            .await
    }

    /// `GET /strategy`.
    pub async fn strategy(&self) -> ClientResult<RetryStrategy> {
        self.get(&["strategy"], &[]).await
    }

    /// `PUT /strategy`: replace the whole strategy.
    pub async fn put_strategy(&self, strategy: &RetryStrategy) -> ClientResult<StrategyUpdate> {
        self.send(Method::PUT, &["strategy"], strategy).await
    }

    /// `PUT /strategy?dry_run=true`: the service validates `strategy` as it would for a real
    /// update and answers what would change, applying nothing.
    pub async fn check_strategy(&self, strategy: &RetryStrategy) -> ClientResult<StrategyUpdate> {
        let url = self.url(&["strategy"], &[("dry_run", Some("true"))])?;
        let req = self.http.put(url.clone()).json(strategy);
        let resp = self.execute(req, &url).await?;
        decode(resp, &url).await
    }

    /// `GET /policies`.
    pub async fn policies(&self) -> ClientResult<PolicyList> {
        self.get(&["policies"], &[]).await
    }

    /// `POST /bayesian/update`: rebuild one model now.
    pub async fn bayesian_update(&self, req: &BayesianUpdateRequest) -> ClientResult<()> {
        self.send_ignoring(Method::POST, &["bayesian", "update"], req)
            .await
    }

    /// `POST /engine/seed`: restart the engine's random stream from `seed`.
    pub async fn reseed_engine(&self, seed: u64) -> ClientResult<EngineSeed> {
        self.send(Method::POST, &["engine", "seed"], &EngineSeed { seed })
            .await
    }

    /// `GET /engine/cost`: the cost weights the Bayesian tier minimises.
    pub async fn cost(&self) -> ClientResult<CostWeights> {
        self.get(&["engine", "cost"], &[]).await
    }

    /// `PUT /engine/cost`: set the cost weights (operator), until the service restarts.
    pub async fn put_cost(&self, cost: &CostWeights) -> ClientResult<CostWeights> {
        self.send(Method::PUT, &["engine", "cost"], cost).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> ClientResult<HealthResponse> {
        self.get(&["health"], &[]).await
    }

    /// `GET /audit`: who changed what, when and why.
    pub async fn audit(&self) -> ClientResult<Vec<AuditEntry>> {
        self.get(&["audit"], &[]).await
    }

    /// `GET /audit?after=&limit=`: one page of the audit log, oldest first, after entry `after`.
    pub async fn audit_page(&self, after: u64, limit: u32) -> ClientResult<Vec<AuditEntry>> {
        let (after, limit) = (after.to_string(), limit.to_string());
        let pairs = [
            ("after", Some(after.as_str())),
            ("limit", Some(limit.as_str())),
        ];
        self.get(&["audit"], &pairs).await
    }

    /// `POST /failures` (worker): record a failed attempt, get the recommendation, and put
    /// the job on the retry schedule.
    pub async fn record_failure(&self, report: &FailureReport) -> ClientResult<FailureResponse> {
        self.send(Method::POST, &["failures"], report).await
    }

    /// `POST /attempt` (worker): record one attempt, e.g. the retry that succeeded (which
    /// also takes the job off the schedule).
    pub async fn record_attempt(&self, attempt: &AttemptRecord) -> ClientResult<()> {
        self.send_ignoring(Method::POST, &["attempt"], attempt)
            .await
    }

    /// `POST /attempts` (worker): record a batch of attempts (answered after the store
    /// committed them).
    pub async fn record_attempts(&self, attempts: &[AttemptRecord]) -> ClientResult<BatchRecorded> {
        self.send(Method::POST, &["attempts"], &attempts).await
    }

    /// `POST /claim` (worker): take due retries with a lease.
    pub async fn claim(&self, req: &ClaimRequest) -> ClientResult<ClaimResponse> {
        self.send(Method::POST, &["claim"], req).await
    }

    /// `GET /metrics`: the Prometheus (OpenMetrics) text exposition, as served.
    pub async fn metrics_text(&self) -> ClientResult<String> {
        let url = self.url(&["metrics"], &[])?;
        let resp = self.execute(self.http.get(url.clone()), &url).await?;
        resp.text().await.map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            message: error_chain(&e),
        })
    }

    fn url(&self, segments: &[&str], query: &[(&str, Option<&str>)]) -> ClientResult<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| ClientError::BadUrl {
                url: self.base.to_string(),
                message: "cannot be a base URL".into(),
            })?;
            path.pop_if_empty();
            path.extend(crate::model::API_BASE.trim_start_matches('/').split('/'));
            path.extend(segments);
        }
        for (key, value) in query {
            if let Some(v) = value {
                url.query_pairs_mut().append_pair(key, v);
            }
        }
        Ok(url)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, Option<&str>)],
    ) -> ClientResult<T> {
        let url = self.url(segments, query)?;
        let resp = self.execute(self.http.get(url.clone()), &url).await?;
        decode(resp, &url).await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> ClientResult<T> {
        let url = self.url(segments, &[])?;
        let req = self.http.request(method, url.clone()).json(body);
        let resp = self.execute(req, &url).await?;
        decode(resp, &url).await
    }

    /// For actions whose answer the caller does not need (a refreshed snapshot shows it).
    async fn send_ignoring<B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> ClientResult<()> {
        let _: serde_json::Value = self.send(method, segments, body).await?;
        Ok(())
    }

    async fn execute(
        &self,
        mut req: reqwest::RequestBuilder,
        url: &Url,
    ) -> ClientResult<reqwest::Response> {
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.to_string(),
            message: error_chain(&e),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(refused(resp, url).await)
    }
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response, url: &Url) -> ClientResult<T> {
    let path = url.path().to_string();
    let bytes = resp.bytes().await.map_err(|e| ClientError::Unreachable {
        url: url.to_string(),
        message: error_chain(&e),
    })?;
    // An empty body (204) reads as JSON null, so `()`-like callers still work.
    let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode {
        path,
        message: e.to_string(),
    })
}

async fn refused(resp: reqwest::Response, url: &Url) -> ClientError {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let (error, details) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error, body.details),
        Err(_) => (
            reason(status),
            (!text.is_empty()).then(|| text.chars().take(200).collect()),
        ),
    };
    ClientError::Api {
        path: url.path().to_string(),
        status: status.as_u16(),
        error,
        details,
    }
}

fn reason(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("error").to_string()
}

/// reqwest's top-level message is often just "error sending request"; the cause says why.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        Client::new(base, None, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn urls_join_the_prefix_and_escape_ids() {
        let c = client("http://127.0.0.1:7878");
        let url = c.url(&["jobs", "a/b c", "override"], &[]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:7878/api/v1/retry/jobs/a%2Fb%20c/override"
        );
        let c = client("http://host:1/prefix/");
        let url = c
            .url(&["jobs"], &[("queue", Some("q 1")), ("state", None)])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://host:1/prefix/api/v1/retry/jobs?queue=q+1"
        );
    }

    #[test]
    fn bad_urls_are_named() {
        let err = Client::new("ftp://x", None, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("ftp://x"), "{err}");
        assert!(Client::new("not a url", None, Duration::from_secs(1)).is_err());
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connection_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = client(&format!("http://127.0.0.1:{port}"))
            .summary()
            .await
            .unwrap_err();
        assert!(err.is_connection(), "{err}");
    }
}
