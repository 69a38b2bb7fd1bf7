"""Smoke versions of the benchmark scenarios, so the suite cannot rot.

They run every contender on a few hundred items and check behaviour and request counts,
never timings (timings belong to ``nox -s bench``).
"""

from __future__ import annotations

import asyncio
import math

import pytest

from benchmarks import run as bench


@pytest.mark.parametrize(
    ("contender", "subset"),
    [
        ("per-item", 50),
        ("sdk", 300),
        ("raw-aiohttp", None),
        ("aicore-bulk", None),
        ("aicore-bulk-selection", None),
    ],
)
def test_every_contender_cleans_a_backlog(contender, subset):
    """Each contender deletes what it was given, with no contract violation."""
    row = asyncio.run(bench.measure(contender, items=300, mix=bench.DELETABLE_MIX, subset=subset))

    assert row["left"] == 0
    assert row["violations"] == 0
    assert row["items"] == (subset or 300)
    if contender.startswith("aicore-bulk"):
        assert row["changes"] == 3  # ceil(300 / 100): the documented minimum


def test_aicore_bulk_pipelines_a_mixed_tenant_with_the_minimum_of_changes():
    """With 20 % running, aicore-bulk deletes everything in ceil(n/100) + ceil(running/100)."""
    row = asyncio.run(bench.measure("aicore-bulk", items=500, mix=bench.MIXED))

    assert row["left"] == 0
    assert row["violations"] == 0
    assert row["changes"] == math.ceil(500 / 100) + math.ceil(100 / 100)


def test_static_and_adaptive_rates_both_finish_under_a_limit():
    """Against an untold rate limit, adaptive and static pacing both finish, truthfully."""
    adaptive = asyncio.run(bench.measure("aicore-bulk", items=300, mix=bench.MIXED, limit=50.0))
    static = asyncio.run(
        bench.measure("aicore-bulk", items=300, mix=bench.MIXED, limit=50.0, rate=25.0, static=True)
    )

    assert adaptive["left"] == static["left"] == 0
    assert static["throttled"] == 0
