//! The pacing counters kept in step with a shared ledger (many replicas, one Redis), so a
//! replica paces in process, with the rules and words of one node, yet N replicas spend one
//! budget.
//!
//! Every retry a replica places in its own counters (a queue's token, its share sub-window,
//! its tenant's minute) is also noted as unsent. A sync ([`GuardrailState::pace_sync`]) hands
//! the unsent spends to the ledger, which adds them to the shared counters and sends those
//! back; [`GuardrailState::absorb`] then makes the replica's counters the shared ones plus
//! what it spent while the sync was in flight. Between syncs a replica does not see what the
//! others spent; the service syncs before a queue or tenant has [`PACE_BLOCK`] unsent spends.
//!
//! [`PACE_BLOCK`]: crate::model::pacing::PACE_BLOCK

use super::{Bucket, GuardrailState, share};
use crate::model::PolicyGuardrails;
use crate::model::pacing::{BudgetLimit, PaceCounters, PaceSpends, PaceSync, TokensSpent};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Most queues (and most tenants) whose counters one sync brings back besides those spent in.
const SYNC_KEYS: usize = 1_000;

/// Spends not yet in the shared ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Ledger {
    /// Whether spends are noted at all (on one node there is no ledger to send them to).
    on: bool,
    unsent: PaceSpends,
    /// Handed to a sync that has not answered yet.
    in_flight: Option<PaceSpends>,
}

/// What one kept retry spent (see `GuardrailState::commit`).
pub(super) struct Spent<'a> {
    pub queue: &'a str,
    pub now: DateTime<Utc>,
    pub token: bool,
    pub share_slot: Option<i64>,
    pub tenant_minute: Option<(&'a str, i64)>,
}

impl GuardrailState {
    /// Notes every later spend for a shared ledger.
    pub fn keep_for_ledger(&mut self) {
        self.ledger.on = true;
    }

    pub(super) fn note_spent(&mut self, spent: Spent<'_>) {
        if !self.ledger.on {
            return;
        }
        let unsent = &mut self.ledger.unsent;
        if spent.token {
            let at = spent.now;
            unsent
                .budgets
                .entry(spent.queue.to_string())
                .and_modify(|s| {
                    s.count += 1;
                    s.at = s.at.max(at);
                })
                .or_insert(TokensSpent { count: 1, at });
        }
        if let Some(slot) = spent.share_slot {
            let counts = unsent.share.entry(spent.queue.to_string()).or_default();
            *counts.entry(slot).or_insert(0) += 1;
        }
        if let Some((tenant, minute)) = spent.tenant_minute {
            let counts = unsent.tenants.entry(tenant.to_string()).or_default();
            *counts.entry(minute).or_insert(0) += 1;
        }
    }

    /// The most spends in one queue or tenant the ledger has not answered for: not yet
    /// handed to a sync, or handed to one still in flight. While a sync is in flight the
    /// replica's counters do not yet show what the others spent, so its spends then count
    /// toward the same block as the unsent ones.
    pub fn unsent_spends(&self) -> u64 {
        let in_flight = self.ledger.in_flight.as_ref();
        self.ledger.unsent.most_in_one_key(in_flight)
    }

    /// Hands the unsent spends to a sync, with the queues and tenants whose shared counters
    /// should come back.
    pub fn pace_sync(&mut self, cfg: &PolicyGuardrails) -> PaceSync {
        let spends = std::mem::take(&mut self.ledger.unsent);
        let queues = wanted(
            spends.budgets.keys().chain(spends.share.keys()),
            self.budgets.keys().chain(self.traffic.keys()),
        );
        let tenants = wanted(spends.tenants.keys(), self.tenants.keys());
        match &mut self.ledger.in_flight {
            Some(earlier) => earlier.merge(spends.clone()),
            None => self.ledger.in_flight = Some(spends.clone()),
        }
        PaceSync {
            spends,
            budget: cfg.retry_budget.enabled.then_some(BudgetLimit {
                capacity: cfg.retry_budget.capacity,
                refill_per_second: cfg.retry_budget.refill_per_second,
            }),
            now: self.clock.latest().unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            share_slot_ms: share::SLOT_MS,
            share_slots: share::SLOTS,
            queues,
            tenants,
        }
    }

    /// The sync did not reach the ledger: its spends are sent with the next one.
    pub fn pace_sync_failed(&mut self) {
        if let Some(spends) = self.ledger.in_flight.take() {
            self.ledger.unsent.merge(spends);
        }
    }

    /// Takes the shared counters a sync brought back: each queue's bucket, share schedule
    /// and each tenant's minutes become the shared ones plus what this replica spent since
    /// the sync left.
    pub fn absorb(&mut self, shared: &PaceCounters) {
        self.ledger.in_flight = None;
        let unsent = &self.ledger.unsent;
        for (queue, level) in &shared.budgets {
            let own = unsent.budgets.get(queue).map_or(0, |s| s.count);
            let bucket = Bucket {
                tokens: level.tokens - own as f64,
                updated: level.updated,
            };
            self.budgets.insert(queue.clone(), bucket);
        }
        for (queue, counts) in &shared.share {
            // Every queue asked for has its share counts; one the ledger holds no bucket for
            // never spent a token anywhere: its bucket is full.
            if !shared.budgets.contains_key(queue) && !unsent.budgets.contains_key(queue) {
                self.budgets.remove(queue);
            }
            let mine = unsent.share.get(queue);
            if counts.is_empty() && mine.is_none() && !self.traffic.contains_key(queue) {
                continue;
            }
            let scheduled = plus(counts, mine);
            self.traffic
                .entry(queue.clone())
                .or_default()
                .set_scheduled(scheduled);
        }
        for (tenant, counts) in &shared.tenants {
            let minutes: BTreeMap<i64, u32> = plus(counts, unsent.tenants.get(tenant))
                .into_iter()
                .map(|(m, n)| (m, u32::try_from(n).unwrap_or(u32::MAX)))
                .collect();
            if minutes.is_empty() {
                self.tenants.remove(tenant);
            } else {
                self.tenants.insert(tenant.clone(), minutes);
            }
        }
    }

