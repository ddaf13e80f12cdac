#!/usr/bin/env bash
# The long fuzz run of one parser group (README "Fuzzing"): the group's `fuzz_<group>_*` tests,
# round after round with fresh random seeds, until at least SECONDS have passed. Built in the
# `fuzz` profile: release speed, with overflow checks and debug assertions still panicking.
# Stops at the first failure (proptest prints the shrunk input and saves it under
# proptest-regressions/) or when one round takes longer than HANG_SECONDS (a hang); exits 1.
#
#   scripts/fuzz-long.sh GROUP [SECONDS] [CASES_PER_ROUND]   # defaults: 600 s, 20000 cases
#   GROUP: http | time | config | console | files
set -euo pipefail
cd "$(dirname "$0")/.."

group="${1:?usage: scripts/fuzz-long.sh http|time|config|console|files [SECONDS] [CASES]}"
seconds="${2:-600}"
cases="${3:-20000}"
hang="${HANG_SECONDS:-$((seconds * 3))}"
# Build first, so the time below is the fuzzing's and a compile error shows as one.
cargo test --profile fuzz --lib --no-run --quiet

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
start=$(date +%s)
rounds=0
total=0
while :; do
  if ! PROPTEST_CASES="$cases" timeout "$hang" \
      cargo test --profile fuzz --lib --quiet "fuzz_${group}_" >"$log" 2>&1; then
    cat "$log"
    echo "fuzz_${group}_: FAILED (or over ${hang}s: a hang) in round $((rounds + 1))" >&2
    exit 1
  fi
  tests=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log")
  if [ "${tests:-0}" -eq 0 ]; then
    echo "no test matches fuzz_${group}_" >&2
    exit 1
  fi
  rounds=$((rounds + 1))
  total=$((total + tests * cases))
  elapsed=$(($(date +%s) - start))
  [ "$elapsed" -ge "$seconds" ] && break
done
echo "fuzz_${group}_: ${tests} tests, ${rounds} rounds of ${cases} cases each," \
  "${total} cases in ${elapsed}s, no failure"
