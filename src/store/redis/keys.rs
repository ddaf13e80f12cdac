//! Key names and the sortable encodings the Redis indexes use.
//!
//! Every key is `{PREFIX}:…`: the braces make `PREFIX` the hash tag, so Redis Cluster puts the
//! whole state in one slot and a script may touch any of it. Scripts still receive every key
//! they touch in `KEYS` (the Cluster rule), built here.
//!
//! Lexicographic members (`order`, `due`) start with a time as 20 decimal digits of
//! `nanoseconds + 2^63`, so byte order is time order for any time chrono holds, negative too.

use crate::model::{JobState, ScheduledJob};
use crate::store::{Claim, JobSortKey, nanos};
use chrono::{DateTime, Utc};

/// The names of every key, under one hash-tagged prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    /// `{prefix}`, the hash tag every key starts with.
    tag: String,
}

impl Keys {
    /// Keys under `{prefix}`; `prefix` must be non-empty and hold no brace (checked by the
    /// config).
    pub fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{{{prefix}}}"),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.tag)
    }

    /// ML version → its description as JSON.
    pub fn ml_versions(&self) -> String {
        self.key("ml_versions")
    }
    /// ML version → its fitted parameters (the model document).
    pub fn ml_models(&self) -> String {
        self.key("ml_models")
    }

    /// Counter of attempt sequence numbers.
    pub fn seq(&self) -> String {
        self.key("attempt_seq")
    }
    /// The attempt log: a stream whose entry ids are `SEQ-0`.
    pub fn log(&self) -> String {
        self.key("attempts")
    }
    /// Idempotency keys of logged attempts → their sequence number.
    pub fn idempotency(&self) -> String {
        self.key("attempt_ids")
    }
    /// The names of the [`Self::aggregate`] sets that hold attempts: retention walks them
    /// (together they index every attempt by time, so no index of all attempts is kept).
    pub fn aggregates(&self) -> String {
        self.key("aggregates")
    }
    /// Sequence numbers of one job's attempts, in arrival order.
    pub fn job_attempts(&self, job_id: &str) -> String {
        self.key(&format!("job_attempts:{job_id}"))
    }
    /// Sequence numbers of one (job type, error class), scored by time in microseconds.
    pub fn aggregate(&self, job_type: &str, error_class: &str) -> String {
        self.key(&format!(
            "{AGGREGATE}{}:{job_type}:{error_class}",
            job_type.len()
        ))
    }
    /// A `SCAN … MATCH` pattern for every [`Self::aggregate`] set under this prefix.
    pub fn aggregate_pattern(&self) -> String {
        format!("{}*", glob_escape(&self.key(AGGREGATE)))
    }
    /// Builds before 81662f3 kept every attempt here too, scored by time (retention walked
    /// it); this build neither writes nor prunes it, so the layout upgrade removes it.
    pub fn legacy_attempts_by_time(&self) -> String {
        self.key("attempts_by_time")
    }
    /// Attempts per error class, and successes per error class (never lowered by pruning).
    pub fn class_attempts(&self) -> String {
        self.key("class_attempts")
    }
    pub fn class_successes(&self) -> String {
        self.key("class_successes")
    }

    /// Job id → the job as JSON.
    pub fn jobs(&self) -> String {
        self.key("jobs")
    }
    /// Job id → its member in `order`, its group, its member in `due`.
    pub fn job_order_member(&self) -> String {
        self.key("job_order_member")
    }
    pub fn job_group(&self) -> String {
        self.key("job_group")
    }
    pub fn job_due_member(&self) -> String {
        self.key("job_due_member")
    }
    /// Job id → the claim a claim script stored (worker, lease, time as JSON), merged on read.
    pub fn job_claim(&self) -> String {
        self.key("job_claim")
    }
    /// Job id → `[queue, error class, job type]` as JSON (what claim filters look at).
    pub fn job_scope(&self) -> String {
        self.key("job_scope")
    }
    /// Job id → the group the job counts in once claimed.
    pub fn job_claimed_group(&self) -> String {
        self.key("job_claimed_group")
    }
    /// Every job in list order (a lexicographic sorted set).
    pub fn order(&self) -> String {
        self.key("job_order")
    }
    /// Jobs a claim may take, by the time since when they are due (lexicographic).
    pub fn due(&self) -> String {
        self.key("job_due")
    }
    /// Group (queue, state, error class as JSON) → how many jobs are in it.
    pub fn groups(&self) -> String {
        self.key("job_groups")
    }

    pub fn strategy(&self) -> String {
        self.key("strategy")
    }
    /// Hash with `doc` (the snapshot JSON) and `watermark`.
    pub fn snapshot(&self) -> String {
        self.key("snapshot")
    }
    /// A snapshot's document while it is written, piece by piece, before it is published
    /// into [`Self::snapshot`]; `token` keeps two writers apart.
    pub fn snapshot_staging(&self, token: &str) -> String {
        self.key(&format!("snapshot_staging:{token}"))
    }
    pub fn audit_seq(&self) -> String {
        self.key("audit_seq")
    }
    /// The audit log: a stream whose entry ids are `ID-0`.
    pub fn audit(&self) -> String {
        self.key("audit")
    }
    pub fn alerts(&self) -> String {
        self.key("alerts")
    }
    pub fn pauses(&self) -> String {
        self.key("pauses")
    }
    /// `len(queue):queue:error class` → the forced circuit as JSON.
    pub fn forced_circuits(&self) -> String {
        self.key("forced_circuits")
    }
    /// A lease among replicas (e.g. `chores`).
    pub fn lease(&self, name: &str) -> String {
        self.key(&format!("lease:{name}"))
    }
    /// Replica → its counts for the leader's alert evaluation (JSON).
    pub fn replica_counts(&self) -> String {
        self.key("replica_counts")
    }
    pub fn probe(&self) -> String {
        self.key("probe")
    }
    /// Queue → tokens left in its retry budget (shared pacing, see `pacing`).
    pub fn budget_tokens(&self) -> String {
        self.key("guard:budget_tokens")
    }
    /// Queue → when its bucket was last spent (ms on the decision clock).
    pub fn budget_updated(&self) -> String {
        self.key("guard:budget_updated")
    }
    /// Share sub-window index → retries of `queue` scheduled to run in it.
    pub fn share_counts(&self, queue: &str) -> String {
        self.key(&format!("guard:share:{}:{queue}", queue.len()))
    }
    /// The sub-window indexes in [`Self::share_counts`], scored by index (for pruning).
    pub fn share_slots(&self, queue: &str) -> String {
        self.key(&format!("guard:share_slots:{}:{queue}", queue.len()))
    }
    /// Minute index → retries of `tenant` scheduled in it.
    pub fn tenant_minutes(&self, tenant: &str) -> String {
        self.key(&format!("guard:tenant:{}:{tenant}", tenant.len()))
    }
    /// Circuit field ([`circuit_field`]) → the probe time (ms) whose probe is taken.
    pub fn probes(&self) -> String {
        self.key("guard:probes")
    }
}

