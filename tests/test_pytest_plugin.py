"""The pytest plugin gives test authors a client of the simulator that lives in virtual time."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from aicore_bulk import AiohttpTransport, Limits, Outcome, RunOptions
from aicore_bulk.testing import SimulatorConfig
from tests._support import run_pytest

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


async def test_running_and_completed_items_are_deleted_in_virtual_time(
    aicore_client, aicore_simulator, aicore_clock
):
    """RUNNING items are stopped, waited for on the virtual clock, then deleted with the rest."""
    running = [f"run-{n:04d}" for n in range(50)]
    completed = [f"done-{n:04d}" for n in range(50)]
    for item_id in running:
        aicore_simulator.put("executions", item_id, "RUNNING")
    for item_id in completed:
        aicore_simulator.put("executions", item_id, "COMPLETED")
    started = aicore_clock.monotonic()

    report = await aicore_client.delete("executions", running + completed)

    assert report.summary.outcomes[Outcome.DELETED] == 100
    assert report.summary.mutating_requests == 2  # the stops and deletes, then the late deletes
    assert all(aicore_simulator.state("executions", i).deleted for i in running + completed)
    # The simulator's 5 s STOPPING passed on the shared clock: the client waited it out there.
    assert aicore_clock.monotonic() - started >= SimulatorConfig().stop_delay
    assert aicore_simulator.statistics().violation_count == 0


@pytest.mark.parametrize("aicore_simulator_config", [SimulatorConfig(stop_delay=120)])
@pytest.mark.parametrize("aicore_client_options", [{"options": RunOptions(stop_wait=60)}])
async def test_client_options_reach_the_client(aicore_client, aicore_simulator, aicore_clock):
    """A parametrized ``aicore_client_options`` sets the client's run options."""
    aicore_simulator.put("executions", "run-0001", "RUNNING")
    started = aicore_clock.monotonic()

    report = await aicore_client.delete("executions", ["run-0001"])

    assert report.items[0].outcome is Outcome.FAILED
    assert "after 60 s" in report.items[0].message
    assert 60 <= aicore_clock.monotonic() - started < 120


@pytest.mark.parametrize("aicore_client_options", [{"limits": Limits(concurrency=1)}])
async def test_client_limits_cap_the_requests_in_flight(aicore_client, aicore_simulator):
    """``limits`` in ``aicore_client_options`` caps the client's requests in flight."""
    ids = aicore_simulator.seed("executions", 500, statuses={"COMPLETED": 1.0})

    report = await aicore_client.delete("executions", ids)

    assert report.ok
    assert aicore_simulator.statistics().peak_in_flight == 1


@pytest.mark.parametrize(
    "aicore_client_options",
    [{"transport": AiohttpTransport(connections=2), "resource_group": "team-a"}],
)
async def test_a_transport_of_ones_own_is_tracked_by_the_clock(aicore_client, aicore_simulator):
    """A transport given in the options is used, tracked by the clock, in the group given."""
    aicore_simulator.put("executions", "run-0001", "RUNNING", resource_group="team-a")

    report = await aicore_client.delete("executions", ["run-0001"])

    assert report.ok
    assert aicore_client.resource_group == "team-a"
    assert repr(aicore_client._connection.transport) == (
        "<tracked <AiohttpTransport connections=2>>"
    )


def test_the_client_is_closed_after_the_test_and_bad_options_are_named(tmp_path):
    """The fixture's client is closed at teardown, and an unknown option fails the test's setup."""
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["aicore_bulk.testing.pytest_plugin"]\n', encoding="utf-8"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\n',
        encoding="utf-8",
    )
    (tmp_path / "test_fixture.py").write_text(
        """
import pytest
from aicore_bulk import InputError

clients = []

async def test_hold(aicore_client):
    clients.append(aicore_client)

async def test_closed():
    with pytest.raises(InputError, match="closed"):
        await clients[0].plan("executions", ["run-0001"])

@pytest.mark.parametrize("aicore_client_options", [{"stop_wait": 60}])
async def test_typo(aicore_client):
    pass
""",
        encoding="utf-8",
    )

    result = run_pytest(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 passed, 1 error in " in result.stdout.splitlines()[-1], result.stdout
    assert "aicore_client_options: no option stop_wait; use limits, listener," in result.stdout


def test_the_testing_extra_asks_for_what_the_plugin_needs():
    """``aicore-bulk[testing]`` brings pytest and pytest-asyncio at the test suite's floors."""
    extras = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    floors = {re.split(r"[<>=]", requirement)[0]: requirement for requirement in extras["test"]}

    assert sorted(extras["testing"]) == sorted([floors["pytest"], floors["pytest-asyncio"]])
