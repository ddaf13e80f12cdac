# Sourced by the HTTP benches: one `retryctl serve` at a time on a free loopback port.
# `start STORE` stops the previous one (removing its data), starts BIN (the binary) on a fresh
# data directory and sets PID, DATA and URL once it answers; `stop` stops it and removes its
# data. `serve_on BIN STORE [TRIES=100]` starts BIN on the data directory already in DATA
# (waiting up to TRIES tenths of a second: opening a large database takes longer), and `halt`
# stops it and keeps the data, so a bench can reopen the same file.
PID=
DATA=
halt() {
  [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
  PID=
}
stop() {
  halt
  [ -n "$DATA" ] && rm -rf "$DATA"
  DATA=
}
trap stop EXIT

serve_on() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$port"
  RETRYCTL_LOG=warn "$1" serve --store "$2" --listen "127.0.0.1:$port" --data "$DATA" &
  PID=$!
  for _ in $(seq "${3:-100}"); do
    curl -fs "$URL/api/v1/retry/health" >/dev/null && return
    sleep 0.1
  done
  echo "the service did not start" >&2
  exit 1
}

start() {
  stop
  DATA=$(mktemp -d)
  serve_on "$BIN" "$1"
}
