//! The Lua scripts: every change that touches more than one key runs as one script, so Redis
//! applies it whole or not at all and no other client sees half of it. Each receives every
//! key it touches in `KEYS` (Redis Cluster's rule; all keys share one hash tag).

use redis::Script;
use std::sync::LazyLock;

/// Publishes an engine snapshot staged piece by piece: copies the staged document into the
/// snapshot hash with its watermark and drops the staging key, so a reader sees the previous
/// snapshot or this one, whole.
///
/// KEYS: staging, snapshot. ARGV: watermark. Fails if the staging key is gone (expired).
pub static PUBLISH_SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local doc = redis.call('GET', KEYS[1])
if not doc then
  return redis.error_reply('the staged engine snapshot ' .. KEYS[1] .. ' is gone (expired?)')
end
redis.call('HSET', KEYS[2], 'doc', doc, 'watermark', ARGV[1])
redis.call('DEL', KEYS[1])
return 0
"#,
    )
});

/// Appends attempts to the log with their indexes, skipping any whose idempotency key is
/// already logged (a client resending an acknowledged or ambiguous request).
///
/// KEYS: seq, log, idempotency, aggregates (the names of the aggregate sets), class_attempts,
/// class_successes, then per attempt its job's list and its aggregate set. ARGV per attempt:
/// json, idempotency key, time (µs), error class, success (`1`/`0`). Returns each attempt's
/// sequence number (the earlier one for a duplicate).
pub static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(&APPEND_LUA));

