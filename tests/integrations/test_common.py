"""The framework-free core of the orchestrator integrations, against the simulator.

Prefect and Airflow are not needed here: these tests run in the main suite, and the
sessions ``nox -s integrations-prefect`` and ``integrations-airflow`` run the frameworks.
"""

from __future__ import annotations

import json
import logging

import pytest

from aicore_bulk import (
    ConfigurationError,
    InputError,
    Outcome,
    Plan,
    Report,
    RunDeclinedError,
    Selection,
    Status,
)
from aicore_bulk.integrations._common import (
    client_from_connection,
    client_from_environment,
    client_from_service_key,
    make_job,
    run,
    run_sync,
    selection_from,
    summary_of,
)
from aicore_bulk.testing import Simulator, SimulatorConfig, serve_in_thread

DAY = 86_400


@pytest.fixture
def sim():
    return Simulator(SimulatorConfig(stop_delay=0.0))


@pytest.fixture
def server(sim):
    with serve_in_thread(sim) as running:
        yield running


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="tests.integrations")
    return logging.getLogger("tests.integrations")


def lines(caplog):
    # The integration's own lines: the library logs too (under aicore_bulk), and a framework
    # installed beside it (Airflow) may lower the root logger's level so that they show here.
    return [r.getMessage() for r in caplog.records if r.name == "tests.integrations"]


def seed_old_and_new(sim, group="default", n=3):
    now = sim.clock.time()
    for i in range(n):
        sim.put(
            "executions",
            f"old-{group}-{i}",
            "DEAD",
            resource_group=group,
            created_at=now - 40 * DAY,
        )
        sim.put(
            "executions", f"new-{group}-{i}", "DEAD", resource_group=group, created_at=now - DAY
        )


def connection_of(server, **extra):
    """An Airflow connection's fields pointing at the simulator; None drops an extra key."""
    extra = {"auth_url": server.token_url, "resource_group": "default", **extra}
    return {
        "host": server.base_url,
        "login": server.credentials.client_id,
        "password": server.credentials.client_secret,
        "extra": {key: value for key, value in extra.items() if value is not None},
    }


OLD_DEAD = {"statuses": ["DEAD"], "older_than": 30 * DAY}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"action": "purge", "ids": ["abcd"]}, "unknown action 'purge'"),
        ({"kind": "pipelines", "ids": ["abcd"]}, "unknown kind 'pipelines'"),
        ({"target": "GONE", "ids": ["abcd"]}, "unknown target 'GONE'"),
        ({}, "give either ids or a selection"),
        ({"ids": ["abcd"], "selection": OLD_DEAD}, "give either ids or a selection"),
        ({"ids": "abcd"}, "ids must be a list of IDs, not one string"),
        ({"ids": ["abcd"], "max_items": -1}, "max_items must be a whole number >= 0"),
        ({"ids": ["abcd"], "max_items": True}, "max_items must be a whole number >= 0"),
        ({"ids": ["abcd"], "max_items": 2.5}, "max_items must be a whole number >= 0"),
        ({"selection": {}}, "the selection filters nothing"),
        ({"selection": Selection()}, "the selection filters nothing"),
        ({"selection": {"status": ["DEAD"]}}, "unknown selection field(s) 'status': use"),
        ({"selection": {"statuses": ["GONE"]}}, "unknown status 'GONE': use PENDING"),
        ({"selection": {"statuses": "DEAD"}}, "statuses must be a list"),
        ({"selection": {"executable_ids": 7}}, "executable_ids must be a list"),
        ({"selection": {"older_than": "30d"}}, "older_than must be a number of seconds"),
        ({"selection": {"older_than": float("nan")}}, "older_than must be a number of seconds"),
        ({"selection": ["DEAD"]}, "selection must be a Selection or a mapping"),
    ],
)
def test_a_bad_job_is_refused_with_a_clear_input_error(arguments, message):
    """Every malformed argument of a task is an InputError naming it, before anything is sent."""
    arguments = {"action": "delete", "kind": "executions", **arguments}
    with pytest.raises(InputError) as caught:
        make_job(arguments.pop("action"), arguments.pop("kind"), **arguments)

    assert message in str(caught.value)


def test_a_selection_given_as_json_takes_what_the_selection_takes():
    """A dict of Selection's fields, statuses as text, builds the equal Selection."""
    given = {
        "statuses": ["COMPLETED", "DEAD"],
        "older_than": 30 * DAY,
        "executable_ids": ["trainer-v1"],
        "scenario_id": "training",
        "age_field": "completion",
    }

    assert selection_from(given) == Selection(
        statuses=(Status.COMPLETED, Status.DEAD),
        older_than=30 * DAY,
        executable_ids=("trainer-v1",),
        scenario_id="training",
        age_field="completion",
    )
    kept = Selection(statuses=(Status.DEAD,))
    assert selection_from(kept) is kept


