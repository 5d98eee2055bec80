"""Shared test set-up: Hypothesis profiles.

`ci` (loaded when the CI environment variable is set) derandomizes, so a CI
run is reproducible; `dev` keeps Hypothesis's random search for local runs.
Neither has a deadline or the too-slow health check: timing must never fail
a test on a busy machine.
"""

import os

from hypothesis import HealthCheck, settings

# Slow data generation on a loaded machine is not a bug either.
_RELAXED = [HealthCheck.too_slow]
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=_RELAXED,
)
settings.register_profile("dev", deadline=None, suppress_health_check=_RELAXED)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