/// `append(k, a, n)`: appends the `n` attempts whose log keys start at `KEYS[k]` (the six of
/// [`APPEND`], then two per attempt) and whose values start at `ARGV[a]` (five per attempt);
/// returns their sequence numbers. Each index gets one variadic command per key (per job list,
/// per aggregate set, per class), not one per attempt: Redis spent most of a 1,000-attempt
/// append in the calls themselves (README "Measured"). Only the log takes one `XADD` per
/// attempt, because reads by sequence number and pruning need one entry per attempt. There is
/// no index of all attempts by time: retention walks the aggregate sets, whose names are kept
/// in a set (an insert into a sorted set of every attempt was a third of an append). Lua's
/// `unpack` takes at most about 8,000 values, so arguments go in chunks of 4,000.
const APPEND_FN: &str = r#"
local CHUNK = 4000
local function chunked(cmd, key, args)
  for i = 1, #args, CHUNK do
    redis.call(cmd, key, unpack(args, i, math.min(i + CHUNK - 1, #args)))
  end
end
-- The list of values gathered for `key` in `groups`; `order` keeps the keys' first-seen order.
local function group(groups, order, key)
  local g = groups[key]
  if not g then g = {}; groups[key] = g; order[#order+1] = key end
  return g
end
local function append(k, a, n)
  local ids = {}
  for i = 1, n do ids[i] = ARGV[a + (i-1)*5 + 1] end
  local logged = {}
  for i = 1, n, CHUNK do
    local got = redis.call('HMGET', KEYS[k+2], unpack(ids, i, math.min(i + CHUNK - 1, n)))
    for j, v in ipairs(got) do logged[i + j - 1] = v end
  end
  local fresh, new = {}, 0
  for i = 1, n do
    if not logged[i] and not fresh[ids[i]] then fresh[ids[i]] = true; new = new + 1 end
  end
  local seq = 0
  if new > 0 then seq = redis.call('INCRBY', KEYS[k], new) - new end
  local out, id_seqs = {}, {}
  local lists, list_order, sets, set_order = {}, {}, {}, {}
  local tried, succeeded, classes = {}, {}, {}
  for i = 1, n do
    local at = a + (i-1)*5
    local json, id, ts, class, ok = ARGV[at], ARGV[at+1], ARGV[at+2], ARGV[at+3], ARGV[at+4]
    if logged[i] then
      out[i] = tonumber(logged[i])
    elseif fresh[id] ~= true then
      out[i] = fresh[id]
    else
      seq = seq + 1
      fresh[id] = seq
      out[i] = seq
      redis.call('XADD', KEYS[k+1], seq .. '-0', 'a', json, 'i', id)
      id_seqs[#id_seqs+1] = id; id_seqs[#id_seqs+1] = seq
      local list = group(lists, list_order, KEYS[k + 6 + (i-1)*2])
      list[#list+1] = seq
      local set = group(sets, set_order, KEYS[k + 7 + (i-1)*2])
      set[#set+1] = ts; set[#set+1] = seq
      if class ~= '' then
        if not tried[class] then tried[class] = 0; succeeded[class] = 0; classes[#classes+1] = class end
        tried[class] = tried[class] + 1
        if ok == '1' then succeeded[class] = succeeded[class] + 1 end
      end
    end
  end
  if new == 0 then return out end
  chunked('HSET', KEYS[k+2], id_seqs)
  chunked('SADD', KEYS[k+3], set_order)
  for _, key in ipairs(list_order) do chunked('RPUSH', key, lists[key]) end
  for _, key in ipairs(set_order) do chunked('ZADD', key, sets[key]) end
  for _, class in ipairs(classes) do
    redis.call('HINCRBY', KEYS[k+4], class, tried[class])
    if succeeded[class] > 0 then redis.call('HINCRBY', KEYS[k+5], class, succeeded[class]) end
  end
  return out
end
"#;

static APPEND_LUA: LazyLock<String> =
    LazyLock::new(|| format!("{APPEND_FN}return append(1, 1, #ARGV / 5)\n"));

/// Removes pruned attempts from the log and every index. KEYS: log, idempotency, then per
/// attempt its job's list and its aggregate set. ARGV per attempt: sequence number,
/// idempotency key. Returns how many were still there.
pub static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(PRUNE_LUA));

const PRUNE_LUA: &str = r#"
local removed = 0
for i = 0, #ARGV / 2 - 1 do
  local seq, id = ARGV[i*2+1], ARGV[i*2+2]
  removed = removed + redis.call('XDEL', KEYS[1], seq .. '-0')
  redis.call('HDEL', KEYS[2], id)
  redis.call('LREM', KEYS[3 + 2*i], 0, seq)
  redis.call('ZREM', KEYS[4 + 2*i], seq)
end
return removed
"#;

/// Forgets an aggregate set that retention emptied, in one step with the check, so an append
/// that refills it in between keeps it listed. KEYS: aggregates, the set. Returns 1 when
/// forgotten.
pub static FORGET_EMPTY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
return redis.call('SREM', KEYS[1], KEYS[2])
"#,
    )
});

/// Inserts or replaces jobs, moving each in every index. A job write ends any claim held by a
/// script ([`CLAIM`]). A job with an expected state is written only if its stored body and
/// claim are exactly that (compare-and-set, for reports under a lease); one expecting
/// [`UNLESS_KILLED`] only if it is not stored as killed (a first failure, written unread).
///
/// KEYS: jobs, order member, group, due member (per-job hashes), order, due, groups, claim,
/// scope, claimed group (per-job hashes). ARGV per job: id, json, order member, group, due
/// member (`''` for none), expected `body\nclaim` (`''` for unconditional, or
/// [`UNLESS_KILLED`]), scope, group when claimed. Returns 1 or 0 per job.
pub static PUT_JOBS: LazyLock<Script> = LazyLock::new(|| Script::new(&PUT_JOBS_LUA));

/// The expectation of a job write that applies unless the job is stored as killed (its
/// group, `[queue, state, error class]`, says so). No `body\nclaim` expectation equals it: a
/// stored body is a JSON object.
pub const UNLESS_KILLED: &str = "!killed";

/// The body of [`PUT_JOBS`], reused by [`APPEND_WITH_JOB`].
const PUT_JOB_FN: &str = r#"
local function put_job(k, a)
  local id, json, order, group, due, expect, scope, claimed = a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]
  if expect == UNLESS_KILLED then
    local stored = redis.call('HGET', k[3], id)
    if stored and cjson.decode(stored)[2] == 'killed' then return 0 end
  elseif expect ~= '' then
    local current = (redis.call('HGET', k[1], id) or '') .. '\n' .. (redis.call('HGET', k[8], id) or '')
    if current ~= expect then return 0 end
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
  redis.call('HDEL', k[8], id)
  redis.call('HSET', k[9], id, scope)
  redis.call('HSET', k[10], id, claimed)
  return 1
end
"#;

const PUT_JOBS_BODY: &str = r#"
local out = {}
for i = 0, #ARGV / 8 - 1 do
  out[#out+1] = put_job(KEYS, {unpack(ARGV, i * 8 + 1, i * 8 + 8)})
end
return out
"#;

static PUT_JOBS_LUA: LazyLock<String> =
    LazyLock::new(|| format!("{}{PUT_JOB_FN}{PUT_JOBS_BODY}", *PUT_JOB_PRELUDE));

/// What [`PUT_JOB_FN`] needs defined before it.
static PUT_JOB_PRELUDE: LazyLock<String> =
    LazyLock::new(|| format!("local UNLESS_KILLED = '{UNLESS_KILLED}'\n"));

/// Appends one attempt and puts the job it scheduled, in one script: both or neither. A
/// duplicate attempt (same idempotency key) writes nothing and returns the logged sequence
/// number; a job that is not as expected writes nothing and returns `-1`.
///
/// KEYS: the ten job keys of [`PUT_JOBS`], the six log keys of [`APPEND`], then the attempt's
/// job list and aggregate set. ARGV: the five attempt values of [`APPEND`], then the eight job
/// values of [`PUT_JOBS`].
pub static APPEND_WITH_JOB: LazyLock<Script> = LazyLock::new(|| Script::new(&APPEND_WITH_JOB_LUA));

const APPEND_WITH_JOB_BODY: &str = r#"
local seen = redis.call('HGET', KEYS[13], ARGV[2])
if seen then return tonumber(seen) end
if put_job(KEYS, {unpack(ARGV, 6, 13)}) == 0 then return -1 end
return append(11, 1, 1)[1]
"#;

static APPEND_WITH_JOB_LUA: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}{PUT_JOB_FN}{APPEND_FN}{APPEND_WITH_JOB_BODY}",
        *PUT_JOB_PRELUDE
    )
});

