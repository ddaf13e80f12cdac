#!/usr/bin/env bash
# GET /patterns over HTTP after 10^6 recorded attempts: the p50/p99/max latency of the pattern
# analysis (the console's Selected pane asks it for the selected job's kind).
#
# 10^6 attempts go in through POST /attempts (NDJSON batches of 10,000): 500,000 jobs, each a
# failure (attempt 1) then a success (attempt 2), over 1000 (job type, error class) pairs and 5
# tenants. Then REQUESTS queries over those pairs (window 24h, with and without a tenant) from
# 4 client threads on keep-alive connections, each timed end to end on the client.
#
# The service files each attempt in the 10-minute step in which it ARRIVED, so a run of a few
# minutes fills one or two steps per key; the cost of a query over a full day of steps (144 per
# tenant) is measured in process by `patterns_query_cost` (src/server/core/patterns/tests.rs).
#
# Usage: benches/http/patterns.sh [REQUESTS=4000] [STORE=sqlite|memory]
# Needs a release build (cargo build --release, or RETRYCTL_BIN=path), curl and python3.
# Everything runs on 127.0.0.1 with a temporary data directory and stops itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
REQUESTS=${1:-4000}
STORE=${2:-sqlite}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT/api/v1/retry"
RETRYCTL_LOG=warn "$BIN" serve --store "$STORE" --data "$DATA" --listen "127.0.0.1:$PORT" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -fs "$URL/health" >/dev/null && break
  sleep 0.1
done

python3 - "$PORT" "$REQUESTS" <<'PY'
import http.client, json, sys, threading, time
port, requests = int(sys.argv[1]), int(sys.argv[2])
JOBS, BATCH = 500_000, 10_000
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

def kind(i):
    return f"type{i % 200}", f"e{i % 5}", f"t{(i // 200) % 5}"

def batch(start):
    lines = []
    for i in range(start, start + BATCH // 2):
        job_type, error_class, tenant = kind(i)
        base = {"job_id": f"p-{i:07d}", "job_type": job_type, "tenant": tenant,
                "queue": "q", "timestamp": now}
        lines.append(json.dumps({**base, "attempt_number": 1, "success": False,
                                 "error_class": error_class}))
        lines.append(json.dumps({**base, "attempt_number": 2, "success": True,
                                 "delay_ms": 1000}))
    return "\n".join(lines)

started = time.time()
conn = http.client.HTTPConnection("127.0.0.1", port)
for start in range(0, JOBS, BATCH // 2):
    conn.request("POST", "/api/v1/retry/attempts", batch(start),
                 {"content-type": "application/x-ndjson"})
    resp = conn.getresponse(); body = resp.read()
    if resp.status >= 300:
        sys.exit(f"POST /attempts answered {resp.status}: {body[:200]}")
print(f"recorded {2 * JOBS} attempts in {time.time() - started:.1f} s")

took, lock = [], threading.Lock()
def query(worker, workers):
    c = http.client.HTTPConnection("127.0.0.1", port)
    mine = []
    for n in range(worker, requests, workers):
        job_type, error_class, tenant = kind(n * 7)
        path = f"/api/v1/retry/patterns?job_type={job_type}&error_class={error_class}&window=24h"
        if n % 2:
            path += f"&tenant={tenant}"
        t = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse(); body = r.read()
        mine.append(time.perf_counter() - t)
        if r.status != 200 or json.loads(body)["failures"] == 0:
            sys.exit(f"GET {path} answered {r.status}: {body[:200]}")
    with lock:
        took.extend(mine)
threads = [threading.Thread(target=query, args=(w, 4)) for w in range(4)]
for t in threads: t.start()
for t in threads: t.join()
took.sort()
ms = lambda q: took[min(len(took) - 1, int(q * len(took)))] * 1000
print(f"GET /patterns x{len(took)} (4 threads): p50 {ms(0.5):.2f} ms, "
      f"p99 {ms(0.99):.2f} ms, max {took[-1] * 1000:.2f} ms")
PY
echo "service RSS: $(ps -o rss= -p "$PID") KiB"
