#!/usr/bin/env python3
"""A retryctl worker in plain Python 3 (standard library only).

It runs jobs, and when one fails it asks the retry service what to do instead of sleeping a
fixed backoff:

  1. run a job; on failure POST /failures: the service records the attempt, recommends the
     next delay and puts the job on its retry schedule (the answer has `next_attempt_at`);
  2. POST /claim takes the jobs whose `next_attempt_at` has come, with a lease (a job whose
     lease runs out is due again: at-least-once, so jobs must be idempotent);
  3. run each claimed job again: success -> POST /attempt (`success: true`) and the job is
     finished; failure -> POST /failures with the next attempt number;
  4. with nothing due, sleep until the earliest `next_attempt_at` it knows (never past it).

A 503 (the service's store refuses writes), a 429 and a lost connection are retried with
capped, jittered exponential backoff (honouring Retry-After); the same record is sent again, which
the service learns once. Any other error is a bug in the request and stops the worker.

The job here is a fake that fails `--fail-times` times per job, then succeeds; replace
`FakeJob.run` with real work. The worker makes `--jobs` jobs of its own, runs their first
attempts, and exits once every one of them has succeeded or been given up (or with
`--forever`, keeps claiming whatever is due on its queue).

  RETRYCTL_WORKER_TOKEN=... python3 examples/worker.py --api http://127.0.0.1:7878 --jobs 5
"""

import argparse
import datetime
import json
import os
import random
import socket
import sys
import time
import urllib.error
import urllib.request

API_BASE = "/api/v1/retry"
# The service answers these when it cannot take the request now: try the same request later.
RETRYABLE_STATUS = {429, 502, 503, 504}
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 10.0


def log(message):
    print(f"worker: {message}", file=sys.stderr, flush=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text):
    """RFC 3339 as the service writes it (`...Z`, up to nanoseconds) -> aware datetime."""
    if text is None:
        return None
    text = text.replace("Z", "+00:00")
    main, _, zone = text.partition("+")
    if "." in main:  # fromisoformat before 3.11 takes at most 6 fractional digits
        seconds, fraction = main.split(".")
        main = f"{seconds}.{fraction[:6]}"
    return datetime.datetime.fromisoformat(f"{main}+{zone or '00:00'}")


class Fatal(Exception):
    """The service refused a request for a reason another try will not change."""


class Api:
    """POSTs JSON to the service, retrying what can succeed later, until `deadline`."""

    def __init__(self, base_url, token, deadline, timeout_s=5.0):
        self.base = base_url.rstrip("/") + API_BASE
        self.token = token
        self.deadline = deadline
        self.timeout_s = timeout_s

    def post(self, path, body):
        delay = BACKOFF_FIRST_S
        while True:
            try:
                return self._post_once(path, body)
            except urllib.error.HTTPError as err:
                detail = err.read().decode("utf-8", "replace")
                if err.code not in RETRYABLE_STATUS:
                    raise Fatal(f"POST {path}: {err.code} {detail}") from None
                wait = retry_after(err) or jittered(delay)
                log(f"POST {path}: {err.code}, trying again in {wait:.1f}s ({detail.strip()})")
            except (urllib.error.URLError, ConnectionError, socket.timeout) as err:
                wait = jittered(delay)
                log(f"POST {path}: connection lost ({reason(err)}), trying again in {wait:.1f}s")
            if time.monotonic() + wait > self.deadline:
                raise Fatal(f"POST {path}: gave up at the deadline")
            time.sleep(wait)
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _post_once(self, path, body):
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.load(response)


def jittered(delay):
    """Full jitter: a uniform wait in [delay/2, delay], so restarted workers spread out."""
    return random.uniform(delay / 2, delay)


def retry_after(err):
    value = err.headers.get("Retry-After") if err.headers else None
    try:
        return min(float(value), BACKOFF_MAX_S) if value else None
    except ValueError:
        return None


def reason(err):
    return getattr(err, "reason", None) or err


class FakeJob:
    """Fails `fail_times` times per job id (as an upstream answering 503 would), then succeeds."""

    error_class = "service_unavailable"
    error_code = "503"

    def __init__(self, fail_times):
        self.fail_times = fail_times
        self.runs = {}

    def run(self, job_id):
        self.runs[job_id] = self.runs.get(job_id, 0) + 1
        if self.runs[job_id] <= self.fail_times:
            raise RuntimeError(f"upstream answered 503 (run {self.runs[job_id]})")


