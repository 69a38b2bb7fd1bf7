"""``SIGKILL`` at random moments of a real ``aicore-bulk delete --journal``, then ``resume``.

Each trial runs the command as a process against the simulator, kills it (``SIGKILL``, no
chance to clean up) after a random number of items have settled, and resumes the journal with
``aicore-bulk resume``. It must end with every item deleted, a report with every ID exactly
once, and no item the journal had confirmed sent again.

The suite runs a smoke size; ``nox -s reliability`` runs 20 trials of 20,000 items
(``AICORE_KILL_TRIALS``, ``AICORE_KILL_ITEMS``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from aicore_bulk._journal import FINAL, Journal
from aicore_bulk.testing import Faults, Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment

TRIALS = int(os.environ.get("AICORE_KILL_TRIALS", "4"))
ITEMS = int(os.environ.get("AICORE_KILL_ITEMS", "1000"))
# No seeded STOPPING items: the seeder gives them up to 5 s more, which only slows trials.
MIX = {"COMPLETED": 4, "DEAD": 1, "RUNNING": 2, "PENDING": 1}


def aicore_bulk(*args: str) -> list[str]:
    return [sys.executable, "-m", "aicore_bulk", *args, "--poll-interval", "0.05"]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_a_killed_run_is_finished_by_resume(trial, tmp_path):
    rng = random.Random(trial)  # noqa: S311 - picks the kill point
    sim = Simulator(
        SimulatorConfig(
            seed=trial,
            stop_delay=0.3,
            delete_linger=3600.0,
            faults=Faults(truncated_bodies=0.02, dropped_connections=0.01),
        )
    )
    ids = sim.seed("executions", ITEMS, statuses=MIX)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids))
    journal, report_file = tmp_path / "run.journal", tmp_path / "report.json"
    # Kill after this many items have settled (0: at once, before the journal may exist).
    kill_after = rng.randrange(ITEMS) if trial else 0

    with serve_in_thread(sim) as server:
        env = bare_environment(
            PATH=os.environ.get("PATH", ""), HOME=str(tmp_path), PYTHONUNBUFFERED="1"
        )
        env.update(server.environment())
        command = ["delete", "executions", "--ids-file", str(ids_file), "--yes", "--no-progress"]
        run = subprocess.Popen(
            aicore_bulk(*command, "--journal", str(journal), "-o", "ndjson"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert run.stdout is not None
        for _ in range(kill_after):
            run.stdout.readline()
        run.kill()
        run.wait(timeout=60)
        run.stdout.close()

        confirmed = _confirmed(journal) if journal.exists() else {}
        sent_before = {i: sim.changes_received("executions", i) for i in confirmed}
        resume = subprocess.run(
            aicore_bulk("resume", str(journal), "--report", str(report_file), "-q"),
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if resume.returncode == 2 and "no journal at" in resume.stderr:
            # Killed before the first change: nothing was sent, so the command is run again.
            assert not journal.exists()
            resume = subprocess.run(
                aicore_bulk(*command, "--report", str(report_file), "-q"),
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=False,
            )

    assert resume.returncode == 0, resume.stderr
    report = json.loads(report_file.read_text())
    assert [item["id"] for item in report["items"]] == ids
    assert {item["outcome"] for item in report["items"]} == {"deleted"}
    assert all(sim.state("executions", i).deleted for i in ids)
    for item_id, what in confirmed.items():
        now = sim.changes_received("executions", item_id)
        if what == "final":
            assert now == sent_before[item_id], item_id
        else:  # our stop was confirmed: only the delete may follow
            assert now["stop"] == sent_before[item_id]["stop"], item_id
    assert sim.statistics().violation_count == 0


def _confirmed(path) -> dict[str, str]:
    """Items the journal confirmed at the kill: ``final`` (done) or ``stopped`` (by us)."""
    book = Journal.open(path)
    try:
        entries = book.items()
    finally:
        book.close()
    confirmed = {}
    for entry in entries:
        if not entry.open and entry.result.outcome in FINAL:
            confirmed[entry.result.id] = "final"
        elif entry.stopped_by_us:
            confirmed[entry.result.id] = "stopped"
    return confirmed
