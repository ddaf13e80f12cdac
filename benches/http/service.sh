# Sourced by the HTTP benches: one `retryctl serve` at a time on a free loopback port with a
# fresh data directory. Needs BIN (the binary). `start STORE` stops the previous one, starts
# the service and sets PID, DATA and URL once it answers; `stop` stops it and removes its data.
PID=
DATA=
stop() {
  [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
  [ -n "$DATA" ] && rm -rf "$DATA"
  PID= DATA=
}
trap stop EXIT

start() {
  stop
  DATA=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$port"
  RETRYCTL_LOG=warn "$BIN" serve --store "$1" --listen "127.0.0.1:$port" --data "$DATA" &
  PID=$!
  for _ in $(seq 100); do
    curl -fs "$URL/api/v1/retry/health" >/dev/null && return
    sleep 0.1
  done
  echo "the service did not start" >&2
  exit 1
}
