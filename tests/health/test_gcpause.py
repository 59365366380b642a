"""The collector pause that loading, state reads and planning share."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mlops_gitops.gcpause import collector_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused() as pause:
        pause.freeze = True
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing to spare collections that do not run


def test_survivors_are_frozen_only_when_asked() -> None:
    gc.enable()
    gc.unfreeze()
    with collector_paused() as pause:
        pause.freeze = True
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_failure_inside_re_enables_without_freezing() -> None:
    gc.enable()
    gc.unfreeze()
    with pytest.raises(ValueError), collector_paused() as pause:
        raise ValueError("spec error")
    assert pause.freeze is False
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
