//! The store's health as metrics: whether writes work, how often the store failed and why, and
//! when a write last succeeded.

use crate::model::StoreFailureKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// What the service asked of the store when it failed: `write` (a request's or a
/// housekeeping write), `read`, or `probe` (the write probe made while degraded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Write,
    Read,
    Probe,
}

impl StoreOp {
    pub const ALL: [StoreOp; 3] = [Self::Write, Self::Read, Self::Probe];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Read => "read",
            Self::Probe => "probe",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabel {
    op: &'static str,
    kind: &'static str,
}

/// `retryctl_store_up`, `retryctl_store_errors_total{op,kind}` and
/// `retryctl_store_last_write_success_timestamp_seconds`.
#[derive(Debug, Default)]
pub struct StoreMetrics {
    up: Gauge,
    errors: Family<ErrorLabel, Counter>,
    last_write_success: Gauge<f64, AtomicU64>,
}

impl StoreMetrics {
    /// Registers the series, every (op, kind) pair at zero so `increase()` works from the start.
    /// The store counts as up until a write fails.
    pub fn register(&self, r: &mut Registry) {
        self.up.set(1);
        r.register(
            "store_up",
            "1 while writes to the store succeed, 0 while they fail (the service is degraded)",
            self.up.clone(),
        );
        r.register(
            "store_errors",
            "Store operations that failed, by operation (write, read, probe) and kind (full, locked, io, timeout, read_only, other)",
            self.errors.clone(),
        );
        r.register(
            "store_last_write_success_timestamp_seconds",
            "Unix time of the last successful write to the store (0 until the first one); the age of writes is time() minus this",
            self.last_write_success.clone(),
        );
        for op in StoreOp::ALL {
            for kind in StoreFailureKind::ALL {
                let _ = self.errors.get_or_create(&label(op, kind));
            }
        }
    }

    /// Counts one failed store operation.
    pub fn failed(&self, op: StoreOp, kind: StoreFailureKind) {
        self.errors.get_or_create(&label(op, kind)).inc();
    }

    /// Failed operations so far of `op` and `kind`.
    pub fn failures(&self, op: StoreOp, kind: StoreFailureKind) -> u64 {
        self.errors.get_or_create(&label(op, kind)).get()
    }

    /// Sets whether writes work.
    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    /// Notes a successful write at `unix_seconds`.
    pub fn wrote(&self, unix_seconds: f64) {
        self.last_write_success.set(unix_seconds);
    }
}

fn label(op: StoreOp, kind: StoreFailureKind) -> ErrorLabel {
    ErrorLabel {
        op: op.as_str(),
        kind: kind.as_str(),
    }
}
