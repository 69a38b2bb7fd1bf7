"""What ``aicore-bulk`` does when things go wrong: as a process, its output and its exit code.

Each test runs the installed ``aicore-bulk`` command against the simulator served on loopback.
The confirmation prompt appears only on a terminal: those tests give the command a
pseudo-terminal as stdin and stderr.
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aicore_bulk import ItemResult, ItemSettled, Outcome, PlanReady, RequestAnswered
from aicore_bulk._cli._progress import Progress
from aicore_bulk.testing import Faults, Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment

COMMAND = str(Path(sys.executable).with_name("aicore-bulk"))
FAST = SimulatorConfig(stop_delay=0.05, delete_linger=0.2)


@pytest.fixture
def sim(request):
    """The simulator: FAST, or the config a test gives (``indirect`` parametrization)."""
    return Simulator(getattr(request, "param", FAST))


@pytest.fixture
def server(sim):
    with serve_in_thread(sim) as running:
        yield running


@pytest.fixture
def environment(server, tmp_path):
    """What the command sees: the simulator's settings and nothing of this machine's."""
    return bare_environment(HOME=str(tmp_path), **server.environment())


@pytest.fixture
def cli(environment, tmp_path):
    """Run ``aicore-bulk`` in ``tmp_path`` to the end; returns the CompletedProcess."""

    def run(*args, env=None):
        settings = {**environment, **(env or {})}
        return subprocess.run(
            [COMMAND, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
            env={name: value for name, value in settings.items() if value is not None},
        )

    return run


def started(environment, tmp_path, *args):
    """Start ``aicore-bulk`` with piped stdout and stderr; returns the Popen."""
    return subprocess.Popen(
        [COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=environment,
    )


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("aicore-bulk:")]


def gone(sim, item_id):
    """Deleted: still listed for a while (``delete_linger``), or no longer there."""
    state = sim.state("executions", item_id)
    return state is None or state.deleted


# --- 1. Nothing starts that cannot finish honestly ------------------------------------------


@pytest.fixture
def unwritable(tmp_path):
    """A folder this process cannot create a file in."""
    if os.geteuid() == 0:
        # Root writes in any folder whatever its mode; sysfs takes no new file from anyone.
        if not Path("/sys").is_dir():
            pytest.skip("no folder that root cannot write in")
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder


@pytest.mark.parametrize("flag", ["--report", "--journal"])
def test_an_output_in_a_missing_folder_is_refused_before_anything_is_sent(cli, sim, flag):
    """A report or journal path in a folder that does not exist: exit 2, no request at all."""
    sim.seed("executions", 5, statuses={"DEAD": 1})

    result = cli("delete", "executions", "--all", flag, "missing/out")

    assert result.returncode == 2, result.stderr
    assert len(error_lines(result.stderr)) == 1
    assert "no directory missing" in result.stderr
    assert "Traceback" not in result.stderr
    assert sim.statistics().total_requests == 0


@pytest.mark.parametrize("flag", ["--report", "--journal"])
def test_an_output_in_an_unwritable_folder_is_refused_before_anything_is_sent(
    cli, sim, unwritable, flag
):
    """A report or journal path in a folder the process cannot write in: exit 2, no request."""
    sim.seed("executions", 5, statuses={"DEAD": 1})

    result = cli("delete", "executions", "--all", flag, str(unwritable / "out"))

    assert result.returncode == 2, result.stderr
    assert f"cannot write in {unwritable}" in result.stderr
    assert sim.statistics().total_requests == 0


def test_a_plan_report_is_checked_before_the_reads_too(cli, sim):
    """Even a dry run checks --report before it reads a single status."""
    sim.seed("executions", 5, statuses={"DEAD": 1})

    result = cli("plan", "delete", "executions", "--all", "--report", "missing/plan.json")

    assert result.returncode == 2
    assert sim.statistics().total_requests == 0


def test_a_report_that_cannot_be_written_at_the_end_is_one_line_after_the_summary(
    environment, sim, tmp_path
):
    """The folder vanishes mid-run: the run finishes, the summary shows, one line, exit 1."""
    ids = sim.seed("executions", 1_000, statuses={"DEAD": 1})
    sim.set_faults(Faults(latency=0.05))
    folder = tmp_path / "reports"
    folder.mkdir()
    process = started(
        environment,
        tmp_path,
        *("delete", "executions", "--all", "--concurrency", "1", "-o", "ndjson"),
        *("--report", "reports/report.json"),
    )
    process.stdout.readline()  # the run has started changing items
    shutil.rmtree(folder)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 1, stderr
    assert "executions -> DELETED in resource group default: 1,000 items" in stderr
    assert error_lines(stderr) == [
        "aicore-bulk: error: the report was not written to reports/report.json: "
        "No such file or directory"
    ]
    assert "Traceback" not in stderr
    assert all(gone(sim, i) for i in ids)


# --- 2. The confirmation prompt -------------------------------------------------------------


class Terminal:
    """``aicore-bulk`` with a pseudo-terminal as stdin and stderr, and stdout piped."""

    def __init__(self, environment, tmp_path, *args):
        self.master, replica = pty.openpty()
        self.process = subprocess.Popen(
            [COMMAND, *args],
            stdin=replica,
            stdout=subprocess.PIPE,
            stderr=replica,
            cwd=tmp_path,
            env=environment,
            start_new_session=True,
        )
        os.close(replica)
        self.screen = ""

    def read_until(self, text, timeout=30.0):
        """What the terminal showed, up to ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never shown; the terminal shows {self.screen!r}"
            if select.select([self.master], [], [], left)[0]:
                self._read()
        return self.screen

    def type(self, line):
        """Type ``line`` and Enter."""
        os.write(self.master, line.encode() + b"\n")

    def finish(self):
        """Wait for the process; returns its stdout."""
        stdout, _ = self.process.communicate(timeout=60)
        while select.select([self.master], [], [], 0.2)[0] and self._read():
            pass
        os.close(self.master)
        return stdout.decode()

    def _read(self):
        try:
            data = os.read(self.master, 4096)
        except OSError:  # the other side closed (Linux says EIO)
            return False
        self.screen += data.decode(errors="replace").replace("\r\n", "\n")
        return bool(data)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_signal_at_the_prompt_ends_the_run_at_once_and_sends_nothing(
    environment, sim, tmp_path, signum
):
    """Ctrl-C or SIGTERM at the confirmation prompt: exit 130 at once, not one change sent."""
    sim.seed("executions", 150, statuses={"DEAD": 1})
    terminal = Terminal(environment, tmp_path, "delete", "executions", "--all")
    terminal.read_until("[y/N]")

    asked = time.monotonic()
    terminal.process.send_signal(signum)
    terminal.finish()

    assert terminal.process.returncode == 130
    assert time.monotonic() - asked < 5
    assert "aicore-bulk: interrupted at the prompt: nothing was changed" in terminal.screen
    assert "sending nothing more" not in terminal.screen
    assert sim.statistics().mutating_requests == 0


