#!/usr/bin/env bash
# Start-up of a replica joining a Redis log without a snapshot, before and after failures are
# appended (README "Redis: many replicas", round 4). Two parts:
#   build DIR [ATTEMPTS=1184000] [FAILURE_SECONDS=40]: Redis (durable settings) and two
#     replicas of $RETRYCTL_BIN; ATTEMPTS attempts through POST /attempts (attempts_unique.lua:
#     unique 1000-attempt batches, 60 distinct times of 2026-01-01), a copy of Redis's data
#     to DIR/attempts; then FAILURE_SECONDS of POST /failures (failures.lua: each a new job at
#     today's time) through both, a copy to DIR/failures. Redis and the replicas are stopped.
#   time DIR DATA BIN [RUNS=3]: RUNS times, a fresh copy of DIR/DATA served by Redis, its
#     snapshot key deleted (kept with KEEP_SNAPSHOT=1), then one `BIN serve` timed until
#     /health answers (the start-up of a replica joining that log without a snapshot), its
#     `engine restored` log line kept.
#   live DIR ATTEMPTS [JOINS=3]: Redis and two replicas of $RETRYCTL_BIN with the default
#     snapshot settings (every 30 s and after every `snapshot_after_attempts`, 200,000 unless
#     SNAPSHOT_AFTER is set); ATTEMPTS attempts through both at full rate; then, with both
#     still running (the leader alive, writes stopped; with DURING=1 both still being sent
#     attempts), JOINS times a third replica of ${JOIN_BIN:-$RETRYCTL_BIN} started and timed
#     until /health answers and until its first recommendation, with the log's head and the
#     leader's snapshot watermark as it starts, the attempts it replayed and its CPU seconds.
#     A copy of Redis's data is kept in DIR/live.
# Needs wrk, redis-server, redis-cli, python3, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in wrk redis-server redis-cli python3 curl; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install -y $tool" >&2; exit 1; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.2f}')"; }
PIDS=()
stop() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap stop EXIT
# redis DIR: serves DIR (its AOF, if any) with the durable settings; sets RPORT and STORE.
redis() {
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$1" --save "" --appendonly yes \
    --appendfsync always --maxmemory-policy noeviction --logfile "$1/redis.log" &
  PIDS+=($!)
  until [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ]; do sleep 0.05; done
  STORE="redis://127.0.0.1:$RPORT/0"
}
# config DIR [live]: the replicas' settings (as redis_scale.sh: budgets off, snapshots every
# 5 s; with `live`, the default snapshot interval and SNAPSHOT_AFTER if set).
config() {
  if [ "${2:-}" = live ]; then
    echo "${SNAPSHOT_AFTER:+snapshot_after_attempts = $SNAPSHOT_AFTER}" > "$1/retryctl.toml"
  else
    echo 'snapshot_interval = "5s"' > "$1/retryctl.toml"
  fi
  cat >> "$1/retryctl.toml" <<'TOML'
[strategy.guardrails]
max_budget_percent = 100.0
[strategy.guardrails.retry_budget]
enabled = false
TOML
}
# replica BIN PORT DATA_DIR LOG: starts one; waits until it answers.
replica() {
  RETRYCTL_LOG=info "$1" serve --store "$STORE" --require-durable --listen "127.0.0.1:$2" \
    --data "$3" --config "$3/retryctl.toml" >"$4" 2>&1 &
  PIDS+=($!)
  until curl -fs "http://127.0.0.1:$2/api/v1/retry/health" >/dev/null; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "the replica exited: $(tail -3 "$4")" >&2; return 1; }
    sleep 0.05
  done
}
seq_of() { local s; s=$(redis-cli -p "$RPORT" GET '{retryctl}:attempt_seq'); echo "${s:-0}"; }
snapshot_mark() { local s; s=$(redis-cli -p "$RPORT" HGET '{retryctl}:snapshot' watermark); echo "${s:-none}"; }
# fill PORT_A PORT_B ATTEMPTS RUN: unique 1000-attempt batches through both until the log holds
# ATTEMPTS attempts, in 10 s rounds of wrk (4 connections per replica).
fill() {
  while [ "$(seq_of)" -lt "$3" ]; do
    RUN_ID="$4-a-$RANDOM" wrk -t1 -c4 -d10s --timeout 10s -s benches/http/attempts_unique.lua "http://127.0.0.1:$1" >/dev/null &
    local wa=$!
    RUN_ID="$4-b-$RANDOM" wrk -t1 -c4 -d10s --timeout 10s -s benches/http/attempts_unique.lua "http://127.0.0.1:$2" >/dev/null
    wait "$wa"
  done
}
# cpu_of PID: CPU seconds the process has used (utime + stime).
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# first_recommendation PORT: asks one replica for a recommendation; its HTTP status.
first_recommendation() {
  curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"job_id":"join-probe","job_type":"job_1","error_class":"timeout","attempt_number":1,"queue":"q1"}' \
    "http://127.0.0.1:$1/api/v1/retry/recommendation"
}
# keep DIR NAME: a copy of Redis's data as it is now (after the AOF is rewritten).
keep() {
  redis-cli -p "$RPORT" BGREWRITEAOF >/dev/null
  sleep 1
  while redis-cli -p "$RPORT" INFO persistence | grep -q '^aof_rewrite_in_progress:1'; do sleep 0.5; done
  rm -rf "${1:?}/$2"; mkdir -p "$1/$2"
  cp -r "$1/redis/appendonlydir" "$1/$2/"
  echo "RESULT kept $2: log_head=$(seq_of) jobs=$(redis-cli -p "$RPORT" HLEN '{retryctl}:jobs')"
}

