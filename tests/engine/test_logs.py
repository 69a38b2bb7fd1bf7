"""Logs through the standard logging module: the phases, the requests, the trouble, no secret."""

from __future__ import annotations

import logging

import pytest

from aicore_bulk import Limits, Response
from aicore_bulk.testing import Faults, SimulatorConfig


def records(caplog, name: str, level: int = logging.DEBUG) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name and r.levelno == level]


def test_the_library_adds_only_a_null_handler_and_sets_no_level():
    """Importing the library leaves logging to the application: a NullHandler, no level."""
    logger = logging.getLogger("aicore_bulk")

    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    assert logger.level == logging.NOTSET
    for child in ("run", "request", "auth"):
        assert logging.getLogger(f"aicore_bulk.{child}").handlers == []


async def test_each_phase_is_logged_at_info_with_the_run_id(client, aicore_simulator, caplog):
    """A run logs its start, statuses, plan, dispatch and end, each tagged with its run's ID."""
    caplog.set_level(logging.INFO, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 30, statuses={"RUNNING": 1, "DEAD": 2})

    report = await client.delete("executions", [*ids, "gone-0001"])

    messages = [r.getMessage() for r in records(caplog, "aicore_bulk.run", logging.INFO)]
    assert [m.split(":")[0] for m in messages] == [
        "run started",
        "statuses read",
        "plan ready",
        "dispatch done",
        "run done",
    ]
    assert messages[0] == "run started: deleting executions in resource group 'default'"
    assert messages[2] == (
        "plan ready: 31 items (delete 20, stop_then_delete 10, absent 1); "
        "2 change requests at least"
    )
    assert messages[-1].startswith("run done: 30 deleted, 1 already_absent of 31 executions;")
    assert report.run is not None
    assert {r.run_id for r in caplog.records} == {report.run.id}
    plan_ready = records(caplog, "aicore_bulk.run", logging.INFO)[2]
    assert plan_ready.paths == {"stop_then_delete": 10, "delete": 20, "absent": 1}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_every_request_is_logged_at_debug_saying_what_it_changes(
    client, aicore_simulator, caplog
):
    """One DEBUG record per request: method, operation, stops and deletes, status, seconds."""
    caplog.set_level(logging.DEBUG, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 30, statuses={"RUNNING": 1, "DEAD": 2})

    report = await client.delete("executions", ids)

    logged = records(caplog, "aicore_bulk.request")
    assert len(logged) == report.summary.requests
    changes = [r for r in logged if r.operation == "bulk"]
    assert [(r.method, r.stops, r.deletes, r.items, r.status) for r in changes] == [
        ("PATCH", 10, 20, 30, 202),
        ("PATCH", 0, 10, 10, 202),
    ]
    assert changes[0].getMessage().startswith("PATCH bulk: 10 stops, 20 deletes -> 202 in ")
    reads = [r for r in logged if r.operation != "bulk"]
    assert all(r.stops == r.deletes == 0 and r.method == "GET" for r in reads)
    assert all(isinstance(r.seconds, float) for r in logged)


@pytest.mark.parametrize("aicore_simulator_config", [SimulatorConfig(bulk_executions=False)])
async def test_single_changes_say_whether_they_stop_or_delete(client, aicore_simulator, caplog):
    """Without the bulk endpoint each request's record says it stops or deletes one item."""
    caplog.set_level(logging.DEBUG, logger="aicore_bulk.request")
    ids = aicore_simulator.seed("executions", 2, statuses={"RUNNING": 1})

    await client.delete("executions", ids)

    lines = [r.getMessage() for r in records(caplog, "aicore_bulk.request")]
    assert sum(line.startswith("PATCH stop: 1 stop -> 202") for line in lines) == 2
    assert sum(line.startswith("DELETE delete: 1 delete -> 202") for line in lines) == 2


async def test_no_token_or_secret_is_logged_at_debug(client, aicore_simulator, caplog):
    """At DEBUG, no record holds the client secret, a bearer token or an Authorization header."""
    caplog.set_level(logging.DEBUG, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 20, statuses={"RUNNING": 1, "DEAD": 1})

    await client.delete("executions", ids)

    secrets = [aicore_simulator.config.client_secret, *aicore_simulator._tokens]
    assert len(secrets) > 1
    everything = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    assert not any(secret in everything for secret in secrets)
    assert "Bearer" not in everything
    assert "Authorization" not in everything


@pytest.mark.parametrize(
    "aicore_simulator_config",
    [SimulatorConfig(faults=Faults(rate_limit=20.0, rate_burst=5), seed=3)],
)
async def test_throttling_is_one_warning_per_episode_not_per_request(
    make_client, aicore_simulator, caplog
):
    """Many 429s come in few episodes, and each episode is one WARNING, not one per 429."""
    caplog.set_level(logging.WARNING, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 3_000, statuses={"DEAD": 1})

    async with make_client(limits=Limits(concurrency=16)) as client:
        report = await client.delete("executions", ids)

    warnings = records(caplog, "aicore_bulk.request", logging.WARNING)
    assert report.ok
    assert 1 <= len(warnings) < report.summary.throttled
    assert [r.episode for r in warnings] == list(range(1, len(warnings) + 1))
    assert warnings[0].getMessage().startswith("throttled (HTTP 429): every request waits ")
    assert all(r.status == 429 for r in warnings)


async def test_items_that_miss_their_goal_are_summed_up_in_one_warning(
    client, aicore_simulator, caplog
):
    """However many items miss their goal, one WARNING counts them and names the first five."""
    caplog.set_level(logging.WARNING, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 40, statuses={"UNKNOWN": 1})

    report = await client.stop("executions", ids)

    (warning,) = records(caplog, "aicore_bulk.run", logging.WARNING)
    assert warning.getMessage() == (
        f"40 of 40 executions did not reach STOPPED: 40 skipped; first: {', '.join(ids[:5])}, ..."
    )
    assert warning.missed == {"skipped": 40}
    assert warning.first_ids == ids[:5]
    assert report.run is not None
    assert warning.run_id == report.run.id


class FlakyTokenEndpoint:
    """The token endpoint answers 503 the first ``failures`` times; the rest goes through."""

    def __init__(self, inner, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def send(self, request):
        """Fail the token endpoint while failures are left; pass the rest on."""
        if request.url.endswith("/oauth/token") and self.failures:
            self.failures -= 1
            return Response(503, {}, b"busy")
        return await self.inner.send(request)

    async def aclose(self) -> None:
        """Close the transport it wraps."""
        await self.inner.aclose()


async def test_a_failed_token_fetch_is_a_warning(make_client, aicore_simulator, caplog):
    """Each failed try of the token endpoint is a WARNING, tagged with the run, without secrets."""
    caplog.set_level(logging.WARNING, logger="aicore_bulk")
    ids = aicore_simulator.seed("executions", 3, statuses={"DEAD": 1})

    async with make_client() as client:
        client._connection.transport = FlakyTokenEndpoint(client._connection.transport, 2)
        report = await client.delete("executions", ids)

    warnings = records(caplog, "aicore_bulk.auth", logging.WARNING)
    assert report.ok
    assert [(r.status, r.attempt) for r in warnings] == [(503, 1), (503, 2)]
    assert "answered HTTP 503 (try 1 of 4); trying again in" in warnings[0].getMessage()
    assert report.run is not None
    assert {r.run_id for r in warnings} == {report.run.id}
    assert aicore_simulator.config.client_secret not in caplog.text
