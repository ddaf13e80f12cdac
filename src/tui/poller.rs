//! The poller task: fetches `/summary`, the visible page of `/jobs`, the selected job's detail
//! and the new events of the live stream (see [`super::stream`]) every refresh interval (or at
//! once when asked) and sends snapshots to the UI.
//!
//! The selected job's pattern analysis (`/patterns` for its job type and error class) is kept
//! in a small cache and fetched again only when it is older than [`PATTERNS_TTL`], so moving
//! the selection between jobs of the same kind costs no extra call; a service that cannot
//! answer it (an older version) leaves it out instead of failing the poll.
//!
//! The per-queue series (`/series`, the last [`SERIES_WINDOW`] in [`SERIES_STEP`] steps) moves
//! one step every ten seconds, so it is fetched at most every [`SERIES_EVERY`]; a service that
//! cannot answer it leaves the sparklines out instead of failing the poll. Smart vs static over
//! time (`/smart-vs-static`, 10-minute steps over [`TREND_WINDOW`]) is fetched at most every
//! [`TREND_EVERY`], and left out the same way.
//!
//! The connection is a small state machine: after a failure it waits a capped, doubling backoff
//! (clamped with `min`, so it never grows past the cap) and tells the UI when it will try again.
//! A `/jobs` answer of 400 or 422 is not a lost connection: the service refused the operator's
//! filter, so the poller reports the refusal and keeps its normal interval.

use super::state::Snapshot;
use super::stream::{self, EventCursor};
use crate::client::{Client, ClientError, JobQuery};
use crate::model::{JobDetail, Patterns, Series, SmartVsStatic};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};

/// What the UI wants fetched: the job filter and the selected job.
pub type Watch = (JobQuery, Option<String>);

/// A message from the poller.
#[derive(Debug)]
pub enum PollMsg {
    /// A complete poll, and the job query it was fetched with.
    Snapshot(Box<Snapshot>, JobQuery),
    /// The service refused this job query (the operator's filter); everything else answered.
    FilterRefused { query: JobQuery, error: String },
    /// The poll failed; the next attempt is at `retry_at`.
    Down {
        error: String,
        retry_at: chrono::DateTime<Utc>,
    },
}

/// Doubling delay between reconnection attempts, never above `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next attempt; doubles for the one after, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let current = self.next;
        self.next = (self.next * 2).min(self.max);
        current
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// How long a pattern analysis is shown before it is fetched again (its figures cover hours).
pub const PATTERNS_TTL: Duration = Duration::from_secs(30);
/// At most this many (job type, error class) analyses are cached.
const PATTERNS_KEPT: usize = 64;

/// Pattern analyses by (job type, error class), with when each was fetched.
#[derive(Debug, Default)]
struct PatternCache {
    entries: HashMap<(String, String), (Instant, Patterns)>,
}

impl PatternCache {
    /// The analysis for the selected job's kind, from the cache or the service.
    async fn get(&mut self, client: &Client, detail: Option<&JobDetail>) -> Option<Patterns> {
        let job = &detail?.job;
        let key = (job.job_type.clone(), job.error_class.clone());
        if let Some((at, p)) = self.entries.get(&key)
            && at.elapsed() < PATTERNS_TTL
        {
            return Some(p.clone());
        }
        match client.patterns(&key.0, &key.1).await {
            Ok(p) => {
                if self.entries.len() >= PATTERNS_KEPT {
                    self.entries.clear();
                }
                self.entries.insert(key, (Instant::now(), p.clone()));
                Some(p)
            }
            Err(e) => {
                tracing::debug!(error = %e, "no pattern analysis");
                None
            }
        }
    }
}

/// The window and step of the series the Analytics pane draws.
pub const SERIES_WINDOW: &str = "15m";
pub const SERIES_STEP: &str = "10s";
/// How often the series is fetched again (its steps are ten seconds wide).
pub const SERIES_EVERY: Duration = Duration::from_secs(3);

/// The window of smart vs static over time the Analytics pane draws.
pub const TREND_WINDOW: &str = "24h";
/// How often it is fetched again (its steps are ten minutes wide).
pub const TREND_EVERY: Duration = Duration::from_secs(30);

/// The last answer of an endpoint fetched less often than every poll, and when it came.
#[derive(Debug)]
struct Kept<T> {
    every: Duration,
    last: Option<(Instant, Option<T>)>,
}

impl<T: Clone> Kept<T> {
    fn new(every: Duration) -> Self {
        Self { every, last: None }
    }

    /// The kept answer while it is younger than `every` and no refresh was `force`d.
    fn fresh(&self, force: bool) -> Option<Option<T>> {
        match &self.last {
            Some((at, kept)) if at.elapsed() < self.every && !force => Some(kept.clone()),
            _ => None,
        }
    }

