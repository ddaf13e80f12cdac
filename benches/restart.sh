#!/usr/bin/env bash
# Start-up after kill -9 on a data directory a run of benches/startup.sh kept
# (RETRYCTL_BENCH_DATA), timed again with one or more builds, alternating, ROUNDS times each.
# Each start is killed with SIGKILL as soon as it has answered a recommendation, before its
# first snapshot is due, so every start finds the same snapshot and the same attempts after it
# (replayed again each time). Prints /health and first-recommendation times, resident memory
# and VmHWM (the start's peak), and the service's log of the restore.
#
# Usage: benches/restart.sh DATA_DIR ROUNDS BINARY...
set -euo pipefail
DATA=$1
ROUNDS=$2
shift 2
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT/api/v1/retry"
PID=""
trap '[ -z "$PID" ] || kill -9 "$PID" 2>/dev/null || true' EXIT
wait_for() {
  for _ in $(seq 3000); do
    curl -fs -o /dev/null "$@" 2>/dev/null && return 0
    sleep 0.01
  done
  echo "the service did not answer within 30 s" >&2
  exit 1
}
since() { awk -v t="$EPOCHREALTIME" -v t0="$1" 'BEGIN {printf "%.2f", t - t0}'; }
for round in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    : >"$DATA/restart.log"
    began=$EPOCHREALTIME
    RETRYCTL_LOG=info "$bin" serve --store sqlite --data "$DATA" --listen "127.0.0.1:$PORT" \
      >"$DATA/restart.log" 2>&1 &
    PID=$!
    wait_for "$URL/health"
    health=$(since "$began")
    curl -fs -o /dev/null -X POST -H 'content-type: application/json' "$URL/recommendation" \
      -d '{"job_id":"probe","job_type":"job_1","error_class":"timeout","attempt_number":1}'
    first=$(since "$began")
    memory=$(awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {printf "RSS %d MiB, VmHWM %d MiB", r / 1024, h / 1024}' "/proc/$PID/status")
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    restored=$(grep -E "engine snapshot read|engine restored" "$DATA/restart.log" | sed 's/.*INFO [^ ]* //' | tr '\n' ' ')
    echo "round $round $bin: /health ${health} s, recommendation ${first} s, $memory; $restored"
  done
done