def test_stop_asks_like_delete_and_a_no_sends_nothing(environment, sim, tmp_path):
    """Stopping more than 100 items asks first, as deleting does; 'n' exits 3 with no change."""
    sim.seed("executions", 150, statuses={"RUNNING": 1})
    terminal = Terminal(environment, tmp_path, "stop", "executions", "--all")

    screen = terminal.read_until("[y/N]")
    terminal.type("n")
    terminal.finish()

    assert "Stop 150 executions in resource group default? [y/N]" in screen
    assert terminal.process.returncode == 3
    assert sim.statistics().mutating_requests == 0


def test_the_prompt_says_what_is_stopped_first_and_its_time_is_not_the_runs(
    environment, sim, tmp_path
):
    """The delete prompt counts items stopped first; the report's duration leaves it out."""
    for n in range(150):
        sim.put("executions", f"e-{n:04d}", "RUNNING" if n < 30 else "DEAD")
    terminal = Terminal(environment, tmp_path, "delete", "executions", "--all", "-o", "json")

    screen = terminal.read_until("[y/N]")
    progress_before_answer = screen.count("deleting executions")
    waited = time.monotonic()
    time.sleep(1.0)  # a person reading the question
    terminal.type("y")
    report = json.loads(terminal.finish())
    took = time.monotonic() - waited

    assert (
        "Delete 150 executions (30 are running or pending and will be stopped first) in "
        "resource group default? This cannot be undone. [y/N]" in screen
    )
    assert progress_before_answer == 0  # nothing is drawn before the answer
    assert terminal.process.returncode == 0
    assert report["summary"]["outcomes"]["deleted"] == 150
    assert report["summary"]["seconds"] < took - 1.0