    /// Keeps what is not yet in the ledger across a restore of learned state.
    pub(super) fn keep_ledger(&mut self, previous: &GuardrailState) {
        self.ledger = previous.ledger.clone();
    }
}

/// The keys spent in, then others up to [`SYNC_KEYS`], each once.
fn wanted<'a>(
    spent: impl Iterator<Item = &'a String>,
    others: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let mut keys: Vec<String> = spent.cloned().collect();
    keys.sort();
    keys.dedup();
    let mut rest: Vec<&String> = others.filter(|k| keys.binary_search(k).is_err()).collect();
    rest.sort();
    rest.dedup();
    keys.extend(rest.into_iter().take(SYNC_KEYS).cloned());
    keys
}

fn plus(shared: &BTreeMap<i64, u64>, mine: Option<&BTreeMap<i64, u64>>) -> BTreeMap<i64, u64> {
    let mut all = shared.clone();
    for (index, n) in mine.into_iter().flatten() {
        *all.entry(*index).or_insert(0) += n;
    }
    all
}

#[cfg(test)]
mod tests {
    use super::super::GuardInput;
    use super::*;
    use crate::model::after_ms;
    use crate::model::pacing::BucketLevel;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn cfg() -> PolicyGuardrails {
        PolicyGuardrails {
            max_budget_percent: 50.0,
            per_tenant_limits: true,
            ..PolicyGuardrails::default()
        }
    }

    /// One retry of a job of tenant `acme` in queue `payments`, 1 s from now, kept.
    fn retry(s: &mut GuardrailState) {
        let input = GuardInput {
            attempt: 1,
            queue: "payments",
            tenant: Some("acme"),
            error_class: "503",
            now: now(),
            elapsed_ms: None,
        };
        let v = s.evaluate(&cfg(), input, true, 1_000, 5);
        s.commit(&cfg(), input, &v);
    }

    fn slot() -> i64 {
        share::slot_index(after_ms(now(), 1_000))
    }

    fn minute() -> i64 {
        now().timestamp_millis().div_euclid(60_000)
    }

    #[test]
    fn one_node_notes_nothing_for_a_ledger() {
        let mut s = GuardrailState::default();
        retry(&mut s);
        assert_eq!(s.unsent_spends(), 0);
        assert!(s.pace_sync(&cfg()).spends.is_empty());
    }

    #[test]
    fn spends_go_to_the_ledger_and_the_shared_counters_come_back_with_later_spends_on_top() {
        let mut s = GuardrailState::default();
        s.keep_for_ledger();
        retry(&mut s);
        assert_eq!(s.unsent_spends(), 1);
        let sync = s.pace_sync(&cfg());
        assert_eq!(sync.spends.budgets["payments"].count, 1);
        assert_eq!(sync.spends.share["payments"], BTreeMap::from([(slot(), 1)]));
        assert_eq!(sync.spends.tenants["acme"], BTreeMap::from([(minute(), 1)]));
        assert_eq!(
            (sync.queues, sync.tenants),
            (vec!["payments".to_string()], vec!["acme".to_string()])
        );
        assert_eq!(
            s.unsent_spends(),
            1,
            "handed to a sync that has not answered"
        );
        assert!(
            s.pace_sync(&cfg()).spends.is_empty(),
            "nothing left to send"
        );
        // A retry while the sync is in flight counts toward the same block; then the ledger
        // answers with what every replica spent (this one's first retry among them).
        retry(&mut s);
        assert_eq!(s.unsent_spends(), 2);
        let shared = PaceCounters {
            budgets: BTreeMap::from([(
                "payments".to_string(),
                BucketLevel {
                    tokens: 499.0,
                    updated: now(),
                },
            )]),
            share: BTreeMap::from([("payments".to_string(), BTreeMap::from([(slot(), 11)]))]),
            tenants: BTreeMap::from([("acme".to_string(), BTreeMap::from([(minute(), 11)]))]),
        };
        s.absorb(&shared);
        let (budgets, tenants, _) = s.status(&cfg(), now());
        assert_eq!(budgets[0].tokens_available, 498.0);
        assert_eq!(tenants[0].retries_last_minute, 12);
        assert_eq!(s.traffic["payments"].retries(after_ms(now(), 1_000)), 12);
        assert_eq!(s.unsent_spends(), 1, "the later retry is still to be sent");
    }

    #[test]
    fn a_failed_sync_sends_its_spends_with_the_next() {
        let mut s = GuardrailState::default();
        s.keep_for_ledger();
        retry(&mut s);
        s.pace_sync(&cfg());
        retry(&mut s);
        s.pace_sync_failed();
        assert_eq!(s.unsent_spends(), 2);
        let sync = s.pace_sync(&cfg());
        assert_eq!(sync.spends.budgets["payments"].count, 2);
        assert_eq!(sync.spends.share["payments"][&slot()], 2);
    }
}
