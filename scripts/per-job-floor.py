#!/usr/bin/env python3
"""Per-job floors: how close to the oracle a policy can get that knows a failure's recovery
distribution exactly but not the job's own recovery time (DESIGN, "How close to the oracle a
learner can get"), with attempts planned at the engine's grid boundaries.

    scripts/per-job-floor.py                 # both cost settings of the README

For each distribution, a dynamic program over the grid (as `survival.rs` solves it: cost of
an attempt, of a second waited, of giving up; 9 retries at most, `max_attempts` 10) gives the
best expected cost from the first failure; the oracle retries once, at the recovery. Prints
policy cost, oracle cost and their ratio.
"""

import functools
import math

# src/engine/survival.rs GRID_MS
GRID_MS = (0, 100, 250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000,
           7000, 8000, 9000, 10000, 11000, 12000, 13500, 15000, 17500, 20000, 22500, 25000,
           30000, 35000, 40000, 45000, 50000, 60000, 70000, 80000, 90000, 105000, 120000,
           150000, 180000, 210000, 240000, 300000, 360000, 450000, 600000, 750000, 900000,
           1200000, 1500000, 1800000, 2700000, 3600000)
RETRIES = 9
SETTINGS = ((1.0, 0.05, 100.0), (2.0, 1.0, 600.0))


def floor(survival, mean_recovery_s, per_attempt, per_second, give_up):
    """(policy cost, oracle cost) for recovery time R with P(R > t ms) = survival(t)."""

    @functools.lru_cache(maxsize=None)
    def value(k, left):
        alive = survival(GRID_MS[k])
        if alive <= 1e-12:
            return 0.0
        best = give_up
        if left == 0:
            return best
        for j in range(k + 1, len(GRID_MS)):
            fails = survival(GRID_MS[j]) / alive
            cost = (per_attempt + per_second * (GRID_MS[j] - GRID_MS[k]) / 1000.0
                    + fails * value(j, left - 1))
            best = min(best, cost)
        return best

    return value(0, RETRIES), per_attempt + per_second * mean_recovery_s


def lognormal(median_s, sigma):
    return lambda t: 1.0 if t <= 0 else 0.5 * math.erfc(
        math.log(t / 1000.0 / median_s) / (sigma * math.sqrt(2)))


def uniform(lo_s, hi_s):
    return lambda t: min(1.0, max(0.0, (hi_s - t / 1000.0) / (hi_s - lo_s)))


CASES = (
    ("noisy-neighbour bigco: log-normal 45 s, sigma 0.5", lognormal(45, 0.5),
     45 * math.exp(0.5 ** 2 / 2)),
    ("noisy-neighbour smallco: uniform 1-3 s", uniform(1, 3), 2.0),
    ("rate limit, 60 s window at a uniform phase", uniform(0, 60), 30.0),
    ("incident-burst, one job alone: uniform 20-40 s", uniform(20, 40), 30.0),
    ("db-maintenance window job: uniform 0-20 min left", uniform(0, 1200), 600.0),
)


def main():
    for weights in SETTINGS:
        print("per_attempt={:g}, per_second={:g}, give_up={:g}".format(*weights))
        for name, survival, mean in CASES:
            policy, oracle = floor(survival, mean, *weights)
            print("  {:<52} {:8.2f} {:8.2f} {:6.3f}".format(name, policy, oracle, policy / oracle))


if __name__ == "__main__":
    main()