def test_a_refusal_by_max_items_is_one_line_and_prints_no_progress_or_items(cli, sim):
    """--max-items refuses in one line, worded as a refusal; no progress, no item on stdout."""
    sim.seed("executions", 20, statuses={"DEAD": 1})

    selection = cli("delete", "executions", "--all", "--max-items", "5", "-o", "ndjson")

    assert selection.returncode == 3
    assert selection.stdout == ""
    assert selection.stderr.splitlines() == [
        "aicore-bulk: refused: 20 executions would change, more than --max-items 5; "
        "no change was sent"
    ]
    assert sim.statistics().mutating_requests == 0


# --- 3. A closed pipe -----------------------------------------------------------------------


def test_output_into_a_closed_pipe_ends_quietly_and_the_run_finishes(environment, sim, tmp_path):
    """``| head -1``: no traceback, no word of BrokenPipe, the run done, the report written."""
    ids = sim.seed("executions", 1_000, statuses={"DEAD": 1})
    sim.set_faults(Faults(latency=0.05))
    process = started(
        environment,
        tmp_path,
        *("delete", "executions", "--all", "--concurrency", "1"),
        *("-o", "ndjson", "--report", "report.json"),
    )
    first = json.loads(process.stdout.readline())
    process.stdout.close()  # the reader has what it wanted
    _, stderr = process.communicate(timeout=60)

    assert first["outcome"] == "deleted"
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr
    assert "Broken pipe" not in stderr
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["outcomes"][
        "deleted"
    ] == len(ids)
    assert all(gone(sim, i) for i in ids)


@pytest.mark.parametrize("output", ["json", "ndjson"])
def test_a_plan_into_a_closed_pipe_ends_quietly(environment, sim, tmp_path, output):
    """A plan far larger than a pipe holds, read by ``head -1``: the rest dropped quietly."""
    sim.seed("executions", 3_000, statuses={"DEAD": 1})
    process = started(environment, tmp_path, "plan", "delete", "executions", "--all", "-o", output)
    process.stdout.readline()
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr
    assert "dry run: executions -> DELETED" in stderr  # the table still goes to stderr
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr


# --- 4. Unreachable addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "url", "message"),
    [
        (
            "AICORE_AUTH_URL",
            "https://auth.nowhere.invalid/oauth/token",
            "cannot reach the token endpoint at auth.nowhere.invalid: the name does not resolve "
            "(after 4 tries)",
        ),
        (
            "AICORE_AUTH_URL",
            "http://127.0.0.1:{port}/oauth/token",
            "cannot reach the token endpoint at 127.0.0.1:{port}: the connection was refused "
            "(after 4 tries)",
        ),
        (
            "AICORE_BASE_URL",
            "https://api.nowhere.invalid/v2",
            "cannot reach the AI API at api.nowhere.invalid: the name does not resolve "
            "(after 6 tries)",
        ),
        (
            "AICORE_BASE_URL",
            "http://127.0.0.1:{port}/v2",
            "cannot reach the AI API at 127.0.0.1:{port}: the connection was refused "
            "(after 6 tries)",
        ),
    ],
    ids=["token-dns", "token-refused", "api-dns", "api-refused"],
)
def test_an_unreachable_address_is_one_clear_line_within_seconds(cli, sim, setting, url, message):
    """A name that does not resolve or a closed port: one line naming the host, exit 2, fast."""
    sim.seed("executions", 5, statuses={"DEAD": 1})
    port = closed_port()

    began = time.monotonic()
    result = cli("delete", "executions", "--all", env={setting: url.format(port=port)})
    took = time.monotonic() - began

    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"aicore-bulk: error: {message.format(port=port)} (nothing was changed)"
    ]
    assert "Error" not in result.stderr  # no class names: ClientConnectorError, TransportError
    assert took < 10
    assert sim.statistics().mutating_requests == 0