class Worker:
    def __init__(self, args, api, job):
        self.args = args
        self.api = api
        self.job = job
        # Jobs of ours not yet finished: job_id -> {"failed_at", "next_at"}.
        self.pending = {}
        self.outcomes = {}

    def record(self, job_id, attempt, delay_ms, error):
        """Reports one run: success to /attempt, failure to /failures (which schedules it)."""
        now = utc_now()
        body = {
            "job_id": job_id,
            "job_type": self.args.job_type,
            "queue": self.args.queue,
            "attempt_number": attempt,
            "error_class": self.job.error_class,
            "delay_ms": delay_ms,
            "time_of_day": now.hour,
            "timestamp": rfc3339(now),
        }
        if error is None:
            self.api.post("/attempt", dict(body, success=True))
            self.finish(job_id, "succeeded", attempt)
            return
        body.update(error_code=self.job.error_code, error_message=str(error))
        answer = self.api.post("/failures", body)
        next_at = parse_time(answer.get("next_attempt_at"))
        if answer.get("state") != "scheduled" or next_at is None:
            self.finish(job_id, answer.get("state", "given up"), attempt)
            return
        self.pending[job_id] = {"failed_at": now, "next_at": next_at}
        wait = (next_at - now).total_seconds()
        # The recommendation's fields sit beside the schedule's: `method`, `rationale`, ...
        log(f"{job_id}: attempt {attempt} failed; retry in {wait:.1f}s ({answer.get('rationale')})")

    def finish(self, job_id, outcome, attempt):
        self.pending.pop(job_id, None)
        self.outcomes[job_id] = outcome
        log(f"{job_id}: {outcome} after {attempt} attempt(s)")

    def run_once(self, job_id, attempt, delay_ms):
        try:
            self.job.run(job_id)
            error = None
        except Exception as err:  # a job's failure of any kind is reported, not raised
            error = err
        self.record(job_id, attempt, delay_ms, error)

    def start_jobs(self):
        for i in range(self.args.jobs):
            self.run_once(f"{self.args.prefix}-{i}", 1, 0)

    def retry(self, claimed):
        """Runs a claimed job's next attempt, if its `next_attempt_at` has come."""
        job_id = claimed["job_id"]
        now = utc_now()
        due = parse_time(claimed.get("next_attempt_at"))
        if due is not None and due > now:
            return  # not ours to run yet; the lease runs out and the service hands it out again
        known = self.pending.get(job_id)
        if known is not None:
            delay_ms = int((now - known["failed_at"]).total_seconds() * 1000)
        else:
            delay_ms = claimed.get("recommendation", {}).get("delay_ms", 0)
        self.run_once(job_id, claimed["attempt_number"] + 1, delay_ms)

    def claim(self):
        body = {
            "worker": self.args.worker,
            "limit": self.args.batch,
            "lease_ms": self.args.lease_ms,
            "queue": self.args.queue,
        }
        return self.api.post("/claim", body).get("jobs", [])

    def idle_seconds(self):
        """Until the earliest retry we know of is due, within [0.05 s, --poll]."""
        now = utc_now()
        waits = [(p["next_at"] - now).total_seconds() for p in self.pending.values()]
        return max(0.05, min([self.args.poll, *waits]))

    def loop(self):
        while self.args.forever or self.pending:
            if time.monotonic() > self.api.deadline:
                raise Fatal(f"deadline reached with {len(self.pending)} job(s) pending")
            jobs = self.claim()
            for claimed in jobs:
                self.retry(claimed)
            if not jobs:
                time.sleep(self.idle_seconds())


def parse_args(argv):
    p = argparse.ArgumentParser(description="A retryctl worker (Python standard library only).")
    p.add_argument("--api", default=os.environ.get("RETRYCTL_API", "http://127.0.0.1:7878"),
                   help="service URL (default $RETRYCTL_API or http://127.0.0.1:7878)")
    p.add_argument("--queue", default="default", help="queue to report to and claim from")
    p.add_argument("--worker", default=f"py-{socket.gethostname()}-{os.getpid()}",
                   help="worker name, shown on claimed jobs")
    p.add_argument("--job-type", default="example_job")
    p.add_argument("--jobs", type=int, default=3, help="jobs to start (default 3)")
    p.add_argument("--prefix", default=f"py-{os.getpid()}", help="job id prefix")
    p.add_argument("--fail-times", type=int, default=2,
                   help="failures of the fake job before it succeeds (default 2)")
    p.add_argument("--batch", type=int, default=10, help="jobs per claim (1-1000)")
    p.add_argument("--lease-ms", type=int, default=30_000, help="claim lease in ms")
    p.add_argument("--poll", type=float, default=1.0, help="longest idle sleep, seconds")
    p.add_argument("--deadline", type=float, default=600.0,
                   help="give up (exit 1) after this many seconds")
    p.add_argument("--forever", action="store_true",
                   help="keep claiming after our own jobs have finished")
    args = p.parse_args(argv)
    if args.jobs < 0 or args.fail_times < 0 or args.poll <= 0 or args.deadline <= 0:
        p.error("--jobs and --fail-times must be >= 0, --poll and --deadline > 0")
    return args


def main(argv):
    args = parse_args(argv)
    token = os.environ.get("RETRYCTL_WORKER_TOKEN")
    api = Api(args.api, token, time.monotonic() + args.deadline)
    worker = Worker(args, api, FakeJob(args.fail_times))
    try:
        worker.start_jobs()
        worker.loop()
    except Fatal as err:
        log(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        return 130
    done = sum(1 for o in worker.outcomes.values() if o == "succeeded")
    print(json.dumps({"succeeded": done, "outcomes": worker.outcomes}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
