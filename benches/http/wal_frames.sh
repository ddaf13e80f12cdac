#!/usr/bin/env bash
# WAL frames per failure, by B-tree: the pages a commit dirties, which set the SQLite writer's
# cost (README "Round 10") and which, unlike rates and CPU times, the other work on the machine
# does not change. For each of RUNS runs: a fresh `retryctl serve --store sqlite`, `wrk -t2
# -cCONNECTIONS -dDURATION` with benches/http/failures.lua, then `kill -9` (so nothing is
# checkpointed or cut at shutdown), a copy of the database and its WAL, the WAL's frame headers
# read (each frame is one page written by one commit) and each page number mapped to its
# B-tree (table or index) with SQLite's `dbstat` on the copy.
#
# Usage: benches/http/wal_frames.sh [RUNS=1] [DURATION=3s] [CONNECTIONS=16]
# Needs wrk, curl, python3 (its sqlite3 module with dbstat) and a release build
# (cargo build --release, or RETRYCTL_BIN=path). The WAL must not start over during the run
# (store::sqlite::checkpointer::RESTART_FRAMES, 262,144 frames): the script refuses a WAL
# whose frames do not all belong to one generation.
#
# Prints per run:
#   FRAMES failures=N commits=C frames=F frames_per_failure=… failures_per_commit=… load=…
# and one line per B-tree, most frames first:
#   BTREE name frames_per_failure=… frames=…
# failures is the number of jobs in the database (every request of failures.lua makes a new
# job; a failure committed but not yet answered when wrk stopped is counted, as its frames are).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-1}
DURATION=${2:-3s}
CONNECTIONS=${3:-16}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
source benches/http/service.sh
COPY=$(mktemp -d)
trap 'stop; rm -rf "$COPY"' EXIT

for _ in $(seq "$RUNS"); do
  start sqlite
  load=$(cut -d' ' -f1 /proc/loadavg)
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s benches/http/failures.lua "$URL" >/dev/null
  kill -9 "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  rm -f "$COPY"/*
  cp "$DATA"/retryctl.db "$DATA"/retryctl.db-wal "$COPY"/
  python3 - "$COPY/retryctl.db" "$load" <<'PY'
import sqlite3, struct, sys
from collections import Counter
db, load = sys.argv[1], sys.argv[2]
with open(db + "-wal", "rb") as f:
    wal = f.read()
magic, _version, page_size, _ckpt, salt1, salt2 = struct.unpack(">IIIIII", wal[:24])
assert magic in (0x377F0682, 0x377F0683), "not a WAL file"
pages, commits, stale, off = Counter(), 0, 0, 32
while off + 24 + page_size <= len(wal):
    pgno, commit_size, s1, s2 = struct.unpack(">IIII", wal[off:off + 16])
    if (s1, s2) != (salt1, salt2):
        stale += 1
    else:
        pages[pgno] += 1
        commits += commit_size != 0
    off += 24 + page_size
if stale:
    sys.exit(f"{stale} frames of an earlier WAL generation: the WAL started over, run shorter")
conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
owner = dict((pgno, name) for name, pgno in conn.execute("SELECT name, pageno FROM dbstat"))
failures = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
by_tree = Counter()
for pgno, n in pages.items():
    by_tree[owner.get(pgno, "free or file header" if pgno != 1 else "page 1")] += n
frames = sum(pages.values())
print(f"FRAMES failures={failures} commits={commits} frames={frames} "
      f"frames_per_failure={frames / failures:.2f} failures_per_commit={failures / commits:.1f} "
      f"load={load}")
for name, n in by_tree.most_common():
    print(f"BTREE {name} frames_per_failure={n / failures:.3f} frames={n}")
PY
  stop
done
