#!/usr/bin/env bash
# The worker path's tail as the data grows: RUNS back-to-back wrk runs of POST /failures
# (16 connections, DURATION each) against ONE `retryctl serve` (the jobs of every run stay
# in the service), printing each run's RESULT line and the service's resident memory after it.
#
# Usage: benches/http/failures_runs.sh [STORE=memory|sqlite] [RUNS=4] [DURATION=8s]
# Needs wrk, curl, python3 and a release build (cargo build --release, or RETRYCTL_BIN=path).
# Runs on 127.0.0.1 with a temporary data directory and stops itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
STORE=${1:-memory}
RUNS=${2:-4}
DURATION=${3:-8s}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
RETRYCTL_LOG=warn "$BIN" serve --store "$STORE" --data "$DATA" --listen "127.0.0.1:$PORT" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -fs "$URL/api/v1/retry/health" >/dev/null && break
  sleep 0.1
done
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status"; }
for run in $(seq "$RUNS"); do
  out=$(wrk -t2 -c16 -d"$DURATION" --latency -s benches/http/failures.lua "$URL")
  echo "run $run: $(grep RESULT <<<"$out") rss_mib=$(rss_mib)"
done