/// Claims due jobs, the longest-due first, in one script: no two claims get the same job
/// while its lease holds, whichever replica runs them. A claimed job keeps its body; its
/// claim (worker, lease, time) is stored beside it and merged on read, its due member moves to
/// the lease's end and it counts in its claimed group.
///
/// KEYS: the ten job keys of [`PUT_JOBS`]. ARGV: upper bound of due members (exclusive),
/// limit, claim JSON, sortable lease end, `1` to filter by queue, the queue, paused scopes
/// as JSON `[[queue, class or null, type or null], …]`. Returns the claimed jobs' bodies (their
/// claim is the claim JSON), so a claim is one round trip.
pub static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM_LUA));

const CLAIM_LUA: &str = r#"
local limit = tonumber(ARGV[2])
local paused = cjson.decode(ARGV[7])
local function held(scope)
  for _, p in ipairs(paused) do
    if p[1] == scope[1] and (p[2] == cjson.null or p[2] == scope[2])
       and (p[3] == cjson.null or p[3] == scope[3]) then
      return true
    end
  end
  return false
end
local filtering = ARGV[5] == '1' or #paused > 0
local out = {}
local skipped, taken = 0, 0
while taken < limit do
  local members = redis.call('ZRANGEBYLEX', KEYS[6], '-', ARGV[1], 'LIMIT', skipped, 256)
  if #members == 0 then break end
  for _, m in ipairs(members) do
    if taken >= limit then break end
    local id = string.sub(m, 22)
    local scope = filtering and cjson.decode(redis.call('HGET', KEYS[9], id) or '["","",""]')
    if filtering and ((ARGV[5] == '1' and scope[1] ~= ARGV[6]) or held(scope)) then
      skipped = skipped + 1
    else
      redis.call('ZREM', KEYS[6], m)
      local due = ARGV[4] .. ':' .. id
      redis.call('ZADD', KEYS[6], 0, due)
      redis.call('HSET', KEYS[4], id, due)
      local old = redis.call('HGET', KEYS[3], id)
      if old and redis.call('HINCRBY', KEYS[7], old, -1) <= 0 then redis.call('HDEL', KEYS[7], old) end
      local new = redis.call('HGET', KEYS[10], id)
      redis.call('HINCRBY', KEYS[7], new, 1)
      redis.call('HSET', KEYS[3], id, new)
      redis.call('HSET', KEYS[8], id, ARGV[3])
      local body = redis.call('HGET', KEYS[1], id)
      if body then out[#out+1] = body end
      taken = taken + 1
    end
  end
end
return out
"#;

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

/// Takes or renews a lease. KEYS: the lease key. ARGV: holder, time to live (ms). Returns 1
/// when the holder holds it (renewed or taken), 0 when another does.
pub static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#,
    )
});

/// Places one retry in the pacing guardrails shared by every replica and spends them, in the
/// order and with the rules of the in-process path (`engine::guardrails`): retry budget (token
/// bucket) → budget share (first sub-window where every window keeps within `allowed`) →
/// tenant quota (first minute with room) → circuit (forced open; or the probe, or after the
/// probe's verdict) → tenant quota again after a probe → max retry age. A stop spends nothing.
///
/// KEYS: budget tokens, budget updated, the queue's share counts and share slots, the
/// tenant's minutes, probes. ARGV: queue, circuit field, now (ms), delay (ms), time left
/// before the max retry age (ms), budget capacity (`''`: off), refill per second, retries
/// allowed per share window (`''`: off), share sub-window (ms), sub-windows per window, tenant
/// quota (`''`: off), circuit (`''`, `forced` or `open`), probe time (ms), open time (ms),
/// then the nanoseconds past the millisecond of now and of the probe time (a delay between two
/// times is whole milliseconds, truncated, as in the engine). Returns strings: delay, `1` when stopped, tokens left (`''`: no budget), then per step its
/// kind, the delay after it and a count.
pub static PACE: LazyLock<Script> = LazyLock::new(|| Script::new(PACE_LUA));

