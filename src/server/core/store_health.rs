//! Whether the store takes writes, as the service tells it in `/health`, `/summary`, metrics
//! and the `store_degraded` alert.
//!
//! Only writes decide. A failed write makes the service degraded; while degraded it probes the
//! store every [`PROBE_EVERY`] with a real write of its own (the backend's
//! `Store::probe_write`; SQLite's also wants free space on the file system), and the first
//! probe that succeeds with no write failed during the probe period before it ends the
//! degradation. Other successful writes do not end it: on a full disk small writes (an alert
//! row, a job) still fit while attempt batches do not, and letting them clear it made the state
//! flap. Reads never clear it (a full disk still reads). Failed reads are counted, and answered
//! 503, but do not make the service degraded, except on a shared network store (Redis), where a
//! read without an answer means the store is unreachable.

use super::state::AppState;
use crate::metrics::StoreOp;
use crate::model::{Degradation, StoreFailureKind};
use crate::server::edge::{ApiError, ApiResult};
use crate::store::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::time::Duration;

/// How often the service probes the store with a write while degraded (and at start-up,
/// until a first write has succeeded).
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// The degraded state and the times it is decided on.
#[derive(Debug, Default)]
pub struct StoreHealth {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    degraded: Option<Degradation>,
    last_failure: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
}

impl StoreHealth {
    /// The current degradation, if any.
    pub fn current(&self) -> Option<Degradation> {
        self.inner.lock().degraded.clone()
    }

    /// A write failed at `now`. True when this starts a degradation.
    pub fn write_failed(&self, kind: StoreFailureKind, detail: String, now: DateTime<Utc>) -> bool {
        let mut inner = self.inner.lock();
        inner.last_failure = Some(now);
        let since = inner.degraded.as_ref().map_or(now, |d| d.since);
        let started = inner.degraded.is_none();
        inner.degraded = Some(Degradation {
            kind,
            reason: kind.reason().to_string(),
            detail,
            since,
        });
        started
    }

    /// A write succeeded at `now` (it does not end a degradation: only the probe does).
    pub fn write_succeeded(&self, now: DateTime<Utc>) {
        self.inner.lock().last_success = Some(now);
    }

    /// The probe wrote at `now`: ends the degradation, and returns it, unless a write failed
    /// within `period` before.
    pub fn probe_succeeded(&self, now: DateTime<Utc>, period: Duration) -> Option<Degradation> {
        let mut inner = self.inner.lock();
        inner.last_success = Some(now);
        let period = chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
        if inner.last_failure.is_some_and(|at| now - at < period) {
            return None;
        }
        inner.degraded.take()
    }

    /// Whether the probe should run: while degraded, or before any write has succeeded.
    pub fn wants_probe(&self) -> bool {
        let inner = self.inner.lock();
        inner.degraded.is_some() || inner.last_success.is_none()
    }
}

impl AppState {
    /// The degradation the store is in, if any.
    pub fn degradation(&self) -> Option<Degradation> {
        self.store_health.current()
    }

    /// True while writes to the store fail.
    pub fn is_degraded(&self) -> bool {
        self.degradation().is_some()
    }

    /// Passes a read's result through: a failure is counted and answered 503, the degraded
    /// state is left alone.
    ///
    /// On a store shared over the network (Redis), a read that got no answer (`timeout`, `io`)
    /// means the store is unreachable, and the next write would fail the same way: it makes
    /// the service degraded like a failed write.
    pub fn store_read<T>(&self, result: StoreResult<T>) -> ApiResult<T> {
        result.map_err(|e| {
            let unreachable = matches!(
                e.kind(),
                Some(StoreFailureKind::Timeout | StoreFailureKind::Io)
            );
            if unreachable && self.follows_log() {
                self.write_failed(StoreOp::Read, &e);
            } else if let Some(kind) = e.kind() {
                self.metrics.store.failed(StoreOp::Read, kind);
            }
            ApiError::from(e)
        })
    }

    /// Passes a write's result through: a failure makes the service degraded (and is
    /// answered 503).
    pub fn store_write<T>(&self, result: StoreResult<T>) -> ApiResult<T> {
        match result {
            Ok(value) => {
                let now = self.now();
                self.store_health.write_succeeded(now);
                self.wrote(now, None);
                Ok(value)
            }
            Err(e) => {
                self.write_failed(StoreOp::Write, &e);
                Err(ApiError::from(e))
            }
        }
    }

    /// One probe: a tiny real write, made only while degraded (or before any write worked).
    pub async fn probe_store(&self) {
        if !self.store_health.wants_probe() {
            return;
        }
        match self.store.probe_write().await {
            Ok(()) => {
                let now = self.now();
                let ended = self.store_health.probe_succeeded(now, PROBE_EVERY);
                self.wrote(now, ended);
            }
            Err(e) => self.write_failed(StoreOp::Probe, &e),
        }
    }

    fn wrote(&self, now: DateTime<Utc>, ended: Option<Degradation>) {
        self.metrics
            .store
            .wrote(now.timestamp_millis() as f64 / 1000.0);
        if let Some(d) = ended {
            self.metrics.store.set_up(true);
            let lasted = (now - d.since).num_milliseconds() as f64 / 1000.0;
            tracing::info!(reason = %d.reason, lasted_s = lasted, "store writes work again");
        }
    }

    fn write_failed(&self, op: StoreOp, e: &StoreError) {
        let Some(kind) = e.kind() else {
            return;
        };
        self.metrics.store.failed(op, kind);
        self.metrics.store.set_up(false);
        if self.store_health.write_failed(kind, e.detail(), self.now()) {
            tracing::warn!(reason = kind.reason(), error = %e, "store writes fail: degraded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_failed_write_degrades_until_the_probe_succeeds() {
        let health = StoreHealth::default();
        assert!(health.wants_probe(), "no write has succeeded yet");
        assert!(health.write_failed(StoreFailureKind::Full, "disk full".into(), at(0)));
        assert!(!health.write_failed(StoreFailureKind::Io, "I/O".into(), at(5)));
        let d = health.current().unwrap();
        assert_eq!(
            (d.kind, d.reason.as_str(), d.since),
            (StoreFailureKind::Io, "store I/O error", at(0))
        );
        health.write_succeeded(at(6));
        assert!(
            health.current().is_some(),
            "a small write fitting is no recovery"
        );
        assert_eq!(
            health.probe_succeeded(at(8), PROBE_EVERY).unwrap().since,
            at(0)
        );
        assert_eq!(health.current(), None);
        assert!(!health.wants_probe());
    }

    #[test]
    fn a_probe_clears_only_when_no_write_failed_within_its_period() {
        let health = StoreHealth::default();
        health.write_failed(StoreFailureKind::Full, "disk full".into(), at(0));
        assert!(health.probe_succeeded(at(1), PROBE_EVERY).is_none());
        assert!(health.current().is_some());
        assert!(health.probe_succeeded(at(2), PROBE_EVERY).is_some());
        assert_eq!(health.current(), None);
    }
}
