"""The command line as operators and orchestrators run it: a process, its output, its exit code.

Each test serves the simulator from a thread on loopback and runs ``aicore-bulk`` as a
subprocess configured by the same ``AICORE_*`` variables SAP's SDKs read.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys

import pytest

from aicore_bulk.testing import Faults, Simulator, SimulatorConfig, serve_in_thread
from tests._support import bare_environment

#: Deleted items stay listed for a minute (as AI Core's do), long past any test's checks;
#: the --wait test shortens it for itself.
FAST = SimulatorConfig(stop_delay=0.05, delete_linger=60.0)


@pytest.fixture
def sim():
    return Simulator(FAST)


@pytest.fixture
def server(sim):
    with serve_in_thread(sim) as running:
        yield running


@pytest.fixture
def cli(server, tmp_path):
    """Run ``aicore-bulk`` with the simulator's settings; returns the CompletedProcess."""

    def run(*args, env=None, stdin=None, input_text=None):
        environment = bare_environment(HOME=str(tmp_path), **server.environment())
        environment.update(env or {})
        environment = {k: v for k, v in environment.items() if v is not None}
        return subprocess.run(
            [sys.executable, "-m", "aicore_bulk", *args, "--poll-interval", "0.05"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=environment,
            stdin=stdin if input_text is None else None,
            input=input_text,
        )

    return run


def seed_every_status(sim, n=10):
    ids = {}
    for status in ("PENDING", "RUNNING", "COMPLETED", "DEAD", "STOPPING", "STOPPED", "UNKNOWN"):
        ids[status] = [f"{status.lower()}-{i:03d}" for i in range(n)]
        for item_id in ids[status]:
            sim.put("executions", item_id, status)
    return ids


def test_delete_by_ids_prints_the_documented_json(cli, sim):
    """Delete with IDs exits 0 and prints the report's JSON with summary and items."""
    ids = seed_every_status(sim, 3)
    everything = [i for group in ids.values() for i in group]

    result = cli("delete", "executions", *everything, "--output", "json", "--no-progress")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["outcomes"]["deleted"] == 21
    assert set(report["summary"]) >= {"outcomes", "requests", "retries", "throttled", "seconds"}
    assert {i["id"] for i in report["items"]} == set(everything)
    assert all(set(i) >= {"id", "outcome", "code", "message", "attempts"} for i in report["items"])
    # A deleted item lingers 0.2 s, then is gone: a busy machine may take longer to exit.
    assert all((s := sim.state("executions", i)) is None or s.deleted for i in everything)
    assert sim.statistics().violation_count == 0


def test_ids_from_a_file_and_from_stdin(cli, sim, tmp_path):
    """--ids-file reads one ID per line, skipping blanks and comments; - reads stdin."""
    for n in range(4):
        sim.put("executions", f"done-{n:04d}", "COMPLETED")
    path = tmp_path / "ids.txt"
    path.write_text("# old runs\ndone-0000\n\ndone-0001  # the second\n")

    from_file = cli("delete", "executions", "--ids-file", str(path), "-o", "json", "-q")
    from_stdin = cli(
        "delete",
        "executions",
        "--ids-file",
        "-",
        "-o",
        "json",
        "-q",
        input_text="done-0002\ndone-0003\n",
    )

    assert [i["id"] for i in json.loads(from_file.stdout)["items"]] == ["done-0000", "done-0001"]
    assert [i["id"] for i in json.loads(from_stdin.stdout)["items"]] == ["done-0002", "done-0003"]
    assert (from_file.returncode, from_stdin.returncode) == (0, 0)


def test_ndjson_streams_one_line_per_item_and_report_writes_a_file(cli, sim, tmp_path):
    """--output ndjson prints each item as it settles; --report writes the whole JSON report."""
    for n in range(5):
        sim.put("executions", f"dead-{n:04d}", "DEAD")
    report_path = tmp_path / "report.json"

    result = cli(
        "delete", "executions", "--status", "DEAD", "-o", "ndjson", "--report", str(report_path)
    )

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stderr
    assert sorted(line["id"] for line in lines) == [f"dead-{n:04d}" for n in range(5)]
    assert all(line["outcome"] == "deleted" for line in lines)
    assert json.loads(report_path.read_text())["summary"]["total"] == 5
    assert "deleted" in result.stderr  # the human summary goes to stderr


def test_selection_by_status_scenario_and_age(cli, sim):
    """--status, --scenario-id and --older-than select through the list endpoint."""
    now = sim.clock.time()
    sim.put(
        "executions", "old-train", "COMPLETED", scenario_id="train", created_at=now - 10 * 86400
    )
    sim.put("executions", "new-train", "COMPLETED", scenario_id="train", created_at=now - 3600)
    sim.put(
        "executions", "old-score", "COMPLETED", scenario_id="score", created_at=now - 10 * 86400
    )
    sim.put("executions", "old-dead1", "DEAD", scenario_id="train", created_at=now - 10 * 86400)

    result = cli(
        "delete",
        "executions",
        "--status",
        "COMPLETED",
        "--scenario-id",
        "train",
        "--older-than",
        "7d",
        "-o",
        "json",
        "-q",
    )

    assert result.returncode == 0, result.stderr
    assert [i["id"] for i in json.loads(result.stdout)["items"]] == ["old-train"]
    assert not sim.state("executions", "new-train").deleted
    assert not sim.state("executions", "old-score").deleted
    assert not sim.state("executions", "old-dead1").deleted


def test_selection_by_completion_age(cli, sim):
    """--age-field completion measures age from completionTime; running items never match."""
    now = sim.clock.time()
    sim.put("executions", "done-long", "COMPLETED", completion_time=now - 3 * 86400)
    sim.put("executions", "done-soon", "COMPLETED", completion_time=now - 60)
    sim.put("executions", "still-run", "RUNNING", created_at=now - 30 * 86400)

    result = cli(
        "plan",
        "delete",
        "executions",
        "--older-than",
        "2d",
        "--age-field",
        "completion",
        "-o",
        "json",
        "-q",
    )

    assert [i["id"] for i in json.loads(result.stdout)["items"]] == ["done-long"]


def test_dry_run_sends_nothing_and_prints_the_plan(cli, sim):
    """--dry-run (and plan) print counts per path and the request count; no change is sent."""
    seed_every_status(sim, 20)

    dry = cli("delete", "executions", "--all", "--dry-run")
    plan = cli("plan", "delete", "executions", "--all", "-o", "json", "-q")

    assert dry.returncode == plan.returncode == 0
    assert "stop, then delete" in dry.stdout
    assert "change requests: 3 (nothing was sent)" in dry.stdout
    assert "estimated duration" in dry.stdout
    assert json.loads(plan.stdout)["summary"]["paths"]["stop_then_delete"] == 40
    assert sim.statistics().mutating_requests == 0


def test_max_items_refuses_before_any_write(cli, sim):
    """--max-items exits 3 when the plan changes more items, and sends no change."""
    seed_every_status(sim, 20)

    result = cli("delete", "executions", "--all", "--max-items", "50", "--no-progress")

    assert result.returncode == 3
    assert "more than --max-items 50" in result.stderr
    assert sim.statistics().mutating_requests == 0


def test_no_prompt_without_a_terminal(cli, sim):
    """Deleting more than 100 items never waits for a confirmation when there is no terminal."""
    sim.seed("executions", 150, statuses={"DEAD": 1})

    result = cli("delete", "executions", "--all", "--no-progress", stdin=subprocess.DEVNULL)

    assert result.returncode == 0, result.stderr
    assert "[y/N]" not in result.stderr


def test_exit_code_1_when_items_are_skipped(cli, sim):
    """A stop that must skip an UNKNOWN item exits 1; its reason is in the JSON."""
    sim.put("executions", "unknown-01", "UNKNOWN")
    sim.put("executions", "running-01", "RUNNING")

    result = cli("stop", "executions", "unknown-01", "running-01", "-o", "json", "-q")

    items = {i["id"]: i for i in json.loads(result.stdout)["items"]}
    assert result.returncode == 1
    assert items["unknown-01"]["outcome"] == "skipped"
    assert "cannot be stopped" in items["unknown-01"]["message"]
    assert items["running-01"]["outcome"] == "stopped"


def test_a_running_deployment_is_stopped_only_with_include_running(cli, sim):
    """A RUNNING deployment is skipped naming the flag (exit 1) unless --include-running."""
    sim.put("deployments", "dep-run1", "RUNNING")

    planned = cli("plan", "delete", "deployments", "dep-run1", "-o", "json", "-q")
    guarded = cli("delete", "deployments", "dep-run1", "-o", "json", "-q")
    included = cli("delete", "deployments", "dep-run1", "--include-running", "-o", "json", "-q")

    (plan_item,) = json.loads(planned.stdout)["items"]
    (skipped,) = json.loads(guarded.stdout)["items"]
    (deleted,) = json.loads(included.stdout)["items"]
    assert (planned.returncode, guarded.returncode, included.returncode) == (0, 1, 0)
    assert plan_item["path"] == "skip"
    assert "--include-running" in plan_item["reason"]
    assert skipped["outcome"] == "skipped"
    assert "--include-running" in skipped["message"]
    assert deleted["outcome"] == "deleted"
    assert sim.state("deployments", "dep-run1").deleted


def test_items_already_being_deleted_are_planned_and_reported_apart(cli, sim):
    """An item whose deletion is scheduled is planned as already being deleted and left alone."""
    sim.store.delete_linger = 600.0  # still listed when the commands read it
    for n in range(3):
        sim.put("executions", f"done-{n:04d}", "COMPLETED")
    sim.store.change("executions", "default", "done-0000", "delete")

    plan = cli("plan", "delete", "executions", "--all", "--no-progress")
    run = cli("delete", "executions", "--all", "-o", "json", "-q")

    lines = [line.split() for line in plan.stdout.splitlines()]
    assert ["already", "being", "deleted", "(left", "alone)", "1"] in lines
    assert ["delete", "now", "2"] in lines
    outcomes = {i["id"]: i["outcome"] for i in json.loads(run.stdout)["items"]}
    assert outcomes == {
        "done-0000": "already_deleting",
        "done-0001": "deleted",
        "done-0002": "deleted",
    }
    assert (plan.returncode, run.returncode) == (0, 0)
    assert sim.changes_received("executions", "done-0000") == {"stop": 0, "delete": 0}


def test_the_prompt_counts_items_already_being_deleted_apart(server, sim, tmp_path):
    """In a terminal, the question names the deletes and, apart, those already being deleted."""
    sim.store.delete_linger = 600.0  # still listed when the command reads it
    ids = sim.seed("executions", 150, statuses={"DEAD": 1})
    sim.store.change("executions", "default", ids[0], "delete")
    controller, terminal = pty.openpty()
    environment = bare_environment(HOME=str(tmp_path), **server.environment())
    with subprocess.Popen(
        [sys.executable, "-m", "aicore_bulk", "delete", "executions", "--all", "--no-progress"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=environment,
    ) as process:
        os.close(terminal)
        shown = b""
        while b"[y/N]" not in shown:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, shown
            shown += os.read(controller, 4096)
        os.write(controller, b"n\n")
        process.wait(timeout=60)
    os.close(controller)

    question = shown.decode().replace("\r", "")
    assert (
        "Delete 149 executions (1 already being deleted are left alone) in resource group default?"
        in question
    )
    assert process.returncode == 3
    assert sim.statistics().mutating_requests == 0


def test_wait_until_deleted_items_are_gone(cli, sim):
    """--wait returns once the deleted items are no longer listed."""
    sim.store.delete_linger = 0.2  # gone soon after the delete, so the wait has an end
    for n in range(3):
        sim.put("executions", f"done-{n:04d}", "COMPLETED")

    result = cli("delete", "executions", "--all", "--wait", "30", "-q")

    assert result.returncode == 0, result.stderr
    assert sim.states("executions") == {}


def test_secrets_never_show_at_the_highest_verbosity(cli, sim, server, tmp_path):
    """At -vv, neither the client secret nor a bearer token appears in any output."""
    sim.seed("executions", 30, statuses={"RUNNING": 1, "DEAD": 2})
    secret = server.credentials.client_secret
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret + "\n")

    result = cli(
        "delete",
        "executions",
        "--all",
        "-vv",
        "-o",
        "json",
        "--client-secret-file",
        str(secret_file),
        env={"AICORE_CLIENT_SECRET": None},
    )

    assert result.returncode == 0, result.stderr
    # -vv logs every request, saying what it stops and deletes.
    assert re.search(r"PATCH bulk: \d+ stops, \d+ deletes -> 202", result.stderr)
    everything = result.stdout + result.stderr
    assert secret not in everything
    assert "Bearer" not in everything
    assert not any(token in everything for token in sim._tokens)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["delete", "models", "x-0001"], {}, "invalid choice: 'models'"),
        (["delete", "executions", "good-0001", "--status", "DEAD"], {}, "not both"),
        (["delete", "executions", "--all", "--status", "DEAD"], {}, "drop it or drop the filters"),
        (["delete", "executions"], {}, "no items"),
        (["delete", "executions", "--ids-file", "/nonexistent/ids.txt"], {}, "cannot read"),
        (["delete", "executions", "--older-than", "7 days"], {}, "is not a duration"),
        (["delete", "executions", "bad id"], {}, "argument 1: 'bad id' is not a valid"),
        (["delete", "executions", "x-0001"], {"AICORE_RESOURCE_GROUP": None}, "resource group"),
        (
            ["delete", "executions", "x-0001", "--client-secret", "hunter2"],
            {},
            "never taken as an argument",
        ),
        (["delete", "executions", "x-0001", "-q", "-v"], {}, "contradict"),
        (
            ["delete", "executions", "x-0001"],
            {"AICORE_CLIENT_SECRET": "wrong-secret"},
            "refused the credentials",
        ),
        (
            ["delete", "executions", "x-0001"],
            {"AICORE_AUTH_URL": "http://127.0.0.1:9/oauth/token"},
            "cannot reach the token endpoint at 127.0.0.1:9",
        ),
        (
            ["delete", "executions", "x-0001"],
            {"AICORE_BASE_URL": "http://api.example.com"},
            "allow-insecure-http",
        ),
    ],
    ids=[
        "unknown-kind",
        "ids-and-selection",
        "all-and-filter",
        "no-items",
        "unreadable-file",
        "bad-duration",
        "malformed-id",
        "no-resource-group",
        "plain-secret",
        "quiet-verbose",
        "bad-secret",
        "unreachable-url",
        "plain-http",
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, sim, args, env, message):
    """Every kind of bad input gets exit code 2, one line naming the problem, nothing sent."""
    result = cli(*args, env=env)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert sim.statistics().mutating_requests == 0


