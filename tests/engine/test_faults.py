"""Cleanups under injected faults: nothing lost, every outcome matches the ground truth."""

from __future__ import annotations

import pytest

from aicore_bulk import Outcome, RetryPolicy
from aicore_bulk.testing import Faults, Lifecycle, SimulatorConfig

MIX = {"COMPLETED": 5, "DEAD": 2, "RUNNING": 2, "STOPPING": 1}


def assert_truthful(report, sim, ids, kind="executions"):
    """Every ID once; 'deleted' only where the item really is deleted; no violation."""
    results = {item.id: item for item in report}
    assert set(results) == set(ids)
    assert len(report) == len(ids)
    for item_id, result in results.items():
        state = sim.state(kind, item_id)
        deleted = state is None or state.deleted
        if result.outcome in {Outcome.DELETED, Outcome.ALREADY_ABSENT}:
            assert deleted, (item_id, result)
        elif result.outcome is not Outcome.UNKNOWN:
            assert not deleted, (item_id, result)
    stats = sim.statistics()
    assert stats.violation_count == 0, stats.violations[:5]
    assert max(stats.bulk_sizes, default=0) <= 100


def faulty(**knobs):
    return SimulatorConfig(faults=Faults(**knobs), seed=11)


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [
        faulty(rate_limit=20.0, rate_burst=5),
        faulty(rate_limit=5.0, rate_burst=2, retry_after="http-date"),
        faulty(throttle_burst_every=30.0, throttle_burst_length=3.0),
        faulty(server_errors=0.15),
        faulty(unavailable=0.1, unavailable_retry_after=2.0),
        faulty(dropped_connections=0.1),
        faulty(truncated_bodies=0.2),
        faulty(malformed_bodies=0.2),
    ],
    ids=[
        "429-seconds",
        "429-http-date",
        "429-bursts",
        "5xx",
        "503-retry-after",
        "drops",
        "truncated",
        "malformed",
    ],
)
async def test_delete_survives_each_fault(client, aicore_simulator):
    """Under each fault alone the cleanup still deletes everything, and says so truthfully."""
    ids = aicore_simulator.seed("executions", 2_000, statuses=MIX)

    report = await client.delete("executions", ids)

    assert_truthful(report, aicore_simulator, ids)
    assert report.summary.outcomes[Outcome.DELETED] >= 1_990
    assert report.summary.outcomes[Outcome.FAILED] == 0


@pytest.mark.parametrize(
    "aicore_simulator_config", [faulty(rate_limit=10.0, rate_burst=2)], ids=["429"]
)
async def test_throttling_pauses_the_whole_dispatcher(client, aicore_simulator):
    """After a 429 every request waits: 429s stay a small share of all requests."""
    ids = aicore_simulator.seed("executions", 3_000, statuses={"DEAD": 1})

    report = await client.delete("executions", ids)

    stats = aicore_simulator.statistics()
    assert report.ok
    assert report.summary.throttled == stats.throttled > 0
    assert stats.throttled <= stats.total_requests * 0.6


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [
        SimulatorConfig(
            seed=5, lifecycle=Lifecycle(complete=0.3, die=0.2, stopped_by_others=0.3, within=8.0)
        )
    ],
    ids=["lifecycle"],
)
async def test_items_that_change_under_the_cleanup(client, aicore_simulator):
    """Items that complete, die or get stopped mid-run still end deleted, with no violation."""
    ids = aicore_simulator.seed(
        "executions", 1_000, statuses={"RUNNING": 3, "PENDING": 1, "COMPLETED": 1}
    )

    report = await client.delete("executions", ids)

    assert_truthful(report, aicore_simulator, ids)
    assert report.ok


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [faulty(server_errors=1.0)],
    ids=["dead-server"],
)
async def test_a_dead_server_ends_the_run_within_the_retry_budget(make_client, aicore_simulator):
    """When every request fails, the run ends with every item accounted for, not hammering."""
    ids = [f"item-{n:05d}" for n in range(20)]
    async with make_client(retry=RetryPolicy(attempts=3, budget=10)) as client:
        report = await client.delete("executions", ids)

    assert len(report) == 20
    assert all(i.outcome is Outcome.FAILED for i in report)
    assert "could not read" in report.items[0].message
    assert aicore_simulator.statistics().total_requests <= 1 + 3 + 10


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(token_lifetime=5.0, stop_delay=20.0)],
    ids=["short-tokens"],
)
async def test_expiring_tokens_are_refreshed(client, aicore_simulator):
    """Tokens that expire mid-run are refetched; the run does not notice."""
    ids = aicore_simulator.seed("executions", 500, statuses={"RUNNING": 1, "DEAD": 1})

    report = await client.delete("executions", ids)

    assert report.ok
    assert aicore_simulator.statistics().requests["token"] > 1
