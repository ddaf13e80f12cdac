#!/usr/bin/env python3
"""Medians over seeds of the `ml` strategy against `bayesian` and the oracle, from
`retryctl eval --json` reports (README "ML measurements").

    for s in 1 2 3 4 5; do retryctl eval --seed $s --json > default_$s.json; done
    scripts/ml-vs-bayesian.py default_*.json

Per scenario: the median over the files of each cost, of ml / bayesian, and of the share of the
bayesian-to-oracle gap that ml closes ((bayesian - ml) / (bayesian - oracle); negative when ml
costs more), plus the share of decisions the ML tier made, the median of the deploy gate's
held-out decision-cost estimate (model / Bayesian tier, `est`), and whether its model passed
the deploy gate and raised ModelDriftDetected (counts over the files), and why the gate
refused the others (counts over the files: F its forecasts were not better, S its decisions went
where too few held-out retries did, C its decisions cost more, E they were not shown cheaper by
two standard errors, B they were the Bayesian tier's, T no model was trained). A model the gate refused did not serve: the
Bayesian tier decided, so ml/bayes is 1 there. `rolled back` counts the served models the live
check took off (README "ML tier"). After the table, every served model per file: its ml/bayes
cost and, if the live check rolled it back, when (scenario minutes) and on what numbers, else
the live check as it stood at the end of the run (forecasts, and the decisions' cost under the
recalibrated Bayesian forecast, model vs Bayesian), and the canary's course: promoted to every
job (when, on what realized costs), rolled back by its realized costs or the live check, or still
a canary at the end (the realized cost per ended episode of each arm). Last, the worst ml/bayes
of any run and how many runs cost more than 1.02 x the Bayesian tier (the issue's target).
"""

import json
import statistics
import sys
from collections import defaultdict


def by_name(report):
    return {s["strategy"]: s for s in report["strategies"]}


def main(paths):
    rows = defaultdict(list)
    served = []
    for path in paths:
        with open(path) as f:
            for report in json.load(f):
                r = by_name(report)
                rows[report["scenario"]].append(r)
                if "ml" in r and r["ml"]["ml"]["passes_gate"]:
                    served.append((path, report["scenario"], r))
    head = (
        f"{'scenario':<20} {'bayes':>8} {'ml':>8} {'oracle':>8} {'ml/bayes':>8} "
        f"{'gap closed':>10} {'ml decides':>10} {'est':>6} {'gate':>5} {'drift alert':>11} {'rolled back':>11} "
        f"refused"
    )
    print(head)
    for scenario in sorted(rows):
        runs = [r for r in rows[scenario] if "ml" in r]
        if not runs:
            continue
        med = lambda f: statistics.median(f(r) for r in runs)
        bayes = med(lambda r: r["bayesian"]["cost_per_job"])
        ml = med(lambda r: r["ml"]["cost_per_job"])
        oracle = med(lambda r: r["oracle"]["cost_per_job"])
        ratio = med(lambda r: r["ml"]["cost_per_job"] / r["bayesian"]["cost_per_job"])
        gaps = [gap(r) for r in runs]
        gaps = [g for g in gaps if g is not None]
        closed = f"{statistics.median(gaps) * 100:.0f}%" if gaps else "-"
        decides = med(ml_share)
        ests = [e for e in (estimate(r) for r in runs) if e is not None]
        est = f"{statistics.median(ests):.3f}" if ests else "-"
        gate = sum(1 for r in runs if r["ml"]["ml"]["passes_gate"])
        alerts = sum(1 for r in runs if any(w["alert"] for w in r["ml"]["ml"]["drift_windows"]))
        reasons = defaultdict(int)
        for r in runs:
            for code in refusal(r["ml"]["ml"]):
                reasons[code] += 1
        refused = " ".join(f"{code}{n}" for code, n in sorted(reasons.items())) or "-"
        rolled = sum(1 for r in runs if r["ml"]["ml"].get("rollback"))
        print(
            f"{scenario:<20} {bayes:>8.2f} {ml:>8.2f} {oracle:>8.2f} {ratio:>8.3f} "
            f"{closed:>10} {decides * 100:>9.0f}% {est:>6} {gate:>2}/{len(runs)} {alerts:>8}/{len(runs)} "
            f"{rolled:>8}/{len(runs)} {refused}"
        )
    print("served models (ml/bayes per file; the live check's rollback, if any):")
    for path, scenario, r in served:
        ratio = r["ml"]["cost_per_job"] / r["bayesian"]["cost_per_job"]
        back = r["ml"]["ml"].get("rollback")
        end = r["ml"]["ml"].get("live_check_at_end")
        what = "kept" + (f" ({check_text(end)})" if end else "")
        if back:
            what = f"rolled back at {back['at_ms'] / 60000:.1f} min: " + check_text(
                back.get("check") or back
            )
        print(f"  {path:<24} {scenario:<20} {ratio:>7.3f}  {canary_text(r['ml']['ml'])}; {what}")
    ratios = [
        r["ml"]["cost_per_job"] / r["bayesian"]["cost_per_job"]
        for runs in rows.values()
        for r in runs
        if "ml" in r and r["bayesian"]["cost_per_job"] > 0
    ]
    over = sum(1 for x in ratios if x > 1.02)
    print(f"runs: {len(ratios)}, worst ml/bayes {max(ratios):.3f}, above 1.02: {over}")


