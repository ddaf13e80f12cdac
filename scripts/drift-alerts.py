#!/usr/bin/env python3
"""ModelDriftDetected per scenario and seed, from `retryctl eval --json` reports (README "ML
measurements", round 8): issue 13's target is an alert on `drift` within two windows of the
change and none on the stationary scenarios.

    for s in 1 2 3 4 5; do retryctl eval --seed $s --json > d_$s.json; done
    scripts/drift-alerts.py d_*.json

For every file and scenario the first window whose score raised the alert, as `wN/M` (window N
of M, counted from 0; `-` when none did), `s` when the model served in that window rather than
shadowed. On `drift` the change is at 30 min (scenarios/drift.toml); the window holding it is
the first to close after it, and an alert in that window or the next counts as detected in
time (`ok`), one before it as early, one after as late. Last, per scenario, the counts over the
files: on `drift` in time / early / late / never, elsewhere the runs with any alert.
"""

import json
import sys
from collections import defaultdict

CHANGE_MS = 30 * 60_000
STATIONARY = ("payment-503", "flaky", "noisy-neighbour", "rate-limit-no-hint")


def ml_of(report):
    for s in report["strategies"]:
        if s["strategy"] == "ml":
            return s["ml"]
    return None


def verdict(windows):
    first = next((i for i, w in enumerate(windows) if w["alert"]), None)
    if first is None:
        return first, "never"
    after = next((i for i, w in enumerate(windows) if w["closed_at_ms"] > CHANGE_MS), None)
    if after is None or first > after + 1:
        return first, "late"
    return first, "early" if first < after else "ok"


def main(paths):
    counts = defaultdict(lambda: defaultdict(int))
    for path in paths:
        with open(path) as f:
            reports = json.load(f)
        cells = []
        for report in reports:
            name = report["scenario"]
            ml = ml_of(report)
            if ml is None or (name != "drift" and name not in STATIONARY):
                continue
            windows = ml["drift_windows"]
            first, kind = verdict(windows)
            if name == "drift":
                counts[name][kind] += 1
            else:
                counts[name]["alert" if first is not None else "quiet"] += 1
            where = "-" if first is None else f"w{first}"
            served = "" if first is None or windows[first]["shadow"] else "s"
            extra = f" {kind}" if name == "drift" else ""
            cells.append(f"{name} {where}{served}/{len(windows)}{extra}")
        print(f"{path}: " + "; ".join(cells))
    print("drift: in time {ok}, early {early}, late {late}, never {never}".format(
        **{k: counts["drift"][k] for k in ("ok", "early", "late", "never")}))
    for name in STATIONARY:
        c = counts[name]
        print(f"{name}: alerts in {c['alert']} of {c['alert'] + c['quiet']} runs")


if __name__ == "__main__":
    main(sys.argv[1:])
