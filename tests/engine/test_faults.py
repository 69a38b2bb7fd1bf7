"""Cleanups under injected faults: nothing lost, every outcome matches the ground truth."""

from __future__ import annotations

import pytest

from aicore_bulk import Limits, Outcome, RequestAnswered, RetryPolicy, ServiceError
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
    "aicore_simulator_config", [faulty(server_errors=1.0)], ids=["dead-server"]
)
async def test_a_server_dead_from_the_start_is_an_error_with_nothing_changed(
    make_client, aicore_simulator
):
    """If nothing can be read, the run raises ServiceError: no item was touched or is in doubt."""
    async with make_client(retry=RetryPolicy(attempts=3, budget=10)) as client:
        with pytest.raises(ServiceError, match="HTTP 5"):
            await client.delete("executions", ["item-00001"])

    assert aicore_simulator.statistics().mutating_requests == 0


async def test_a_server_that_dies_mid_run_ends_it_within_the_retry_budget(
    make_client, aicore_simulator
):
    """When the server dies after changes began, the budget ends the run; nothing is lost."""
    ids = aicore_simulator.seed("executions", 1_000, statuses={"DEAD": 1})

    def kill_after_first_change(event):
        if isinstance(event, RequestAnswered) and event.operation == "bulk":
            aicore_simulator.set_faults(Faults(server_errors=1.0))

    async with make_client(
        retry=RetryPolicy(attempts=4, budget=12),
        limits=Limits(concurrency=2),
        listener=kill_after_first_change,
    ) as client:
        report = await client.delete("executions", ids)

    outcomes = report.summary.outcomes
    assert len(report) == 1_000
    assert outcomes[Outcome.DELETED] >= 100
    assert outcomes[Outcome.DELETED] + outcomes[Outcome.UNKNOWN] == 1_000
    assert report.summary.retries <= 12
    assert aicore_simulator.statistics().mutating_requests <= 10 + 12
    for item in report.by_outcome(Outcome.DELETED):
        assert aicore_simulator.state("executions", item.id).deleted


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