    /// Keeps a new answer (`None` when the service gave none: an older version leaves the
    /// view out instead of failing the poll).
    fn keep(&mut self, answer: Result<T, ClientError>, what: &str) -> Option<T> {
        let answer = answer
            .map_err(|e| tracing::debug!(error = %e, "no {what}"))
            .ok();
        self.last = Some((Instant::now(), answer.clone()));
        answer
    }
}

async fn series(kept: &mut Kept<Series>, client: &Client, force: bool) -> Option<Series> {
    if let Some(s) = kept.fresh(force) {
        return s;
    }
    let answer = client.series(SERIES_WINDOW, SERIES_STEP).await;
    kept.keep(answer, "series")
}

async fn trend(
    kept: &mut Kept<SmartVsStatic>,
    client: &Client,
    force: bool,
) -> Option<SmartVsStatic> {
    if let Some(t) = kept.fresh(force) {
        return t;
    }
    let answer = client.smart_vs_static(TREND_WINDOW).await;
    kept.keep(answer, "smart vs static")
}

/// Runs until the UI drops its receiver.
pub async fn run(
    client: Client,
    interval: Duration,
    mut wants: watch::Receiver<Watch>,
    refresh: Arc<Notify>,
    tx: mpsc::Sender<PollMsg>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    // Kept across failed polls: the stream carries on where it stopped.
    let mut cursor = EventCursor::default();
    let mut caches = Caches::default();
    let mut forced = false;
    loop {
        let want = wants.borrow_and_update().clone();
        let (msg, wait) = match fetch(&client, &want, &mut cursor, &mut caches, forced).await {
            Ok(snap) => {
                backoff.reset();
                (PollMsg::Snapshot(Box::new(snap), want.0), interval)
            }
            Err(Failure::Filter(e)) => {
                backoff.reset();
                let error = e.to_string();
                (
                    PollMsg::FilterRefused {
                        query: want.0,
                        error,
                    },
                    interval,
                )
            }
            Err(Failure::Down(e)) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?wait, "poll failed");
                let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                (
                    PollMsg::Down {
                        error: e.to_string(),
                        retry_at,
                    },
                    wait,
                )
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        forced = false;
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = refresh.notified() => forced = true,
            changed = wants.changed() => if changed.is_err() { return },
        }
    }
}

/// Why a poll failed: the operator's filter was refused, or the service did not answer.
#[derive(Debug)]
enum Failure {
    Filter(ClientError),
    Down(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure::Down(e)
    }
}

/// Whether a `/jobs` error is the service refusing the query itself (bad state name, …).
fn refuses_query(e: &ClientError) -> bool {
    matches!(e.status(), Some(400 | 422))
}

/// What the poller keeps between polls besides the stream's cursor.
#[derive(Debug)]
struct Caches {
    patterns: PatternCache,
    series: Kept<Series>,
    trend: Kept<SmartVsStatic>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            patterns: PatternCache::default(),
            series: Kept::new(SERIES_EVERY),
            trend: Kept::new(TREND_EVERY),
        }
    }
}

async fn fetch(
    client: &Client,
    (query, selected): &Watch,
    cursor: &mut EventCursor,
    caches: &mut Caches,
    forced: bool,
) -> Result<Snapshot, Failure> {
    let (summary, jobs) = tokio::join!(client.summary(), client.jobs(query));
    let summary = summary?;
    let jobs = jobs.map_err(|e| {
        if refuses_query(&e) {
            Failure::Filter(e)
        } else {
            Failure::Down(e)
        }
    })?;
    // Before following the stream: a restarted service numbers its events from 1 again.
    cursor.service_started(summary.started_at);
    let (detail, events, series, trend) = tokio::join!(
        detail(client, selected),
        stream::follow(client, cursor),
        series(&mut caches.series, client, forced),
        trend(&mut caches.trend, client, forced)
    );
    let detail = detail?;
    let patterns = caches.patterns.get(client, detail.as_ref()).await;
    Ok(Snapshot::new(summary, jobs, detail, Utc::now())
        .with_events(events?)
        .with_patterns(patterns)
        .with_series(series)
        .with_trend(trend))
}

async fn detail(
    client: &Client,
    selected: &Option<String>,
) -> Result<Option<JobDetail>, ClientError> {
    let Some(id) = selected else {
        return Ok(None);
    };
    match client.job(id).await {
        Ok(d) => Ok(Some(d)),
        // The job may have finished and left the schedule between two polls.
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay().as_secs(), 1);
    }
}
