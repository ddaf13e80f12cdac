#!/usr/bin/env bash
# HTTP load test of `retryctl serve` on loopback (README "Performance").
# Usage: benches/http/run.sh [DURATION=30s] [CONNECTIONS=64]
# Needs wrk (apt-get install -y wrk). Starts a release build on a free port with a fresh
# SQLite data dir, runs the recommendation load, then the batch-ingestion load, and stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-30s}
CONNECTIONS=${2:-64}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --locked --bin retryctl
DATA=$(mktemp -d)
PORT=${PORT:-$((20000 + RANDOM % 20000))}
URL="http://127.0.0.1:$PORT"
RETRYCTL_LOG=warn target/release/retryctl serve --listen "127.0.0.1:$PORT" --data "$DATA" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -fs "$URL/api/v1/retry/health" >/dev/null && break
  sleep 0.1
done
echo "== recommendations: $CONNECTIONS connections, $DURATION"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/http/recommendation.lua "$URL"
echo "== batch ingestion: 8 connections x 1000-attempt NDJSON batches, $DURATION"
wrk -t2 -c8 -d"$DURATION" --timeout 10s -s benches/http/attempts.lua "$URL"
