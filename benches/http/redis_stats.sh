# Sourced by benches/http/redis.sh and redis_scale.sh (needs RPORT).
# redis_stats: where Redis's time went since the last call (scripts and the commands they ran,
# per call), the snapshot's size and the AOF rewrites so far, then the load average.
redis_stats() {
  redis-cli -p "$RPORT" INFO commandstats |
    grep -E "^cmdstat_(evalsha|xrange|xread|xadd|zadd|rpush|hset|hmget|hget|zrangebylex):" |
    sed -E 's/^cmdstat_([a-z]+):calls=([0-9]+),usec=[0-9]+,usec_per_call=([0-9.]+).*/REDIS \1 calls=\2 usec_per_call=\3/'
  echo "REDIS snapshot_bytes=$(redis-cli -p "$RPORT" HSTRLEN '{retryctl}:snapshot' doc)" \
    "$(redis-cli -p "$RPORT" INFO persistence | grep -E '^aof_rewrites:' | tr -d '\r')"
  redis-cli -p "$RPORT" CONFIG RESETSTAT >/dev/null
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
