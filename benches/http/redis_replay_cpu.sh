#!/usr/bin/env bash
# CPU of a replay from Redis (README "Redis: many replicas", round 5): serves a copy of
# DATA_DIR/appendonlydir (a copy `redis_join.sh` kept), deletes the snapshot (kept with
# KEEP_SNAPSHOT=1), starts BIN serve (under `perf record --call-graph dwarf` with PERF=1, to
# OUT.perf), times it until /health answers and prints the CPU seconds it used and the
# attempts it replayed; its log goes to OUT.log.
# Usage: redis_replay_cpu.sh DATA_DIR BIN OUT
set -euo pipefail
data=$1 bin=$2 out=$3
work=$(mktemp -d)
cp -r "$data/appendonlydir" "$work/"
rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" --appendonly yes --appendfsync always --maxmemory-policy noeviction --logfile "$work/redis.log" &
rpid=$!
until [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ]; do sleep 0.1; done
until redis-cli -p "$rport" INFO persistence | grep -q '^loading:0'; do sleep 0.2; done
[ -n "${KEEP_SNAPSHOT:-}" ] || redis-cli -p "$rport" DEL '{retryctl}:snapshot' >/dev/null
head=$(redis-cli -p "$rport" GET '{retryctl}:attempt_seq')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'snapshot_interval = "1h"\n' > "$work/retryctl.toml"
start=$(date +%s.%N)
RETRYCTL_LOG=info "$bin" serve --store "redis://127.0.0.1:$rport/0" --listen "127.0.0.1:$port" --data "$work" --config "$work/retryctl.toml" > "$work/replica.log" 2>&1 &
spid=$!
if [ "${PERF:-0}" = 1 ]; then perf record -F 199 --call-graph dwarf,16384 -p "$spid" -o "$out.perf" 2>/dev/null & ppid=$!; fi
until curl -fs "http://127.0.0.1:$port/api/v1/retry/health" >/dev/null; do sleep 0.05; done
end=$(date +%s.%N)
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$spid/stat")
[ "${PERF:-0}" = 1 ] && { kill -INT $ppid; wait $ppid || true; }
echo "RESULT $(basename "$data") head=$head bin=$(basename "$bin") start-up=$(python3 -c "print(f'{$end-$start:.2f}')") s cpu=$cpu s $(grep -o 'replayed=[0-9]*' "$work/replica.log" | head -1) load: $(cut -d' ' -f1-3 /proc/loadavg)"
kill $spid; wait $spid 2>/dev/null || true
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || kill $rpid
wait $rpid 2>/dev/null || true
cp "$work/replica.log" "$out.log"; rm -rf "$work"
