#!/usr/bin/env bash
# Start-up after kill -9, and memory, against the volume of recorded attempts.
#
# N attempts go in through POST /attempts (NDJSON batches of 1,000, every attempt new: wrk with
# benches/http/attempts_unique.lua, 2 threads, 8 connections, each round of wrk with its own
# WRK_RUN so no job id comes back), at the service's full ingestion
# rate. Then the service's resident memory is read, it is killed with SIGKILL at once (so all it
# ingested since its last snapshot must be replayed), started again on the same data, and timed
# until /health answers and until a recommendation is served; its memory after the restart is
# read too.
#
# Usage: benches/startup.sh [ATTEMPTS=1000000] [STORE=sqlite]
# Needs a release build (cargo build --release, or RETRYCTL_BIN=path), wrk, curl and python3.
# Everything runs on 127.0.0.1 with a temporary data directory (RETRYCTL_BENCH_DATA to keep
# one) and stops itself. wrk runs in rounds of RETRYCTL_BENCH_ROUND (default 5s) until ATTEMPTS
# were recorded; a shorter round stops closer to a small ATTEMPTS. With RETRYCTL_BENCH_SETTLE=S
# the resident memory is read again S seconds after the last attempt, before the kill. With
# RETRYCTL_BENCH_HEAP=1 (needs gdb) glibc's heap in use is read too, just before the kill
# (malloc_stats, printed into the service's log), and the resident memory once gdb has made
# the service call malloc_trim (what of it was freed heap glibc had kept).
# Throughout, /proc/PID/status is sampled every RETRYCTL_BENCH_SAMPLE seconds (default 0.5):
# VmRSS and VmHWM (the peak resident memory since the process started) go to
# $DATA/memory.tsv (seconds since the start, VmRSS KiB, VmHWM KiB, per process), and the
# script prints the peak and the range of the samples at the end of each phase
# (RETRYCTL_BENCH_SAMPLES=FILE keeps a copy of the samples).
set -euo pipefail
cd "$(dirname "$0")/.."
ATTEMPTS=${1:-1000000}
STORE=${2:-sqlite}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
DATA=${RETRYCTL_BENCH_DATA:-$(mktemp -d)}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT/api/v1/retry"
PID=""
SAMPLER=""
cleanup() {
  if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2>/dev/null || true; fi
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ -n "${RETRYCTL_BENCH_SAMPLES:-}" ]; then cp "$DATA/memory.tsv" "$RETRYCTL_BENCH_SAMPLES" || true; fi
  [ -n "${RETRYCTL_BENCH_DATA:-}" ] || rm -rf "$DATA"
}
trap cleanup EXIT

