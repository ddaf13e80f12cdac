#!/usr/bin/env bash
# The kill -9 loop, longer: tests/kill_loop.rs with more SIGKILL rounds, run several times with
# a fresh seed each. Every run prints its seed (RETRYCTL_KILL_LOOP_SEED=… repeats it exactly,
# as far as the kill moments go) and what was acknowledged; the script stops at the first
# failure and exits non-zero.
#
#   scripts/kill-loop.sh [ROUNDS] [RUNS]      # defaults: 100 rounds, 1 run
#   RETRYCTL_KILL_LOOP_SEED=42 scripts/kill-loop.sh 100
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-100}"
runs="${2:-1}"
# Build first, so the time below is the loop's and a compile error shows as one.
cargo test --test integration --no-run --quiet

log="$(mktemp -t kill-loop.XXXXXX)"
for run in $(seq 1 "$runs"); do
  echo "== run $run of $runs: $rounds rounds"
  start=$(date +%s)
  status=0
  RETRYCTL_KILL_LOOP_ROUNDS="$rounds" RUST_BACKTRACE=0 \
    cargo test --quiet --test integration kill_loop:: -- --nocapture >"$log" 2>&1 || status=$?
  grep -E '^kill loop: ([0-9]+ rounds|acknowledged)|panicked at|^test result' "$log" || true
  echo "== run $run took $(( $(date +%s) - start )) s"
  if [ "$status" -ne 0 ]; then
    echo "== run $run FAILED; the whole log: $log"
    grep -A3 'panicked at' "$log" || tail -n 40 "$log"
    exit "$status"
  fi
done
rm -f "$log"