def canary_text(ml):
    """The canary's course: promoted, rolled back on its realized costs, or still a canary."""
    promoted = ml.get("promotion")
    back = ml.get("rollback") or {}
    if promoted:
        return f"promoted at {promoted['at_ms'] / 60000:.1f} min ({arms_text(promoted['canary'])})"
    if back.get("canary"):
        return f"canary rolled back on cost ({arms_text(back['canary'])})"
    end = ml.get("canary_at_end")
    if end:
        return f"still a canary ({arms_text(end)})"
    return "ended by the live check" if back else "no canary reported"


def arms_text(c):
    return (
        f"realized {c['ml_cost']:.2f} over {c['ml_episodes']} vs {c['control_cost']:.2f} over "
        f"{c['control_episodes']}, SE {c['standard_error']:.2f}, {c['clusters']} clusters"
    )


def check_text(c):
    """The live check's numbers: forecasts (log-loss, clusters, standard error) and, when
    judged, the decisions' cost under the recalibrated Bayesian forecast."""
    text = (
        f"log-loss {c['model_log_loss']:.3f} vs {c['bayesian_log_loss']:.3f} over "
        f"{c['outcomes']} retries"
    )
    if "clusters" in c:
        text += f" in {c['clusters']} clusters"
    text += f", SE {c['standard_error']:.3f}"
    if c.get("forecasts_worse"):
        text += " (worse)"
    d = c.get("decisions")
    if d:
        model, bayes, se, worse = d
        text += f"; decisions {model:.2f} vs {bayes:.2f}, SE {se:.2f}" + (" (worse)" if worse else "")
    return text


# The deploy gate's reasons (model::deploy_gate) and their codes.
REASONS = [
    ("its forecasts are not better", "F"),
    ("support too thin", "S"),
    ("its decisions cost more", "C"),
    ("not shown to cost less", "E"),
    ("are the Bayesian tier's", "B"),
]


def refusal(ml):
    """The codes of why the gate refused this run's model (none when it passed)."""
    if ml.get("training_error"):
        return ["T"]
    why = ml.get("gate_refusal") or ""
    return [code for text, code in REASONS if text in why]


def gap(r):
    bayes, ml, oracle = (r[k]["cost_per_job"] for k in ("bayesian", "ml", "oracle"))
    if bayes - oracle <= 1e-9:
        return None
    return (bayes - ml) / (bayes - oracle)


def estimate(r):
    d = r["ml"]["ml"].get("decision_cost")
    if not d or d.get("decisions", 0) == 0 or d["bayesian"] <= 0:
        return None
    return d["model"] / d["bayesian"]


def ml_share(r):
    methods = r["ml"]["methods"]
    total = sum(methods.values())
    return methods.get("ml", 0) / total if total else 0.0


if __name__ == "__main__":
    main(sys.argv[1:])
