#!/usr/bin/env bash
# Start-up of a replica joining a Redis log without a snapshot, before and after failures are
# appended (README "Redis: many replicas", round 4). Two parts:
#   build DIR [ATTEMPTS=1184000] [FAILURE_SECONDS=40]: Redis (durable settings) and two
#     replicas of $RETRYCTL_BIN; ATTEMPTS attempts through POST /attempts (attempts_unique.lua:
#     unique 1000-attempt batches, 60 distinct times of 2026-01-01), a copy of Redis's data
#     to DIR/attempts; then FAILURE_SECONDS of POST /failures (failures.lua: each a new job at
#     today's time) through both, a copy to DIR/failures. Redis and the replicas are stopped.
#   time DIR DATA BIN [RUNS=3]: RUNS times, a fresh copy of DIR/DATA served by Redis, its
#     snapshot key deleted, then one `BIN serve` timed until /health answers (the start-up of
#     a replica joining that log without a snapshot), its `engine restored` log line kept.
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
# config DIR: the replicas' settings (as redis_scale.sh: budgets off, snapshots every 5 s).
config() {
  cat > "$1/retryctl.toml" <<'TOML'
snapshot_interval = "5s"
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
  while [ "$(seq_of)" -lt "$attempts" ]; do
    RUN_ID="$run-a-$RANDOM" wrk -t1 -c4 -d10s --timeout 10s -s benches/http/attempts_unique.lua "http://127.0.0.1:$pa" >/dev/null &
    local wa=$!
    RUN_ID="$run-b-$RANDOM" wrk -t1 -c4 -d10s --timeout 10s -s benches/http/attempts_unique.lua "http://127.0.0.1:$pb" >/dev/null
    wait "$wa"
  done
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
    redis-cli -p "$RPORT" DEL '{retryctl}:snapshot' >/dev/null
    local head; head=$(seq_of)
    port=$(free_port)
    started=$(now)
    replica "$bin" "$port" "$work" "$work/replica.log"
    local wall cpu
    wall=$(since "$started")
    # CPU seconds the joining process used up to now (utime + stime, in clock ticks).
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/${PIDS[-1]}/stat")
    echo "RESULT $data log_head=$head start-up without a snapshot: $wall s, cpu $cpu s" \
      "($(grep -o 'replayed=[0-9]*' "$work/replica.log" | head -1)) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    stop
    cp "$work/replica.log" "$dir/$data-$(basename "$bin")-$run.log"
    rm -rf "$work"
  done
}

case "${1:-}" in
  build) shift; build "$@" ;;
  time) shift; time_joins "$@" ;;
  *) echo "usage: $0 build DIR [ATTEMPTS] [FAILURE_SECONDS] | time DIR attempts|failures BIN [RUNS]" >&2; exit 2 ;;
esac
