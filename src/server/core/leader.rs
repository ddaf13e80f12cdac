//! One replica at a time runs the chores that must not run N times over a shared store
//! (alert evaluation, engine snapshots, retention pruning): the one holding the `chores` lease in the store,
//! renewed every [`RENEW_EVERY`]; when it dies, another takes over once the lease ran out
//! ([`LEASE_TTL`]), so within about 13 s. A store only one process uses grants the lease at
//! once, so a lone service always leads.

use super::state::AppState;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews it (and the others try to take it).
pub const RENEW_EVERY: Duration = Duration::from_secs(3);
/// The lease's name in the store.
const CHORES: &str = "chores";

impl AppState {
    /// Whether this replica runs the chores now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// The replica that runs the chores: this one, or the lease's holder in the store
    /// (`None` when none holds it or the store does not answer).
    pub async fn leader_name(&self) -> Option<String> {
        if self.is_leader() {
            return Some(self.replica.clone());
        }
        match self.store.lease_holder(CHORES).await {
            Ok(holder) => holder,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the chores lease");
                None
            }
        }
    }

    /// Takes or renews the lease; a store that cannot be asked leaves this replica a follower
    /// (two leaders are worse than a late snapshot).
    pub async fn contend(&self) {
        let held = match self
            .store
            .hold_lease(CHORES, &self.replica, LEASE_TTL)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the chores lease");
                false
            }
        };
        if self.leader.swap(held, Ordering::Relaxed) != held {
            let replica = &self.replica;
            match held {
                true => tracing::info!(replica, "this replica now runs the chores (leader)"),
                false => tracing::info!(replica, "another replica runs the chores"),
            }
        }
    }
}

/// One round of the lease task.
pub async fn contend(state: AppState) {
    state.contend().await;
}
