//! The pacing guardrails' counters shared by many replicas (retry budget, budget share, tenant
//! quota, circuit probe): what a replica asks a shared ledger ([`PaceRequest`]) and what it
//! answers ([`PaceAnswer`]). The engine builds the request after its other guardrails; a
//! store that shares them (Redis) places the retry and spends the counters in one atomic step,
//! so N replicas spend one budget; the engine then turns the answer into the recommendation's
//! `policy_guardrails` with the same words as on one node.
//!
//! Most retries are not placed by the ledger one by one: a replica paces them in process on
//! its own copy of the counters and syncs that copy with the ledger in blocks ([`PaceSync`]:
//! what it spent since the last sync goes in, the shared counters come back). Only a retry
//! that may be an open circuit's probe is placed by the ledger itself (one probe across
//! replicas).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Retries a replica may place in one queue's (or one tenant's) counters without seeing
/// what the other replicas placed meanwhile: past it, the next retry into that queue waits
/// for a sync with the ledger. So N replicas together exceed one budget by at most
/// `(N - 1) * PACE_BLOCK` retries per queue (and as many per tenant); the counts themselves
/// are exact once synced.
pub const PACE_BLOCK: u64 = 64;

/// One retry to place, with every limit that applies to it (absent: that guardrail is off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaceRequest {
    pub queue: String,
    pub tenant: Option<String>,
    pub error_class: String,
    /// The decision's time.
    pub now: DateTime<Utc>,
    /// The delay after the other guardrails (min/max delay), before pacing.
    pub delay_ms: u64,
    /// Time left before the job's maximum retry age: a retry paced past it ends the job and
    /// spends nothing.
    pub age_left_ms: u64,
    /// The queue's token bucket.
    pub budget: Option<BudgetLimit>,
    /// Retries allowed per share window (`max_budget_percent` of the queue's traffic).
    pub share: Option<ShareLimit>,
    /// The tenant's retries per minute (0 stops its retries).
    pub tenant_quota: Option<u32>,
    /// The circuit of (queue, error class) when it holds retries.
    pub circuit: Option<CircuitHold>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetLimit {
    pub capacity: f64,
    pub refill_per_second: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShareLimit {
    /// Retries allowed in any window.
    pub allowed: u64,
    /// Attempts the queue saw in the window (for the explanation).
    pub attempts: u64,
    /// Length of one sub-window and sub-windows per window.
    pub slot_ms: i64,
    pub slots: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CircuitHold {
    /// An operator forced it open: the retry waits at least `open_ms`.
    Forced { open_ms: u64 },
    /// The breaker is open: one retry (the probe) runs at `probe_at`, the others after its
    /// verdict (`open_ms` later).
    Open {
        probe_at: DateTime<Utc>,
        open_ms: u64,
    },
}

/// Which pacing guardrail changed the retry, in the order they were applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaceKind {
    /// No token: delayed until one refills.
    Budget,
    /// No token and the bucket never refills: stop.
    BudgetNeverRefills,
    /// Over the share: paced to the first sub-window where it fits.
    Share,
    /// The tenant's minute is full: the next minute with room.
    Tenant,
    /// The tenant's quota is 0: stop.
    TenantZero,
    /// Forced open circuit.
    CircuitForced,
    /// This retry is the open circuit's probe.
    CircuitProbe,
    /// Another retry is the probe: after its verdict.
    CircuitAfterProbe,
    /// Paced past the maximum retry age: stop, nothing spent.
    RetryAge,
}

/// One change: the guardrail, the delay after it, and a count it reports (for `Share`: the
/// retries scheduled in the window at the unpaced time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PaceStep {
    pub kind: PaceKind,
    pub delay_ms: u64,
    pub count: u64,
}

/// Where the retry was placed and what was spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaceAnswer {
    pub delay_ms: u64,
    /// A step ended the job: nothing was spent.
    pub stopped: bool,
    pub steps: Vec<PaceStep>,
    /// Tokens left in the queue's bucket after this retry (when the budget applies).
    pub tokens_left: Option<f64>,
}

impl PaceKind {
    /// The short name the ledger answers with.
    pub fn code(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::BudgetNeverRefills => "budget_never",
            Self::Share => "share",
            Self::Tenant => "tenant",
            Self::TenantZero => "tenant_zero",
            Self::CircuitForced => "circuit_forced",
            Self::CircuitProbe => "circuit_probe",
            Self::CircuitAfterProbe => "circuit_after_probe",
            Self::RetryAge => "retry_age",
        }
    }

    /// The kind of a short name, if it is one.
    pub fn from_code(code: &str) -> Option<Self> {
        const ALL: [PaceKind; 9] = [
            PaceKind::Budget,
            PaceKind::BudgetNeverRefills,
            PaceKind::Share,
            PaceKind::Tenant,
            PaceKind::TenantZero,
            PaceKind::CircuitForced,
            PaceKind::CircuitProbe,
            PaceKind::CircuitAfterProbe,
            PaceKind::RetryAge,
        ];
        ALL.into_iter().find(|k| k.code() == code)
    }
}

/// What a replica spent in its own copy of the counters since its last sync: what the
/// ledger must add.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaceSpends {
    /// Queue → the tokens its retries took.
    pub budgets: BTreeMap<String, TokensSpent>,
    /// Queue → share sub-window index → retries scheduled to run in it.
    pub share: BTreeMap<String, BTreeMap<i64, u64>>,
    /// Tenant → minute index → retries scheduled in it.
    pub tenants: BTreeMap<String, BTreeMap<i64, u64>>,
}