def test_a_malformed_id_in_a_file_names_its_line(cli, sim, tmp_path):
    """A bad ID in --ids-file is reported with the file and line number."""
    path = tmp_path / "ids.txt"
    path.write_text("good-0001\n# fine\nnot valid!\n")

    result = cli("delete", "executions", "--ids-file", str(path))

    assert result.returncode == 2
    assert f"{path}:3: 'not valid!' is not a valid AI Core ID" in result.stderr
    assert sim.statistics().total_requests == 0


def test_sigint_stops_the_run_writes_the_report_and_exits_130(server, sim, tmp_path):
    """Ctrl-C: no new request, a short grace, a complete report, exit code 130."""
    ids = sim.seed("executions", 3_000, statuses={"DEAD": 1})
    sim.set_faults(Faults(latency=0.05))
    report_path = tmp_path / "report.json"
    environment = bare_environment(HOME=str(tmp_path), **server.environment())
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aicore_bulk",
            "delete",
            "executions",
            "--all",
            "--concurrency",
            "1",
            "--output",
            "ndjson",
            "--report",
            str(report_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    first_item = process.stdout.readline()  # the first change has been answered
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    report = json.loads(report_path.read_text())
    outcomes = report["summary"]["outcomes"]
    assert json.loads(first_item)["outcome"] == "deleted"
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert report["summary"]["interrupted"] is True
    assert report["summary"]["total"] == len(ids)
    assert outcomes["deleted"] + outcomes["skipped"] + outcomes["unknown"] == len(ids)
    assert 0 < outcomes["deleted"] < len(ids)
    for item in report["items"]:
        state = sim.state("executions", item["id"])
        gone = state is None or state.deleted
        if item["outcome"] == "deleted":
            assert gone
        if item["outcome"] == "skipped":
            assert not gone
            assert (item["message"], item["attempts"]) == ("interrupted before sending", 0)
