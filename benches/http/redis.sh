#!/usr/bin/env bash
# Two replicas on one Redis (durable settings on), all on this machine (README "Redis: many
# replicas"). Parts, each ending in RESULT lines:
#   1. attempts: unique 1000-attempt NDJSON batches into both replicas at once (two wrk runs),
#      with the replicas' lag behind the log sampled meanwhile; then REDIS lines (where
#      Redis's time went, per call of each script and command);
#   2. recommendations into both replicas at once;
#   mixed (only when named in PARTS): recommendations into both replicas while attempts go in
#      as in part 1 (so each replica's follower learns the log meanwhile), with the lag;
#   3. failures: new failed jobs into both replicas (puts jobs on the schedule);
#   4. claims: 8 workers claim every due job through both replicas; double claims counted;
#   5. start-up of a third replica on the log so far: with the latest snapshot, and relearning
#      the whole log (snapshot deleted).
# Usage: [PARTS="attempts recommendations …"] benches/http/redis.sh [DURATION=20s]
# PARTS picks some of attempts, recommendations, mixed, failures, claims, startup (default: all
# but mixed);
# REC_CONNECTIONS sets the recommendations' connections per replica (default 32).
# Needs wrk, redis-server, python3, curl. Uses $RETRYCTL_BIN or builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-20s}
SECONDS_LOAD=${DURATION%s}
for tool in wrk redis-server python3 curl; do
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
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DIR" --save "" --appendonly yes \
  --appendfsync always --maxmemory-policy noeviction --logfile "$DIR/redis.log" &
PIDS+=($!)
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.05; done
STORE="redis://127.0.0.1:$RPORT/0"
# replica PORT: starts one; waits until it answers.
replica() {
  RETRYCTL_LOG=warn "$BIN" serve --store "$STORE" --require-durable --listen "127.0.0.1:$1" \
    --data "$DIR" &
  PIDS+=($!)
  until curl -fs "http://127.0.0.1:$1/api/v1/retry/health" >/dev/null; do sleep 0.05; done
}
PA=$(free_port); PB=$(free_port)
replica "$PA"; replica "$PB"
A="http://127.0.0.1:$PA"; B="http://127.0.0.1:$PB"
PARTS=${PARTS:-attempts recommendations failures claims startup}
source benches/http/redis_stats.sh
part() { [[ " $PARTS " == *" $1 "* ]]; }

# Unique 1000-attempt batches through both replicas (4 connections each) for $DURATION, with
# the replicas' lag probed beside them, all in the background; $1 goes after "A "/"B " in
# their RESULT lines. The caller waits for $LOAD_PIDS.
attempts_with_lag() {
    python3 benches/http/redis_probe.py lag "$A" "$B" "$RPORT" "$SECONDS_LOAD" &
    LOAD_PIDS=($!)
    sleep 0.2
    local r
    for r in A B; do
        local url=$A
        [ "$r" = B ] && url=$B
        wrk -t1 -c4 -d"$DURATION" --timeout 10s -s benches/http/attempts_unique.lua "$url" \
            | grep RESULT | sed "s/^/$r $1/" &
        LOAD_PIDS+=($!)
    done
}

log_head_and_stats() {
    echo "log head: $(redis-cli -p "$RPORT" GET '{retryctl}:attempt_seq') attempts"
    redis_stats
}

if part attempts; then
echo "== attempts: unique 1000-attempt batches, 4 connections per replica, $DURATION (+ lag)"
attempts_with_lag ""
wait "${LOAD_PIDS[@]}"
log_head_and_stats
fi

if part recommendations; then
RC=${REC_CONNECTIONS:-32}
echo "== recommendations: $RC connections per replica, $DURATION"
wrk -t1 -c"$RC" -d"$DURATION" --latency -s benches/http/recommendation.lua "$A" | grep RESULT | sed 's/^/A /' &
WA=$!
wrk -t1 -c"$RC" -d"$DURATION" --latency -s benches/http/recommendation.lua "$B" | grep RESULT | sed 's/^/B /'
wait "$WA"
fi

if part mixed; then
RC=${REC_CONNECTIONS:-32}
echo "== mixed: recommendations ($RC connections per replica) while attempts go in (4 per replica), $DURATION"
attempts_with_lag "attempts "
wrk -t1 -c"$RC" -d"$DURATION" --latency -s benches/http/recommendation.lua "$A" | grep RESULT | sed 's/^/A /' &
LOAD_PIDS+=($!)
wrk -t1 -c"$RC" -d"$DURATION" --latency -s benches/http/recommendation.lua "$B" | grep RESULT | sed 's/^/B /'
wait "${LOAD_PIDS[@]}"
log_head_and_stats
fi

if part failures; then
echo "== failures: 8 connections per replica, $DURATION"
wrk -t1 -c8 -d"$DURATION" --latency -s benches/http/failures.lua "$A" | grep RESULT | sed 's/^/A /' &
WA=$!
wrk -t1 -c8 -d"$DURATION" --latency -s benches/http/failures.lua "$B" | grep RESULT | sed 's/^/B /'
wait "$WA"
echo "jobs on the schedule: $(redis-cli -p "$RPORT" HLEN '{retryctl}:jobs')"
fi

if part claims; then
echo "== claims: 8 workers through both replicas, everything due"
python3 benches/http/redis_probe.py claim "$A" "$B" 8
fi

if part startup; then
echo "== start-up of a third replica on $(redis-cli -p "$RPORT" GET '{retryctl}:attempt_seq') attempts"
curl -fs -XPOST "$A/api/v1/retry/engine/seed" -H 'content-type: application/json' -d '{"seed": 1}' >/dev/null
sleep 1
for mode in "with the snapshot" "without a snapshot"; do
  if [ "$mode" = "without a snapshot" ]; then
    redis-cli -p "$RPORT" DEL '{retryctl}:snapshot' >/dev/null
  fi
  PC=$(free_port)
  started=$(date +%s.%N)
  replica "$PC"
  echo "RESULT start-up $mode: $(python3 -c "print(f'{$(date +%s.%N) - $started:.2f}')") s"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
done
fi
