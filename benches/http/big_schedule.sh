#!/usr/bin/env bash
# A big retry schedule: N pending jobs put on the schedule through POST /failures, then the
# time of GET /summary and of the first page of GET /jobs (50, and the console's 500), and the
# service's resident memory.
#
# Usage: benches/http/big_schedule.sh [JOBS=100000] [STORE=sqlite|memory]
# Needs a release build (cargo build --release, or RETRYCTL_BIN=path), curl and python3.
# Everything runs on 127.0.0.1 with a temporary data directory and stops itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${1:-100000}
STORE=${2:-sqlite}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
DATA=$(mktemp -d)
# The retry budgets (token bucket and max_budget_percent) would rightly stop most retries of
# a burst of 100,000 first failures; they are off so that every job stays pending.
cat > "$DATA/retryctl.toml" <<'TOML'
snapshot_interval = "1h"
[strategy.guardrails]
max_budget_percent = 100.0
[strategy.guardrails.retry_budget]
enabled = false
TOML
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT/api/v1/retry"
RETRYCTL_LOG=warn "$BIN" serve --store "$STORE" --data "$DATA" --config "$DATA/retryctl.toml" \
  --listen "127.0.0.1:$PORT" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -fs "$URL/health" >/dev/null && break
  sleep 0.1
done

echo "feeding $JOBS failures through POST /failures (32 connections)..."
started=$(date +%s.%N)
python3 - "$PORT" "$JOBS" <<'PY'
import http.client, json, sys, threading
port, jobs = int(sys.argv[1]), int(sys.argv[2])
def feed(worker, workers):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(worker, jobs, workers):
        body = json.dumps({"job_id": f"big-{i:07d}", "job_type": "payment",
                           "error_class": "rate_limit", "error_code": "429", "queue": "payments",
                           "error_message": "429 Too Many Requests", "retry_after_ms": 600000})
        conn.request("POST", "/api/v1/retry/failures", body, {"content-type": "application/json"})
        resp = conn.getresponse(); resp.read()
        if resp.status >= 300:
            sys.exit(f"POST /failures answered {resp.status} for job {i}")
threads = [threading.Thread(target=feed, args=(w, 32)) for w in range(32)]
for t in threads: t.start()
for t in threads: t.join()
PY
echo "  fed in $(python3 -c "import time; print(round(time.time() - $started, 1))") s"

timed() { curl -s -o /dev/null -w '%{time_total}' "$1"; }
for what in summary "jobs?limit=50" "jobs?limit=500"; do
  times=$(for _ in 1 2 3 4 5; do timed "$URL/$what"; echo; done | sort -n | tr '\n' ' ')
  echo "GET /$what: time_total over 5 runs (sorted, s): $times"
done
curl -s "$URL/summary" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("jobs_by_state:", s["jobs_by_state"])'
echo "service RSS: $(ps -o rss= -p "$PID") KiB"
