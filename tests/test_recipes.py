"""The orchestrator recipes' task code works as written, against the simulator."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aicore_bulk import RunDeclinedError
from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment

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


DOCS = Path(__file__).parents[1] / "docs"
#: Files the orchestrators page shows whole; each runs in a test of its own.
SHOWN_WHOLE = ("examples/prefect_flow.py", "examples/airflow_dag.py", "examples/ci_cleanup.sh")


def shown_files():
    """Each ``<!-- examples/... -->`` marker of the page and the fenced block after it."""
    text = (DOCS / "orchestrators.md").read_text(encoding="utf-8")
    marked = re.compile(r"^<!-- (examples/\S+) -->\n```\w*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    return dict(marked.findall(text))


def test_the_page_shows_the_tested_files_exactly():
    """Every recipe file the tests run appears on the page verbatim, and nothing else does."""
    shown = shown_files()

    assert sorted(shown) == sorted(SHOWN_WHOLE)
    for name, block in shown.items():
        assert block == (DOCS / name).read_text(encoding="utf-8"), name


CI_SCRIPT = DOCS / "examples" / "ci_cleanup.sh"
BASH = shutil.which("bash") or "/bin/bash"
needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="the CI recipe uses jq")


def run_ci_script(tmp_path, settings):
    """The CI recipe as a CI runner runs it: bash -e, the installed command on the PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    return subprocess.run(
        [BASH, "-e", str(CI_SCRIPT)],
        cwd=tmp_path,
        env=bare_environment(PATH=path, HOME=str(tmp_path), **settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_ci_script_is_valid_bash():
    """The CI recipe parses under bash -n."""
    assert subprocess.run([BASH, "-n", str(CI_SCRIPT)], check=False).returncode == 0


@needs_jq
def test_the_ci_script_deletes_and_prints_the_outcomes(tmp_path):
    """Under bash -e the recipe deletes old DEAD runs, prints the outcomes, keeps the report."""
    sim = Simulator(SimulatorConfig(stop_delay=0.0))
    now = sim.clock.time()
    for n in range(3):
        sim.put("executions", f"old-dead-{n}", "DEAD", created_at=now - 8 * 86400)
    sim.put("executions", "new-dead-0", "DEAD", created_at=now - 86400)

    with serve_in_thread(sim) as server:
        result = run_ci_script(tmp_path, server.environment())

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("aicore-bulk exited 0\n")
    assert json.loads(result.stdout.split("\n", 1)[1])["deleted"] == 3
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["total"] == 3
    assert not sim.state("executions", "new-dead-0").deleted


@needs_jq
def test_the_ci_script_survives_bash_e_and_passes_the_exit_code_on(tmp_path):
    """A failing run does not end the script early: it reports the code, then exits with it."""
    sim = Simulator(SimulatorConfig(stop_delay=0.0))
    with serve_in_thread(sim) as server:
        settings = {**server.environment(), "AICORE_CLIENT_SECRET": "not-the-secret"}
        result = run_ci_script(tmp_path, settings)

    assert result.returncode == 2
    assert result.stdout == "aicore-bulk exited 2\n"
    assert "credentials" in result.stderr