def test_a_run_deletes_what_the_selection_takes_and_logs_its_progress(sim, server, log, caplog):
    """A run logs the plan, progress by tenths, the phases and a summary, and deletes."""
    seed_old_and_new(sim, n=10)
    job = make_job("delete", "executions", selection=OLD_DEAD)

    report, group = run(job, lambda: client_from_connection(**connection_of(server)), log=log)

    assert isinstance(report, Report)
    assert group == "default"
    assert report.summary.outcomes[Outcome.DELETED] == 10
    assert all(sim.state("executions", f"old-default-{i}").deleted for i in range(10))
    assert not any(sim.state("executions", f"new-default-{i}").deleted for i in range(10))
    said = lines(caplog)
    assert said[:2] == [
        "aicore-bulk: resolve done",
        "aicore-bulk: executions -> DELETED in resource group default: 10 items (10 delete); "
        "change requests planned: 1",
    ]
    assert [line for line in said if "settled" in line] == [
        f"aicore-bulk: {n} of 10 settled ({n * 10}%)" for n in range(1, 11)
    ]
    assert "aicore-bulk: dispatch done" in said
    assert said[-1].startswith(
        "aicore-bulk: executions -> DELETED in resource group default: 10 deleted; "
        "requests: 3 (changes: 1), retries: 0, throttled: 0, "
    )


def test_failed_items_are_logged_by_name_up_to_twenty(sim, server, log, caplog):
    """The first twenty items not ok get a warning each; the rest are counted in one line."""
    ids = [f"unknown-{i:02d}" for i in range(25)]
    for item_id in ids:
        sim.put("executions", item_id, "UNKNOWN")
    job = make_job("stop", "executions", ids=ids)

    report, _ = run(job, lambda: client_from_connection(**connection_of(server)), log=log)

    assert not report.ok
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "tests.integrations"
    ]
    assert len(warnings) == 21
    assert warnings[0].startswith("aicore-bulk: unknown-00 skipped (code none): ")
    assert warnings[-1] == "aicore-bulk: and 5 more not ok; the report has them all"


def test_max_items_refuses_a_larger_run_and_changes_nothing(sim, server, log, caplog):
    """Above max_items the run raises RunDeclinedError, says why, and sends no change."""
    seed_old_and_new(sim, n=3)
    job = make_job("delete", "executions", selection=OLD_DEAD, max_items=2)

    with pytest.raises(RunDeclinedError):
        run(job, lambda: client_from_connection(**connection_of(server)), log=log)

    assert sim.statistics().mutating_requests == 0
    assert (
        "aicore-bulk: refusing: the run would change 3 executions, more than max_items 2"
        in lines(caplog)
    )


def test_max_items_lets_a_run_of_exactly_that_size_through(sim, server, log):
    """max_items is a cap, not a bar: a run changing exactly that many items goes ahead."""
    seed_old_and_new(sim, n=3)
    job = make_job("delete", "executions", selection=OLD_DEAD, max_items=3)

    report, _ = run(job, lambda: client_from_connection(**connection_of(server)), log=log)

    assert report.summary.outcomes[Outcome.DELETED] == 3


def test_a_plan_changes_nothing_and_says_what_a_run_would_do(sim, server, log, caplog):
    """The plan action reads only, returns the Plan and logs one dry-run line."""
    seed_old_and_new(sim, n=2)
    sim.put("executions", "running-1", "RUNNING")
    job = make_job("plan", "executions", ids=["old-default-0", "running-1", "gone-1"])

    plan, _ = run(job, lambda: client_from_connection(**connection_of(server)), log=log)

    assert isinstance(plan, Plan)
    assert dict(plan.paths)["stop_then_delete"] == 1
    assert sim.statistics().mutating_requests == 0
    assert lines(caplog)[-1] == (
        "aicore-bulk: dry run in resource group default: a run would change 2 executions "
        "(requests: 2); nothing was changed"
    )


def test_a_connection_can_carry_a_whole_service_key_and_its_resource_group(sim, server, log):
    """An extra that is a service key (with resource_group beside it) configures the client."""
    seed_old_and_new(sim, group="team-a", n=2)
    extra = {**server.service_key(), "resource_group": "team-a"}
    job = make_job("delete", "executions", selection=OLD_DEAD)

    report, group = run(
        job,
        lambda: client_from_connection(host=None, login=None, password=None, extra=extra),
        log=log,
    )

    assert group == "team-a"
    assert report.ok
    assert len(report) == 2


