#!/usr/bin/env bash
# The incident burst on the worker path: 50,000 new failed jobs through POST /failures as
# fast as 16 connections send them, then the next 50,000 while the schedule already holds the
# first 50,000. Prints one RESULT line per half and the jobs on the schedule after each; the
# second half's rate should stay within 10 % of the first's.
#
# Usage: benches/http/failures_burst.sh [STORE=sqlite|memory] [JOBS_PER_HALF=50000]
# Needs wrk, curl, python3 and a release build (cargo build --release, or RETRYCTL_BIN=path).
# Runs on 127.0.0.1 with a temporary data directory and stops itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
STORE=${1:-sqlite}
HALF=${2:-50000}
THREADS=2
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
DATA=$(mktemp -d)
# The retry budgets would rightly stop most retries of 100,000 first failures; they are off so
# that every job stays on the schedule (pending) and the schedule really grows.
cat > "$DATA/retryctl.toml" <<'TOML'
[strategy.guardrails]
max_budget_percent = 100.0
[strategy.guardrails.retry_budget]
enabled = false
TOML
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
RETRYCTL_LOG=warn "$BIN" serve --store "$STORE" --data "$DATA" --config "$DATA/retryctl.toml" \
  --listen "127.0.0.1:$PORT" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -fs "$URL/api/v1/retry/health" >/dev/null && break
  sleep 0.1
done

pending() {
  curl -s "$URL/api/v1/retry/summary" |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["jobs_by_state"]; print(s.get("scheduled",0))'
}
# burst NAME: HALF failures with 16 connections; wrk is interrupted (it then prints its summary)
# as soon as both of its threads had their share answered.
burst() {
  local done_dir out wrk_pid
  done_dir=$(mktemp -d -p "$DATA")
  out="$DATA/wrk-$1.txt"
  RUN_ID="$RUN-$1" PER_THREAD=$((HALF / THREADS)) DONE_DIR="$done_dir" \
    wrk -t"$THREADS" -c16 -d600s --latency -s benches/http/failures.lua "$URL" >"$out" &
  wrk_pid=$!
  while [ "$(ls "$done_dir" | wc -l)" -lt "$THREADS" ] && kill -0 "$wrk_pid" 2>/dev/null; do
    sleep 0.02
  done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" || true
  grep RESULT "$out" || { echo "wrk printed no RESULT:" >&2; cat "$out" >&2; exit 1; }
}
RUN=$(date +%s%N)
for half in first second; do
  echo "== $half $HALF failures: $STORE store, 16 connections (scheduled before: $(pending))"
  burst "$half"
done
echo "scheduled after both halves: $(pending)"
