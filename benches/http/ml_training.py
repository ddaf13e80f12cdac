#!/usr/bin/env python3
"""Recommendation latency over HTTP while the service trains an ML model (README "ML
measurements"). Usage: benches/http/ml_training.py PORT ATTEMPTS [MODEL_TYPE]

1. Records ATTEMPTS attempts through POST /attempts (NDJSON, 10,000 a batch): the data of
   `cargo bench --bench ml` (4 job types x 3 error classes on 4 queues whose outages end at
   0.5-2 s, 5-15 s, 20-40 s and 60-120 s after the first failure, 8 tenants, random delays),
   a job every 700 ms ending now.
2. Probes POST /recommendation every 5 ms on one connection for 10 s with no training: the
   baseline.
3. Starts POST /ml/train {"async": true} and probes the same way until the job has ended;
   prints the probe's p50/p99/max during the training, then per training stage (the job's
   `progress` as last polled, every 0.5 s: loading the attempts, examples, each fold, the fit,
   ...) with the seconds spent in it, the training's wall time as the service measured it
   (training_ms: loading the attempts from the store, examples, cross-validation, fit,
   held-out scoring, the Bayesian replay and the decision costs) and its held-out figures.

ATTEMPTS 0 records nothing: the service's data directory already holds the attempts (a rerun
against the same data, e.g. with another allocator or priority setting).
"""
import http.client
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone

DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000, 90_000]
QUEUES = [("fast", 500, 2_000), ("mid", 5_000, 15_000), ("slow", 20_000, 40_000),
          ("batch", 60_000, 120_000)]
BASE = "/api/v1/retry"
# The slowest probes of the last probe() (latency ms, seconds into it, stage), at most SLOWEST.
SLOWEST = 10
slowest = []


def history(n):
    """At least n attempts, as in benches/ml.rs, the last job starting about now."""
    rng = random.Random(7)
    jobs = []
    count = 0
    while count < n:
        q = rng.randrange(len(QUEUES))
        outage = rng.randrange(QUEUES[q][1], QUEUES[q][2])
        tries = [(1, 0, 0, False)]
        elapsed = 0
        for k in range(2, 9):
            delay = DELAYS_MS[rng.randrange(len(DELAYS_MS))]
            elapsed += delay
            ok = elapsed >= outage
            tries.append((k, delay, elapsed, ok))
            if ok:
                break
        jobs.append((q, tries))
        count += len(tries)
    begin = datetime.now(timezone.utc) - timedelta(milliseconds=700 * len(jobs) + 600_000)
    for job, (q, tries) in enumerate(jobs):
        start = begin + timedelta(milliseconds=700 * job)
        for k, delay, elapsed, ok in tries:
            yield {
                "job_id": f"job-{job}", "job_type": f"type-{job % 4}", "attempt_number": k,
                "error_class": "" if ok else f"class-{job % 3}", "queue": QUEUES[q][0],
                "tenant": f"tenant-{job % 8}", "payload_size": job % 5000, "delay_ms": delay,
                "success": ok,
                "timestamp": (start + timedelta(milliseconds=elapsed)).isoformat(),
            }


def call(conn, method, path, body=None, ndjson=False):
    headers = {"Content-Type": "application/x-ndjson" if ndjson else "application/json"}
    data = body if ndjson else (json.dumps(body) if body is not None else None)
    conn.request(method, BASE + path, data, headers)
    r = conn.getresponse()
    text = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {text[:300]!r}")
    return json.loads(text) if text else None


def ingest(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    batch, sent, t = [], 0, time.time()
    for a in history(n):
        batch.append(json.dumps(a))
        if len(batch) == 10_000:
            call(conn, "POST", "/attempts", "\n".join(batch), ndjson=True)
            sent += len(batch)
            batch = []
    if batch:
        call(conn, "POST", "/attempts", "\n".join(batch), ndjson=True)
        sent += len(batch)
    print(f"INGEST attempts={sent} seconds={time.time() - t:.1f}", flush=True)


def probe(port, until, stage=lambda: "idle"):
    """POST /recommendation every 5 ms until until() is true; latencies in ms by stage()."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat, i, began = {}, 0, time.perf_counter()
    slowest.clear()
    while not until():
        i += 1
        body = {"job_id": f"probe-{i}", "job_type": f"type-{i % 4}", "attempt_number": 1 + i % 3,
                "error_class": f"class-{i % 3}", "queue": QUEUES[i % 4][0],
                "tenant": f"tenant-{i % 8}", "payload_size": 100}
        t = time.perf_counter()
        call(conn, "POST", "/recommendation", body)
        took = (time.perf_counter() - t) * 1000
        lat.setdefault(stage(), []).append(took)
        slowest.append((took, t - began, stage()))
        slowest.sort(reverse=True)
        del slowest[SLOWEST:]
        time.sleep(0.005)
    return lat


def stage_name(progress):
    """A job's progress without its counts ("fitting on 574473 examples" -> "fitting on")."""
    return " ".join(w for w in progress.split() if not w.replace(",", "").isdigit())


def print_slowest():
    print("  SLOWEST " + ", ".join(f"{ms:.1f}ms@{at:.1f}s" for ms, at, _ in slowest), flush=True)


def line(name, lat, extra=""):
    lat = sorted(lat)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print(f"{name} n={len(lat)} p50={q(0.5):.2f}ms p99={q(0.99):.2f}ms max={lat[-1]:.1f}ms"
          f"{extra}", flush=True)


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    model_type = sys.argv[3] if len(sys.argv) > 3 else "gradient_boost"
    ingest(port, n)
    end = time.time() + 10
    line("PROBE idle", probe(port, lambda: time.time() > end)["idle"])
    print_slowest()
    ctl = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    job = call(ctl, "POST", "/ml/train", {"model_type": model_type, "async": True})
    state = {"job": job, "next": 0.0, "seconds": {}, "at": time.time()}

    def ended():
        now = time.time()
        if now < state["next"]:
            return False
        state["next"] = now + 0.5
        stage = stage_name(state["job"]["progress"])
        state["seconds"][stage] = state["seconds"].get(stage, 0.0) + now - state["at"]
        state["at"] = now
        state["job"] = call(ctl, "GET", f"/ml/jobs/{job['job_id']}")
        return state["job"]["state"] not in ("queued", "running")

    by_stage = probe(port, ended, lambda: stage_name(state["job"]["progress"]))
    line("PROBE training", [x for lat in by_stage.values() for x in lat])
    for stage, lat in by_stage.items():
        line(f"  STAGE {stage!r}", lat, f" seconds={state['seconds'].get(stage, 0.0):.1f}")
    print_slowest()
    done = state["job"]
    model = done.get("model") or {}
    print("TRAINING " + json.dumps({
        "state": done["state"], "error": done.get("error"),
        "training_ms": model.get("training_ms"), "training_rows": model.get("training_rows"),
        "holdout_rows": model.get("holdout_rows"),
        "holdout_log_loss": (model.get("holdout") or {}).get("log_loss"),
        "bayesian_log_loss": (model.get("bayesian_holdout") or {}).get("log_loss"),
        "holdout_ece": (model.get("holdout") or {}).get("ece"),
        "decision_cost": model.get("decision_cost"),
    }), flush=True)


if __name__ == "__main__":
    main()
