#!/usr/bin/env python3
"""One client beside a load: POST /failures (a new job each) every 5 ms on its own connection for
SECONDS, then its p50/p90/p99/max latency. Usage: benches/http/probe.py PORT SECONDS"""
import http.client, json, sys, time, os
port = int(sys.argv[1]); secs = float(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
lat = []; end = time.time() + secs; i = 0
run = os.urandom(4).hex()
while time.time() < end:
    i += 1
    body = json.dumps({"job_id": f"probe-{run}-{i}", "job_type": "job_1", "error_class": "timeout",
                       "attempt_number": 1, "queue": "q1"})
    t = time.perf_counter()
    c.request("POST", "/api/v1/retry/failures", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    lat.append((time.perf_counter() - t) * 1000)
    time.sleep(0.005)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"PROBE n={len(lat)} p50={q(0.5):.2f}ms p90={q(0.9):.2f}ms p99={q(0.99):.2f}ms max={lat[-1]:.1f}ms")
