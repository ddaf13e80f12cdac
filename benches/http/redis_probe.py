"""Helpers for benches/http/redis.sh (stdlib only).

lag URL_A URL_B REDIS_PORT SECONDS   sample the log head (Redis) and both replicas' positions
                                     every 20 ms; print how long each replica took to reach
                                     each head sample (p50, p99, max)
claim URL_A URL_B WORKERS            claim everything due through both replicas (a clock a day
                                     ahead, 60 s leases); print jobs/s and double claims
leases URL_A URL_B WORKERS JOBS      workers claim through both replicas with 2 s leases and
                                     never report, on a clock a day ahead that runs at the real
                                     speed, until all JOBS jobs were claimed and 4 s more (leases
                                     run out, jobs come back); print the rate at which the JOBS
                                     were first claimed and every grant overlapping another
                                     grant's lease on the same job
"""
import json, subprocess, sys, threading, time, urllib.error, urllib.request
from datetime import datetime, timedelta, timezone


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def head(port):
    out = subprocess.run(["redis-cli", "-p", port, "GET", "{retryctl}:attempt_seq"],
                         capture_output=True, text=True).stdout.strip()
    return int(out or 0)


def lag(url_a, url_b, port, seconds):
    samples, positions = [], {url_a: [], url_b: []}
    stop = time.time() + float(seconds)

    def watch(url):
        while time.time() < stop + 2:
            positions[url].append((time.time(), get(url + "/api/v1/retry/health")["log_position"]))
            time.sleep(0.01)

    threads = [threading.Thread(target=watch, args=(u,)) for u in positions]
    for t in threads:
        t.start()
    while time.time() < stop:
        samples.append((time.time(), head(port)))
        time.sleep(0.02)
    for t in threads:
        t.join()
    lags = []
    for at, seq in samples:
        for pos in positions.values():
            reached = next((t for t, p in pos if t >= at and p >= seq), None)
            if reached is not None:
                lags.append(reached - at)
    lags.sort()
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] * 1000
    print(f"RESULT lag_samples={len(lags)} p50_ms={pick(0.5):.0f} p99_ms={pick(0.99):.0f} max_ms={lags[-1]*1000:.0f}")


def claim(url_a, url_b, workers):
    now = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    seen, lock, total = {}, threading.Lock(), [0]

    def work(w):
        url = (url_a if w % 2 == 0 else url_b) + "/api/v1/retry/claim"
        while True:
            jobs = post(url, {"worker": f"w{w}", "limit": 1000, "lease_ms": 60000, "now": now})["jobs"]
            if not jobs:
                return
            with lock:
                for j in jobs:
                    seen[j["job_id"]] = seen.get(j["job_id"], 0) + 1
                    total[0] += 1

    started = time.time()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(int(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - started
    doubles = sum(1 for n in seen.values() if n > 1)
    print(f"RESULT claimed={total[0]} jobs={len(seen)} jobs_per_s={total[0]/took:.0f} double_claims={doubles} seconds={took:.1f}")


def leases(url_a, url_b, workers, jobs):
    jobs, lease = int(jobs), timedelta(seconds=2)
    base, started = datetime.now(timezone.utc) + timedelta(days=1), time.time()
    grants, lock, refused = {}, threading.Lock(), [0]
    all_claimed = [None]
    stop = [started + 600]  # at the latest

    def work(w):
        url = (url_a if w % 2 == 0 else url_b) + "/api/v1/retry/claim"
        while time.time() < stop[0]:
            now = base + timedelta(seconds=time.time() - started)
            try:
                got = post(url, {"worker": f"w{w}", "limit": 100, "lease_ms": 2000, "now": now.isoformat()})["jobs"]
            except urllib.error.HTTPError as e:  # 503 when Redis is slow: a worker asks again
                with lock:
                    refused[0] += 1
                time.sleep(0.05)
                continue
            with lock:
                for j in got:
                    until = datetime.fromisoformat(j["lease_until"].replace("Z", "+00:00"))
                    grants.setdefault(j["job_id"], []).append(until)
                if all_claimed[0] is None and len(grants) >= jobs:
                    all_claimed[0] = time.time()
                    stop[0] = all_claimed[0] + 4

    threads = [threading.Thread(target=work, args=(w,)) for w in range(int(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    overlaps = 0
    for untils in grants.values():
        untils.sort()
        overlaps += sum(1 for a, b in zip(untils, untils[1:]) if b - lease < a)
    total = sum(len(u) for u in grants.values())
    if all_claimed[0] is None:
        sys.exit(f"only {len(grants)} of {jobs} jobs were claimed in 600 s ({overlaps} overlapping leases)")
    took = all_claimed[0] - started
    print(f"RESULT jobs={len(grants)} first_claimed_in_s={took:.1f} jobs_per_s={len(grants)/took:.0f} "
          f"grants={total} reclaimed={total - len(grants)} overlapping_leases={overlaps} refused={refused[0]}")


if __name__ == "__main__":
    {"lag": lag, "claim": claim, "leases": leases}[sys.argv[1]](*sys.argv[2:])