/// What every (job type, error class) set's name starts with after the prefix.
const AGGREGATE: &str = "agg:";

/// `text` with the characters Redis's glob patterns give a meaning escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A time as 20 digits that sort as the time does.
pub fn sortable_time(at: DateTime<Utc>) -> String {
    let shifted = (i128::from(nanos(at)) + (1_i128 << 63)) as u64;
    format!("{shifted:020}")
}

/// A time in whole microseconds, rounded down (the score of the time indexes; exact in a
/// double for any date within ±285 years of 1970).
pub fn micros(at: DateTime<Utc>) -> i64 {
    nanos(at).div_euclid(1_000)
}

/// The member of `order` for a sort key: `FINISHED:TIME:JOB_ID`.
pub fn order_member(key: &JobSortKey) -> String {
    let shifted = (i128::from(key.at_ns) + (1_i128 << 63)) as u64;
    format!("{}:{shifted:020}:{}", u8::from(key.finished), key.job_id)
}

/// The job id at the end of an `order` member.
pub fn job_of_order_member(member: &str) -> Option<&str> {
    member.get(23..)
}

/// The member of `due` for a job a claim may take: `TIME:JOB_ID`.
pub fn due_member(job: &ScheduledJob) -> Option<String> {
    Claim::due_since(job).map(|at| format!("{}:{}", sortable_time(at), job.job_id))
}

/// The job id at the end of a `due` member.
pub fn job_of_due_member(member: &str) -> Option<&str> {
    member.get(21..)
}

/// The exclusive upper bound of `due` members due at or before `now`.
pub fn due_until(now: DateTime<Utc>) -> String {
    format!("({};", sortable_time(now))
}

/// The group a job counts in: `[queue, state, error class]` as JSON.
pub fn group(job: &ScheduledJob) -> String {
    serde_json::json!([job.queue, job.state, job.error_class]).to_string()
}

/// Reads a group back; `None` for a field that is not one.
pub fn parse_group(text: &str) -> Option<(String, JobState, String)> {
    serde_json::from_str(text).ok()
}

/// The field of a forced circuit in its hash.
pub fn circuit_field(queue: &str, error_class: &str) -> String {
    format!("{}:{queue}:{error_class}", queue.len())
}

/// The idempotency key of an attempt: job id, attempt number and timestamp (ns).
pub fn idempotency_key(job_id: &str, attempt_number: u32, at: DateTime<Utc>) -> String {
    format!("{}:{job_id}:{attempt_number}:{}", job_id.len(), nanos(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sortable_times_sort_as_times_across_the_epoch() {
        let times = [
            Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap(),
        ];
        let encoded: Vec<String> = times.iter().map(|t| sortable_time(*t)).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]), "{encoded:?}");
        assert!(encoded.iter().all(|e| e.len() == 20));
    }

    #[test]
    fn members_give_back_their_job_id() {
        let key = JobSortKey {
            finished: true,
            at_ns: -5,
            job_id: "a:b:c".into(),
        };
        assert_eq!(job_of_order_member(&order_member(&key)), Some("a:b:c"));
        let member = format!("{}:{}", sortable_time(Utc::now()), "x:y");
        assert_eq!(job_of_due_member(&member), Some("x:y"));
        assert!(member.as_str() < &due_until(Utc::now() + chrono::Duration::seconds(1))[1..]);
    }

    #[test]
    fn the_aggregate_pattern_matches_only_literal_prefixes() {
        let keys = Keys::new("a*b[1]?");
        assert_eq!(keys.aggregate_pattern(), r"{a\*b\[1\]\?}:agg:*");
        assert!(keys.aggregate("t", "c").starts_with(&keys.key(AGGREGATE)));
    }

    #[test]
    fn groups_round_trip() {
        let text = serde_json::json!(["q\"1", "claimed", "timeout"]).to_string();
        assert_eq!(
            parse_group(&text),
            Some(("q\"1".into(), JobState::Claimed, "timeout".into()))
        );
        assert_eq!(parse_group("nonsense"), None);
    }
}
