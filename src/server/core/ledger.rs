//! This replica's pacing counters kept in step with the store's shared ledger (Redis, see
//! `engine::guardrails::ledger`): a background sync every [`SYNC_EVERY`], sooner once a queue
//! or tenant has half a block of unsent spends, and a wait for a sync before a retry would
//! leave [`PACE_BLOCK`] spends of one queue or tenant unsent. So a replica answers from memory,
//! one fsynced round trip serves a block of retries, and replicas together exceed one budget by
//! at most a block each.
//!
//! When the ledger does not answer, the replica keeps pacing on its own counters without
//! waiting, and sends what it spent once the ledger answers again.

use super::state::AppState;
use crate::engine::Engine;
use crate::model::pacing::PACE_BLOCK;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// How often a replica syncs (and so learns what the others spent) when no block fills first.
pub const SYNC_EVERY: Duration = Duration::from_millis(50);

/// The sync's state: one at a time, woken early by a filling block.
#[derive(Debug, Default)]
pub struct LedgerSync {
    one_at_a_time: Mutex<()>,
    nudge: Notify,
    /// Set while the ledger does not answer: retries then do not wait for it.
    unreachable: AtomicBool,
}

impl AppState {
    /// Whether a retry must wait for a sync before it is paced: some queue or tenant has a
    /// block of unsent spends (and the ledger is not known to be unreachable). Asked under the
    /// engine's lock that paces the retry, so no replica ever has more than a block unsent.
    pub(super) fn must_sync_pacing(&self, engine: &Engine) -> bool {
        engine.unsent_pacing() >= PACE_BLOCK && !self.ledger.unreachable.load(Ordering::Relaxed)
    }

    /// After a retry was paced: wakes the background sync once half a block is unsent.
    pub(super) fn nudge_pacing_sync(&self) {
        if self.engine.lock().unsent_pacing() >= PACE_BLOCK / 2 {
            self.ledger.nudge.notify_one();
        }
    }

    /// Syncs the pacing counters with the ledger, unless fewer than `min_unsent` spends of one
    /// queue or tenant are unsent once the sync before it finished (`0`: always, to learn what
    /// the other replicas spent).
    pub async fn sync_pacing(&self, min_unsent: u64) {
        let _one = self.ledger.one_at_a_time.lock().await;
        let sync = {
            let mut engine = self.engine.lock();
            if engine.unsent_pacing() < min_unsent {
                return;
            }
            engine.pace_sync()
        };
        match self.store.sync_pacing(&sync).await {
            Ok(Some(counters)) => {
                self.engine.lock().absorb_pacing(&counters);
                if self.ledger.unreachable.swap(false, Ordering::Relaxed) {
                    tracing::info!("the shared pacing counters answer again");
                }
            }
            Ok(None) => {}
            Err(e) => {
                self.engine.lock().pace_sync_failed();
                if !self.ledger.unreachable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "cannot sync the shared pacing counters: pacing on this replica's own until they answer");
                }
                // Counted (and on an unreachable Redis, marks the store degraded).
                let _ = self.store_read::<()>(Err(e));
            }
        }
    }
}

/// The background sync of a replica whose store shares the pacing counters.
pub(super) async fn run(state: AppState) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(SYNC_EVERY) => {}
            () = state.ledger.nudge.notified() => {}
        }
        state.sync_pacing(0).await;
    }
}
