"""A check tunes the cyclic collector for itself and gives the caller's back."""

from __future__ import annotations

import gc

from gradcheck.internal.checking.check import CHECKING_THRESHOLD, collector_tuned


def test_the_callers_collector_settings_come_back() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with collector_tuned():
        assert gc.get_threshold()[0] == CHECKING_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_caller_who_froze_objects_keeps_them_frozen() -> None:
    before = gc.get_threshold()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_tuned():
            assert gc.get_threshold() == before
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_an_error_in_the_check_restores_the_settings() -> None:
    before = gc.get_threshold()
    try:
        with collector_tuned():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
