"""The command line remembers learned limits by default; ``--no-remember`` opts out.

Learning a limit from scratch takes seconds of real 429 pauses (the engine tests do it on
virtual time): here the cache holds a record for the served simulator already, and the
question is only whether the command reads and rewrites it, or leaves it alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from aicore_bulk import SystemClock
from aicore_bulk._memory import LearnedLimits, LimitsMemory
from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment

FAST = SimulatorConfig(stop_delay=0.05, delete_linger=60.0)


@pytest.fixture
def sim():
    return Simulator(FAST)


@pytest.fixture
def server(sim):
    with serve_in_thread(sim) as running:
        yield running


@pytest.fixture
def memory(server, tmp_path):
    """The served simulator's entry in the test's own cache directory, holding a record."""
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    memory = LimitsMemory.for_service(
        base_url=server.base_url, token_url=server.token_url, clock=SystemClock(), environ=environ
    )
    # A limit high enough not to slow the run; a rate at the end that no run ends at.
    memory.keep(LearnedLimits(ceiling=1_000.0, burst=5.0, rate=1.0, learned_at=time.time() - 60.0))
    return memory


@pytest.fixture
def delete(server, sim, tmp_path):
    """Delete 300 DEAD executions with ``aicore-bulk``; the JSON report's summary."""

    def run(*args):
        ids = sim.seed("executions", 300, statuses={"DEAD": 1})
        environment = bare_environment(
            HOME=str(tmp_path / "home"),
            XDG_CACHE_HOME=str(tmp_path / "cache"),
            **server.environment(),
        )
        command = ["delete", "executions", *ids, "-o", "json", "-q", "--yes", *args]
        result = subprocess.run(
            [sys.executable, "-m", "aicore_bulk", *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=environment,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["summary"]

    return run


def test_a_run_starts_from_the_remembered_limits_and_saves_them_by_default(delete, memory):
    """By default the command reads the remembered record and writes back the rate it ended at."""
    delete()

    entry = json.loads(memory.path.read_text())["limits"][memory.key]
    assert entry["ceiling"] == 1_000.0
    assert entry["rate"] >= 0.8 * 1_000.0


def test_no_remember_leaves_the_file_alone(delete, memory, tmp_path):
    """With --no-remember the file is neither rewritten nor joined by another in the home."""
    before = memory.path.read_bytes(), memory.path.stat().st_mtime_ns

    delete("--no-remember")

    assert (memory.path.read_bytes(), memory.path.stat().st_mtime_ns) == before
    assert not (tmp_path / "home").exists()
