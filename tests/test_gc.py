"""Pausing the cyclic collector around loops that build many objects."""

from __future__ import annotations

import gc

from aicore_bulk._gc import collector_paused


def test_what_a_paused_block_made_goes_to_the_oldest_generation_unscanned():
    """After the block the collector runs again; what it made is not left to young scans."""
    with collector_paused():
        made = [[index] for index in range(20_000)]
        assert not gc.isenabled()

    assert gc.isenabled()
    oldest = {id(thing) for thing in gc.get_objects(generation=2)}
    assert {id(made[0]), id(made[-1])} <= oldest


def test_objects_frozen_by_someone_else_stay_frozen():
    """An application's own gc.freeze() (before a fork, say) is left as it was."""
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            made = [[index] for index in range(1_000)]
        assert gc.get_freeze_count() == frozen
        assert len(made) == 1_000
    finally:
        gc.unfreeze()


def test_a_collector_switched_off_stays_off():
    """When the application runs without the collector, the block does not switch it on."""
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
