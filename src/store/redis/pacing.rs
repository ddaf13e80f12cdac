//! The pacing guardrails shared by every replica: one script ([`scripts::PACE`]) places a
//! retry against the shared budget, share, tenant quota and circuit probe and spends them, so
//! N replicas spend one budget. The counters are Redis hashes under the prefix (see `keys`),
//! counted on the decision clock (the times the replicas pass), never on Redis's own clock.

use super::{RedisStore, err, keys, scripts};
use crate::model::pacing::{CircuitHold, PaceAnswer, PaceKind, PaceRequest, PaceStep};
use crate::store::{StoreError, StoreResult};
use chrono::{DateTime, Utc};

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
            .invoke_async(&mut self.conn())
            .await
            .map_err(err(what))?;
        parse_answer(&reply)
    }
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
}
