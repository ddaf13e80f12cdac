//! Following a shared attempt log (a store other replicas append to, `Store::shared_log`):
//! the engine learns every attempt in log order, from the position it has reached (its
//! watermark) on, whoever appended it. A background task follows the log as soon as new
//! attempts arrive (and at least every [`FOLLOW_EVERY`]); a replica that appends catches up to
//! its own entries before it answers, so what it acknowledged it has also learned.
//!
//! One exception keeps `/failures` answers as good as on one node: the engine learns a
//! reported failure before it recommends (the recommendation depends on it). That attempt is
//! noted as learned ahead (by its idempotency key while its write is in flight, then by its
//! position) and skipped when the log reaches it. When nothing else was appended in between,
//! its position is the next one and the order is exactly the log's.
//!
//! Only one reader follows at a time (the tail lock, held across the log reads). What the
//! follower and a failure's write both change (the watermark and the attempts learned ahead)
//! is changed under the short locks of those sets, never across a Redis call, so failures do
//! not wait for the follower's reads.

use super::state::AppState;
use crate::model::AttemptRecord;
use crate::store::StoreResult;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest the background follower waits for new attempts before it reads the log
/// anyway. It is woken by the append itself on a store that can (Redis: a blocking read), and
/// polls at this interval on one that cannot.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(100);
/// Attempts read per round trip.
const FOLLOW_PAGE: u32 = 2_000;
/// Attempts learned under one hold of the engine's lock: requests waiting for the engine (a
/// recommendation) wait for at most this many, not for a whole page.
pub(super) const LEARN_CHUNK: usize = 128;

/// Rounds of following that read the log to its end, numbered as they begin: a caller that
/// needs the log learned as of now waits for a round that began after it asked, and callers
/// waiting together share one.
#[derive(Debug, Default)]
pub struct FollowRounds {
    /// The number of the latest round begun.
    begun: AtomicU64,
    /// The number of the latest round that reached the end of the log.
    reached_end: AtomicU64,
}

impl AppState {
    /// Whether the engine learns through the store's shared log.
    pub fn follows_log(&self) -> bool {
        self.store.shared_log()
    }

    /// Learns the log up to its end as of this call. Callers that wait for the tail lock
    /// together share one round of reads: each needs only a round that began after it asked.
    pub(super) async fn catch_up(&self) -> StoreResult<()> {
        let asked = self.follow_rounds.begun.load(Ordering::SeqCst);
        let _tail = self.tail_lock.lock().await;
        if self.follow_rounds.reached_end.load(Ordering::SeqCst) > asked {
            return Ok(());
        }
        self.follow_locked(u64::MAX).await.map(drop)
    }

    /// Learns the log up to `until` (or its end, whichever is first); returns how many
    /// attempts were learned.
    pub async fn follow_log(&self, until: u64) -> StoreResult<u64> {
        let _tail = self.tail_lock.lock().await;
        self.follow_locked(until).await
    }

    /// [`Self::follow_log`] for a caller already holding the tail lock.
    pub(super) async fn follow_locked(&self, until: u64) -> StoreResult<u64> {
        let round = (until == u64::MAX)
            .then(|| self.follow_rounds.begun.fetch_add(1, Ordering::SeqCst) + 1);
        let mut learned = 0;
        loop {
            let after = self.watermark();
            if after >= until {
                return Ok(learned);
            }
            let page = self.store.attempts_after(after, FOLLOW_PAGE).await?;
            if page.is_empty() {
                if let Some(round) = round {
                    let ends = &self.follow_rounds.reached_end;
                    ends.fetch_max(round, Ordering::SeqCst);
                }
                return Ok(learned);
            }
            for chunk in page.chunks(LEARN_CHUNK) {
                learned += self.learn_page(chunk);
                // Lets the requests queued on this thread run between chunks.
                tokio::task::yield_now().await;
            }
        }
    }

    /// Learns a chunk of the log and moves the watermark to its end, under the locks that
    /// [`Self::positioned`] takes too: an attempt a failure's write placed meanwhile is
    /// skipped, whether it is at or below the watermark (placed at the next position) or
    /// among those learned ahead.
    fn learn_page(&self, page: &[(u64, AttemptRecord)]) -> u64 {
        let mut ahead = self.learned_ahead.lock();
        let mut pending = self.pending_ahead.lock();
        let mut engine = self.engine.lock();
        let mark = self.watermark();
        let mut learned = 0;
        for (seq, attempt) in page {
            let skip = *seq <= mark
                || ahead.remove(seq)
                || (!pending.is_empty() && pending.remove(&key_of(attempt)));
            if !skip {
                engine.observe(attempt);
                learned += 1;
            }
        }
        if let Some(&(last, _)) = page.last() {
            self.advance_to(last);
        }
        learned
    }

    fn advance_to(&self, seq: u64) {
        let before = self.watermark.fetch_max(seq, Ordering::Relaxed);
        self.metrics.set_log_position(before.max(seq));
    }

    /// Notes that `attempt` is learned before its write: the follower skips it should it
    /// read the attempt before [`Self::positioned`] is called. Called before the write, so
    /// no read of the log can hold the attempt yet.
    pub(super) fn learning_ahead(&self, attempt: &AttemptRecord) -> AttemptKey {
        let key = key_of(attempt);
        self.pending_ahead.lock().insert(key.clone());
        key
    }

    /// The write of an attempt learned ahead returned: at `seq`, or (`None`) not stored.
    /// At the very next position the watermark simply moves on; further ahead the follower
    /// skips it when the log reaches it. Under the locks [`Self::learn_page`] holds, so the
    /// follower is not halfway through a chunk.
    pub(super) fn positioned(&self, key: AttemptKey, seq: Option<u64>) {
        let mut ahead = self.learned_ahead.lock();
        // Absent: the follower met it in the log first and skipped it.
        let waiting = self.pending_ahead.lock().remove(&key);
        let Some(seq) = seq.filter(|_| waiting) else {
            return;
        };
        let next = self.watermark() + 1;
        if seq == next {
            self.advance_to(seq);
        } else if seq > next {
            ahead.insert(seq);
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

/// The background follower: waits for attempts after what this replica learned (at most
/// [`FOLLOW_EVERY`]), then learns the log to its end. Woken by the append, a replica learns
/// what the others appended without waiting for a polling interval (up to 100 ms of lag).
pub async fn run(state: AppState) {
    loop {
        let waited = state
            .store
            .wait_for_attempts(state.watermark(), FOLLOW_EVERY)
            .await;
        match waited {
            Ok(true) => {}
            // Nothing after the watermark: nothing to read.
            Ok(false) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "cannot wait for new attempts");
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        }
        if let Err(e) = state.follow_log(u64::MAX).await {
            tracing::warn!(error = %e, "cannot follow the attempt log");
        }
    }
}
