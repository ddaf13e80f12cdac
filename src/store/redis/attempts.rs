//! The attempt log: appends (with the idempotency check), reads by sequence number, by job
//! and by (job type, error class) window, per-class tallies, retention, and the audit log.

use super::keys::{idempotency_key, micros};
use super::{RedisStore, err, from_json, scripts, to_json};
use crate::model::{AttemptRecord, AuditEntry};
use crate::store::{AttemptAggregate, ClassTally, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::time::Duration;

/// Attempts pruned per script run (each run is one atomic step under the timeout).
const PRUNE_CHUNK: isize = 500;

/// One stream entry as XRANGE returns it: (id, [field, value, …]).
type Entry = (String, Vec<String>);

/// A logged attempt: its sequence number, the record, its idempotency key.
pub(super) struct Logged {
    pub seq: u64,
    pub attempt: AttemptRecord,
    pub idempotency: String,
}

fn decode(entry: &Entry) -> StoreResult<Logged> {
    let (id, fields) = entry;
    let bad = || StoreError::Corrupt(format!("attempt log entry {id} is malformed"));
    let seq = id
        .strip_suffix("-0")
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let field = |name: &str| {
        fields
            .chunks(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair.get(1))
            .ok_or_else(bad)
    };
    Ok(Logged {
        seq,
        attempt: from_json("an attempt", field("a")?)?,
        idempotency: field("i")?.clone(),
    })
}

/// The attempts of an `XRANGE` reply, read where the reply holds them: each entry's sequence
/// number and its attempt, parsed from the bytes of its `a` field. Replaying 10⁶ attempts spent
/// a third of its CPU on the reply (README "Redis: many replicas", round 4); this leaves out
/// the strings and vectors a typed conversion made per entry and the copy of each idempotency
/// key, which a page read for learning does not use.
pub(super) fn decode_range(reply: &redis::Value) -> StoreResult<Vec<(u64, AttemptRecord)>> {
    let redis::Value::Array(entries) = reply else {
        return Err(StoreError::Corrupt(
            "the attempt log's reply is not a list of entries".into(),
        ));
    };
    entries.iter().map(decode_in_place).collect()
}

/// One entry of an `XRANGE` reply: `[id, [field, value, …]]`.
fn decode_in_place(entry: &redis::Value) -> StoreResult<(u64, AttemptRecord)> {
    use redis::Value::{Array, BulkString};
    let malformed = |id: &[u8]| {
        let id = String::from_utf8_lossy(id);
        StoreError::Corrupt(format!("attempt log entry {id} is malformed"))
    };
    let Array(parts) = entry else {
        return Err(malformed(b"?"));
    };
    let [BulkString(id), Array(fields)] = parts.as_slice() else {
        return Err(malformed(b"?"));
    };
    let seq = std::str::from_utf8(id)
        .ok()
        .and_then(|s| s.strip_suffix("-0"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed(id))?;
    let json = fields
        .chunks(2)
        .find_map(|pair| match pair {
            [BulkString(name), BulkString(json)] if name == b"a" => Some(json),
            _ => None,
        })
        .ok_or_else(|| malformed(id))?;
    let attempt = serde_json::from_slice(json)
        .map_err(|e| StoreError::Corrupt(format!("cannot decode attempt log entry {seq}: {e}")))?;
    Ok((seq, attempt))
}

/// The arguments of one attempt in the append scripts (see `scripts::APPEND`).
pub(super) fn attempt_args(a: &AttemptRecord) -> StoreResult<[String; 5]> {
    Ok([
        to_json("an attempt", a)?,
        idempotency_key(&a.job_id, a.attempt_number, a.timestamp),
        micros(a.timestamp).to_string(),
        a.error_class.clone(),
        if a.success { "1" } else { "0" }.to_string(),
    ])
}

impl RedisStore {
    /// The keys every log append touches, in the order the scripts expect.
    pub(super) fn log_keys(&self) -> [String; 6] {
        let k = &self.keys;
        [
            k.seq(),
            k.log(),
            k.idempotency(),
            k.aggregates(),
            k.class_attempts(),
            k.class_successes(),
        ]
    }

    /// An attempt's own index keys: its job's list and its (type, class) set.
    pub(super) fn attempt_keys(&self, a: &AttemptRecord) -> [String; 2] {
        [
            self.keys.job_attempts(&a.job_id),
            self.keys.aggregate(&a.job_type, &a.error_class),
        ]
    }

    pub(super) async fn append(&self, attempts: Vec<AttemptRecord>) -> StoreResult<Vec<u64>> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = scripts::APPEND.prepare_invoke();
        for key in self.log_keys() {
            call.key(key);
        }
        for a in &attempts {
            call.key(&self.attempt_keys(a)[..]);
            call.arg(&attempt_args(a)?[..]);
        }
        call.invoke_async(&mut self.conn())
            .await
            .map_err(err("append attempts"))
    }

    /// Log entries by sequence number (missing ones, pruned, are left out), in the given order.
    async fn by_seqs(&self, seqs: &[u64]) -> StoreResult<Vec<Logged>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        let log = self.keys.log();
        for seq in seqs {
            let id = format!("{seq}-0");
            pipe.cmd("XRANGE").arg(&log).arg(&id).arg(&id);
        }
        let found: Vec<Vec<Entry>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(err("read attempts"))?;
        found.iter().flatten().map(decode).collect()
    }

    pub(super) async fn attempts_of_job(&self, job_id: &str) -> StoreResult<Vec<AttemptRecord>> {
        let seqs: Vec<u64> = self
            .conn()
            .lrange(self.keys.job_attempts(job_id), 0, -1)
            .await
            .map_err(err("read a job's attempts"))?;
        let mut found = self.by_seqs(&seqs).await?;
        found.sort_by_key(|l| (l.attempt.timestamp, l.seq));
        Ok(found.into_iter().map(|l| l.attempt).collect())
    }

    /// Whether the log holds an attempt after `after`, waiting up to `at_most` for one
    /// (`XREAD BLOCK`, on the connection kept for it: the read holds its connection).
    pub(super) async fn wait_after(&self, after: u64, at_most: Duration) -> StoreResult<bool> {
        let what = "wait for new attempts";
        // At least 1 ms: `BLOCK 0` would wait for ever.
        let block = at_most.as_millis().clamp(1, u128::from(u32::MAX));
        let found: Option<redis::Value> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(block as u64)
            .arg("STREAMS")
            .arg(self.keys.log())
            .arg(format!("{after}-0"))
            .query_async(&mut self.wait_conn())
            .await
            .map_err(err(what))?;
        Ok(found.is_some())
    }

    /// The attempts after `after`, in log order, at most `limit`, on the log's own connection.
    pub(super) async fn log_after(
        &self,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<(u64, AttemptRecord)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reply: redis::Value = redis::cmd("XRANGE")
            .arg(self.keys.log())
            .arg(format!("({after}-0"))
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.follow_conn())
            .await
            .map_err(err("read the attempt log"))?;
        decode_range(&reply)
    }

    pub(super) async fn aggregate(
        &self,
        job_type: &str,
        error_class: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<AttemptAggregate> {
        let mut agg = AttemptAggregate::default();
        if from >= to {
            return Ok(agg);
        }
        // Scores are whole microseconds: fetch a superset, then keep the exact window.
        let seqs: Vec<u64> = self
            .conn()
            .zrangebyscore(
                self.keys.aggregate(job_type, error_class),
                micros(from),
                micros(to),
            )
            .await
            .map_err(err("aggregate attempts"))?;
        for l in self.by_seqs(&seqs).await? {
            let a = &l.attempt;
            if a.timestamp < from || a.timestamp >= to {
                continue;
            }
            agg.total_attempts += 1;
            if a.attempt_number > 1 {
                if a.success {
                    agg.successful_retries += 1;
                } else {
                    agg.failed_retries += 1;
                }
                agg.retry_delay_ms_sum = agg.retry_delay_ms_sum.saturating_add(a.delay_ms);
            }
            agg.last_attempt_at = agg.last_attempt_at.max(Some(a.timestamp));
        }
        Ok(agg)
    }

    pub(super) async fn class_counts(&self) -> StoreResult<BTreeMap<String, ClassTally>> {
        let what = "read error class counts";
        let attempts: BTreeMap<String, u64> = self
            .conn()
            .hgetall(self.keys.class_attempts())
            .await
            .map_err(err(what))?;
        let successes: BTreeMap<String, u64> = self
            .conn()
            .hgetall(self.keys.class_successes())
            .await
            .map_err(err(what))?;
        Ok(attempts
            .into_iter()
            .map(|(class, attempts)| {
                let successes = successes.get(&class).copied().unwrap_or(0);
                (
                    class,
                    ClassTally {
                        attempts,
                        successes,
                    },
                )
            })
            .collect())
    }

    /// Drops attempts older than `before`, walking each aggregate set (together they index
    /// every attempt by time); a set left empty is forgotten.
    pub(super) async fn prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let what = "list the aggregate sets";
        let sets: Vec<String> = self
            .timed(what, async {
                self.conn()
                    .smembers(self.keys.aggregates())
                    .await
                    .map_err(err(what))
            })
            .await?;
        let mut pruned = 0;
        for set in &sets {
            pruned += self.prune_set(set, before).await?;
            self.forget_if_empty(set).await?;
        }
        Ok(pruned)
    }

    /// Drops the attempts of one aggregate set older than `before`: first every attempt in a
    /// whole microsecond before it, chunk by chunk, then the ones in its own microsecond that
    /// are older.
    async fn prune_set(&self, set: &str, before: DateTime<Utc>) -> StoreResult<u64> {
        let limit = micros(before);
        let mut pruned = 0;
        loop {
            let seqs: Vec<u64> = self
                .timed("find old attempts", async {
                    self.conn()
                        .zrangebyscore_limit(set, "-inf", format!("({limit}"), 0, PRUNE_CHUNK)
                        .await
                        .map_err(err("find old attempts"))
                })
                .await?;
            if seqs.is_empty() {
                break;
            }
            pruned += self
                .timed("prune attempts", self.prune_seqs(set, &seqs, before))
                .await?;
        }
        let boundary: Vec<u64> = self
            .timed("find old attempts", async {
                self.conn()
                    .zrangebyscore(set, limit, limit)
                    .await
                    .map_err(err("find old attempts"))
            })
            .await?;
        pruned += self
            .timed("prune attempts", self.prune_seqs(set, &boundary, before))
            .await?;
        Ok(pruned)
    }

    async fn prune_seqs(&self, set: &str, seqs: &[u64], before: DateTime<Utc>) -> StoreResult<u64> {
        let found = self.by_seqs(seqs).await?;
        // Index entries whose log entry is gone already (a prune cut short): drop them.
        let orphans: Vec<u64> = seqs
            .iter()
            .copied()
            .filter(|s| !found.iter().any(|l| l.seq == *s))
            .collect();
        if !orphans.is_empty() {
            let () = self
                .conn()
                .zrem(set, orphans)
                .await
                .map_err(err("prune attempts"))?;
        }
        let old: Vec<Logged> = found
            .into_iter()
            .filter(|l| l.attempt.timestamp < before)
            .collect();
        if old.is_empty() {
            return Ok(0);
        }
        let mut call = scripts::PRUNE.prepare_invoke();
        call.key(self.keys.log()).key(self.keys.idempotency());
        for l in &old {
            call.key(&self.attempt_keys(&l.attempt)[..]);
            call.arg(l.seq).arg(&l.idempotency);
        }
        call.invoke_async(&mut self.conn())
            .await
            .map_err(err("prune attempts"))
    }

    /// Drops `set` from the aggregate sets' names if pruning emptied it (see
    /// `scripts::FORGET_EMPTY`).
    async fn forget_if_empty(&self, set: &str) -> StoreResult<()> {
        let what = "forget an emptied aggregate set";
        self.timed(what, async {
            let _: u8 = scripts::FORGET_EMPTY
                .key(self.keys.aggregates())
                .key(set)
                .invoke_async(&mut self.conn())
                .await
                .map_err(err(what))?;
            Ok(())
        })
        .await
    }

    pub(super) async fn audit_after(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let entries: Vec<Entry> = redis::cmd("XRANGE")
            .arg(self.keys.audit())
            .arg(format!("({after}-0"))
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.conn())
            .await
            .map_err(err("read the audit log"))?;
        entries
            .iter()
            .map(|(id, fields)| {
                let bad = || StoreError::Corrupt(format!("audit entry {id} is malformed"));
                let body = fields.get(1).ok_or_else(bad)?;
                let mut entry: AuditEntry = from_json("an audit entry", body)?;
                entry.id = id
                    .strip_suffix("-0")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(bad)?;
                Ok(entry)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value::{Array, BulkString};

    fn attempt(job: &str) -> AttemptRecord {
        serde_json::from_value(serde_json::json!({
            "job_id": job, "job_type": "email", "attempt_number": 1, "error_class": "timeout",
            "success": false, "timestamp": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn bulk(text: &str) -> redis::Value {
        BulkString(text.as_bytes().to_vec())
    }

    /// An entry as `XRANGE` returns it, its fields in the given order.
    fn entry(id: &str, fields: &[(&str, &str)]) -> redis::Value {
        let fields = fields
            .iter()
            .flat_map(|(name, value)| [bulk(name), bulk(value)])
            .collect();
        Array(vec![bulk(id), Array(fields)])
    }

    #[test]
    fn a_reply_is_read_in_place_whatever_the_order_of_an_entrys_fields() {
        let (a, b) = (attempt("a"), attempt("b"));
        let (ja, jb) = (
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap(),
        );
        let reply = Array(vec![
            entry("7-0", &[("a", &ja), ("i", "a:1:0")]),
            entry("12-0", &[("i", "b:1:0"), ("a", &jb)]),
        ]);
        let read = decode_range(&reply).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].0, &read[0].1.job_id), (7, &a.job_id));
        assert_eq!((read[1].0, &read[1].1.job_id), (12, &b.job_id));
        assert!(decode_range(&Array(Vec::new())).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_entry_is_refused_not_skipped() {
        let json = serde_json::to_string(&attempt("a")).unwrap();
        for damaged in [
            entry("7", &[("a", &json)]),
            entry("7-0", &[("i", "a:1:0")]),
            entry("7-0", &[("a", "{not json")]),
            Array(vec![bulk("7-0")]),
        ] {
            let reply = Array(vec![damaged.clone()]);
            let e = decode_range(&reply).map(|_| ()).unwrap_err();
            assert!(matches!(e, StoreError::Corrupt(_)), "{damaged:?}: {e}");
        }
        assert!(decode_range(&redis::Value::Nil).is_err());
    }
}
