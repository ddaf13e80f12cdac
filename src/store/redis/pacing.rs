//! The pacing guardrails shared by every replica. Replicas pace in process and sync their
//! counters here in blocks ([`scripts::SYNC_PACE`]: their spends go in, the shared counters
//! come back); a retry that may be an open circuit's probe is placed by one script
//! ([`scripts::PACE`]) against the shared budget, share, tenant quota and probe, which it
//! spends. So N replicas spend one budget. The counters are Redis hashes under the prefix
//! (see `keys`), counted on the decision clock (the times the replicas pass), never on Redis's
//! own clock.

use super::{RedisStore, err, keys, scripts};
use crate::model::pacing::{
    BucketLevel, CircuitHold, PaceAnswer, PaceCounters, PaceKind, PaceRequest, PaceStep, PaceSync,
};
use crate::store::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

impl RedisStore {
    /// Runs [`scripts::PACE`] for `r`.
    pub(super) async fn place(&self, r: &PaceRequest) -> StoreResult<PaceAnswer> {
        let what = "place a retry in the shared guardrails";
        let tenant = r.tenant.as_deref().unwrap_or_default();
        let mut call = scripts::PACE.key(self.keys.budget_tokens());
        call.key(self.keys.budget_updated())
            .key(self.keys.share_counts(&r.queue))
            .key(self.keys.share_slots(&r.queue))
            .key(self.keys.tenant_minutes(tenant))
            .key(self.keys.probes());
        for arg in pace_args(r) {
            call.arg(arg);
        }
        let reply: Vec<String> = call
            .invoke_async(&mut self.follow_conn())
            .await
            .map_err(err(what))?;
        parse_answer(&reply)
    }

    /// Runs [`scripts::SYNC_PACE`] for `sync`.
    pub(super) async fn sync_counters(&self, sync: &PaceSync) -> StoreResult<PaceCounters> {
        let what = "sync the shared pacing counters";
        let mut call = scripts::SYNC_PACE.key(self.keys.budget_tokens());
        call.key(self.keys.budget_updated());
        for queue in &sync.queues {
            call.key(self.keys.share_counts(queue))
                .key(self.keys.share_slots(queue));
        }
        for tenant in &sync.tenants {
            call.key(self.keys.tenant_minutes(tenant));
        }
        for arg in sync_args(sync) {
            call.arg(arg);
        }
        let reply: Vec<Vec<String>> = call
            .invoke_async(&mut self.follow_conn())
            .await
            .map_err(err(what))?;
        parse_counters(sync, &reply)
    }
}

/// The ARGV of [`scripts::SYNC_PACE`] for `sync`.
fn sync_args(sync: &PaceSync) -> Vec<String> {
    let spends = &sync.spends;
    let mut args = vec![
        sync.budget
            .map_or_else(String::new, |b| b.capacity.to_string()),
        sync.budget.map_or(0.0, |b| b.refill_per_second).to_string(),
        sync.now.timestamp_millis().to_string(),
        sync.share_slot_ms.to_string(),
        sync.share_slots.to_string(),
        sync.queues.len().to_string(),
        sync.tenants.len().to_string(),
    ];
    for queue in &sync.queues {
        let tokens = spends.budgets.get(queue);
        args.push(queue.clone());
        args.push(tokens.map_or(0, |t| t.count).to_string());
        args.push(tokens.map_or(0, |t| t.at.timestamp_millis()).to_string());
        push_counts(&mut args, spends.share.get(queue));
    }
    for tenant in &sync.tenants {
        push_counts(&mut args, spends.tenants.get(tenant));
    }
    args
}

fn push_counts(args: &mut Vec<String>, counts: Option<&BTreeMap<i64, u64>>) {
    let counts = counts.into_iter().flatten();
    args.push(counts.clone().count().to_string());
    for (index, n) in counts {
        args.push(index.to_string());
        args.push(n.to_string());
    }
}

fn parse_counters(sync: &PaceSync, reply: &[Vec<String>]) -> StoreResult<PaceCounters> {
    let corrupt = |why: &str| {
        StoreError::Corrupt(format!(
            "unexpected answer from the pacing sync ({} rows for {} queues and {} tenants): {why}",
            reply.len(),
            sync.queues.len(),
            sync.tenants.len()
        ))
    };
    if reply.len() != sync.queues.len() + sync.tenants.len() {
        return Err(corrupt("wrong number of rows"));
    }
    let (queue_rows, tenant_rows) = reply.split_at(sync.queues.len());
    let mut counters = PaceCounters::default();
    for (queue, row) in sync.queues.iter().zip(queue_rows) {
        let [tokens, updated, counts @ ..] = row.as_slice() else {
            return Err(corrupt("a queue's row lacks its bucket"));
        };
        if !tokens.is_empty() {
            let level = bucket_level(tokens, updated).ok_or_else(|| corrupt("a bucket"))?;
            counters.budgets.insert(queue.clone(), level);
        }
        let counts = pairs(counts).ok_or_else(|| corrupt("share counts"))?;
        counters.share.insert(queue.clone(), counts);
    }
    for (tenant, row) in sync.tenants.iter().zip(tenant_rows) {
        let counts = pairs(row).ok_or_else(|| corrupt("tenant minutes"))?;
        counters.tenants.insert(tenant.clone(), counts);
    }
    Ok(counters)
}

fn bucket_level(tokens: &str, updated: &str) -> Option<BucketLevel> {
    Some(BucketLevel {
        tokens: tokens.parse().ok()?,
        updated: DateTime::from_timestamp_millis(updated.parse().ok()?)?,
    })
}

