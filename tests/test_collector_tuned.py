"""A check tunes the cyclic collector for itself and gives the caller's back.

The collector's state is process-wide, and another test's check may still
run in a thread of this process; each case runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PRELUDE = """
import gc
from gradcheck.internal.checking.check import CHECKING_THRESHOLD, collector_tuned
before = gc.get_threshold()
frozen0 = gc.get_freeze_count()  # Python 3.12.1 starts with objects frozen
"""


def run_fresh(body: str) -> None:
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_callers_collector_settings_come_back() -> None:
    run_fresh(
        """
        with collector_tuned():
            if frozen0 == 0:
                assert gc.get_threshold()[0] == CHECKING_THRESHOLD
                assert gc.get_freeze_count() > 0
            else:  # frozen already (by the caller or the interpreter): left alone
                assert gc.get_threshold() == before
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == frozen0
        """
    )


def test_a_caller_who_froze_objects_keeps_them_frozen() -> None:
    run_fresh(
        """
        gc.freeze()
        frozen = gc.get_freeze_count()
        with collector_tuned():
            assert gc.get_threshold() == before
        assert gc.get_freeze_count() == frozen
        """
    )


def test_an_error_in_the_check_restores_the_settings() -> None:
    run_fresh(
        """
        try:
            with collector_tuned():
                raise KeyError("x")
        except KeyError:
            pass
        assert gc.get_threshold() == before and gc.get_freeze_count() == frozen0
        """
    )
