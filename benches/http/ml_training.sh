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
. benches/http/service.sh
start sqlite
port=${URL##*:}
python3 benches/http/ml_training.py "$port" "$ATTEMPTS" "$MODEL_TYPE"
