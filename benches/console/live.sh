#!/usr/bin/env bash
# Console measurements against a real service, in a real terminal (tmux):
#   time from start to first frame with data, resident memory, bytes written to the terminal
#   per second in steady state.
#
# Usage: benches/console/live.sh [JOBS] [COLSxROWS] [SECONDS]
#   benches/console/live.sh 100000 200x60 10   # RSS with 100,000 pending jobs on the service
#   benches/console/live.sh 50 120x40 30       # bytes/s at 120x40 with 50 jobs in backoff
# Needs: cargo build --release (or RETRYCTL_BIN=path/to/retryctl); tmux; python3. Everything runs on 127.0.0.1 and stops itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=${1:-100000}
SIZE=${2:-200x60}
SECONDS_STEADY=${3:-10}
COLS=${SIZE%x*}
ROWS=${SIZE#*x}
BIN=${RETRYCTL_BIN:-target/release/retryctl}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v tmux >/dev/null || { echo "tmux is missing: apt-get install -y tmux" >&2; exit 1; }

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SOCK="retryctl-bench-$$"
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The retry budgets (token bucket and max_budget_percent) would rightly stop most retries of a
# burst of first failures; they are off so that every job fed below stays pending.
cat > "$WORK/retryctl.toml" <<'TOML'
[strategy.guardrails]
max_budget_percent = 100.0
[strategy.guardrails.retry_budget]
enabled = false
TOML
RETRYCTL_LOG=warn "$BIN" serve --store memory --config "$WORK/retryctl.toml" \
  --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/api/v1/retry/health" >/dev/null && break
  sleep 0.1
done

echo "feeding $JOBS failures..."
python3 - "$PORT" "$JOBS" <<'PY'
import http.client, json, sys, time
port, jobs = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(jobs):
    body = json.dumps({"job_id": f"bench-{i:06d}", "job_type": "payment",
                       "error_class": "rate_limit", "error_code": "429", "queue": "payments",
                       "error_message": "429 Too Many Requests", "retry_after_ms": 600000})
    for attempt in range(50):
        conn.request("POST", "/api/v1/retry/failures", body, {"content-type": "application/json"})
        resp = conn.getresponse(); resp.read()
        if resp.status != 503:  # 503: the service sheds load; wait and send again
            break
        time.sleep(0.1)
    if resp.status >= 300:
        sys.exit(f"POST /failures answered {resp.status} for job {i}")
PY

PENDING=$(curl -sf "http://127.0.0.1:$PORT/api/v1/retry/jobs?state=scheduled&limit=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
echo "jobs scheduled on the service: $PENDING"

STATE="$WORK/state"
tmux -L "$SOCK" new-session -d -s bench -x "$COLS" -y "$ROWS" \
  "exec env LANG=C.UTF-8 TERM=xterm-256color XDG_STATE_HOME=$STATE HOME=$WORK $BIN tui --api http://127.0.0.1:$PORT"
PID=$(tmux -L "$SOCK" display -p -t bench '#{pane_pid}')
for _ in $(seq 200); do
  tmux -L "$SOCK" capture-pane -p -t bench | grep -q CONNECTED && break
  sleep 0.05
done
sleep 2
tmux -L "$SOCK" pipe-pane -t bench "cat > $WORK/pty.out"
sleep "$SECONDS_STEADY"
tmux -L "$SOCK" pipe-pane -t bench
BYTES=$(stat -c %s "$WORK/pty.out")
RSS=$(awk '/VmRSS/ {print $2, $3}' "/proc/$PID/status")
FIRST=$(grep -o 'first frame with data.*' "$STATE/retryctl/console.log" 2>/dev/null | head -1 || true)
[ -n "$FIRST" ] || FIRST="first frame with data: not logged by the console"
echo "console $SIZE, $PENDING of $JOBS jobs pending on the service"
echo "  $FIRST"
echo "  resident memory (VmRSS): $RSS"
echo "  terminal output in steady state: $((BYTES / SECONDS_STEADY)) bytes/s over ${SECONDS_STEADY}s"
