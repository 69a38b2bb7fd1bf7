"""What the command line writes besides the report: its logs, the run's labels, its counts.

Each test runs ``aicore-bulk`` as a subprocess against the simulator served on loopback.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment

FAST = SimulatorConfig(stop_delay=0.05, delete_linger=30.0)
TEXT_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) ")


@pytest.fixture
def sim():
    return Simulator(FAST)


@pytest.fixture
def environment(sim, tmp_path):
    with serve_in_thread(sim) as server:
        yield bare_environment(HOME=str(tmp_path), **server.environment())


@pytest.fixture
def cli(environment):
    """Run ``aicore-bulk`` with the simulator's settings; returns the CompletedProcess."""

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "aicore_bulk", *args, "--poll-interval", "0.05"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=environment,
        )

    return run


def test_json_log_lines_carry_the_run_id_and_the_record_fields(cli, sim):
    """--log-format json writes each record as one JSON object with the report's run ID."""
    sim.seed("executions", 30, statuses={"RUNNING": 1, "DEAD": 2})

    result = cli("delete", "executions", "--all", "-vv", "--log-format", "json", "-o", "json", "-y")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    logged = [json.loads(line) for line in lines]
    assert len(logged) > 5
    assert all(
        list(record)[:5] == ["time", "level", "logger", "message", "run_id"] for record in logged
    )
    assert {record["run_id"] for record in logged} == {report["run"]["id"]}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in logged)
    (plan,) = [r for r in logged if r["message"].startswith("plan ready")]
    assert (plan["level"], plan["logger"]) == ("INFO", "aicore_bulk.run")
    assert plan["paths"] == {"stop_then_delete": 10, "delete": 20}
    changes = [r for r in logged if r.get("operation") == "bulk"]
    sent = [(r["stops"], r["deletes"], r["status"]) for r in changes]
    assert sent == [(10, 20, 202), (0, 10, 202)]
    assert not [line for line in result.stderr.splitlines() if TEXT_RECORD.match(line)]


def test_text_is_the_default_log_format(cli, sim):
    """Without --log-format, -v writes human text records: time, level, logger, message."""
    sim.seed("executions", 3, statuses={"DEAD": 1})

    result = cli("delete", "executions", "--all", "-v", "--no-progress")

    assert result.returncode == 0, result.stderr
    records = [line for line in result.stderr.splitlines() if TEXT_RECORD.match(line)]
    assert records[0].endswith(
        " INFO aicore_bulk.run: run started: deleting executions in resource group 'default'"
    )
    assert not any(line.startswith("{") for line in result.stderr.splitlines())


def test_warnings_are_logged_by_default_and_quiet_keeps_only_errors(cli, sim):
    """With no -v only warnings are logged (items that missed their goal); -q drops them too."""
    for n in range(3):
        sim.put("executions", f"odd-{n:04d}", "UNKNOWN")

    shown = cli("stop", "executions", "--status", "UNKNOWN", "--no-progress")
    quiet = cli("stop", "executions", "--status", "UNKNOWN", "-q")

    records = [line for line in shown.stderr.splitlines() if TEXT_RECORD.match(line)]
    assert (shown.returncode, quiet.returncode) == (1, 1)
    assert len(records) == 1
    assert records[0].endswith(
        " WARNING aicore_bulk.run: 3 of 3 executions did not reach STOPPED: 3 skipped; "
        "first: odd-0000, odd-0001, odd-0002"
    )
    assert quiet.stderr == ""


def test_the_report_records_the_selection_and_max_items(cli, sim):
    """The report's run options keep the command, its selection and --max-items as labels."""
    sim.seed("executions", 5, statuses={"DEAD": 1})

    result = cli(
        "delete",
        "executions",
        "--status",
        "DEAD",
        "--older-than",
        "1d12h",
        "--age-field",
        "completion",
        "--max-items",
        "50",
        "-o",
        "json",
    )

    run = json.loads(result.stdout)["run"]
    assert run["options"]["labels"] == {
        "command": "delete",
        "selection": "--status DEAD --older-than 1d12h --age-field completion",
        "max_items": "50",
    }
    assert run["options"]["concurrency"] == 64
    assert run["kind"] == "executions"


def test_counts_of_one_are_singular(cli, sim):
    """A run of one item says "1 item" and "1 change", never "1 items"."""
    sim.put("executions", "only-0001", "DEAD")

    result = cli("delete", "executions", "only-0001", "--no-progress")

    assert result.returncode == 0, result.stderr
    assert "default: 1 item in " in result.stdout
    assert "(1 change)" in result.stdout
    assert "1 items" not in result.stdout + result.stderr


def on_a_terminal(args, environment, *, columns):
    """Run with stderr on a pseudo-terminal ``columns`` wide; returns (exit code, stderr)."""
    control, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "aicore_bulk", *args, "--poll-interval", "0.05"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env=environment,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(control, 65536)
        except OSError:  # EIO: the process closed its end of the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(control)
    return process.wait(timeout=120), b"".join(chunks).decode().replace("\r\n", "\n")


def test_log_lines_never_share_a_line_with_the_bar_and_the_bar_fits(environment, sim):
    """On a terminal, each record gets a line of its own and the bar is cut to the width."""
    sim.seed("executions", 200, statuses={"RUNNING": 1, "DEAD": 2})

    code, shown = on_a_terminal(
        ["delete", "executions", "--all", "-vv", "-y"], environment, columns=40
    )

    assert code == 0, shown
    # What stays on each line of the screen: the text after its last carriage return.
    screen = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in shown.split("\n")]
    records = [line for line in screen if TEXT_RECORD.match(line)]
    assert any("plan ready" in line for line in records)
    assert any("PATCH bulk" in line for line in records)
    bar = re.compile(r"deleting executions \d+/200")
    assert not any(bar.search(line) for line in records)  # no bar before or after a record
    drawn = re.findall(r"\r(deleting executions [^\r\n]*?)\x1b\[K", shown)
    assert len(drawn) > 1
    assert all(len(line) <= 39 for line in drawn)
    assert screen[-2].startswith("deleting executions 200/200")  # the bar ends the output
