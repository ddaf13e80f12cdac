#!/usr/bin/env bash
# The service's CPU time per failure on the worker path, a figure that other work on the
# machine does not distort the way it distorts rates and latencies: for each of RUNS runs, a
# fresh `retryctl serve` (fresh data directory), `wrk -t2 -cCONNECTIONS -dDURATION` with
# benches/http/failures.lua, and the service's utime+stime (/proc/PID/stat) and each of its
# threads' (/proc/PID/task/*/stat) read before and after the run, divided by the requests wrk
# counted.
#
# Usage: benches/http/failures_cpu.sh [STORE=sqlite] [RUNS=3] [DURATION=10s] [CONNECTIONS=16]
# Needs wrk, curl, python3 and a release build (cargo build --release, or RETRYCTL_BIN=path).
#
# Prints per run one line:
#   CPU store=… failures=N failures/s=… p99_ms=… total_us=… writer_us=… other_us=… load=…
#       threads=NAME:us,…
# total_us is the whole process's CPU per failure, writer_us the SQLite writer thread's
# (the thread named `sqlite-writer`; builds before it had that name call both SQLite threads
# `retryctl-sqlite`, and then the busier of the two is taken: the checkpointer's share is
# printed beside it under threads=), other_us the rest. load is the 1-minute load average
# when the run started. Clock ticks are 1/CLK_TCK s (10 ms on Linux), so a run of 20,000
# failures resolves 0.5 µs per failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
STORE=${1:-sqlite}
RUNS=${2:-3}
DURATION=${3:-10s}
CONNECTIONS=${4:-16}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
TCK=$(getconf CLK_TCK)
source benches/http/service.sh

# ticks: "tid comm utime+stime" per thread, and "total - utime+stime" for the process. The
# comm field is in parentheses and may hold spaces, so fields are counted after its ')'.
ticks() {
  local f
  for f in /proc/"$PID"/task/*/stat; do
    awk -v tid="$(basename "$(dirname "$f")")" '{
      s = $0; open = index(s, "("); close_ = 0
      for (i = length(s); i > 0; i--) if (substr(s, i, 1) == ")") { close_ = i; break }
      comm = substr(s, open + 1, close_ - open - 1); gsub(/ /, "_", comm)
      n = split(substr(s, close_ + 2), r, " ")
      print tid, comm, r[12] + r[13]
    }' "$f" 2>/dev/null || true
  done
  awk '{ s = $0; for (i = length(s); i > 0; i--) if (substr(s, i, 1) == ")") break
         split(substr(s, i + 2), r, " "); print "total", "-", r[12] + r[13] }' /proc/"$PID"/stat
}

for run in $(seq "$RUNS"); do
  start "$STORE"
  load=$(cut -d' ' -f1 /proc/loadavg)
  before=$(ticks)
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/http/failures.lua "$URL")
  after=$(ticks)
  result=$(grep RESULT <<<"$out")
  python3 - "$TCK" "$STORE" "$load" "$result" <<PY
import sys
tck, store, load, result = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
fields = dict(kv.split("=", 1) for kv in result.split()[1:])
n = int(fields["requests"])
def parse(text):
    return {(tid, comm): int(t) for tid, comm, t in (l.split() for l in text.strip().splitlines())}
before, after = parse("""$before"""), parse("""$after""")
us = lambda key: (after[key] - before.get(key, 0)) * 1e6 / tck / n
total = us(("total", "-"))
threads = {k: us(k) for k in after if k[0] != "total"}
named = [k for k in threads if k[1] == "sqlite-writer"]
old = sorted((k for k in threads if k[1] == "retryctl-sqlite"), key=threads.get, reverse=True)
writer = threads[(named or old)[0]] if (named or old) else 0.0
by_name = {}
for (tid, comm), v in threads.items():
    by_name[comm] = by_name.get(comm, 0.0) + v
shown = ",".join(f"{c}:{v:.0f}" for c, v in sorted(by_name.items(), key=lambda kv: -kv[1]) if v >= 0.5)
if len(old) > 1:
    shown += f" (retryctl-sqlite: {threads[old[0]]:.0f} writer + {threads[old[1]]:.0f} checkpointer)"
print(f"CPU store={store} failures={n} failures/s={fields['failures/s']} p99_ms={fields['p99_ms']} "
      f"total_us={total:.1f} writer_us={writer:.1f} other_us={total - writer:.1f} load={load} "
      f"threads={shown}")
PY
  stop
done
