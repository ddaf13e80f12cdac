-- wrk script: POST /api/v1/retry/recommendation with 400 distinct failed attempts
-- (100 job types x 4 error classes, attempts 1-5, 8 queues).
-- Run: wrk -t2 -c64 -d30s --latency -s benches/http/recommendation.lua http://127.0.0.1:7878
local classes = { "timeout", "rate_limit", "service_unavailable", "connection_reset" }
local bodies = {}
for i = 1, 400 do
  bodies[i] = string.format(
    '{"job_id":"bench-%d","job_type":"job_%d","error_class":"%s","error_code":"503",' ..
    '"attempt_number":%d,"queue":"q%d","payload_size":1024,"time_of_day":12,"worker_version":"1.0"}',
    i, i % 100, classes[(i % 4) + 1], (i % 5) + 1, i % 8)
end
local headers = { ["Content-Type"] = "application/json" }
local n = 0

request = function()
  n = n + 1
  return wrk.format("POST", "/api/v1/retry/recommendation", headers, bodies[(n % #bodies) + 1])
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT recommendations/s=%.0f p50_ms=%.3f p99_ms=%.3f non_2xx=%d socket_errors=%d\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
