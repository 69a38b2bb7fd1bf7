"""The orchestrator recipes' task code works as written, against the simulator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from aicore_bulk import RunDeclinedError
from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread

RECIPE = Path(__file__).parents[1] / "docs" / "examples" / "cleanup_task.py"


@pytest.fixture
def recipe():
    spec = importlib.util.spec_from_file_location("cleanup_task", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tenant(monkeypatch):
    sim = Simulator(SimulatorConfig(stop_delay=0.0))
    now = sim.clock.time()
    for n in range(5):
        sim.put("executions", f"old-done-{n}", "COMPLETED", created_at=now - 40 * 86400)
        sim.put("executions", f"new-done-{n}", "COMPLETED", created_at=now - 86400)
    sim.put("executions", "old-running", "RUNNING", created_at=now - 40 * 86400)
    with serve_in_thread(sim) as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        yield sim


def test_the_scheduled_cleanup_deletes_only_old_finished_runs(recipe, tenant):
    """cleanup_old_executions deletes COMPLETED/DEAD runs older than the cut-off."""
    summary = recipe.cleanup_old_executions(days=30)

    assert summary["outcomes"]["deleted"] == 5
    assert all(tenant.state("executions", f"old-done-{n}").deleted for n in range(5))
    assert not any(tenant.state("executions", f"new-done-{n}").deleted for n in range(5))
    assert tenant.state("executions", "old-running").status == "RUNNING"


def test_the_scheduled_cleanup_refuses_above_its_cap(recipe, tenant):
    """Above max_items the task raises and nothing is changed."""
    with pytest.raises(RunDeclinedError):
        recipe.cleanup_old_executions(days=30, max_items=2)

    assert tenant.statistics().mutating_requests == 0


def test_the_one_liner_deletes_the_ids_it_is_handed(recipe, tenant):
    """delete_listed deletes the given IDs and counts unknown ones as already absent."""
    summary = recipe.delete_listed(["old-done-0", "never-was-1"])

    assert summary["outcomes"]["deleted"] == 1
    assert summary["outcomes"]["already_absent"] == 1
    assert tenant.state("executions", "old-done-0").deleted
