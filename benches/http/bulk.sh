#!/usr/bin/env bash
# A bulk action over a big schedule: JOBS pending jobs put on the schedule through
# POST /failures (SQLite store), then POST /jobs/bulk retry_now over all of them while four
# connections ask POST /recommendation back to back. Prints the bulk's wall time, the
# service's CPU time over it (its threads, the concurrent recommendations included), the load
# average when it ran (the machine is shared), and the p50/p99/max of the recommendations
# answered while it ran.
#
# Usage: benches/http/bulk.sh [JOBS=10000]
# Uses RETRYCTL_BIN, else target/release/retryctl, else target/debug/retryctl (say which).
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${1:-10000}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || BIN=target/debug/retryctl
[ -x "$BIN" ] || { echo "build first: cargo build" >&2; exit 1; }
echo "binary: $BIN"
DATA=$(mktemp -d)
# Budgets off so every first failure stays pending.
cat > "$DATA/retryctl.toml" <<'TOML'
snapshot_interval = "1h"
[strategy.guardrails]
max_budget_percent = 100.0
[strategy.guardrails.retry_budget]
enabled = false
TOML
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RETRYCTL_LOG=warn "$BIN" serve --store sqlite --data "$DATA" --config "$DATA/retryctl.toml" \
  --listen "127.0.0.1:$PORT" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/api/v1/retry/health" >/dev/null && break
  sleep 0.1
done
python3 - "$PORT" "$JOBS" "$PID" <<'PY'
import http.client, json, os, sys, threading, time
port, jobs, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def cpu_secs():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
H = {"content-type": "application/json"}
def post(conn, path, body):
    conn.request("POST", "/api/v1/retry" + path, json.dumps(body), H)
    resp = conn.getresponse(); data = resp.read()
    if resp.status >= 300:
        sys.exit(f"POST {path} answered {resp.status}: {data[:300]}")
    return json.loads(data)
def feed(worker, workers):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(worker, jobs, workers):
        post(conn, "/failures", {"job_id": f"bulk-{i:06d}", "job_type": "webhook",
             "error_class": "connection_refused", "error_code": "ECONNREFUSED",
             "queue": "webhooks", "error_message": "connection refused",
             "retry_after_ms": 600000})
t = time.time()
threads = [threading.Thread(target=feed, args=(w, 16)) for w in range(16)]
for th in threads: th.start()
for th in threads: th.join()
print(f"fed {jobs} failures in {time.time() - t:.1f} s")

running = threading.Event(); running.set()
latencies, lock = [], threading.Lock()
def recommend(worker):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    n = 0
    while running.is_set():
        n += 1
        t0 = time.perf_counter()
        post(conn, "/recommendation", {"job_id": f"rec-{worker}-{n}", "job_type": "email",
             "attempt_number": 1 + n % 4, "error_class": "timeout", "queue": "mail"})
        with lock: latencies.append(((t0, time.perf_counter())))
recs = [threading.Thread(target=recommend, args=(w,)) for w in range(4)]
for th in recs: th.start()
time.sleep(1.0)
conn = http.client.HTTPConnection("127.0.0.1", port)
cpu_before, start = cpu_secs(), time.perf_counter()
answer = post(conn, "/jobs/bulk", {"filter": {"queue": "webhooks"}, "action": "retry_now",
              "reason": "benchmark", "confirm": jobs})
end, cpu_after = time.perf_counter(), cpu_secs()
time.sleep(0.5)
running.clear()
for th in recs: th.join()
during = sorted(b - a for a, b in latencies if b >= start and a <= end)
ms = lambda q: during[min(len(during) - 1, int(q * len(during)))] * 1000
print(f"bulk retry_now: matched={answer['matched']} changed={answer['changed']} in {(end - start) * 1000:.0f} ms")
print(f"service CPU over the bulk: {cpu_after - cpu_before:.2f} s; load average {os.getloadavg()[0]:.1f}")
print(f"recommendations during the bulk: n={len(during)} p50={ms(0.5):.1f} ms p99={ms(0.99):.1f} ms max={during[-1] * 1000:.1f} ms")
PY
