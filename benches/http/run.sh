#!/usr/bin/env bash
# HTTP load test of `retryctl serve` on loopback (README "Performance").
# Usage: benches/http/run.sh [DURATION=30s] [CONNECTIONS=64]
# Needs wrk (apt-get install -y wrk). Builds the release binary (or uses $RETRYCTL_BIN) and
# starts it on a free port with a fresh data dir for each part: the recommendation load and
# the batch-ingestion load (SQLite), the worker path POST /failures at 16 and 64 connections
# (SQLite) and at 16 on the memory store. Each part ends with one RESULT line.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-30s}
CONNECTIONS=${2:-64}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
if [ -z "${RETRYCTL_BIN:-}" ]; then
  cargo build --release --locked --bin retryctl
fi
BIN=${RETRYCTL_BIN:-target/release/retryctl}
source benches/http/service.sh

start sqlite
echo "== recommendations: $CONNECTIONS connections, $DURATION"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/http/recommendation.lua "$URL"
echo "== batch ingestion: 8 connections x 1000-attempt NDJSON batches, $DURATION"
wrk -t2 -c8 -d"$DURATION" --timeout 10s -s benches/http/attempts.lua "$URL"
for part in "sqlite 16" "sqlite 64" "memory 16"; do
  set -- $part
  start "$1"
  echo "== failures (POST /failures, a new job each): $1 store, $2 connections, $DURATION"
  wrk -t2 -c"$2" -d"$DURATION" --latency -s benches/http/failures.lua "$URL"
done