def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- 5. simulate on a busy port -------------------------------------------------------------


def test_simulate_on_a_busy_port_is_one_line_and_exit_2(tmp_path):
    """Another server on the port: one line that says so and what to do, exit 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [COMMAND, "simulate", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=bare_environment(HOME=str(tmp_path)),
        )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"aicore-bulk: error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another server listens there: choose another --port, or --port 0)"
    ]


# --- 6. An interrupted run ------------------------------------------------------------------


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "no-journal"])
def test_an_interrupted_run_says_so_and_how_to_finish_it(environment, sim, tmp_path, journal):
    """Items never sent are skipped; the summary says interrupted and how to go on; resume works."""
    ids = sim.seed("executions", 1_000, statuses={"DEAD": 1})
    sim.set_faults(Faults(latency=0.05))
    kept = ("--journal", "run.journal") if journal else ()
    process = started(
        environment,
        tmp_path,
        *("delete", "executions", "--all", "--concurrency", "1", "-o", "ndjson"),
        *("--report", "report.json", *kept),
    )
    process.stdout.readline()  # the first change has been answered
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    report = json.loads((tmp_path / "report.json").read_text())
    outcomes = report["summary"]["outcomes"]
    progress = [line for line in stderr.splitlines() if line.startswith("deleting executions")]
    assert process.returncode == 130, stderr
    assert report["summary"]["interrupted"] is True
    assert outcomes["skipped"] > 0
    assert outcomes["failed"] == 0
    assert "100%" not in progress[-1]
    assert progress[-1].endswith("interrupted")
    left = len(ids) - outcomes["deleted"]
    if journal:
        assert f"interrupted: {left:,} of 1,000 items not done; to finish the run: " in stderr
        assert "aicore-bulk resume run.journal" in stderr
        environment["PATH"] = os.environ.get("PATH", "")
        resumed = subprocess.run(
            [COMMAND, "resume", "run.journal", "-o", "json", "-q"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
            env=environment,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["summary"]["outcomes"]["deleted"] == len(ids)
        assert all(gone(sim, i) for i in ids)
    else:
        assert "with --journal PATH next time" in stderr


# --- 7. --wait ------------------------------------------------------------------------------


@pytest.mark.parametrize("sim", [SimulatorConfig(delete_linger=60.0)], indirect=True)
def test_wait_shows_progress_and_ok_agrees_with_the_exit_code(cli, sim):
    """Items still listed after --wait: exit 1, ``ok`` false in the JSON, progress lines shown."""
    sim.seed("executions", 3, statuses={"DEAD": 1})

    result = cli("delete", "executions", "--all", "-o", "json", "--wait", "0.5")

    summary = json.loads(result.stdout)["summary"]
    assert result.returncode == 1, result.stderr
    assert summary["ok"] is False
    assert summary["still_listed_after_wait"] == 3
    assert "--wait: 3 of 3 deleted executions still listed after" in result.stderr


def test_wait_says_when_the_deleted_items_are_gone(cli, sim):
    """Items that stop being listed end the wait early, with a line that says so; exit 0."""
    sim.seed("executions", 3, statuses={"DEAD": 1})

    result = cli("delete", "executions", "--all", "--wait", "30", "--poll-interval", "0.1")

    assert result.returncode == 0, result.stderr
    assert "--wait: all 3 deleted executions are no longer listed" in result.stderr


@pytest.mark.parametrize("sim", [SimulatorConfig(delete_linger=60.0)], indirect=True)
def test_ctrl_c_during_wait_stops_waiting_and_writes_the_report(environment, sim, tmp_path):
    """A signal while --wait looks: the wait ends at once, the report is written, exit 130."""
    sim.seed("executions", 3, statuses={"DEAD": 1})
    process = started(
        environment,
        tmp_path,
        *("delete", "executions", "--all", "--wait", "300", "--report", "report.json"),
    )
    while not process.stderr.readline().startswith("--wait:"):
        pass
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)

    summary = json.loads((tmp_path / "report.json").read_text())["summary"]
    assert process.returncode == 130, stderr
    assert "interrupted: no longer waiting" in stderr
    assert "3 deleted items were still listed when --wait was interrupted" in stdout
    assert (summary["ok"], summary["still_listed_after_wait"]) == (False, 3)


# --- 9. Help, and the progress display's measures -------------------------------------------


def test_each_commands_help_speaks_of_that_command(cli):
    """``stop --help`` never talks about deleting; ``plan --help`` shows no run-only flags."""
    stop = cli("stop", "--help").stdout
    plan = cli("plan", "--help").stdout
    delete = cli("delete", "--help").stdout

    assert "delet" not in stop.lower()
    assert "do not ask before stopping more than 100 items" in stop
    assert "--deadline" not in plan
    assert "--stop-wait" not in plan
    assert "the plan's JSON" in plan
    assert "do not ask before deleting more than 100 items" in delete
    assert "--stop-wait" in delete


def test_the_eta_comes_from_round_trips_then_from_the_rate_reached():
    """Before any change answers, round trips at full concurrency; then changes answered per s."""
    progress = Progress(stream=io.StringIO(), bar=False, verb="deleting", concurrency=4)
    progress(RequestAnswered("list", 0, 200, 0.2))  # a read while statuses were learned
    progress(PlanReady(kind="executions", target="DELETED", paths={}, total=1_000, requests=10))
    progress.start()
    began = progress._started

    before = progress.eta(began + 60.0)  # a minute at a prompt would change nothing
    progress(RequestAnswered("bulk", 100, 202, 0.2))
    progress(RequestAnswered("bulk", 100, 429, 0.2))  # throttled: not an answered change
    after = progress.eta(began + 2.0)

    assert before == pytest.approx(3 * 0.2)  # ceil(10 / 4) rounds of one round trip each
    assert after == pytest.approx(9 * 2.0)  # 9 left at the 2 s the one answer took


def test_progress_shows_nothing_before_the_start_and_stops_counting_on_interruption():
    """Nothing is drawn or written before start; after an interrupt the bar does not fill up."""
    stream, items = io.StringIO(), io.StringIO()
    progress = Progress(stream=stream, bar=True, verb="deleting", items_out=items)
    progress(PlanReady(kind="executions", target="DELETED", paths={}, total=3, requests=1))
    progress(ItemSettled(ItemResult("gone-0001", Outcome.ALREADY_ABSENT)))

    assert stream.getvalue() == items.getvalue() == ""
    progress.start()
    assert items.getvalue().count("\n") == 1  # held back until the run was confirmed
    progress.interrupted()
    progress(ItemSettled(ItemResult("e-0002", Outcome.DELETED)))
    progress(ItemSettled(ItemResult("e-0003", Outcome.SKIPPED, message="interrupted")))
    progress.close()

    last = stream.getvalue().split("\r")[-1]
    assert progress.settled == 2
    assert last.startswith("deleting 2/3")
    assert "interrupted" in last
    assert "ETA" not in last
