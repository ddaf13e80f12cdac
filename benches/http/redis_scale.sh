#!/usr/bin/env bash
# Two replicas on one Redis (durable settings on) at the sizes of issue 12's targets, all on
# this machine (README "Redis: many replicas", "Measured"). Parts, each ending in RESULT lines:
#   1. JOBS new failed jobs through POST /failures, half into each replica (8 connections each);
#   2. eight workers claim them through both replicas with 2 s leases and never report, until
#      every job was claimed and 4 s more (leases run out, jobs come back): the rate of the
#      first claims and every grant that overlaps another grant's lease on the same job;
#   3. ATTEMPTS attempts through POST /attempts (unique 1000-attempt batches, both replicas);
#   4. start-up of a third replica joining that log: with the latest snapshot (once the leader's
#      snapshot covers the whole log, waited for at most 120 s), and relearning the whole log
#      (snapshot deleted).
# After each of the first three parts, REDIS lines say where Redis's time went (per call of
# each script and command), how large the engine snapshot is, and the load average.
# Usage: benches/http/redis_scale.sh [JOBS=100000] [ATTEMPTS=1000000]
# Needs wrk, redis-server, python3, curl. Uses $RETRYCTL_BIN or builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${1:-100000}
ATTEMPTS=${2:-1000000}
for tool in wrk redis-server redis-cli python3 curl; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install -y $tool" >&2; exit 1; }
done
if [ -z "${RETRYCTL_BIN:-}" ]; then
  cargo build --release --locked --bin retryctl
fi
BIN=${RETRYCTL_BIN:-target/release/retryctl}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DIR=$(mktemp -d)
PIDS=()
stop() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap stop EXIT
# The retry budgets would rightly stop most retries of 100,000 first failures; they are off so
# that every job stays on the schedule to be claimed. Snapshots every 5 s: the start-up "with
# the snapshot" starts from one taken after the log stopped growing.
cat > "$DIR/retryctl.toml" <<'TOML'
snapshot_interval = "5s"
[strategy.guardrails]
max_budget_percent = 100.0
[strategy.guardrails.retry_budget]
enabled = false
TOML
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly yes \
  --appendfsync always --maxmemory-policy noeviction --logfile "$DIR/redis.log" &
PIDS+=($!)
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.05; done
STORE="redis://127.0.0.1:$RPORT/0"
# replica PORT: starts one; waits until it answers.
replica() {
  RETRYCTL_LOG=warn "$BIN" serve --store "$STORE" --require-durable --listen "127.0.0.1:$1" \
    --data "$DIR" --config "$DIR/retryctl.toml" &
  PIDS+=($!)
  until curl -fs "http://127.0.0.1:$1/api/v1/retry/health" >/dev/null; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || { unset 'PIDS[-1]'; return 1; }
    sleep 0.05
  done
}
PA=$(free_port); PB=$(free_port)
replica "$PA"; replica "$PB"
A="http://127.0.0.1:$PA"; B="http://127.0.0.1:$PB"
RUN=$(date +%s%N)
source benches/http/redis_stats.sh

# burst URL NAME N: N failures into URL with 8 connections; wrk is interrupted (it then prints
# its summary) once its thread had its share answered.
burst() {
  local done_dir out wrk_pid
  done_dir=$(mktemp -d -p "$DIR")
  out="$DIR/wrk-$2.txt"
  RUN_ID="$RUN-$2" PER_THREAD=$3 DONE_DIR="$done_dir" \
    wrk -t1 -c8 -d900s --latency -s benches/http/failures.lua "$1" >"$out" &
  wrk_pid=$!
  while [ "$(ls "$done_dir" | wc -l)" -lt 1 ] && kill -0 "$wrk_pid" 2>/dev/null; do
    sleep 0.02
  done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" || true
  grep RESULT "$out" | sed "s/^/$2 /" || { echo "wrk printed no RESULT:" >&2; cat "$out" >&2; exit 1; }
}

echo "== $JOBS failures, half through each replica, 8 connections each"
started=$(date +%s.%N)
burst "$A" A $((JOBS / 2)) &
BA=$!
burst "$B" B $((JOBS / 2))
wait "$BA"
echo "RESULT failures=$JOBS seconds=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')") jobs_on_schedule=$(redis-cli -p "$RPORT" HLEN '{retryctl}:jobs')"

redis_stats

echo "== 8 workers, 2 s leases, through both replicas, never reporting"
python3 benches/http/redis_probe.py leases "$A" "$B" 8 "$JOBS"

redis_stats

echo "== $ATTEMPTS attempts in unique 1000-attempt batches, 4 connections per replica"
started=$(date +%s.%N)
while [ "$(redis-cli -p "$RPORT" GET '{retryctl}:attempt_seq')" -lt "$ATTEMPTS" ]; do
  wrk -t1 -c4 -d10s --timeout 10s -s benches/http/attempts_unique.lua "$A" >/dev/null &
  WA=$!
  wrk -t1 -c4 -d10s --timeout 10s -s benches/http/attempts_unique.lua "$B" >/dev/null
  wait "$WA"
done
echo "RESULT log_head=$(redis-cli -p "$RPORT" GET '{retryctl}:attempt_seq') seconds=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")"

redis_stats

echo "== start-up of a third replica on $(redis-cli -p "$RPORT" GET '{retryctl}:attempt_seq') attempts"
# The leader snapshots every 5 s (config above); a replica joins from the latest snapshot, so
# wait (at most 120 s) until one covers the whole log.
head=$(redis-cli -p "$RPORT" GET '{retryctl}:attempt_seq')
started=$(date +%s.%N)
until [ "$(redis-cli -p "$RPORT" HGET '{retryctl}:snapshot' watermark)" -ge "$head" ] 2>/dev/null; do
  if python3 -c "import sys; sys.exit($(date +%s.%N) - $started < 120)"; then break; fi
  sleep 0.5
done
echo "RESULT snapshot_watermark=$(redis-cli -p "$RPORT" HGET '{retryctl}:snapshot' watermark) log_head=$head waited_s=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")"
for mode in "with the snapshot" "without a snapshot"; do
  if [ "$mode" = "without a snapshot" ]; then
    redis-cli -p "$RPORT" DEL '{retryctl}:snapshot' >/dev/null
  fi
  PC=$(free_port)
  started=$(date +%s.%N)
  if replica "$PC"; then
    echo "RESULT start-up $mode: $(python3 -c "print(f'{$(date +%s.%N) - $started:.2f}')") s"
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
  else
    echo "RESULT start-up $mode: the replica exited after $(python3 -c "print(f'{$(date +%s.%N) - $started:.2f}')") s"
  fi
done