start() {
  RETRYCTL_LOG=info "$BIN" serve --store "$STORE" --data "$DATA" --listen "127.0.0.1:$PORT" \
    >>"$DATA/serve.log" 2>&1 &
  PID=$!
  sample_memory "$PID" &
  SAMPLER=$!
}
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{$(now) - $1:.2f}')"; }
rss_mib() { echo $(($(ps -o rss= -p "$PID") / 1024)); }
# VmHWM of the service now: the most it has held resident since it started.
hwm_mib() { awk '/^VmHWM:/ {printf "%d", $2 / 1024}' "/proc/$PID/status"; }
BENCH_T0=$EPOCHREALTIME
# Samples VmRSS and VmHWM of the service until it exits (one line per sample, tagged by PID).
sample_memory() {
  local pid=$1
  while [ -r "/proc/$pid/status" ]; do
    awk -v pid="$pid" -v t="$EPOCHREALTIME" -v t0="$BENCH_T0" \
      '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {if (r) printf "%.1f\t%s\t%d\t%d\n", t - t0, pid, r, h}' \
      "/proc/$pid/status" >>"$DATA/memory.tsv" 2>/dev/null || true
    sleep "${RETRYCTL_BENCH_SAMPLE:-0.5}"
  done
}
# The range of the VmRSS samples of the service since second $1 of the run.
sampled_range() {
  awk -v pid="$PID" -v from="$1" '$2 == pid && $1 >= from {if (!n++ || $3 < lo) lo = $3; if ($3 > hi) hi = $3}
    END {printf "%d-%d MiB over %d samples", lo / 1024, hi / 1024, n}' "$DATA/memory.tsv"
}
elapsed() { awk -v t="$EPOCHREALTIME" -v t0="$BENCH_T0" 'BEGIN {printf "%.1f", t - t0}'; }
# Resident memory by kind: anonymous (the heap, stacks) and file-backed (the binary, libraries).
rss_kinds() {
  awk '/^Anonymous:/ {a = $2} /^Rss:/ {r = $2} END {printf "anonymous %d MiB, files %d MiB", a / 1024, (r - a) / 1024}' \
    "/proc/$PID/smaps_rollup"
}
# glibc's heap in use, all arenas and mmapped blocks (gdb makes the service print malloc_stats).
heap_in_use() {
  gdb -p "$PID" -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1
  awk '/^Total \(incl. mmap\):/ {t = 1} t && /^in use bytes/ {v = $NF} END {printf "%.1f MB", v / 1e6}' \
    "$DATA/serve.log"
}
wait_for() {
  for _ in $(seq 3000); do
    curl -fs -o /dev/null "$@" 2>/dev/null && return 0
    sleep 0.01
  done
  echo "the service did not answer within 30 s" >&2
  exit 1
}
# Attempts the service recorded (wrk counts only the batches answered within its timeout).
recorded() {
  curl -fs "$URL/metrics" | awk '/^retryctl_attempts_total[{]/ {n += $2} END {printf "%d", n}'
}
recommend() {
  curl -fs -o /dev/null -X POST -H 'content-type: application/json' "$URL/recommendation" \
    -d '{"job_id":"probe","job_type":"job_1","error_class":"timeout","attempt_number":1}'
}

start
wait_for "$URL/health"
echo "recording $ATTEMPTS attempts through POST /attempts ($STORE store)..."
round=0
began=$(now)
began_at=$(elapsed)
while [ "$(recorded)" -lt "$ATTEMPTS" ]; do
  round=$((round + 1))
  WRK_RUN=$round wrk -t2 -c8 -d"${RETRYCTL_BENCH_ROUND:-5s}" \
    -s benches/http/attempts_unique.lua "http://127.0.0.1:$PORT" >/dev/null
done
sleep 1 # batches wrk gave up on may still be in flight
echo "  $(recorded) attempts in $(since "$began") s"
echo "resident memory before the kill: $(rss_mib) MiB ($(rss_kinds))"
echo "  peak (VmHWM) $(hwm_mib) MiB; sampled during ingestion $(sampled_range "$began_at")"
if [ -n "${RETRYCTL_BENCH_SETTLE:-}" ]; then
  sleep "$RETRYCTL_BENCH_SETTLE"
  echo "resident memory $RETRYCTL_BENCH_SETTLE s later: $(rss_mib) MiB ($(rss_kinds))"
  echo "  peak (VmHWM) $(hwm_mib) MiB"
fi
if [ -n "${RETRYCTL_BENCH_HEAP:-}" ]; then
  echo "heap in use before the kill: $(heap_in_use)"
  gdb -p "$PID" -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1
  echo "resident memory after malloc_trim: $(rss_mib) MiB ($(rss_kinds))"
fi

kill -9 "$PID"
wait "$PID" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
began=$(now)
start
wait_for "$URL/health"
health_s=$(since "$began")
recommend || { echo "no recommendation after the restart" >&2; exit 1; }
echo "after kill -9: /health answered in $health_s s, a recommendation in $(since "$began") s"
echo "resident memory after the restart: $(rss_mib) MiB ($(rss_kinds)); peak (VmHWM) $(hwm_mib) MiB"
echo "the restart's log: $(grep -E "engine snapshot read|engine restored" "$DATA/serve.log" | tail -2 | sed 's/.*INFO //' | tr '\n' ' ')"
