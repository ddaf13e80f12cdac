//! The Lua scripts: every change that touches more than one key runs as one script, so Redis
//! applies it whole or not at all and no other client sees half of it. Each receives every
//! key it touches in `KEYS` (Redis Cluster's rule; all keys share one hash tag).

use redis::Script;
use std::sync::LazyLock;

/// Appends attempts to the log with their indexes, skipping any whose idempotency key is
/// already logged (a client resending an acknowledged or ambiguous request).
///
/// KEYS: seq, log, idempotency, by_time, class_attempts, class_successes, then per attempt
/// its job's list and its aggregate set. ARGV per attempt: json, idempotency key, time (µs),
/// error class, success (`1`/`0`). Returns each attempt's sequence number (the earlier one
/// for a duplicate).
pub static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND_LUA));

const APPEND_LUA: &str = r#"
local out = {}
for i = 0, #ARGV / 5 - 1 do
  local json, id, ts, class, ok = ARGV[i*5+1], ARGV[i*5+2], ARGV[i*5+3], ARGV[i*5+4], ARGV[i*5+5]
  local seen = redis.call('HGET', KEYS[3], id)
  if seen then
    out[#out+1] = tonumber(seen)
  else
    local seq = redis.call('INCR', KEYS[1])
    redis.call('XADD', KEYS[2], seq .. '-0', 'a', json, 'i', id)
    redis.call('HSET', KEYS[3], id, seq)
    redis.call('ZADD', KEYS[4], ts, seq)
    redis.call('RPUSH', KEYS[7 + 2*i], seq)
    redis.call('ZADD', KEYS[8 + 2*i], ts, seq)
    if class ~= '' then
      redis.call('HINCRBY', KEYS[5], class, 1)
      if ok == '1' then redis.call('HINCRBY', KEYS[6], class, 1) end
    end
    out[#out+1] = seq
  end
end
return out
"#;

/// Removes pruned attempts from the log and every index. KEYS: log, idempotency, by_time,
/// then per attempt its job's list and its aggregate set. ARGV per attempt: sequence number,
/// idempotency key. Returns how many were still there.
pub static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(PRUNE_LUA));

const PRUNE_LUA: &str = r#"
local removed = 0
for i = 0, #ARGV / 2 - 1 do
  local seq, id = ARGV[i*2+1], ARGV[i*2+2]
  removed = removed + redis.call('XDEL', KEYS[1], seq .. '-0')
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], seq)
  redis.call('LREM', KEYS[4 + 2*i], 0, seq)
  redis.call('ZREM', KEYS[5 + 2*i], seq)
end
return removed
"#;

/// Inserts or replaces jobs, moving each in every index. A job with an expected body is
/// written only if its stored body is exactly that (compare-and-set, for claims and lease
/// checks).
///
/// KEYS: jobs, order member, group, due member (the per-job hashes), order, due, groups.
/// ARGV per job: id, json, order member, group, due member (`''` for none), expected json
/// (`''` for unconditional, `'-'` for "must not exist"). Returns 1 or 0 per job.
pub static PUT_JOBS: LazyLock<Script> = LazyLock::new(|| Script::new(&PUT_JOBS_LUA));

/// The body of [`PUT_JOBS`], reused by [`APPEND_WITH_JOB`].
const PUT_JOB_FN: &str = r#"
local function put_job(k, id, json, order, group, due, expect)
  local current = redis.call('HGET', k[1], id)
  if expect == '-' then
    if current then return 0 end
  elseif expect ~= '' and current ~= expect then
    return 0
  end
  local old_order = redis.call('HGET', k[2], id)
  if old_order then redis.call('ZREM', k[5], old_order) end
  local old_group = redis.call('HGET', k[3], id)
  if old_group and redis.call('HINCRBY', k[7], old_group, -1) <= 0 then
    redis.call('HDEL', k[7], old_group)
  end
  local old_due = redis.call('HGET', k[4], id)
  if old_due then redis.call('ZREM', k[6], old_due) end
  redis.call('HSET', k[1], id, json)
  redis.call('HSET', k[2], id, order)
  redis.call('ZADD', k[5], 0, order)
  redis.call('HSET', k[3], id, group)
  redis.call('HINCRBY', k[7], group, 1)
  if due ~= '' then
    redis.call('HSET', k[4], id, due)
    redis.call('ZADD', k[6], 0, due)
  else
    redis.call('HDEL', k[4], id)
  end
  return 1
end
"#;

const PUT_JOBS_BODY: &str = r#"
local out = {}
for i = 0, #ARGV / 6 - 1 do
  local a = i * 6
  out[#out+1] = put_job(KEYS, ARGV[a+1], ARGV[a+2], ARGV[a+3], ARGV[a+4], ARGV[a+5], ARGV[a+6])
end
return out
"#;

static PUT_JOBS_LUA: LazyLock<String> = LazyLock::new(|| format!("{PUT_JOB_FN}{PUT_JOBS_BODY}"));

/// Appends one attempt and puts the job it scheduled, in one script: both or neither. A
/// duplicate attempt (same idempotency key) writes nothing and returns the logged sequence
/// number; so does a job whose stored body is not the expected one, returning `-1`.
///
/// KEYS: the seven job keys of [`PUT_JOBS`], then the six log keys of [`APPEND`], then the
/// attempt's job list and aggregate set. ARGV: the five attempt values of [`APPEND`], then the
/// six job values of [`PUT_JOBS`].
pub static APPEND_WITH_JOB: LazyLock<Script> = LazyLock::new(|| Script::new(&APPEND_WITH_JOB_LUA));

const APPEND_WITH_JOB_BODY: &str = r#"
local seen = redis.call('HGET', KEYS[10], ARGV[2])
if seen then return tonumber(seen) end
if put_job(KEYS, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]) == 0 then
  return -1
end
local seq = redis.call('INCR', KEYS[8])
redis.call('XADD', KEYS[9], seq .. '-0', 'a', ARGV[1], 'i', ARGV[2])
redis.call('HSET', KEYS[10], ARGV[2], seq)
redis.call('ZADD', KEYS[11], ARGV[3], seq)
redis.call('RPUSH', KEYS[14], seq)
redis.call('ZADD', KEYS[15], ARGV[3], seq)
if ARGV[4] ~= '' then
  redis.call('HINCRBY', KEYS[12], ARGV[4], 1)
  if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[13], ARGV[4], 1) end
end
return seq
"#;

static APPEND_WITH_JOB_LUA: LazyLock<String> =
    LazyLock::new(|| format!("{PUT_JOB_FN}{APPEND_WITH_JOB_BODY}"));

/// Appends an audit entry with the next id. KEYS: audit_seq, audit. ARGV: json. Returns the id.
pub static AUDIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local id = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], id .. '-0', 'e', ARGV[1])
return id
"#,
    )
});
