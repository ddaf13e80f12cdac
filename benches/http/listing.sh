#!/usr/bin/env bash
# What a page of the job list costs at a large schedule on SQLite: the console's and the API's
# `GET /jobs` with filters on state, queue and error class (each page carries its total).
#
# A database of JOBS jobs is made in the layout of LAYOUT_BIN (default: the binary timed): that
# binary starts on a fresh data directory and records one failure (a real job body), then
# python3 inserts JOBS jobs like it straight into the file (`jobs` rows with their columns and
# JSON bodies; far quicker than posting them). Then RETRYCTL_BIN opens it (with a different
# LAYOUT_BIN this is the schema migration, timed as "open") and each query below is asked
# REPEAT times after one unmeasured call: the median and the largest of curl's time_total.
#
# The jobs (drawn with a fixed seed): 65 % scheduled (due over the next 24 h), 5 % claimed, 20 % succeeded, 5 % exhausted,
# 5 % killed; queues q0–q7 and error classes timeout, rate_limit, service_unavailable,
# connection_reset and job types job_0–job_9 in equal shares; plus 100 jobs of queue `rare` with error class `rare`,
# finished last, so their filters walk past every other job (the worst case of a filter
# checked while walking the list order).
#
# Usage: benches/http/listing.sh [JOBS=1000000] [REPEAT=5]
# Prints: OPEN seconds=… jobs=…, then per query
#   LIST query=… total=… median_ms=… max_ms=… load=…
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${1:-1000000}
REPEAT=${2:-5}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
LAYOUT_BIN=${LAYOUT_BIN:-$BIN}
for b in "$BIN" "$LAYOUT_BIN"; do
  [ -x "$b" ] || { echo "build first: cargo build --release ($b)" >&2; exit 1; }
done
. benches/http/service.sh
DATA=$(mktemp -d)
serve_on "$LAYOUT_BIN" sqlite 3000
API="$URL/api/v1/retry"
curl -fs -X POST "$API/failures" -H 'Content-Type: application/json' -d \
  '{"job_id":"template","job_type":"job_1","error_class":"timeout","error_code":"503","error_message":"upstream unavailable","attempt_number":1,"queue":"q0","payload_size":1024}' \
  >/dev/null
halt
python3 - "$DATA/retryctl.db" "$JOBS" <<'PY'
import json, random, sqlite3, sys, time
db, jobs = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db)
template = json.loads(conn.execute("SELECT body FROM jobs WHERE job_id = 'template'").fetchone()[0])
conn.execute("DELETE FROM jobs")
now = int(time.time()) * 10**9
classes = ["timeout", "rate_limit", "service_unavailable", "connection_reset"]
states = ["scheduled"] * 13 + ["claimed"] + ["succeeded"] * 4 + ["exhausted", "killed"]
def stamp(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)
def row(i, queue, cls, state, at):
    pending = state in ("scheduled", "claimed")
    job = dict(template, job_id=f"job-{i:07d}", queue=queue, error_class=cls, state=state)
    job["next_attempt_at"] = stamp(at) if pending else None
    job["updated_at"] = stamp(now if pending else at)
    job["lease_until"] = stamp(at) if state == "claimed" else None
    job["claimed_by"] = "w1" if state == "claimed" else None
    due = at if pending else None
    return (job["job_id"], queue, state, cls, 0 if pending else 1, at, due, json.dumps(job))
def rows():
    pick = random.Random(1)
    for i in range(jobs):
        state = pick.choice(states)
        at = now + (i * 86_400 * 10**9) // jobs if state in ("scheduled", "claimed") \
            else now - 86_400 * 10**9 + (i * 3_600 * 10**9) // jobs
        template["job_type"] = f"job_{pick.randrange(10)}"
        yield row(i, f"q{pick.randrange(8)}", pick.choice(classes), state, at)
    for i in range(100):
        yield row(jobs + i, "rare", "rare", "succeeded", now + i * 10**9)
conn.executemany("INSERT INTO jobs (job_id, queue, state, error_class, finished, sort_ns, "
                 "due_ns, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows())
conn.commit()
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
conn.close()
PY

started=$(date +%s.%N)
serve_on "$BIN" sqlite 3000
API="$URL/api/v1/retry"
opened=$(date +%s.%N)
echo "OPEN seconds=$(python3 -c "print(f'{$opened - $started:.2f}')") jobs=$((JOBS + 100))"
QUERIES=(
  ""
  "state=scheduled"
  "state=succeeded"
  "queue=q3"
  "error_class=timeout"
  "queue=q3&state=killed"
  "queue=q3&error_class=timeout"
  "queue=rare"
  "error_class=rare"
  "state=succeeded&queue=rare"
  "queue=q3&page=2"
  "limit=500"
  "job_type=job_1&queue=q3"
)
for q in "${QUERIES[@]}"; do
  query=$q
  if [ "$q" = "queue=q3&page=2" ]; then
    cursor=$(curl -fs "$API/jobs?queue=q3&limit=50" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
    query="queue=q3&cursor=$cursor"
  fi
  load=$(cut -d' ' -f1 /proc/loadavg)
  total=$(curl -fs "$API/jobs?$query" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  times=$(for _ in $(seq "$REPEAT"); do curl -fs -o /dev/null -w '%{time_total}\n' "$API/jobs?$query"; done)
  python3 - "${q:-unfiltered}" "$total" "$load" <<PY
import statistics, sys
t = [float(x) * 1000 for x in """$times""".split()]
print(f"LIST query={sys.argv[1]} total={sys.argv[2]} median_ms={statistics.median(t):.1f} "
      f"max_ms={max(t):.1f} load={sys.argv[3]}")
PY
done
