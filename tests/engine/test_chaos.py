"""Chaos, smoke size: every fault at once; the report must match the ground truth item by item.

The full-size run (50,000 items) is issue 6's; this one runs in the ordinary suite.
"""

from __future__ import annotations

import logging

import pytest

from aicore_bulk import Outcome
from aicore_bulk.testing import Faults, Lifecycle, SimulatorConfig

CHAOS = SimulatorConfig(
    seed=2026,
    token_lifetime=20.0,
    shuffle_answers=True,
    lifecycle=Lifecycle(complete=0.2, die=0.1, stopped_by_others=0.2, within=30.0),
    faults=Faults(
        server_errors=0.10,
        unavailable=0.05,
        unavailable_retry_after=1.0,
        dropped_connections=0.02,
        truncated_bodies=0.01,
        throttle_burst_every=15.0,
        throttle_burst_length=1.0,
    ),
)


@pytest.mark.parametrize("aicore_simulator_config", [CHAOS], ids=["chaos"])
async def test_chaos_smoke_every_item_matches_the_ground_truth(client, aicore_simulator, caplog):
    """With every fault on, no item is lost or doubled, and no outcome contradicts the truth."""
    caplog.set_level(logging.DEBUG, logger="aicore_bulk")
    ids = aicore_simulator.seed(
        "executions",
        3_000,
        statuses={"COMPLETED": 5, "DEAD": 2, "RUNNING": 2, "PENDING": 0.5, "STOPPING": 0.5},
    )

    report = await client.delete("executions", ids + ids[:100] + ["gone-00001"])

    results = {item.id: item for item in report}
    assert len(report) == len(results) == 3_001
    for item_id, item in results.items():
        state = aicore_simulator.state("executions", item_id)
        gone = state is None or state.deleted
        if item.outcome in {Outcome.DELETED, Outcome.ALREADY_ABSENT}:
            assert gone, item
        elif item.outcome is Outcome.FAILED:
            assert not gone, item
    stats = aicore_simulator.statistics()
    assert stats.violation_count == 0, stats.violations[:3]
    assert max(stats.bulk_sizes) <= 100
    assert report.summary.outcomes[Outcome.DELETED] >= 2_900
    secret = aicore_simulator.config.client_secret
    logged = caplog.text + repr(report.to_json())
    assert secret not in logged
    assert not any(token in logged for token in aicore_simulator._tokens)
