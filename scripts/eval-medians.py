#!/usr/bin/env python3
"""Medians over seeds of `retryctl eval --json` reports: the README's "Results under two cost
settings" table.

    for s in 1 2 3 4 5; do retryctl eval --seed $s --json > out/default_$s.json; done
    scripts/eval-medians.py out/default_*.json
    scripts/eval-medians.py --workloads out/default_*.json   # bayesian per workload too

Per seed, the best static strategy is the cheaper of `traditional` and `full_jitter`; its
success rate is "static ok". Each column is the median of its per-seed values.
"""

import json
import statistics
import sys
from collections import defaultdict

STATIC = ("traditional", "full_jitter")
HEADER = ("scenario", "bayes cost", "best static", "oracle", "vs static", "vs oracle",
          "bayes ok", "static ok", "retries/job")


def per_seed_rows(paths):
    """scenario -> list of per-seed figures (one dict per report file)."""
    rows = defaultdict(list)
    for path in paths:
        with open(path) as f:
            for report in json.load(f):
                by_name = {s["strategy"]: s for s in report["strategies"]}
                best = min((by_name[n] for n in STATIC), key=lambda s: s["cost_per_job"])
                bayes = by_name["bayesian"]
                rows[report["scenario"]].append({
                    "bayes": bayes,
                    "best": best,
                    "oracle": by_name["oracle"],
                })
    return rows


def median(values):
    return statistics.median(values)


def table(rows):
    print("{:<20} {:>10} {:>11} {:>8} {:>9} {:>9} {:>8} {:>9} {:>11}".format(*HEADER))
    for scenario in sorted(rows):
        seeds = rows[scenario]
        m = lambda f: median([f(s) for s in seeds])
        print("{:<20} {:>10.2f} {:>11.2f} {:>8.2f} {:>9.2f} {:>9.2f} {:>7.1f}% {:>8.1f}% {:>11.2f}".format(
            scenario,
            m(lambda s: s["bayes"]["cost_per_job"]),
            m(lambda s: s["best"]["cost_per_job"]),
            m(lambda s: s["oracle"]["cost_per_job"]),
            m(lambda s: s["bayes"]["cost_vs_best_static"]),
            m(lambda s: s["bayes"]["cost_vs_oracle"]),
            m(lambda s: s["bayes"]["success_rate"]) * 100,
            m(lambda s: s["best"]["success_rate"]) * 100,
            m(lambda s: s["bayes"]["retries_per_job"]),
        ))


def workloads(rows):
    """Bayesian per workload of every scenario with several: per-seed lost (out of attempts)
    and cost per job."""
    print("\nbayesian per workload, per seed: lost (out of attempts) cost/job")
    for scenario in sorted(rows):
        seeds = rows[scenario]
        names = [w["workload"] for w in seeds[0]["bayes"].get("workloads", [])]
        if len(names) < 2:
            continue
        for i, name in enumerate(names):
            cells = []
            for s in seeds:
                w = s["bayes"]["workloads"][i]
                lost = w["given_up"] + w["out_of_attempts"]
                cells.append("{} ({}) {:.2f}".format(lost, w["out_of_attempts"], w["cost_per_job"]))
            print("{:<20} {:<14} {}".format(scenario, name, "  ".join(cells)))


def main(argv):
    show_workloads = "--workloads" in argv
    paths = [a for a in argv if a != "--workloads"]
    if not paths:
        sys.exit("usage: eval-medians.py [--workloads] REPORT.json...")
    rows = per_seed_rows(paths)
    table(rows)
    if show_workloads:
        workloads(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