/// Tokens a queue's retries took, and the latest decision time among them (the bucket
/// refills up to it before they are taken).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokensSpent {
    pub count: u64,
    pub at: DateTime<Utc>,
}

/// One sync of a replica's counters with the shared ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct PaceSync {
    pub spends: PaceSpends,
    /// The token bucket every queue has (`None`: the budget is off).
    pub budget: Option<BudgetLimit>,
    /// The decision clock: share sub-windows and tenant minutes older than its windows are
    /// dropped.
    pub now: DateTime<Utc>,
    /// Length of one share sub-window and sub-windows per window.
    pub share_slot_ms: i64,
    pub share_slots: i64,
    /// Queues and tenants whose shared counters the replica wants back (every one it spent
    /// in, and those it keeps counters for).
    pub queues: Vec<String>,
    pub tenants: Vec<String>,
}

/// The shared counters after a sync, for the queues and tenants asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaceCounters {
    /// Queue → its bucket (absent: never spent, so full).
    pub budgets: BTreeMap<String, BucketLevel>,
    /// Queue → share sub-window index → retries scheduled to run in it; every queue asked
    /// for is here.
    pub share: BTreeMap<String, BTreeMap<i64, u64>>,
    /// Tenant → minute index → retries scheduled in it; every tenant asked for is here.
    pub tenants: BTreeMap<String, BTreeMap<i64, u64>>,
}

/// A bucket's tokens as of its last spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketLevel {
    pub tokens: f64,
    pub updated: DateTime<Utc>,
}

impl PaceSpends {
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty() && self.share.is_empty() && self.tenants.is_empty()
    }

    /// Adds `other` (spends of a sync that failed, put back to be sent again).
    pub fn merge(&mut self, other: PaceSpends) {
        for (queue, spent) in other.budgets {
            self.budgets
                .entry(queue)
                .and_modify(|s| {
                    s.count += spent.count;
                    s.at = s.at.max(spent.at);
                })
                .or_insert(spent);
        }
        merge_counts(&mut self.share, other.share);
        merge_counts(&mut self.tenants, other.tenants);
    }

    /// The most retries placed in one queue or one tenant, here and in `also` together.
    pub fn most_in_one_key(&self, also: Option<&PaceSpends>) -> u64 {
        let empty = PaceSpends::default();
        let also = also.unwrap_or(&empty);
        let tokens = |q: &String| {
            let count = |s: &PaceSpends| s.budgets.get(q).map_or(0, |t| t.count);
            count(self) + count(also)
        };
        let most_tokens = self
            .budgets
            .keys()
            .chain(also.budgets.keys())
            .map(tokens)
            .max()
            .unwrap_or(0);
        most_tokens
            .max(most_counted(&self.share, &also.share))
            .max(most_counted(&self.tenants, &also.tenants))
    }
}

/// The largest sum of one key's counts over `a` and `b` together.
fn most_counted(
    a: &BTreeMap<String, BTreeMap<i64, u64>>,
    b: &BTreeMap<String, BTreeMap<i64, u64>>,
) -> u64 {
    let sum = |m: &BTreeMap<String, BTreeMap<i64, u64>>, key: &String| {
        m.get(key).map_or(0, |c| c.values().sum::<u64>())
    };
    a.keys()
        .chain(b.keys())
        .map(|k| sum(a, k) + sum(b, k))
        .max()
        .unwrap_or(0)
}

fn merge_counts(
    into: &mut BTreeMap<String, BTreeMap<i64, u64>>,
    from: BTreeMap<String, BTreeMap<i64, u64>>,
) {
    for (key, counts) in from {
        let mine = into.entry(key).or_default();
        for (index, n) in counts {
            *mine.entry(index).or_insert(0) += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [
            "budget",
            "share",
            "tenant_zero",
            "circuit_after_probe",
            "retry_age",
        ] {
            assert_eq!(PaceKind::from_code(code).map(PaceKind::code), Some(code));
        }
        assert_eq!(PaceKind::from_code("nope"), None);
    }

    #[test]
    fn spends_merge_and_the_busiest_key_is_found() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let later = at + chrono::Duration::seconds(1);
        let mut a = PaceSpends::default();
        a.budgets.insert(
            "q".into(),
            TokensSpent {
                count: 2,
                at: later,
            },
        );
        a.share.insert("q".into(), BTreeMap::from([(5, 2)]));
        let mut b = PaceSpends::default();
        b.budgets.insert("q".into(), TokensSpent { count: 3, at });
        b.share.insert("q".into(), BTreeMap::from([(5, 1), (6, 4)]));
        b.tenants.insert("t".into(), BTreeMap::from([(1, 1)]));
        a.merge(b);
        assert_eq!(
            a.budgets["q"],
            TokensSpent {
                count: 5,
                at: later
            }
        );
        assert_eq!(a.share["q"], BTreeMap::from([(5, 3), (6, 4)]));
        assert_eq!(a.most_in_one_key(None), 7, "queue q's share: 3 + 4");
        let mut c = PaceSpends::default();
        c.budgets.insert("q".into(), TokensSpent { count: 4, at });
        c.tenants.insert("t".into(), BTreeMap::from([(2, 9)]));
        assert_eq!(a.most_in_one_key(Some(&c)), 10, "tenant t: 1 + 9");
        c.tenants.clear();
        assert_eq!(a.most_in_one_key(Some(&c)), 9, "queue q's tokens: 5 + 4");
        assert!(!a.is_empty() && PaceSpends::default().is_empty());
    }
}
