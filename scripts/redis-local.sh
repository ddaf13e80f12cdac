#!/usr/bin/env bash
# Starts Redis (with the settings that make an acknowledgement durable) and two
# `retryctl serve` replicas on it, on loopback, for trying the shared store out (README
# "Redis: many replicas"). Prints the URLs; Ctrl-C stops everything and removes the data.
# Usage: scripts/redis-local.sh [REDIS_PORT=6390] [FIRST_REPLICA_PORT=7881]
# Needs redis-server (apt-get install -y redis-server). Uses $RETRYCTL_BIN or builds release.
set -euo pipefail
cd "$(dirname "$0")/.."
REDIS_PORT=${1:-6390}
PORT_A=${2:-7881}
PORT_B=$((PORT_A + 1))
command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install -y redis-server" >&2; exit 1; }
if [ -z "${RETRYCTL_BIN:-}" ]; then
  cargo build --release --locked --bin retryctl
fi
BIN=${RETRYCTL_BIN:-target/release/retryctl}
DIR=$(mktemp -d)
PIDS=()
stop() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap stop EXIT INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DIR" --save "" \
  --appendonly yes --appendfsync always --maxmemory-policy noeviction \
  --logfile "$DIR/redis.log" &
PIDS+=($!)
for _ in $(seq 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
STORE="redis://127.0.0.1:$REDIS_PORT/0"
for port in "$PORT_A" "$PORT_B"; do
  mkdir -p "$DIR/replica-$port"
  RETRYCTL_LOG=${RETRYCTL_LOG:-info} "$BIN" serve --store "$STORE" --require-durable \
    --listen "127.0.0.1:$port" --data "$DIR/replica-$port" 2>>"$DIR/replica-$port.log" &
  PIDS+=($!)
done
for port in "$PORT_A" "$PORT_B"; do
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/api/v1/retry/health" >/dev/null && break
    sleep 0.1
  done
done
cat <<INFO
Redis:     $STORE (data and logs in $DIR)
Replica A: http://127.0.0.1:$PORT_A   (log: $DIR/replica-$PORT_A.log)
Replica B: http://127.0.0.1:$PORT_B   (log: $DIR/replica-$PORT_B.log)
Try:  curl -s -XPOST http://127.0.0.1:$PORT_A/api/v1/retry/failures \\
        -H 'content-type: application/json' \\
        -d '{"job_id":"j1","job_type":"email","error_class":"timeout","attempt_number":1}'
      curl -s http://127.0.0.1:$PORT_B/api/v1/retry/jobs/j1
      retryctl tui --api http://127.0.0.1:$PORT_B
Ctrl-C stops everything.
INFO
wait