/// `[index, count, …]` as a map.
fn pairs(flat: &[String]) -> Option<BTreeMap<i64, u64>> {
    if !flat.len().is_multiple_of(2) {
        return None;
    }
    flat.chunks(2)
        .map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
        .collect()
}

/// The script's ARGV for a request (see [`scripts::PACE`]).
fn pace_args(r: &PaceRequest) -> Vec<String> {
    let off = String::new;
    let (circuit, probe_at, open_ms) = match r.circuit {
        None => ("", (0, 0), 0),
        Some(CircuitHold::Forced { open_ms }) => ("forced", (0, 0), open_ms),
        Some(CircuitHold::Open { probe_at, open_ms }) => ("open", ms_and_rest(probe_at), open_ms),
    };
    let now = ms_and_rest(r.now);
    vec![
        r.queue.clone(),
        keys::circuit_field(&r.queue, &r.error_class),
        now.0.to_string(),
        r.delay_ms.to_string(),
        r.age_left_ms.to_string(),
        r.budget.map_or_else(off, |b| b.capacity.to_string()),
        r.budget.map_or(0.0, |b| b.refill_per_second).to_string(),
        r.share.map_or_else(off, |s| s.allowed.to_string()),
        r.share.map_or(1, |s| s.slot_ms).to_string(),
        r.share.map_or(1, |s| s.slots).to_string(),
        r.tenant_quota.map_or_else(off, |q| q.to_string()),
        circuit.to_string(),
        probe_at.0.to_string(),
        open_ms.to_string(),
        now.1.to_string(),
        probe_at.1.to_string(),
    ]
}

/// A time as whole milliseconds since the epoch and the nanoseconds past them: the script
/// measures delays between two times as the engine does (whole milliseconds, truncated).
fn ms_and_rest(at: DateTime<Utc>) -> (i64, u32) {
    (
        at.timestamp_millis(),
        at.timestamp_subsec_nanos() % 1_000_000,
    )
}

fn parse_answer(reply: &[String]) -> StoreResult<PaceAnswer> {
    let corrupt = || {
        StoreError::Corrupt(format!(
            "unexpected answer from the pacing script: {reply:?}"
        ))
    };
    let [delay, stopped, tokens, rest @ ..] = reply else {
        return Err(corrupt());
    };
    if rest.len() % 3 != 0 {
        return Err(corrupt());
    }
    let steps = rest
        .chunks(3)
        .map(|s| {
            Some(PaceStep {
                kind: PaceKind::from_code(&s[0])?,
                delay_ms: s[1].parse().ok()?,
                count: s[2].parse().ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(corrupt)?;
    Ok(PaceAnswer {
        delay_ms: delay.parse().map_err(|_| corrupt())?,
        stopped: stopped == "1",
        steps,
        tokens_left: match tokens.as_str() {
            "" => None,
            t => Some(t.parse().map_err(|_| corrupt())?),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_malformed_ones_are_refused() {
        let reply: Vec<String> = ["6000", "0", "-0.5", "budget", "6000", "0"]
            .map(String::from)
            .to_vec();
        let answer = parse_answer(&reply).unwrap();
        assert_eq!(answer.delay_ms, 6000);
        assert!(!answer.stopped);
        assert_eq!(answer.tokens_left, Some(-0.5));
        assert_eq!(answer.steps[0].kind, PaceKind::Budget);
        for bad in [
            &["1"][..],
            &["1", "0", "", "budget"],
            &["1", "0", "", "what", "1", "0"],
        ] {
            let bad: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(parse_answer(&bad).is_err(), "{bad:?}");
        }
    }

    fn sync() -> PaceSync {
        let mut spends = crate::model::pacing::PaceSpends::default();
        spends
            .share
            .insert("a".into(), BTreeMap::from([(7, 2), (8, 1)]));
        PaceSync {
            spends,
            budget: None,
            now: DateTime::<Utc>::UNIX_EPOCH,
            share_slot_ms: 6_000,
            share_slots: 10,
            queues: vec!["a".into(), "b".into()],
            tenants: vec!["t".into()],
        }
    }

    #[test]
    fn a_sync_sends_each_queue_and_tenant_with_its_counts() {
        let args = sync_args(&sync());
        let tail: Vec<&str> = args[5..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "2", "1", "a", "0", "0", "2", "7", "2", "8", "1", "b", "0", "0", "0", "0"
            ]
        );
    }

    #[test]
    fn counters_parse_and_malformed_ones_are_refused() {
        let rows = |rows: &[&[&str]]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        let reply = rows(&[&["-3.5", "60000", "7", "4"], &["", ""], &["9", "1"]]);
        let counters = parse_counters(&sync(), &reply).unwrap();
        assert_eq!(counters.budgets["a"].tokens, -3.5);
        assert_eq!(counters.budgets["a"].updated.timestamp_millis(), 60_000);
        assert!(!counters.budgets.contains_key("b"), "never spent: full");
        assert_eq!(counters.share["a"], BTreeMap::from([(7, 4)]));
        assert!(counters.share["b"].is_empty());
        assert_eq!(counters.tenants["t"], BTreeMap::from([(9, 1)]));
        for bad in [
            rows(&[&["", ""], &["9", "1"]]),
            rows(&[&["x", "1"], &["", ""], &[]]),
            rows(&[&["", "", "7"], &["", ""], &[]]),
            rows(&[&[""], &["", ""], &[]]),
        ] {
            assert!(parse_counters(&sync(), &bad).is_err(), "{bad:?}");
        }
    }
}
