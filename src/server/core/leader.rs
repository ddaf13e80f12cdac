//! One replica at a time runs the chores that must not run N times over a shared store
//! (alert evaluation, engine snapshots, retention pruning): the one holding the `chores` lease in the store,
//! renewed every [`RENEW_EVERY`]; when it dies, another takes over once the lease ran out
//! ([`LEASE_TTL`]), so within about 13 s. A store only one process uses grants the lease at
//! once, so a lone service always leads. The first time a replica leads it also brings data
//! an earlier build wrote to this build's layout.

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
        if held && !self.layout_upgraded.load(Ordering::Relaxed) {
            self.upgrade_store_layout().await;
        }
    }

    /// Brings data an earlier build wrote to this build's layout (`Store::upgrade_layout`),
    /// once per process, the first time this replica leads (at start-up, or when it takes
    /// over: in a rolling upgrade, the first new build to lead). What it changed is logged and
    /// audited; a failure is logged and tried again at the next renewal.
    async fn upgrade_store_layout(&self) {
        let changes = match self.store.upgrade_layout().await {
            Ok(changes) => changes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot upgrade the store's layout; trying again at the next renewal");
                return;
            }
        };
        for change in &changes {
            tracing::info!(change = %change, "store layout upgraded");
        }
        if !changes.is_empty() {
            let detail = serde_json::json!({ "changes": changes });
            let reason = "data written by an earlier build";
            let audited = self
                .audit(
                    "service",
                    "store_layout_upgraded",
                    self.store.name(),
                    reason,
                    detail,
                )
                .await;
            if let Err(e) = audited {
                tracing::warn!(error = %e, "the store's layout upgrade was not audited");
            }
        }
        self.layout_upgraded.store(true, Ordering::Relaxed);
    }
}

/// One round of the lease task.
pub async fn contend(state: AppState) {
    state.contend().await;
}
