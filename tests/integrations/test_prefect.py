"""The Prefect tasks and the example flows, run by Prefect 3 against the simulator.

Prefect's test harness serves a temporary Prefect server (SQLite, 127.0.0.1) for the module.
``nox -s integrations-prefect`` runs this; without Prefect the module is skipped.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip(
    "prefect", reason="Prefect is not installed: nox -s integrations-prefect runs these tests"
)

from prefect import flow
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

from aicore_bulk import ItemsFailedError, Status
from aicore_bulk.integrations.prefect import delete, plan, stop
from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "prefect_flow.py"
DAY = 86_400


@pytest.fixture(scope="module")
def harness():
    """A temporary Prefect server for the whole module (it takes about ten seconds)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def example(harness):
    spec = importlib.util.spec_from_file_location("prefect_flow", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sim(harness):
    return Simulator(SimulatorConfig(stop_delay=0.0))


@pytest.fixture
def server(sim, monkeypatch, tmp_path):
    """The simulator, and the AICORE_* settings that point at it (no config file)."""
    with serve_in_thread(sim) as running:
        for name, value in running.environment("default").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AICORE_HOME", str(tmp_path))
        yield running


@pytest.fixture
def task_log(caplog):
    """The lines our tasks logged through Prefect's run logger."""
    caplog.set_level(logging.INFO)
    return lambda: [r.getMessage() for r in caplog.records if r.name == "prefect.task_runs"]


def seed(sim, group="default", old=3, new=2):
    now = sim.clock.time()
    for i in range(old):
        sim.put(
            "executions",
            f"old-{group}-{i}",
            "COMPLETED",
            resource_group=group,
            created_at=now - 40 * DAY,
        )
    for i in range(new):
        sim.put(
            "executions", f"new-{group}-{i}", "DEAD", resource_group=group, created_at=now - DAY
        )


def test_the_example_flow_deletes_old_finished_runs_and_logs_through_prefect(
    example, sim, server, task_log
):
    """aicore_cleanup plans, deletes only old finished runs, returns the report's JSON."""
    seed(sim, old=4, new=2)
    sim.put("executions", "old-running", "RUNNING", created_at=sim.clock.time() - 40 * DAY)

    report = example.aicore_cleanup(days=30)

    assert report["summary"]["outcomes"]["deleted"] == 4
    assert sorted(item["id"] for item in report["items"]) == [f"old-default-{i}" for i in range(4)]
    assert all(sim.state("executions", f"old-default-{i}").deleted for i in range(4))
    assert not any(sim.state("executions", f"new-default-{i}").deleted for i in range(2))
    assert sim.state("executions", "old-running").status == "RUNNING"
    said = task_log()
    assert "aicore-bulk: dry run in resource group default: a run would change 4 executions" in (
        " ".join(said)
    )
    assert "aicore-bulk: 4 of 4 settled (100%)" in said
    assert any(
        line.startswith("aicore-bulk: executions -> DELETED in resource group default: 4 deleted; ")
        for line in said
    )


def test_the_fleet_flow_maps_one_task_per_resource_group(example, sim, server):
    """aicore_cleanup_fleet runs one task per group and cleans each group, and only it."""
    groups = {"team-a": 1, "team-b": 2, "team-c": 3}
    for group, old in groups.items():
        seed(sim, group, old=old, new=1)
    seed(sim, "team-z", old=2, new=0)

    deleted = example.aicore_cleanup_fleet(resource_groups=list(groups), days=30)

    assert deleted == groups
    for group, old in groups.items():
        assert all(sim.state("executions", f"old-{group}-{i}", group).deleted for i in range(old))
        assert not sim.state("executions", f"new-{group}-0", group).deleted
    assert not any(sim.state("executions", f"old-team-z-{i}", "team-z").deleted for i in range(2))


def test_a_task_whose_items_fail_fails_and_keeps_the_report_on_its_exception(
    harness, sim, server, task_log
):
    """Items not ok make the task run Failed; its ItemsFailedError carries the whole report."""
    for i in range(3):
        sim.put("executions", f"unknown-{i}", "UNKNOWN")

    @flow
    def stop_them(ids: list[str]) -> tuple[bool, BaseException]:
        state = stop("executions", ids, return_state=True)
        return state.is_failed(), state.result(raise_on_failure=False)

    failed, error = stop_them([f"unknown-{i}" for i in range(3)])

    assert failed
    assert isinstance(error, ItemsFailedError)
    assert error.report.to_json()["summary"]["outcomes"]["skipped"] == 3
    assert "aicore-bulk: unknown-0 skipped (code none): " in " ".join(task_log())


def test_a_service_key_in_a_prefect_secret_configures_the_task(harness, sim, server, monkeypatch):
    """service_key_secret reads the key from a Prefect Secret block and nothing from AICORE_*."""
    Secret(value=server.service_key()).save("aicore-service-key", overwrite=True)
    for name in ("AICORE_BASE_URL", "AICORE_AUTH_URL", "AICORE_CLIENT_SECRET"):
        monkeypatch.setenv(name, "not-used")
    seed(sim, "team-a", old=2, new=0)

    @flow
    def cleanup() -> dict:
        return delete(
            "executions",
            ["old-team-a-0", "old-team-a-1"],
            service_key_secret="aicore-service-key",
            resource_group="team-a",
        )

    report = cleanup()

    assert report["summary"]["outcomes"]["deleted"] == 2


def test_the_plan_task_returns_the_plan_and_changes_nothing(harness, sim, server):
    """The plan task returns the plan's JSON, one route per item, and sends no change."""
    seed(sim, old=1, new=0)
    sim.put("executions", "running-0", "RUNNING")

    @flow
    def dry_run() -> dict:
        return plan("executions", ["old-default-0", "running-0"], target="STOPPED")

    result = dry_run()

    assert result["dry_run"] is True
    assert {item["id"]: item["path"] for item in result["items"]} == {
        "old-default-0": "unchanged",
        "running-0": "stop",
    }
    assert sim.statistics().mutating_requests == 0


async def test_an_async_flow_can_call_the_tasks_directly(harness, sim, server):
    """A sync task called in an async flow runs its own loop in a thread, Secret included."""
    seed(sim, old=2, new=0)
    await Secret(value=server.service_key()).asave("aicore-key-async", overwrite=True)
    # Prefect's own client leaves a socket to its API server open when an async flow's loop
    # ends (an async flow with no task in it does too): ignore that socket, and only it.
    api = urlsplit(PREFECT_API_URL.value())
    warnings.filterwarnings(
        "ignore",
        message=rf"Exception ignored in: <socket\.socket .*raddr=\('{api.hostname}', {api.port}\)>",
        category=pytest.PytestUnraisableExceptionWarning,
    )

    @flow
    async def cleanup() -> dict:
        return delete(
            "executions",
            selection={"statuses": [Status.COMPLETED.value]},
            service_key_secret="aicore-key-async",
            resource_group="default",
        )

    report = await cleanup()

    assert report["summary"]["outcomes"]["deleted"] == 2
