//! Following a shared attempt log (a store other replicas append to, `Store::shared_log`):
//! the engine learns every attempt in log order, from the position it has reached (its
//! watermark) on, whoever appended it. A background task follows the log every
//! [`FOLLOW_EVERY`]; a replica that appends catches up to its own entries before it answers,
//! so what it acknowledged it has also learned.
//!
//! One exception keeps `/failures` answers as good as on one node: the engine learns a
//! reported failure before it recommends (the recommendation depends on it). That attempt is
//! noted as learned ahead (by its idempotency key while its write is in flight, then by its
//! position) and skipped when the log reaches it. When nothing else was appended in between,
//! its position is the next one and the order is exactly the log's.

use super::state::AppState;
use crate::model::AttemptRecord;
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the background follower reads the log (replicas lag the log by about this).
pub const FOLLOW_EVERY: Duration = Duration::from_millis(100);
/// Attempts read per round trip.
const FOLLOW_PAGE: u32 = 2_000;
/// Attempts learned under one hold of the engine's lock: requests waiting for the engine (a
/// recommendation) wait for at most this many, not for a whole page.
pub(super) const LEARN_CHUNK: usize = 128;

impl AppState {
    /// Whether the engine learns through the store's shared log.
    pub fn follows_log(&self) -> bool {
        self.store.shared_log()
    }

    /// Learns the log up to `until` (or its end, whichever is first); returns how many
    /// attempts were learned.
    pub async fn follow_log(&self, until: u64) -> StoreResult<u64> {
        let _tail = self.tail_lock.lock().await;
        self.follow_locked(until).await
    }

    /// [`Self::follow_log`] for a caller already holding the tail lock.
    pub(super) async fn follow_locked(&self, until: u64) -> StoreResult<u64> {
        let mut learned = 0;
        loop {
            let after = self.watermark();
            if after >= until {
                return Ok(learned);
            }
            let page = self.store.attempts_after(after, FOLLOW_PAGE).await?;
            if page.is_empty() {
                return Ok(learned);
            }
            for chunk in page.chunks(LEARN_CHUNK) {
                learned += self.learn_page(chunk);
                let last = chunk[chunk.len() - 1].0;
                self.watermark.fetch_max(last, Ordering::Relaxed);
                self.metrics.set_log_position(last);
                // Lets the requests queued on this thread run between chunks.
                tokio::task::yield_now().await;
            }
        }
    }

    fn learn_page(&self, page: &[(u64, AttemptRecord)]) -> u64 {
        let mut ahead = self.learned_ahead.lock();
        let mut pending = self.pending_ahead.lock();
        let mut engine = self.engine.lock();
        let mut learned = 0;
        for (seq, attempt) in page {
            if ahead.remove(seq) || (!pending.is_empty() && pending.remove(&key_of(attempt))) {
                continue;
            }
            engine.observe(attempt);
            learned += 1;
        }
        learned
    }

    /// Notes that the attempt at `seq` was learned before the log reached it; the follower
    /// will skip it. At the very next position it simply advances the watermark.
    pub(super) fn learned_at(&self, seq: u64) {
        let next = self.watermark() + 1;
        if seq == next {
            self.watermark.store(seq, Ordering::Relaxed);
            self.metrics.set_log_position(seq);
        } else if seq > next {
            self.learned_ahead.lock().insert(seq);
        }
    }

    /// Notes, under the tail lock, that `attempt` was learned before its write: the follower
    /// skips it should it read the attempt before [`Self::positioned`] is called.
    pub(super) fn learning_ahead(&self, attempt: &AttemptRecord) -> AttemptKey {
        let key = key_of(attempt);
        self.pending_ahead.lock().insert(key.clone());
        key
    }

    /// The write of an attempt learned ahead returned: at `seq`, or (`None`) not stored.
    /// Takes the tail lock, so the follower is not between reading and learning a page.
    pub(super) async fn positioned(&self, key: AttemptKey, seq: Option<u64>) {
        let _tail = self.tail_lock.lock().await;
        // Absent: the follower met it in the log first and skipped it.
        let waiting = self.pending_ahead.lock().remove(&key);
        if let (true, Some(seq)) = (waiting, seq) {
            self.learned_at(seq);
        }
    }
}

/// An attempt by its idempotency key: (job id, attempt number, timestamp).
pub type AttemptKey = (String, u32, DateTime<Utc>);

fn key_of(attempt: &AttemptRecord) -> AttemptKey {
    (
        attempt.job_id.clone(),
        attempt.attempt_number,
        attempt.timestamp,
    )
}

/// One round of the background follower.
pub async fn follow(state: AppState) {
    if let Err(e) = state.follow_log(u64::MAX).await {
        tracing::warn!(error = %e, "cannot follow the attempt log");
    }
}