build() {
  local dir=$1 attempts=${2:-1184000} failure_s=${3:-40} bin=${RETRYCTL_BIN:?set RETRYCTL_BIN}
  mkdir -p "$dir/redis" "$dir/replicas"
  config "$dir/replicas"
  redis "$dir/redis"
  local pa pb started run
  pa=$(free_port); pb=$(free_port)
  replica "$bin" "$pa" "$dir/replicas" "$dir/replica-a.log"
  replica "$bin" "$pb" "$dir/replicas" "$dir/replica-b.log"
  run=$(date +%s%N)
  started=$(now)
  fill "$pa" "$pb" "$attempts" "$run"
  echo "RESULT attempts: log_head=$(seq_of) seconds=$(since "$started")"
  keep "$dir" attempts
  RUN_ID="$run-fa" wrk -t1 -c8 -d"${failure_s}s" --latency -s benches/http/failures.lua "http://127.0.0.1:$pa" | grep RESULT | sed 's/^/A /' &
  local fa=$!
  RUN_ID="$run-fb" wrk -t1 -c8 -d"${failure_s}s" --latency -s benches/http/failures.lua "http://127.0.0.1:$pb" | grep RESULT | sed 's/^/B /'
  wait "$fa"
  keep "$dir" failures
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

time_joins() {
  local dir=$1 data=$2 bin=$3 runs=${4:-3} work port started
  for run in $(seq "$runs"); do
    work=$(mktemp -d -p "$dir")
    cp -r "$dir/$data/appendonlydir" "$work/"
    config "$work"
    redis "$work"
    [ -n "${KEEP_SNAPSHOT:-}" ] || redis-cli -p "$RPORT" DEL '{retryctl}:snapshot' >/dev/null
    local head mark; head=$(seq_of); mark=$(snapshot_mark)
    port=$(free_port)
    started=$(now)
    replica "$bin" "$port" "$work" "$work/replica.log"
    local wall cpu
    wall=$(since "$started")
    # CPU seconds the joining process used up to now (utime + stime, in clock ticks).
    cpu=$(cpu_of "${PIDS[-1]}")
    echo "RESULT $data log_head=$head snapshot=$mark start-up: $wall s, cpu $cpu s" \
      "($(grep -o 'replayed=[0-9]*' "$work/replica.log" | head -1)) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    stop
    cp "$work/replica.log" "$dir/$data-$(basename "$bin")-$run.log"
    rm -rf "$work"
  done
}

live() {
  local dir=$1 attempts=$2 joins=${3:-3} bin=${RETRYCTL_BIN:?set RETRYCTL_BIN}
  local join_bin=${JOIN_BIN:-$RETRYCTL_BIN} pa pb run started
  mkdir -p "$dir/redis" "$dir/replicas"
  config "$dir/replicas" live
  redis "$dir/redis"
  pa=$(free_port); pb=$(free_port)
  replica "$bin" "$pa" "$dir/replicas" "$dir/live-a.log"
  replica "$bin" "$pb" "$dir/replicas" "$dir/live-b.log"
  run=$(date +%s%N)
  started=$(now)
  fill "$pa" "$pb" "$attempts" "$run"
  echo "RESULT attempts: log_head=$(seq_of) seconds=$(since "$started") snapshot=$(snapshot_mark)"
  local during=()
  if [ -n "${DURING:-}" ]; then
    # In PIDS too, so a join that fails stops them with the rest.
    RUN_ID="$run-da" wrk -t1 -c4 -d600s --timeout 10s -s benches/http/attempts_unique.lua "http://127.0.0.1:$pa" >/dev/null &
    during+=($!); PIDS+=($!)
    RUN_ID="$run-db" wrk -t1 -c4 -d600s --timeout 10s -s benches/http/attempts_unique.lua "http://127.0.0.1:$pb" >/dev/null &
    during+=($!); PIDS+=($!)
  fi
  local work port head mark wall first cpu status
  for join in $(seq "$joins"); do
    work=$(mktemp -d -p "$dir")
    config "$work" live
    head=$(seq_of); mark=$(snapshot_mark)
    port=$(free_port)
    started=$(now)
    replica "$join_bin" "$port" "$work" "$work/replica.log"
    wall=$(since "$started")
    status=$(first_recommendation "$port")
    first=$(since "$started")
    cpu=$(cpu_of "${PIDS[-1]}")
    echo "RESULT join $join log_head=$head snapshot=$mark /health: $wall s, first recommendation ($status): $first s," \
      "cpu $cpu s ($(grep -o 'replayed=[0-9]*' "$work/replica.log" | head -1)) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
    unset 'PIDS[-1]'
    cp "$work/replica.log" "$dir/live-join-$join.log"
    rm -rf "$work"
    sleep 5
  done
  for pid in "${during[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  keep "$dir" live
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  time) shift; time_joins "$@" ;;
  live) shift; live "$@" ;;
  *) echo "usage: $0 build DIR [ATTEMPTS] [FAILURE_SECONDS] | time DIR attempts|failures|live BIN [RUNS] | live DIR ATTEMPTS [JOINS]" >&2; exit 2 ;;
esac
