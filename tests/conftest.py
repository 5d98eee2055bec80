"""Shared test set-up: Hypothesis profiles.

`ci` (loaded when the CI environment variable is set) derandomizes, so a CI
run is reproducible; `dev` keeps Hypothesis's random search for local runs.
Neither has a deadline: timing must never fail a test on a busy machine.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
