#!/usr/bin/env bash
# Recommendation latency over HTTP while `retryctl serve` trains an ML model (README "ML
# measurements"). Usage: benches/http/ml_training.sh [ATTEMPTS=1000000] [MODEL_TYPE=gradient_boost]
# Builds the release binary (or uses $RETRYCTL_BIN), starts it on a free port with a fresh
# SQLite data dir, and runs benches/http/ml_training.py against it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ATTEMPTS=${1:-1000000}
MODEL_TYPE=${2:-gradient_boost}
if [ -z "${RETRYCTL_BIN:-}" ]; then
  cargo build --release --locked --bin retryctl
fi
BIN=${RETRYCTL_BIN:-target/release/retryctl}
DATA=$(mktemp -d)
PID=
stop() {
  [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
  rm -rf "$DATA"
}
trap stop EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RETRYCTL_LOG=warn "$BIN" serve --store sqlite --listen "127.0.0.1:$port" --data "$DATA" &
PID=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/api/v1/retry/health" >/dev/null && break
  sleep 0.1
done
python3 benches/http/ml_training.py "$port" "$ATTEMPTS" "$MODEL_TYPE"