@pytest.mark.parametrize("with_key", [False, True], ids=["fields", "service-key"])
def test_the_resource_group_argument_wins_over_the_connection(sim, server, log, with_key):
    """resource_group given to the task beats the one in the connection's extra."""
    seed_old_and_new(sim, group="team-b", n=1)
    job = make_job("delete", "executions", ids=["old-team-b-0"])
    connection = connection_of(server, resource_group="team-a")
    if with_key:
        extra = {**server.service_key(), "resource_group": "team-a"}
        connection = {"host": None, "login": None, "password": None, "extra": extra}

    report, group = run(
        job, lambda: client_from_connection(**connection, resource_group="team-b"), log=log
    )

    assert group == "team-b"
    assert sim.state("executions", "old-team-b-0", "team-b").deleted
    assert report.ok


def test_a_connection_reads_nothing_from_the_environment(server, monkeypatch):
    """AICORE_* variables of the machine never fill a gap in a connection."""
    monkeypatch.setenv("AICORE_RESOURCE_GROUP", "default")
    connection = connection_of(server, resource_group=None)

    with pytest.raises(ConfigurationError, match="no resource group"):
        client_from_connection(**connection)


def test_an_unknown_key_in_a_connections_extra_is_refused(server):
    """A typo in the extra is a ConfigurationError naming the key and the allowed ones."""
    connection = connection_of(server, resourcegroup="default")

    with pytest.raises(ConfigurationError) as caught:
        client_from_connection(**connection)

    assert str(caught.value) == (
        "unknown key(s) 'resourcegroup' in the connection's extra: use auth_url, "
        "resource_group, or paste a whole service key"
    )


def test_no_secret_reaches_a_log_line_or_a_settings_error(sim, server, log, caplog):
    """Neither the log of a run nor the error of an incomplete connection shows the secret."""
    seed_old_and_new(sim, n=1)
    connection = connection_of(server)
    secret = connection["password"]
    run(
        make_job("delete", "executions", selection=OLD_DEAD),
        lambda: client_from_connection(**connection),
        log=log,
    )
    with pytest.raises(ConfigurationError) as caught:
        client_from_connection(**{**connection, "host": None})

    assert secret not in caplog.text
    assert secret not in str(caught.value)


@pytest.mark.parametrize("as_text", [False, True], ids=["dict", "json"])
def test_a_service_key_from_a_secret_store_configures_the_client(sim, server, log, as_text):
    """A service key, as a dict or as JSON text, and a resource group are all a client needs."""
    seed_old_and_new(sim, n=1)
    key = json.dumps(server.service_key()) if as_text else server.service_key()

    report, _ = run(
        make_job("delete", "executions", ids=["old-default-0"]),
        lambda: client_from_service_key(key, resource_group="default"),
        log=log,
    )

    assert report.ok
    assert sim.state("executions", "old-default-0").deleted


def test_the_environment_client_takes_a_resource_group_override(sim, server, log, monkeypatch):
    """From the environment, as BulkClient.from_env reads it, with the group overridden."""
    for name, value in server.environment("default").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AICORE_HOME", "/nonexistent")
    seed_old_and_new(sim, group="team-c", n=1)

    report, group = run(
        make_job("delete", "executions", ids=["old-team-c-0"]),
        lambda: client_from_environment(resource_group="team-c"),
        log=log,
    )

    assert group == "team-c"
    assert report.ok
    assert sim.state("executions", "old-team-c-0", "team-c").deleted


async def test_a_run_started_where_a_loop_runs_goes_to_a_thread():
    """run_sync works from inside a running event loop (an async flow calling a sync task)."""

    async def answer():
        return 42

    assert run_sync(answer()) == 42


def test_the_summary_keeps_everything_but_the_items(sim, server, log):
    """summary_of drops the items of a report or a plan and adds the resource group."""
    seed_old_and_new(sim, n=1)
    client = lambda: client_from_connection(**connection_of(server))  # noqa: E731
    report, _ = run(make_job("delete", "executions", ids=["old-default-0"]), client, log=log)
    plan, _ = run(make_job("plan", "executions", ids=["new-default-0"]), client, log=log)

    assert summary_of(report, resource_group="default") == {
        "kind": "executions",
        "target": "DELETED",
        "summary": report.to_json()["summary"],
        "resource_group": "default",
    }
    assert summary_of(plan, resource_group="default") == {
        "kind": "executions",
        "target": "DELETED",
        "dry_run": True,
        "summary": plan.to_json()["summary"],
        "resource_group": "default",
    }
