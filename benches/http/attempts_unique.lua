-- wrk script: POST /api/v1/retry/attempts with NDJSON batches of BATCH attempts, every
-- attempt new (job ids carry the run, the thread and the request number). Use it against Redis, whose
-- idempotency keys (job_id, attempt_number, timestamp) would make repeated batches no-ops.
-- Thread and request numbers start again with every run of wrk; the run id keeps the ids of
-- several runs apart.
-- Run: wrk -t2 -c8 -d30s -s benches/http/attempts_unique.lua http://127.0.0.1:7878
local BATCH = 1000
-- A run id: $RUN_ID, else $WRK_RUN, else from the clock and /dev/urandom: two wrk runs, at once
-- against two replicas or one after the other, send different attempts.
local function fresh_run_id()
  local f = assert(io.open("/dev/urandom", "rb"), "cannot read /dev/urandom for a run id")
  local bytes = f:read(6)
  f:close()
  local hex = bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  return string.format("%d%s", os.time(), hex)
end
local run = os.getenv("RUN_ID") or os.getenv("WRK_RUN") or fresh_run_id()
local classes = { "timeout", "rate_limit", "service_unavailable", "connection_reset" }
local counter = 1
function setup(thread)
  thread:set("tid", tostring(counter))
  counter = counter + 1
end
local lines = {}
for i = 1, BATCH do
  local attempt = (i % 4) + 1
  local success = (i % 3 == 0) and "true" or "false"
  lines[i] = string.format(
    '{"job_id":"u@R@-%d","job_type":"job_%d","attempt_number":%d,"error_class":"%s",' ..
    '"queue":"q%d","delay_ms":%d,"success":%s,"timestamp":"2026-01-01T00:%02d:%02dZ"}',
    i, i % 100, attempt, classes[(i % 4) + 1], i % 8, (attempt - 1) * 1000, success,
    i % 60, i % 60)
end
local template = table.concat(lines, "\n")
local headers = { ["Content-Type"] = "application/x-ndjson" }
local n = 0

request = function()
  n = n + 1
  local body = string.gsub(template, "@R@", run .. "-" .. tostring(tid) .. "-" .. tostring(n))
  return wrk.format("POST", "/api/v1/retry/attempts", headers, body)
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT attempts/s=%.0f batches/s=%.1f batch_p99_ms=%.1f non_2xx=%d socket_errors=%d\n",
    summary.requests * BATCH / seconds, summary.requests / seconds,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