const PACE_LUA: &str = r#"
local function int(x) return string.format('%d', x) end
local queue, cfield = ARGV[1], ARGV[2]
local now, delay, age_left = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local slot_ms, slots = tonumber(ARGV[9]), tonumber(ARGV[10])
local now_ns, probe_ns = tonumber(ARGV[15]), tonumber(ARGV[16])
-- The delay from now until the time (t ms, t_ns past it), truncated to whole ms, at least 0.
local function until_(t, t_ns)
  local d = t - now
  if d <= 0 then return 0 end
  if t_ns < now_ns then d = d - 1 end
  return d
end
-- Whether now + delay lies before the time (t ms, t_ns past it).
local function before(t, t_ns)
  local at = now + delay
  return at < t or (at == t and now_ns < t_ns)
end
local steps = {}
local function step(kind, d, count)
  delay = d
  steps[#steps+1] = kind; steps[#steps+1] = int(d); steps[#steps+1] = int(count or 0)
end
local function finish(stopped, tokens)
  local out = {int(delay), stopped, tokens}
  for _, v in ipairs(steps) do out[#out+1] = v end
  return out
end

local tokens
if ARGV[6] ~= '' then
  local cap, refill = tonumber(ARGV[6]), tonumber(ARGV[7])
  local held = redis.call('HGET', KEYS[1], queue)
  tokens = cap
  if held then
    local updated = tonumber(redis.call('HGET', KEYS[2], queue) or now)
    tokens = math.min(cap, tonumber(held) + math.max(0, now - updated) / 1000 * refill)
  end
  if tokens < 1 then
    if refill <= 0 then step('budget_never', 0); return finish('1', '') end
    local wait = math.ceil((1 - tokens) / refill * 1000)
    if wait > delay then step('budget', wait) end
  end
end

if ARGV[8] ~= '' then
  local allowed = math.max(tonumber(ARGV[8]), 1)
  local counts, windows = {}, {}
  local function count(i)
    local c = counts[i]
    if c == nil then c = tonumber(redis.call('HGET', KEYS[3], int(i)) or 0); counts[i] = c end
    return c
  end
  local function window(w)
    local n = windows[w]
    if n == nil then
      n = 0
      for i = w - slots + 1, w do n = n + count(i) end
      windows[w] = n
    end
    return n
  end
  local function fits(s)
    for w = s, s + slots - 1 do if window(w) >= allowed then return false end end
    return true
  end
  local at = now + delay
  local first = math.floor(at / slot_ms)
  local s = first
  while not fits(s) do s = s + 1 end
  if s ~= first then step('share', until_(s * slot_ms, 0), window(first)) end
end

local minute
local function tenant()
  local quota = tonumber(ARGV[11])
  if quota == 0 then step('tenant_zero', 0); return false end
  local first = math.floor((now + delay) / 60000)
  local m = first
  while tonumber(redis.call('HGET', KEYS[5], int(m)) or 0) >= quota do m = m + 1 end
  minute = m
  if m ~= first then step('tenant', math.max(math.max(m * 60000 - now, 0), delay)) end
  return true
end
if ARGV[11] ~= '' and not tenant() then return finish('1', '') end

local probe = false
if ARGV[12] == 'forced' then
  step('circuit_forced', math.max(delay, tonumber(ARGV[14])))
elseif ARGV[12] == 'open' then
  local probe_at, open_ms = tonumber(ARGV[13]), tonumber(ARGV[14])
  local taken = ARGV[13] .. '.' .. ARGV[16]
  if redis.call('HGET', KEYS[6], cfield) ~= taken then
    probe = true
    if before(probe_at, probe_ns) then step('circuit_probe', until_(probe_at, probe_ns)) end
  elseif before(probe_at + open_ms, probe_ns) then
    step('circuit_after_probe', until_(probe_at + open_ms, probe_ns))
  end
end
if probe and ARGV[11] ~= '' and not tenant() then return finish('1', '') end

if delay > age_left then step('retry_age', delay); return finish('1', '') end

local left = ''
if tokens then
  local updated = tonumber(redis.call('HGET', KEYS[2], queue) or now)
  left = string.format('%.17g', tokens - 1)
  redis.call('HSET', KEYS[1], queue, left)
  redis.call('HSET', KEYS[2], queue, int(math.max(updated, now)))
end
if ARGV[8] ~= '' then
  local slot = int(math.floor((now + delay) / slot_ms))
  redis.call('HINCRBY', KEYS[3], slot, 1)
  redis.call('ZADD', KEYS[4], slot, slot)
  local oldest = '(' .. int(math.floor(now / slot_ms) - slots)
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', oldest)) do
    redis.call('HDEL', KEYS[3], old)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', oldest)
end
if minute then
  redis.call('HINCRBY', KEYS[5], int(minute), 1)
  local oldest = math.floor(now / 60000) - 1
  for _, m in ipairs(redis.call('HKEYS', KEYS[5])) do
    if tonumber(m) < oldest then redis.call('HDEL', KEYS[5], m) end
  end
end
if probe then redis.call('HSET', KEYS[6], cfield, ARGV[13] .. '.' .. ARGV[16]) end
return finish('0', left)
"#;

/// Adds a replica's spends to the shared pacing counters and returns them (see
/// `model::pacing::PaceSync`): per queue, the tokens its retries took (the bucket refills up to
/// the latest of them first, as in `PACE`) and the retries per share sub-window; per tenant,
/// the retries per minute. Sub-windows and minutes older than their window are dropped, as in
/// `PACE`.
///
/// KEYS: budget tokens, budget updated, then per queue its share counts and share slots, then
/// per tenant its minutes. ARGV: budget capacity (`''`: off), refill per second, now (ms),
/// share sub-window (ms), sub-windows per window, number of queues, number of tenants; then per
/// queue: name, tokens taken, time of the latest (ms), number of sub-windows, that many
/// (index, retries) pairs; then per tenant: number of minutes, that many (index, retries)
/// pairs. Returns per queue `[tokens or '', updated or '', index, retries, …]`, then per tenant
/// `[index, retries, …]`.
pub static SYNC_PACE: LazyLock<Script> = LazyLock::new(|| Script::new(SYNC_PACE_LUA));

const SYNC_PACE_LUA: &str = r#"
local function int(x) return string.format('%d', x) end
local cap, refill, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local slot_ms, slots = tonumber(ARGV[4]), tonumber(ARGV[5])
local nq, nt = tonumber(ARGV[6]), tonumber(ARGV[7])
local function append(row, list)
  for _, v in ipairs(list) do row[#row+1] = v end
  return row
end
local out, a = {}, 8
for q = 1, nq do
  local queue, spent, at, n = ARGV[a], tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
  local counts, index = KEYS[1 + 2*q], KEYS[2 + 2*q]
  a = a + 4
  if spent > 0 and cap ~= '' then
    local c = tonumber(cap)
    local held = redis.call('HGET', KEYS[1], queue)
    local updated = tonumber(redis.call('HGET', KEYS[2], queue) or at)
    local tokens = c
    if held then tokens = math.min(c, tonumber(held) + math.max(0, at - updated) / 1000 * refill) end
    redis.call('HSET', KEYS[1], queue, string.format('%.17g', tokens - spent))
    redis.call('HSET', KEYS[2], queue, int(math.max(updated, at)))
  end
  for _ = 1, n do
    redis.call('HINCRBY', counts, ARGV[a], ARGV[a+1])
    redis.call('ZADD', index, ARGV[a], ARGV[a])
    a = a + 2
  end
  if n > 0 then
    local oldest = '(' .. int(math.floor(now / slot_ms) - slots)
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', oldest)) do
      redis.call('HDEL', counts, old)
    end
    redis.call('ZREMRANGEBYSCORE', index, '-inf', oldest)
  end
  local row = {redis.call('HGET', KEYS[1], queue) or '', redis.call('HGET', KEYS[2], queue) or ''}
  out[#out+1] = append(row, redis.call('HGETALL', counts))
end
for t = 1, nt do
  local key = KEYS[2 + 2*nq + t]
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    redis.call('HINCRBY', key, ARGV[a], ARGV[a+1])
    a = a + 2
  end
  if n > 0 then
    local oldest = math.floor(now / 60000) - 1
    for _, m in ipairs(redis.call('HKEYS', key)) do
      if tonumber(m) < oldest then redis.call('HDEL', key, m) end
    end
  end
  out[#out+1] = append({}, redis.call('HGETALL', key))
end
return out
"#;
