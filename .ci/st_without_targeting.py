"""Runs schemathesis's command line with Hypothesis's `target` phase switched off.

Schemathesis reports a success-rate score to `hypothesis.target()` for every generated case, and
Hypothesis then hill-climbs on it in its `target` phase. With schemathesis 4.32.5 and Hypothesis
6.170.27 that phase can fail inside Hypothesis itself ("IndexError: Index 27 out of range" in
`optimiser.attempt_replace`, on DELETE /policies/{name} in the CI run of 2026-12-07), which
schemathesis reports as a runtime error of the run, not of the API. It happened once in CI and
not in a local run with the same seed: the run stops at --max-time, so how far the optimiser
gets depends on the machine's speed. Without the phase every check still runs on every
generated case; only the steering towards cases the server accepts is lost.
Usage: python st_without_targeting.py <st arguments>
"""

import sys

import hypothesis
from schemathesis.cli import schemathesis
from schemathesis.config._projects import ProjectConfig

_settings_with_targeting = ProjectConfig.get_hypothesis_settings


def _settings_without_targeting(self, *args, **kwargs):
    settings = _settings_with_targeting(self, *args, **kwargs)
    phases = [phase for phase in settings.phases if phase is not hypothesis.Phase.target]
    return hypothesis.settings(settings, phases=phases)


ProjectConfig.get_hypothesis_settings = _settings_without_targeting

if __name__ == "__main__":
    sys.argv[0] = "st"
    sys.exit(schemathesis())
