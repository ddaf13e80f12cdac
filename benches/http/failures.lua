-- wrk script: POST /api/v1/retry/failures, every request a new failed job (attempt 1), as
-- workers report them in an incident. Job ids are `f-RUN-THREAD-N`: RUN is $RUN_ID or the
-- start time in seconds plus 48 random bits, THREAD the wrk thread (each thread's connections
-- share its counter), so no request, connection or run re-sends another's job.
-- With $PER_THREAD set, each wrk thread stops after that many responses (a fixed-size burst:
-- -t2 and PER_THREAD=25000 send 50,000 failures) and, with $DONE_DIR set, says so there.
-- Run: wrk -t2 -c16 -d30s --latency -s benches/http/failures.lua http://127.0.0.1:7878
local classes = { "timeout", "rate_limit", "service_unavailable", "connection_reset" }
local headers = { ["Content-Type"] = "application/json" }
-- A run id from the clock and /dev/urandom: LuaJIT's math.random is unseeded, so two runs
-- started in the same second would otherwise share their ids.
local function fresh_run_id()
  local f = assert(io.open("/dev/urandom", "rb"), "cannot read /dev/urandom for a run id")
  local bytes = f:read(6)
  f:close()
  local hex = bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  return string.format("%d%s", os.time(), hex)
end
local run = os.getenv("RUN_ID") or fresh_run_id()
local per_thread = tonumber(os.getenv("PER_THREAD") or "")
local made = 0

setup = function(thread)
  made = made + 1
  thread:set("thread_id", made)
  thread:set("run_id", run)
end

local prefix
local n = 0
local answered = 0

init = function(args)
  prefix = string.format("f-%s-%d-", run_id, thread_id)
end

request = function()
  n = n + 1
  local i = n
  local body = string.format(
    '{"job_id":"%s%d","job_type":"job_%d","error_class":"%s","error_code":"503",' ..
    '"error_message":"upstream unavailable","attempt_number":1,"queue":"q%d",' ..
    '"payload_size":1024,"time_of_day":12,"worker_version":"1.0"}',
    prefix, i, i % 100, classes[(i % 4) + 1], i % 8)
  return wrk.format("POST", "/api/v1/retry/failures", headers, body)
end

-- wrk's main thread sleeps for the whole -d whatever its threads do, so a thread that has
-- its share also leaves a file $DONE_DIR/THREAD; the caller (failures_burst.sh) interrupts wrk
-- (SIGINT, which ends the run and prints the summary) once every thread left its file.
local done_dir = os.getenv("DONE_DIR")
if per_thread then
  response = function(status, headers, body)
    answered = answered + 1
    if answered == per_thread then
      if done_dir then
        local f = assert(io.open(string.format("%s/%d", done_dir, thread_id), "w"))
        f:close()
      end
      wrk.thread:stop()
    end
  end
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT failures/s=%.0f requests=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.1f non_2xx=%d socket_errors=%d\n",
    summary.requests / seconds, summary.requests, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
